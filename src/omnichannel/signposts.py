"""The signpost policy: restricted content asked to go public goes privately instead.

With ``routing.restricted_public = "signpost"``, a RESTRICTED envelope with PUBLIC
visibility becomes two envelopes under one conversation id: the content as a private message
(on the channel's private mode, else on ``routing.signpost_channel``), and a short public
answer (``routing.signpost_text``) that points the customer to it. The private one goes
first; if the public one then fails, its error says the content already went.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from omnichannel.adapter import SendReceipt
from omnichannel.content import Content
from omnichannel.envelope import Envelope, Sensitivity, Visibility, new_envelope_id
from omnichannel.errors import PolicyViolation, SendError

if TYPE_CHECKING:
    from omnichannel.router import Router
    from omnichannel.sending import SendPipeline

__all__ = ["Signpost", "Signposts", "restricted_in_public"]


def restricted_in_public(envelope: Envelope) -> bool:
    """Whether ``envelope`` is restricted content asked to go public (never sent as it is)."""
    return (
        envelope.sensitivity is Sensitivity.RESTRICTED and envelope.visibility is Visibility.PUBLIC
    )


@attrs.frozen(kw_only=True)
class Signpost:
    """The signpost policy's two envelopes, sent in this order."""

    private: Envelope
    """The content, privately."""
    public: Envelope
    """The short public answer pointing to it."""


class Signposts:
    """Builds and sends the signposts of a router's send pipeline."""

    def __init__(self, router: Router, pipeline: SendPipeline) -> None:
        self.router = router
        self.pipeline = pipeline

    def of(self, envelope: Envelope) -> Signpost:
        """The signpost policy's two envelopes: the content privately, a short answer
        publicly, under one conversation id."""
        router = self.router
        conversation = envelope.conversation_id or new_envelope_id()
        capabilities = router.adapter(envelope.channel).capabilities
        private = attrs.evolve(
            envelope,
            visibility=Visibility.PRIVATE,
            thread=None,
            in_reply_to=None,
            conversation_id=conversation,
        )
        if capabilities.public is None:  # no private mode of its own: another channel
            if router.policy.signpost_channel is None:
                raise PolicyViolation(
                    f"restricted content cannot be sent publicly and {envelope.channel} has no "
                    "private mode; set routing.signpost_channel to a private channel",
                    channel=envelope.channel,
                    envelope_id=envelope.id,
                )
            private = router.moved(private, router.policy.signpost_channel)
        public = attrs.evolve(
            envelope,
            id=new_envelope_id(),
            content=Content(
                text=router.policy.signpost_for(
                    recipient=envelope.recipient.value,
                    name=envelope.recipient.name,
                    reference=conversation,
                )
            ),
            sensitivity=Sensitivity.NORMAL,
            conversation_id=conversation,
        )
        return Signpost(private=private, public=public)

    async def send(self, signpost: Signpost) -> SendReceipt:
        """Send the private envelope, then the public one; the receipt is the private one's,
        with the public one's as its ``public_signpost``."""
        private_receipt = await self.pipeline.send_on(signpost.private, signpost=False)
        try:
            public_receipt = await self.pipeline.send_on(signpost.public, signpost=False)
        except SendError as error:
            # The content already went privately: say so, or the caller may send it again.
            error.receipt = private_receipt
            error.message += "; the content itself went privately (error.receipt)"
            raise
        return attrs.evolve(
            private_receipt,
            conversation_id=signpost.private.conversation_id,
            public_signpost=public_receipt,
        )
