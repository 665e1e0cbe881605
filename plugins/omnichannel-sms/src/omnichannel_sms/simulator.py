"""A local stand-in for Twilio Programmable Messaging, mounted by ``omni sandbox`` at
``/twilio-messaging``.

It accepts the requests the adapter sends and answers as Twilio does: Basic auth checked
against the adapter's settings (``401``/``20003`` otherwise), the account in the path, the
required fields (``21604`` no To, ``21603`` no From, ``21602`` no Body/MediaUrl/ContentSid),
Twilio's magic test numbers, and a ``201`` with a realistic message resource. Then it posts
signed status callbacks (``sent``, then ``delivered``) to the request's ``StatusCallback``,
pausing ``step_delay`` between them, in reverse order when the context asks for disorder.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, ClassVar, Final

from omnichannel import WebhookParseError, WebhookRequest, WebhookResponse
from omnichannel.sandbox import BaseSimulator, SimulatorContext
from omnichannel.signing import constant_time_equal
from omnichannel_sms.payloads import API_VERSION
from omnichannel_sms.settings import TwilioSmsSettings
from omnichannel_sms.webhooks import signed_request

__all__ = ["MAGIC_RECIPIENTS", "TwilioSmsSimulator"]

_MESSAGES_PATH: Final = re.compile(
    rf"/{re.escape(API_VERSION)}/Accounts/(?P<account>[^/]+)/Messages(?:/(?P<sid>[^/]+))?\.json"
)
_E164: Final = re.compile(r"\+[1-9]\d{6,14}")
_DOCS: Final = "https://www.twilio.com/docs/errors/"

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


def _error(status: int, code: int, message: str) -> WebhookResponse:
    body = {"code": code, "message": message, "more_info": f"{_DOCS}{code}", "status": status}
    return WebhookResponse.json(body, status_code=status)


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0))


class TwilioSmsSimulator(BaseSimulator):
    """Twilio's Messages API, as far as the ``sms.twilio`` adapter uses it."""

    adapter_name: ClassVar[str] = "sms.twilio"
    prefix: ClassVar[str] = "twilio-messaging"
    sample_recipient: ClassVar[str] = "+14155550199"
    scenarios: ClassVar[Mapping[str, str]] = {
        number: f"refused at once: 400, error {code} ({text})"
        for number, (code, text) in MAGIC_RECIPIENTS.items()
    }

    settings: TwilioSmsSettings

    def __init__(self, settings: TwilioSmsSettings, context: SimulatorContext) -> None:
        super().__init__(settings, context)
        self.messages: dict[str, dict[str, Any]] = {}
        """Every message created, by SID, as the API would return it now."""

    @classmethod
    def sample_settings(cls, base_url: str) -> dict[str, Any]:
        """Demo settings (fake but well-formed credentials) pointing at ``base_url``."""
        return {
            "account_sid": "AC" + "5a4dbe1c0ffee0ddba11ca7fe5eed5a1",
            "auth_token": "0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f6",
            "from": "+14155550100",
            "base_url": base_url,
        }

    # -- requests --------------------------------------------------------------------------------

    async def handle(self, request: WebhookRequest) -> WebhookResponse:
        """Answer one API request as Twilio would."""
        path = self.subpath(request)
        match = _MESSAGES_PATH.fullmatch(path)
        if match is None:
            return _error(404, 20404, f"The requested resource {path} was not found")
        refusal = self._authenticate(request, match["account"])
        if refusal is not None:
            return refusal
        method = request.method.upper()
        if match["sid"] is None and method == "POST":
            return self._create(request)
        if match["sid"] is not None and method == "GET":
            message = self.messages.get(match["sid"])
            if message is None:
                return _error(404, 20404, f"The requested resource {path} was not found")
            return WebhookResponse.json(message)
        return _error(405, 20004, "Method not allowed")

    def _authenticate(self, request: WebhookRequest, account: str) -> WebhookResponse | None:
        settings = self.settings
        accepted = [(settings.account_sid, settings.auth_token.reveal())]
        if settings.api_key_sid and settings.api_key_secret:
            accepted.append((settings.api_key_sid, settings.api_key_secret.reveal()))
        given = _basic_credentials(request.header("Authorization"))
        matched = False
        for username, password in accepted:
            expected = f"{username}:{password}"
            matched |= given is not None and constant_time_equal(given, expected)
        if not matched or account != settings.account_sid:
            response = _error(401, 20003, "Authenticate")
            return WebhookResponse(
                status_code=response.status_code,
                body=response.body,
                content_type=response.content_type,
                headers={"WWW-Authenticate": 'Basic realm="Twilio API"'},
            )
        return None

    def _create(self, request: WebhookRequest) -> WebhookResponse:
        try:
            pairs = request.form()
        except WebhookParseError:
            return _error(400, 20001, "Could not parse the request body")
        form: dict[str, list[str]] = {}
        for name, value in pairs:
            form.setdefault(name, []).append(value)
        first = {name: values[0] for name, values in form.items()}
        to, sender = first.get("To", ""), first.get("From", "")
        service = first.get("MessagingServiceSid", "")
        body, media = first.get("Body", ""), form.get("MediaUrl", [])
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not sender and not service:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body and not media and not first.get("ContentSid"):
            return _error(400, 21602, "Message body is required.")
        if to in MAGIC_RECIPIENTS:
            code, text = MAGIC_RECIPIENTS[to]
            return _error(400, code, text)
        if not _E164.fullmatch(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if sender and self.settings.from_ and sender != self.settings.from_:
            return _error(
                400,
                21606,
                f"The From phone number {sender} is not a valid, SMS-capable inbound phone "
                "number or short code for your account.",
            )
        if service and service != self.settings.messaging_service_sid:
            return _error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if len(body) > 1600:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if len(media) > 10:
            return _error(400, 21623, "The number of media files exceeds the limit of 10.")
        message = self._resource(to=to, sender=sender, service=service, body=body, media=media)
        self.messages[message["sid"]] = message
        callback = first.get("StatusCallback")
        if callback:
            self.context.spawn(lambda: self._progress(message["sid"], callback))
        return WebhookResponse.json(message, status_code=201)

    def _resource(
        self, *, to: str, sender: str, service: str, body: str, media: list[str]
    ) -> dict[str, Any]:
        account = self.settings.account_sid
        sid = ("MM" if media else "SM") + secrets.token_hex(16)
        now = _rfc2822(datetime.now(UTC))
        uri = f"/{API_VERSION}/Accounts/{account}/Messages/{sid}"
        return {
            "account_sid": account,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender or None,
            "messaging_service_sid": service or None,
            "num_media": str(len(media)),
            "num_segments": "0" if service else str(_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            # With only a Messaging Service, Twilio picks the sender later: "accepted".
            "status": "accepted" if service and not sender else "queued",
            "subresource_uris": {
                "media": f"{uri}/Media.json",
                "feedback": f"{uri}/Feedback.json",
            },
            "to": to,
            "uri": f"{uri}.json",
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
        message = self.messages[sid]
        now = datetime.now(UTC)
        message.update(status=status, date_updated=_rfc2822(now))
        if status == "sent":
            message["date_sent"] = _rfc2822(now)
        if message["num_segments"] == "0":
            message["num_segments"] = str(_segments(message["body"]))
        sender = message["from"] or self.settings.from_ or "+14155550100"
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


def _basic_credentials(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        return base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
