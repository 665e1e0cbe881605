"""A local stand-in for Twilio Programmable Messaging, mounted by ``omni sandbox`` at
``/twilio-messaging``.

On the routes, auth and lists every Twilio simulator shares
(:class:`~omnichannel_twilio.simulator.TwilioSimulator`), it accepts the create-message
requests the adapter sends and answers as Twilio does: the required fields (``21604`` no To,
``21603`` no From, ``21602`` no Body/MediaUrl/ContentSid), Twilio's magic test numbers, and a
``201`` with a realistic message resource. Then it posts signed status callbacks (``sent``,
then ``delivered``) to the request's ``StatusCallback``, pausing ``step_delay`` between them, in
reverse order when the context asks for disorder. ``GET …/Messages.json`` lists the messages
by ``To``, ``From`` and ``DateSent``, as ``reconcile`` reads them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from omnichannel import WebhookResponse
from omnichannel_twilio.messaging.payloads import MESSAGES
from omnichannel_twilio.payloads import (
    API_VERSION,
    FormPairs,
    TwilioResource,
    rfc2822,
)
from omnichannel_twilio.settings import TwilioSmsSettings
from omnichannel_twilio.simulator import SAMPLE_FROM, TwilioSimulator, twilio_error
from omnichannel_twilio.webhooks import first_values, signed_request

__all__ = ["MAGIC_RECIPIENTS", "TwilioSmsSimulator"]

_E164: Final = re.compile(r"\+[1-9]\d{6,14}")

MAGIC_RECIPIENTS: Final[Mapping[str, tuple[int, str]]] = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550002": (
        21612,
        "The 'To' phone number: +15005550002, is not currently reachable "
        "using the 'From' phone number via SMS.",
    ),
    "+15005550003": (
        21408,
        "Permission to send an SMS has not been enabled for the region "
        "indicated by the 'To' number: +15005550003.",
    ),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
"""Twilio's magic test numbers (test credentials) and the errors they provoke."""


class TwilioSmsSimulator(TwilioSimulator[TwilioSmsSettings]):
    """Twilio's Messages API, as far as the ``sms.twilio`` adapter uses it."""

    adapter_name: ClassVar[str] = "sms.twilio"
    prefix: ClassVar[str] = "twilio-messaging"
    scenarios: ClassVar[Mapping[str, str]] = {
        number: f"refused at once: 400, error {code} ({text})"
        for number, (code, text) in MAGIC_RECIPIENTS.items()
    }
    resource: ClassVar[TwilioResource] = MESSAGES

    # -- requests --------------------------------------------------------------------------------

    def create(self, form: FormPairs) -> WebhookResponse:
        """Create a message as Twilio does, or refuse it with the code Twilio answers (its magic
        test numbers included)."""
        fields, first = first_values(form)
        to, sender = first.get("To", ""), first.get("From", "")
        service = first.get("MessagingServiceSid", "")
        body, media = first.get("Body", ""), fields.get("MediaUrl", [])
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not sender and not service:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body and not media and not first.get("ContentSid"):
            return twilio_error(400, 21602, "Message body is required.")
        if to in MAGIC_RECIPIENTS:
            code, text = MAGIC_RECIPIENTS[to]
            return twilio_error(400, code, text)
        if not _E164.fullmatch(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if sender and self.settings.from_ and sender != self.settings.from_:
            return twilio_error(
                400,
                21606,
                f"The From phone number {sender} is not a valid, SMS-capable inbound phone "
                "number or short code for your account.",
            )
        if service and service != self.settings.messaging_service_sid:
            return twilio_error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if len(body) > 1600:
            return twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if len(media) > 10:
            return twilio_error(400, 21623, "The number of media files exceeds the limit of 10.")
        message = self._resource(to=to, sender=sender, service=service, body=body, media=media)
        self.resources[message["sid"]] = message
        callback = first.get("StatusCallback")
        if callback:
            self.context.spawn(lambda: self._progress(message["sid"], callback))
        return WebhookResponse.json(message, status_code=201)

    def _resource(
        self, *, to: str, sender: str, service: str, body: str, media: list[str]
    ) -> dict[str, Any]:
        sid = ("MM" if media else "SM") + secrets.token_hex(16)
        return {
            **self.new_resource(sid, ("Media", "Feedback")),
            "body": body,
            "date_sent": None,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender or None,
            "messaging_service_sid": service or None,
            "num_media": str(len(media)),
            "num_segments": "0" if service else str(_segments(body)),
            "price": None,
            "price_unit": "USD",
            # With only a Messaging Service, Twilio picks the sender later: "accepted".
            "status": "accepted" if service and not sender else "queued",
            "to": to,
        }

    # -- status callbacks -------------------------------------------------------------------------

    async def _progress(self, sid: str, callback: str) -> None:
        steps = ["sent", "delivered"]
        if self.context.out_of_order:
            steps.reverse()
        for status in steps:
            await self.context.sleep(self.context.step_delay)
            await self.post_status(sid, status, callback)

    async def post_status(self, sid: str, status: str, callback: str) -> int:
        """Post one signed status callback for message ``sid``; returns the HTTP status."""
        message = self.resources[sid]
        now = datetime.now(UTC)
        message.update(status=status, date_updated=rfc2822(now))
        if status == "sent":
            message["date_sent"] = rfc2822(now)
        if message["num_segments"] == "0":
            message["num_segments"] = str(_segments(message["body"]))
        sender = message["from"] or self.settings.from_ or SAMPLE_FROM
        params = [
            ("SmsSid", sid),
            ("SmsStatus", status),
            ("MessageStatus", status),
            ("To", message["to"]),
        ]
        if message["messaging_service_sid"]:
            params.append(("MessagingServiceSid", message["messaging_service_sid"]))
        params += [
            ("MessageSid", sid),
            ("AccountSid", self.settings.account_sid),
            ("From", sender),
            ("ApiVersion", API_VERSION),
        ]
        if status == "delivered":
            params.append(("RawDlrDoneDate", now.strftime("%y%m%d%H%M")))
        request = signed_request(self.settings.auth_token, callback, params)
        return await self.context.post(callback, headers=dict(request.headers), body=request.body)


def _segments(body: str) -> int:
    if len(body) <= 160:
        return 1
    return -(-len(body) // 153)
