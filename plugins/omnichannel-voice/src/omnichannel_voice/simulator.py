"""A local stand-in for Twilio Voice's create-call API, for ``omni sandbox`` and tests.

It accepts the adapter's ``POST /2010-04-01/Accounts/{AccountSid}/Calls.json`` requests, checks
what Twilio checks (Basic auth, the account in the path, ``To``/``From`` and one of
``Twiml``/``Url``/``ApplicationSid``, that ``From`` belongs to the account), answers with
Twilio's status codes and bodies, then plays the call: it posts signed call status callbacks
to the request's ``StatusCallback`` for each subscribed event.

Magic numbers, as ``To``, choose how a call goes (like Twilio's test credentials):

==================  =========================================================================
``+15005550001``    refused at once: 400, code 21211 (invalid ``To``)
``+15005550010``    rings, then ends ``busy``
``+15005550011``    rings, then ends ``no-answer``
``+15005550012``    answered by a voicemail (``AnsweredBy=machine_end_beep`` when detection
                    was requested)
any other number    answered by a person, completed after 12 seconds
==================  =========================================================================
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, ClassVar, Final
from urllib.parse import urlencode

from omnichannel import (
    AddressKind,
    InvalidAddress,
    WebhookParseError,
    WebhookRequest,
    WebhookResponse,
)
from omnichannel.http import basic_auth
from omnichannel.sandbox import BaseSimulator, SimulatorContext
from omnichannel.signing import constant_time_equal
from omnichannel_voice import payloads, webhooks
from omnichannel_voice.settings import TwilioVoiceSettings

__all__ = ["TwilioVoiceSimulator"]

logger = logging.getLogger("omnichannel_voice.simulator")

INVALID_NUMBER: Final = "+15005550001"
BUSY_NUMBER: Final = "+15005550010"
NO_ANSWER_NUMBER: Final = "+15005550011"
MACHINE_NUMBER: Final = "+15005550012"
CALL_SECONDS: Final = 12

SAMPLE_ACCOUNT_SID: Final = "AC5e1f2a3b4c5d6e7f8091a2b3c4d5e6f7"
SAMPLE_AUTH_TOKEN: Final = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SAMPLE_FROM: Final = "+14155550100"

_CALLS_PATH: Final = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Calls\.json$")
_GEO_FIELDS: Final = ("City", "Country", "State", "Zip")
_EVENT_OF: Final = {
    "initiated": "initiated",
    "ringing": "ringing",
    "in-progress": "answered",
    "completed": "completed",
    "busy": "completed",
    "no-answer": "completed",
}
_SIP_CODE: Final = {"in-progress": "200", "completed": "200", "busy": "486", "no-answer": "487"}


def _error(status: int, code: int, message: str) -> WebhookResponse:
    """Twilio's legacy error body."""
    return WebhookResponse.json(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


class TwilioVoiceSimulator(BaseSimulator):
    """Twilio Voice's Calls resource, with signed call status callbacks."""

    adapter_name: ClassVar[str] = "voice.twilio"
    prefix: ClassVar[str] = "twilio-voice"
    sample_recipient: ClassVar[str] = "+14155550199"
    scenarios: ClassVar[Mapping[str, str]] = {
        INVALID_NUMBER: "refused at once: 400, error 21211 (invalid To)",
        BUSY_NUMBER: "rings, then ends busy",
        NO_ANSWER_NUMBER: "rings, then ends no-answer",
        MACHINE_NUMBER: "answered by a voicemail (AnsweredBy=machine_end_beep with detection)",
    }

    settings: TwilioVoiceSettings

    def __init__(self, settings: TwilioVoiceSettings, context: SimulatorContext) -> None:
        super().__init__(settings, context)
        self.calls: list[dict[str, Any]] = []
        """Every call created, as answered (tests read it)."""

    @classmethod
    def sample_settings(cls, base_url: str) -> dict[str, Any]:
        """A well-formed fake account pointing at the simulator mounted at ``base_url``."""
        return {
            "account_sid": SAMPLE_ACCOUNT_SID,
            "auth_token": SAMPLE_AUTH_TOKEN,
            "from": SAMPLE_FROM,
            "base_url": base_url,
        }

    def _authorized(self, request: WebhookRequest) -> bool:
        given = request.header("Authorization") or ""
        tokens = [self.settings.auth_token, self.settings.secondary_auth_token]
        results = [
            constant_time_equal(given, basic_auth(self.settings.account_sid, token.reveal()))
            for token in tokens
            if token is not None
        ]
        return any(results)

    async def handle(self, request: WebhookRequest) -> WebhookResponse:
        """Answer one API request as Twilio would."""
        path = self.subpath(request)
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        match = _CALLS_PATH.match(path)
        if match is None or match.group(1) != self.settings.account_sid:
            return _error(404, 20404, f"The requested resource {path} was not found")
        if request.method.upper() != "POST":
            return _error(405, 20004, "Method not allowed")
        try:
            form = request.form()
        except WebhookParseError:
            return _error(400, 20001, "Could not parse the request body")
        return self._create_call(form)

    def _create_call(self, form: Sequence[tuple[str, str]]) -> WebhookResponse:
        fields: dict[str, str] = {}
        for name, value in form:
            fields.setdefault(name, value)
        to, from_ = fields.get("To", ""), fields.get("From", "")
        if not to:
            return _error(400, 21201, "No 'To' number is specified")
        if not from_:
            return _error(400, 21213, "No 'From' number is specified")
        if not any(fields.get(name) for name in ("Twiml", "Url", "ApplicationSid")):
            return _error(400, 21205, "Url parameter is required.")
        if to == INVALID_NUMBER or not _valid_phone(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if from_ != self.settings.from_:
            return _error(
                400,
                21210,
                f"The source phone number provided, {from_}, is not yet verified for your "
                "account. You may only make calls from phone numbers that you've verified or "
                "purchased from Twilio.",
            )
        call = self._call_resource(f"CA{secrets.token_hex(16)}", to, from_)
        self.calls.append({**call, "request": list(form)})
        callback = fields.get("StatusCallback")
        if callback:
            events = [value for name, value in form if name == "StatusCallbackEvent"]
            detection = fields.get("MachineDetection")
            self.context.spawn(
                lambda: self._play(
                    call["sid"], to, from_, callback, events or ["completed"], detection
                )
            )
        return WebhookResponse.json(call, status_code=201)

    def _call_resource(self, sid: str, to: str, from_: str) -> dict[str, Any]:
        account = self.settings.account_sid
        now = format_datetime(datetime.now(UTC))
        uri = f"{payloads.calls_path(account)[: -len('.json')]}/{sid}"
        return {
            "sid": sid,
            "account_sid": account,
            "parent_call_sid": None,
            "to": to,
            "to_formatted": to,
            "from": from_,
            "from_formatted": from_,
            "status": "queued",
            "direction": "outbound-api",
            "answered_by": None,
            "duration": None,
            "start_time": None,
            "end_time": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "caller_name": None,
            "forwarded_from": None,
            "group_sid": None,
            "trunk_sid": None,
            "phone_number_sid": f"PN{secrets.token_hex(16)}",
            "api_version": payloads.API_VERSION,
            "date_created": now,
            "date_updated": now,
            "uri": f"{uri}.json",
            "subresource_uris": {
                "recordings": f"{uri}/Recordings.json",
                "events": f"{uri}/Events.json",
                "notifications": f"{uri}/Notifications.json",
            },
        }

    # -- the call's progress ------------------------------------------------------------------

    def callback_params(
        self,
        *,
        sid: str,
        to: str,
        from_: str,
        status: str,
        sequence: int,
        timestamp: datetime,
        answered_by: str | None,
    ) -> list[tuple[str, str]]:
        """The parameters of one call status callback, as Twilio sends them."""
        params = [
            ("AccountSid", self.settings.account_sid),
            ("ApiVersion", payloads.API_VERSION),
            ("CallSid", sid),
            ("CallStatus", status),
            ("CallbackSource", "call-progress-events"),
            ("Called", to),
            ("Caller", from_),
            ("Direction", "outbound-api"),
            ("From", from_),
            ("SequenceNumber", str(sequence)),
            ("Timestamp", format_datetime(timestamp)),
            ("To", to),
        ]
        params += [
            (f"{side}{field}", "")
            for side in ("Called", "Caller", "From", "To")
            for field in _GEO_FIELDS
        ]
        if status in _SIP_CODE:
            params.append(("SipResponseCode", _SIP_CODE[status]))
        if answered_by is not None and status in ("in-progress", "completed"):
            params.append(("AnsweredBy", answered_by))
        if status in ("completed", "busy", "no-answer"):
            seconds = CALL_SECONDS if status == "completed" else 0
            params += [("CallDuration", str(seconds)), ("Duration", str(-(-seconds // 60)))]
        return params

    @staticmethod
    def outcome(to: str) -> list[str]:
        """The ``CallStatus`` values a call to ``to`` goes through, in order."""
        if to == BUSY_NUMBER:
            return ["initiated", "ringing", "busy"]
        if to == NO_ANSWER_NUMBER:
            return ["initiated", "ringing", "no-answer"]
        return ["initiated", "ringing", "in-progress", "completed"]

    async def _play(
        self,
        sid: str,
        to: str,
        from_: str,
        callback: str,
        events: Sequence[str],
        detection: str | None,
    ) -> None:
        answered_by = None
        if detection:
            machine = (
                "machine_end_beep" if detection == payloads.MACHINE_DETECTION else "machine_start"
            )
            answered_by = machine if to == MACHINE_NUMBER else "human"
        start = datetime.now(UTC)
        steps = [status for status in self.outcome(to) if _EVENT_OF[status] in events]
        # SequenceNumber counts the callbacks sent for the call, in the order they happened.
        bodies = [
            self.callback_params(
                sid=sid,
                to=to,
                from_=from_,
                status=status,
                sequence=sequence,
                timestamp=start + timedelta(seconds=sequence),
                answered_by=answered_by,
            )
            for sequence, status in enumerate(steps)
        ]
        if self.context.out_of_order:
            bodies.reverse()
        for params in bodies:
            await self.context.sleep(self.context.step_delay)
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                webhooks.SIGNATURE_HEADER: webhooks.sign(
                    self.settings.auth_token, callback, params
                ),
                "I-Twilio-Idempotency-Token": secrets.token_hex(16),
                "User-Agent": "TwilioProxy/1.1",
            }
            status = await self.context.post(
                callback, headers=headers, body=urlencode(params).encode()
            )
            if status and not 200 <= status < 300:  # 0: unreachable, logged by the context
                logger.warning("status callback for %s answered HTTP %d", sid, status)


def _valid_phone(value: str) -> bool:
    try:
        AddressKind.PHONE.normalize(value)
    except InvalidAddress:
        return False
    return True
