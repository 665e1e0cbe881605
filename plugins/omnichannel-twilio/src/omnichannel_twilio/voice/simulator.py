"""A local stand-in for Twilio Voice's Calls API, mounted by ``omni sandbox`` at
``/twilio-voice``.

On the routes, auth and lists every Twilio simulator shares
(:class:`~omnichannel_twilio.simulator.TwilioSimulator`), it accepts the adapter's create-call
requests, checks what Twilio checks (``To``/``From`` and one of ``Twiml``/``Url``/
``ApplicationSid``, that ``From`` belongs to the account), answers with Twilio's status codes and
bodies, then plays the call: it posts signed call status callbacks to the request's
``StatusCallback`` for each subscribed event, and keeps the call resource up to date, as
``GET …/Calls.json`` (by ``To``, ``From`` and ``StartTime``) and ``reconcile`` read it.

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
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

from omnichannel import AddressKind, InvalidAddress, WebhookResponse
from omnichannel_twilio.payloads import API_VERSION, FormPairs, TwilioResource, rfc2822
from omnichannel_twilio.settings import TwilioVoiceSettings
from omnichannel_twilio.simulator import TwilioSimulator, twilio_error
from omnichannel_twilio.voice.payloads import CALLS, MACHINE_DETECTION
from omnichannel_twilio.voice.webhooks import GEO_PARAMS
from omnichannel_twilio.webhooks import first_values, signed_request

__all__ = ["TwilioVoiceSimulator"]

logger = logging.getLogger("omnichannel_twilio.voice.simulator")

INVALID_NUMBER: Final = "+15005550001"
BUSY_NUMBER: Final = "+15005550010"
NO_ANSWER_NUMBER: Final = "+15005550011"
MACHINE_NUMBER: Final = "+15005550012"
CALL_SECONDS: Final = 12

_EVENT_OF: Final = {
    "initiated": "initiated",
    "ringing": "ringing",
    "in-progress": "answered",
    "completed": "completed",
    "busy": "completed",
    "no-answer": "completed",
}
_SIP_CODE: Final = {"in-progress": "200", "completed": "200", "busy": "486", "no-answer": "487"}
_FINAL: Final = frozenset({"completed", "busy", "no-answer"})


class TwilioVoiceSimulator(TwilioSimulator[TwilioVoiceSettings]):
    """Twilio Voice's Calls resource: places calls, posts their signed status callbacks and
    keeps each call resource as the call plays."""

    adapter_name: ClassVar[str] = "voice.twilio"
    prefix: ClassVar[str] = "twilio-voice"
    scenarios: ClassVar[Mapping[str, str]] = {
        INVALID_NUMBER: "refused at once: 400, error 21211 (invalid To)",
        BUSY_NUMBER: "rings, then ends busy",
        NO_ANSWER_NUMBER: "rings, then ends no-answer",
        MACHINE_NUMBER: "answered by a voicemail (AnsweredBy=machine_end_beep with detection)",
    }
    resource: ClassVar[TwilioResource] = CALLS

    def create(self, form: FormPairs) -> WebhookResponse:
        """Place a call as Twilio does, or refuse it with Twilio's code."""
        _, fields = first_values(form)
        to, from_ = fields.get("To", ""), fields.get("From", "")
        if not to:
            return twilio_error(400, 21201, "No 'To' number is specified")
        if not from_:
            return twilio_error(400, 21213, "No 'From' number is specified")
        if not any(fields.get(name) for name in ("Twiml", "Url", "ApplicationSid")):
            return twilio_error(400, 21205, "Url parameter is required.")
        if to == INVALID_NUMBER or not _valid_phone(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if from_ != self.settings.from_:
            return twilio_error(
                400,
                21210,
                f"The source phone number provided, {from_}, is not yet verified for your "
                "account. You may only make calls from phone numbers that you've verified or "
                "purchased from Twilio.",
            )
        call = self._call_resource(f"CA{secrets.token_hex(16)}", to, from_)
        self.resources[call["sid"]] = call
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
        return {
            **self.new_resource(sid, ("Recordings", "Events", "Notifications")),
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
    ) -> FormPairs:
        """The parameters of one call status callback, as Twilio sends them."""
        params = [
            ("AccountSid", self.settings.account_sid),
            ("ApiVersion", API_VERSION),
            ("CallSid", sid),
            ("CallStatus", status),
            ("CallbackSource", "call-progress-events"),
            ("Called", to),
            ("Caller", from_),
            ("Direction", "outbound-api"),
            ("From", from_),
            ("SequenceNumber", str(sequence)),
            ("Timestamp", rfc2822(timestamp)),
            ("To", to),
        ]
        params += [(name, "") for name in GEO_PARAMS]
        if status in _SIP_CODE:
            params.append(("SipResponseCode", _SIP_CODE[status]))
        if answered_by is not None and status in ("in-progress", "completed"):
            params.append(("AnsweredBy", answered_by))
        if status in _FINAL:
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

    def _advance(self, sid: str, status: str, moment: datetime, answered_by: str | None) -> None:
        """Bring call ``sid`` to ``status`` (never back: callbacks may be posted reversed)."""
        call = self.resources[sid]
        order = self.outcome(call["to"])
        if call["status"] in order and order.index(call["status"]) >= order.index(status):
            return
        call.update(status=status, date_updated=rfc2822(moment))
        if call["start_time"] is None:
            call["start_time"] = rfc2822(moment)
        if status in ("in-progress", "completed"):
            call["answered_by"] = answered_by
        if status in _FINAL:
            call["end_time"] = rfc2822(moment)
            call["duration"] = str(CALL_SECONDS if status == "completed" else 0)

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
            machine = "machine_end_beep" if detection == MACHINE_DETECTION else "machine_start"
            answered_by = machine if to == MACHINE_NUMBER else "human"
        start = datetime.now(UTC)
        steps = [status for status in self.outcome(to) if _EVENT_OF[status] in events]
        # SequenceNumber counts the callbacks sent for the call, in the order they happened.
        timeline = list(enumerate(steps))
        if self.context.out_of_order:
            timeline.reverse()
        for sequence, status in timeline:
            await self.context.sleep(self.context.step_delay)
            moment = start + timedelta(seconds=sequence)
            self._advance(sid, status, moment, answered_by)
            params = self.callback_params(
                sid=sid,
                to=to,
                from_=from_,
                status=status,
                sequence=sequence,
                timestamp=moment,
                answered_by=answered_by,
            )
            request = signed_request(self.settings.auth_token, callback, params)
            answer = await self.context.post(
                callback, headers=dict(request.headers), body=request.body
            )
            if answer and not 200 <= answer < 300:  # 0: unreachable, logged by the context
                logger.warning("status callback for %s answered HTTP %d", sid, answer)


def _valid_phone(value: str) -> bool:
    try:
        AddressKind.PHONE.normalize(value)
    except InvalidAddress:
        return False
    return True
