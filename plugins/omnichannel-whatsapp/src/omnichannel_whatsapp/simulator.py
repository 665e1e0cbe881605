"""A local stand-in for the WhatsApp Cloud API, mounted by ``omni sandbox`` at
``/whatsapp-cloud``.

It answers the adapter's real requests as Meta does: the bearer token checked (``401``, code
190, otherwise), the phone-number id in the path, the body's shape (``400``, code 100, for a
missing recipient, an unknown type, a text over 4,096 characters, a menu over its limits), and
``200`` with ``{"messages": [{"id": "wamid..."}]}``. Then it posts signed status webhooks to
``{public_url}/webhooks/whatsapp``: ``sent``, ``delivered`` and ``read``, ``step_delay``
apart (reversed with out-of-order delivery), with per-message pricing.

Like Meta it enforces the 24-hour customer-service window *after* accepting the send: a
free-form message to a customer who has not written in 24 hours gets its wamid, then a
``failed`` status with error 131047. The simulator learns that a customer wrote from the
messages relayed through ``POST /whatsapp-cloud/inbound`` (a signed notification, as
``adapter.simulate()`` builds it: ``omni simulate whatsapp --url`` pointed there), which it
forwards to the application as Meta would, or from :meth:`customer_wrote` in tests.

It also takes uploads (``POST /{version}/{phone_number_id}/media``), serves media ids and
their bytes (``GET /{version}/{media_id}``, then the URL it gives), and answers read receipts.
Two recipients behave differently: ``+14155550429`` is refused with 130429 (throughput), and
``+14155550131`` is accepted and then fails with 131026 (not on WhatsApp).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import itertools
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

from omnichannel import WebhookError, WebhookParseError, WebhookRequest, WebhookResponse
from omnichannel.plugin import bearer_auth, constant_time_equal
from omnichannel.sandbox import BaseSimulator, SimulatorContext
from omnichannel_whatsapp import simulator_checks as checks
from omnichannel_whatsapp.adapter import SIMULATED_DISPLAY_NUMBER
from omnichannel_whatsapp.payloads import ADAPTER_NAME, is_bsuid
from omnichannel_whatsapp.settings import MetaWhatsappSettings
from omnichannel_whatsapp.webhooks import (
    SIGNATURE_HEADER,
    notification,
    serialise,
    sign,
    verify_signature,
)

__all__ = ["THROTTLED_RECIPIENT", "UNDELIVERABLE_RECIPIENT", "MetaWhatsappSimulator"]

THROTTLED_RECIPIENT: Final = "+14155550429"
UNDELIVERABLE_RECIPIENT: Final = "+14155550131"
WINDOW: Final = timedelta(hours=24)

_PATH: Final = re.compile(r"/(?P<version>v\d+\.\d+)/(?P<node>[A-Za-z0-9_.-]+)(?:/(?P<edge>\w+))?")
_DOWNLOAD: Final = re.compile(r"/download/(?P<media_id>\d+)")


def _error(
    status_code: int, code: int, message: str, *, details: str | None = None
) -> WebhookResponse:
    error: dict[str, Any] = {
        "message": f"(#{code}) {message}",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": secrets.token_urlsafe(16),
    }
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return WebhookResponse.json({"error": error}, status_code=status_code)


def _customer_key(value: str) -> str:
    return value.strip().lstrip("+")


class MetaWhatsappSimulator(BaseSimulator):
    """The Cloud API's messages, media and read-receipt calls, as the ``whatsapp.meta``
    adapter uses them, and the status webhooks that follow."""

    adapter_name: ClassVar[str] = ADAPTER_NAME
    prefix: ClassVar[str] = "whatsapp-cloud"
    sample_recipient: ClassVar[str] = "+14155550199"
    inbound_relay: ClassVar[str | None] = "/inbound"

    settings: MetaWhatsappSettings

    def __init__(self, settings: MetaWhatsappSettings, context: SimulatorContext) -> None:
        super().__init__(settings, context)
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        """The simulator's time (tests replace it to age the window)."""
        self.last_inbound: dict[str, datetime] = {}
        """When each customer (wa_id digits or BSUID) last wrote, as far as the simulator saw."""
        self.messages: dict[str, dict[str, Any]] = {}
        """Every message accepted, by wamid, as it was sent."""
        self.read_receipts: list[dict[str, Any]] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        """Uploaded (or added) media: id -> (bytes, MIME type)."""
        self._media_ids = itertools.count(1037543291543636)

    @classmethod
    def sample_settings(cls, base_url: str) -> dict[str, Any]:
        """Sandbox settings (fake but well-formed) pointing at ``base_url``."""
        return {
            "access_token": "EAAsandbox0access0token0for0the0simulator",
            "phone_number_id": "106540352242922",
            "app_secret": "6f1c2b3a4d5e6f708192a3b4c5d6e7f8",
            "verify_token": "omni-verify-123",
            "base_url": base_url,
        }

    # -- state the tests and the relay set --------------------------------------------------

    def customer_wrote(self, customer: str, at: datetime | None = None) -> None:
        """Note that ``customer`` (E.164, wa_id or BSUID) wrote at ``at`` (default: now),
        opening the 24-hour window for free-form messages to them."""
        self.last_inbound[_customer_key(customer)] = at or self.clock()

    def add_media(self, data: bytes, content_type: str) -> str:
        """Hold ``data`` as if a customer had sent it; returns its media id."""
        media_id = str(next(self._media_ids))
        self.media[media_id] = (data, content_type)
        return media_id

    # -- requests ------------------------------------------------------------------------------

    async def handle(self, request: WebhookRequest) -> WebhookResponse:
        """Answer one Graph API request (or a relayed inbound notification) as Meta would."""
        path = self.subpath(request)
        method = request.method.upper()
        if path == "/inbound" and method == "POST":
            return await self._relay(request)
        refusal = self._authenticate(request)
        download = _DOWNLOAD.fullmatch(path)
        if download is not None and method == "GET":
            return refusal or self._download(download["media_id"])
        match = _PATH.fullmatch(path)
        if match is None:
            return _error(400, 2500, f"Unknown path components: {path[:80]}")
        if refusal is not None:
            return refusal
        node, edge = match["node"], match["edge"]
        if edge is None and method == "GET":
            return self._media_info(request, node)
        if edge in ("messages", "media") and method == "POST":
            if node != self.settings.phone_number_id:
                return _error(
                    400,
                    100,
                    f"Unsupported post request. Object with ID '{node[:40]}' does not exist, "
                    "cannot be loaded due to missing permissions, or does not support this "
                    "operation",
                )
            return self._upload(request) if edge == "media" else self._messages(request)
        return _error(400, 100, f"Unsupported {method.lower()} request")

    def _authenticate(self, request: WebhookRequest) -> WebhookResponse | None:
        expected = bearer_auth(self.settings.access_token.reveal())
        if constant_time_equal(request.header("Authorization") or "", expected):
            return None
        return _error(401, 190, "Invalid OAuth access token - Cannot parse access token")

    def _messages(self, request: WebhookRequest) -> WebhookResponse:
        try:
            body = request.json()
        except WebhookParseError:
            body = None
        if not isinstance(body, dict):
            return _error(400, 100, "Invalid parameter", details="the body is not a JSON object")
        if body.get("messaging_product") != "whatsapp":
            return _error(400, 100, "The parameter messaging_product is required.")
        if body.get("status") == "read":
            problem = checks.read_receipt_problem(body)
            if problem is not None:
                return _error(400, 100, "Invalid parameter", details=problem)
            self.read_receipts.append(body)
            return WebhookResponse.json({"success": True})
        recipient = body.get("to") or body.get("recipient")
        if not isinstance(recipient, str) or not recipient:
            return _error(400, 100, "The parameter to is required.")
        customer = _customer_key(recipient)
        if not (customer.isdigit() and 7 <= len(customer) <= 15) and not is_bsuid(customer):
            return _error(
                400, 100, "Invalid parameter", details=f"{recipient[:40]} is not a recipient"
            )
        refusal = checks.message_problem(body, known_media=self.media)
        if refusal is not None:
            code, details = refusal
            status_code = 404 if code == 132001 else 400
            return _error(status_code, code, "Invalid parameter", details=details)
        if "+" + customer == THROTTLED_RECIPIENT:
            return _error(
                400,
                130429,
                "Rate limit hit",
                details="Cloud API message throughput has been reached.",
            )
        wamid = f"wamid.{secrets.token_urlsafe(33)}"
        self.messages[wamid] = body
        self.context.spawn(lambda: self._progress(wamid, body, customer))
        first: dict[str, Any] = {"id": wamid}
        if body.get("type") == "template":
            first["message_status"] = "accepted"
        contact = {"input": recipient}
        contact["user_id" if is_bsuid(customer) else "wa_id"] = customer
        return WebhookResponse.json(
            {"messaging_product": "whatsapp", "contacts": [contact], "messages": [first]}
        )

    def _in_window(self, customer: str) -> bool:
        last = self.last_inbound.get(customer)
        return last is not None and self.clock() - last <= WINDOW

    # -- media ---------------------------------------------------------------------------------

    def _upload(self, request: WebhookRequest) -> WebhookResponse:
        fields, file_part = _multipart(request)
        if fields.get("messaging_product") != "whatsapp":
            return _error(400, 100, "The parameter messaging_product is required.")
        if file_part is None:
            return _error(400, 100, "The parameter file is required.")
        data, part_type = file_part
        content_type = fields.get("type") or part_type
        problem = checks.upload_problem(data, content_type)
        if problem is not None:
            return _error(400, 131053, "Media upload error", details=problem)
        return WebhookResponse.json({"id": self.add_media(data, content_type)})

    def _media_info(self, request: WebhookRequest, media_id: str) -> WebhookResponse:
        held = self.media.get(media_id)
        if held is None:
            return _error(
                400,
                100,
                f"Unsupported get request. Object with ID '{media_id[:40]}' does not exist",
            )
        data, content_type = held
        root = request.url.split(f"/{self.prefix}/", 1)[0]
        return WebhookResponse.json(
            {
                "messaging_product": "whatsapp",
                "url": f"{root}/{self.prefix}/download/{media_id}",
                "mime_type": content_type,
                "sha256": hashlib.sha256(data).hexdigest(),
                "file_size": len(data),
                "id": media_id,
            }
        )

    def _download(self, media_id: str) -> WebhookResponse:
        held = self.media.get(media_id)
        if held is None:
            return WebhookResponse.text("not found", status_code=404)
        data, content_type = held
        return WebhookResponse(body=data, content_type=content_type)

    # -- inbound relay -------------------------------------------------------------------------

    async def _relay(self, request: WebhookRequest) -> WebhookResponse:
        """Take a signed inbound notification as if a customer had sent it: note who wrote
        (opening their window) and post it on to the application, as Meta does."""
        try:
            verify_signature(request, self.settings.app_secret)
            data = request.json()
        except WebhookError as error:
            return WebhookResponse.for_error(error)
        for customer, at in checks.senders(data, self.settings.phone_number_id):
            self.last_inbound[customer] = at
        url = self.context.webhook_url("whatsapp")
        if url is None:
            return WebhookResponse.json(
                {"error": "the sandbox has no public_url to post inbound messages to"}, 503
            )
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: request.header(SIGNATURE_HEADER) or "",
        }
        status = await self.context.post(url, headers=headers, body=request.body)
        if status == 0:
            return WebhookResponse.text(f"the application at {url} is unreachable", 502)
        return WebhookResponse.text(f"relayed to {url}: HTTP {status}", status_code=status)

    # -- status webhooks -----------------------------------------------------------------------

    async def _progress(self, wamid: str, body: Mapping[str, Any], customer: str) -> None:
        template = body.get("type") == "template"
        steps: list[tuple[str, int | None]]
        if "+" + customer == UNDELIVERABLE_RECIPIENT:
            steps = [("failed", 131026)]
        elif not template and not self._in_window(customer):
            steps = [("failed", 131047)]
        else:
            steps = [("sent", None), ("delivered", None), ("read", None)]
            if self.context.out_of_order:
                steps.reverse()
        for status, code in steps:
            await self.context.sleep(self.context.step_delay)
            await self.post_status(wamid, status, body, customer, error_code=code)

    async def post_status(
        self,
        wamid: str,
        status: str,
        body: Mapping[str, Any],
        customer: str,
        *,
        error_code: int | None = None,
    ) -> int:
        """Post one signed status webhook for ``wamid``; returns the HTTP status (0 when the
        application was unreachable or no public URL is set)."""
        url = self.context.webhook_url("whatsapp")
        if url is None:
            return 0
        entry = checks.status_entry(
            wamid,
            status,
            body,
            customer,
            at=self.clock(),
            error_code=error_code,
        )
        event = notification(
            {
                "messaging_product": "whatsapp",
                "metadata": {
                    "display_phone_number": SIMULATED_DISPLAY_NUMBER,
                    "phone_number_id": self.settings.phone_number_id,
                },
                "statuses": [entry],
            }
        )
        payload = serialise(event)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.settings.app_secret, payload),
        }
        return await self.context.post(url, headers=headers, body=payload)


def _multipart(request: WebhookRequest) -> tuple[dict[str, str], tuple[bytes, str] | None]:
    content_type = request.header("Content-Type") or ""
    if not content_type.lower().startswith("multipart/form-data"):
        return {}, None
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    fields: dict[str, str] = {}
    file_part: tuple[bytes, str] | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if name == "file":
            file_part = (payload, part.get_content_type())
        else:
            fields[name] = payload.decode("utf-8", "replace")
    return fields, file_part
