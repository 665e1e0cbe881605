"""The conformance clauses for optional seams: each runs only when the adapter declares the seam
in its capabilities, and then checks that it works against the plugin's own simulator over
loopback (the default transport, real HTTP).

========================  ===================================================================
declared                  checked
========================  ===================================================================
reply buttons, lists      a menu within the limits is sent natively (not as numbered text)
templates                 a template using the components the rules allow is sent as one
bytes media (uploads)     an attachment given as bytes is sent attached, not refused
a public shape            a PUBLIC reply is sent; RESTRICTED content in public is refused
polling                   a message queued at the simulator is found by ``poll``, once
a session window          free text is refused outside it and sent once the customer wrote
reconcile                 a sent message is found again; one never sent is not
========================  ===================================================================

A simulator for a polling adapter implements ``queue_inbound(sender=..., text=...)``, which
makes the next poll find a message (the webhook-only simulators need not).
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from omnichannel.adapter import polls
from omnichannel.capabilities import Capabilities
from omnichannel.content import (
    Choice,
    ChoiceSection,
    Content,
    Interactive,
    Media,
    Template,
    TemplateButton,
    TemplateHeader,
)
from omnichannel.envelope import Address, Envelope, Sensitivity, Visibility
from omnichannel.errors import PolicyViolation
from omnichannel.events import FailureReason
from omnichannel.testing.loopback import LoopbackRig

__all__ = ["SeamClauses"]

SAMPLE_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(64)


def _clause(name: str, detail: str) -> str:
    return f"contract clause {name!r} broke: {detail}"


class SeamClauses:
    """Mixed into :class:`~omnichannel.testing.AdapterContract`; see the module docstring."""

    adapter_class: ClassVar[type[Any]]
    simulator_class: ClassVar[type[Any]]
    sample_post_id: ClassVar[str] = "1460323737035677698"
    """A provider id a PUBLIC reply can answer (adapters with a public shape)."""
    template_name: ClassVar[str] = "order_update"
    """A template the simulator accepts (adapters with templates)."""

    def settings_values(self, base_url: str) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def sample_sender(self) -> str:
        raise NotImplementedError

    @property
    def capabilities(self) -> Capabilities:
        """The adapter's declared capabilities."""
        caps: Capabilities = self.adapter_class.capabilities
        return caps

    def rig(self) -> LoopbackRig:
        """The adapter, its simulator and a webhook app, each on a loopback port."""
        return LoopbackRig(self.adapter_class, self.simulator_class, self.settings_values)

    def envelope(self, rig: LoopbackRig, content: Content | str, **fields: Any) -> Envelope:
        """An outbound envelope to the simulator's sample recipient."""
        channel = rig.adapter.info.channel
        recipient = Address(channel=channel, value=self.simulator_class.sample_recipient)
        return Envelope(channel=channel, recipient=recipient, content=content, **fields)

    async def open_window(self, rig: LoopbackRig) -> None:
        """Have the sample recipient write first, opening a session window if there is one."""
        if self.capabilities.session_window is None:
            return
        request = rig.adapter.simulate(
            sender=self.simulator_class.sample_recipient,
            text="hello there",
            url=f"{rig.public_url}/webhooks/{rig.adapter.info.channel}",
        )
        response = await rig.router.handle_webhook(rig.adapter.info.channel, request)
        assert response.status_code < 300, _clause(
            "a simulated message opens the session window", f"answered {response.status_code}"
        )

    # -- the clauses ----------------------------------------------------------------------------

    async def test_contract_declared_menus_are_sent_natively(self) -> None:
        rules = self.capabilities.interactive
        if rules is None:
            pytest.skip("the adapter renders no menus")
        menus = []
        if rules.buttons:
            menus.append(
                Interactive(buttons=[Choice(id="yes", title="Yes"), Choice(id="no", title="No")])
            )
        if rules.lists:
            rows = [Choice(id="s1", title="18:00", description="Evening")]
            menus.append(
                Interactive(sections=[ChoiceSection(title="Today", rows=rows)], button_label="Pick")
            )
        async with self.rig() as rig:
            await self.open_window(rig)
            for menu in menus:
                receipt = await rig.router.send(
                    self.envelope(rig, Content(text="Pick", interactive=menu))
                )
                kind = "list" if menu.is_list else "buttons"
                assert receipt.provider_id, _clause(f"{kind} are sent", str(receipt))
                assert not receipt.fitting.interactive_as_text, _clause(
                    f"declared {kind} go natively", "; ".join(receipt.fitting.notes)
                )

    async def test_contract_declared_templates_are_sent_with_their_components(self) -> None:
        rules = self.capabilities.templates
        if rules is None:
            pytest.skip("the adapter sends no templates")
        template = Template(
            name=self.template_name,
            language="en_US",
            parameters=["Zoë"] if rules.positional_parameters else (),
            named_parameters={"first_name": "Zoë"} if not rules.positional_parameters else {},
            header=TemplateHeader(text="Your order") if rules.header_text else None,
            buttons=(
                [TemplateButton(index=0, kind="quick_reply", value="CONFIRM")]
                if "quick_reply" in rules.button_kinds
                else []
            ),
        )
        async with self.rig() as rig:
            receipt = await rig.router.send(self.envelope(rig, Content(template=template)))
        assert receipt.provider_id, _clause("templates are sent", str(receipt))
        assert receipt.fitting.template_used == template.name, _clause(
            "a declared template is used, not its fallback", "; ".join(receipt.fitting.notes)
        )

    async def test_contract_declared_uploads_send_bytes_attached(self) -> None:
        media = self.capabilities.media
        if media is None or not media.uploads:
            pytest.skip("the adapter uploads no bytes")
        content_type = next(
            (kind for kind in sorted(media.content_types) if "*" not in kind), "image/png"
        )
        item = Media(data=SAMPLE_BYTES, content_type=content_type, filename="sample.png")
        async with self.rig() as rig:
            await self.open_window(rig)
            receipt = await rig.router.send(self.envelope(rig, Content(text="see", media=[item])))
        assert receipt.provider_id, _clause("bytes media are sent", str(receipt))
        assert receipt.fitting.media_as_links == 0, _clause(
            "declared uploads stay attachments", "; ".join(receipt.fitting.notes)
        )

    async def test_contract_declared_public_shape_posts_public_replies(self) -> None:
        if self.capabilities.public is None:
            pytest.skip("the adapter has no public shape")
        async with self.rig() as rig:
            reply = self.envelope(
                rig,
                "Thanks, we're on it",
                visibility=Visibility.PUBLIC,
                in_reply_to=self.sample_post_id,
            )
            receipt = await rig.router.send(reply)
            assert receipt.provider_id, _clause("a public reply is posted", str(receipt))
            restricted = self.envelope(
                rig,
                "card ending 4242",
                visibility=Visibility.PUBLIC,
                sensitivity=Sensitivity.RESTRICTED,
                in_reply_to=self.sample_post_id,
            )
            with pytest.raises(PolicyViolation):
                await rig.router.send(restricted)

    async def test_contract_declared_polling_finds_queued_messages_once(self) -> None:
        if not polls(self.capabilities):
            pytest.skip("the adapter does not poll")
        async with self.rig() as rig:
            queue = getattr(rig.simulator, "queue_inbound", None)
            assert callable(queue), _clause(
                "a polling adapter's simulator can queue inbound messages",
                f"{self.simulator_class.__name__} has no queue_inbound()",
            )
            queue(sender=self.sample_sender, text="polled hello")
            first = await rig.adapter.poll(None)
            again = await rig.adapter.poll(first.cursor)
        texts = [message.content.text for message in first.messages]
        assert any("polled hello" in text for text in texts), _clause(
            "poll finds a queued message", f"found {texts}"
        )
        assert not [m for m in again.messages if "polled hello" in m.content.text], _clause(
            "the cursor moves past what was found", "the message was found twice"
        )

    async def test_contract_declared_session_window_is_enforced(self) -> None:
        if self.capabilities.session_window is None:
            pytest.skip("the adapter has no session window")
        async with self.rig() as rig:
            with pytest.raises(PolicyViolation) as caught:
                await rig.router.send(self.envelope(rig, "free text"))
            assert caught.value.reason is FailureReason.OUTSIDE_WINDOW
            await self.open_window(rig)
            receipt = await rig.router.send(self.envelope(rig, "free text"))
        assert receipt.provider_id, _clause("free text is sent inside the window", str(receipt))

    async def test_contract_declared_reconcile_finds_what_was_sent(self) -> None:
        if not self.capabilities.reconcile:
            pytest.skip("the adapter cannot look messages up")
        async with self.rig() as rig:
            await self.open_window(rig)
            envelope = self.envelope(rig, "reconcile me")
            receipt = await rig.router.send(envelope)
            found = await rig.adapter.reconcile(envelope, attempted_at=envelope.created_at)
            missing = await rig.adapter.reconcile(
                self.envelope(rig, "never sent"), attempted_at=envelope.created_at
            )
        assert found is not None, _clause("reconcile finds a sent message", "found nothing")
        assert found.provider_id == receipt.provider_id, _clause(
            "reconcile finds the message that was sent",
            f"{found.provider_id} != {receipt.provider_id}",
        )
        assert missing is None, _clause(
            "reconcile finds nothing for an unsent message", str(missing)
        )
