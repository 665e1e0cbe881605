"""A local stand-in for the {{Provider}} API, mounted by ``omni sandbox`` and ``omni demo``.

It accepts the adapter's real requests, checks the bearer token as {{Provider}} does, checks
each body against the API's rules (the limits of menus, the approved templates, the media ids
it issued), answers in {{Provider}}'s shapes, and posts signed status callbacks (``sent``, then
``delivered``) for every message to the application's webhook URL. It keeps what it was sent,
so lookups by reference find it, and a queue of inbound messages for pollers
(:meth:`{{Provider}}{{Channel}}Simulator.queue_inbound`).

Two recipients behave differently, to exercise error paths: ``rate-limited`` gets a ``429``
with ``Retry-After: 2``, and ``unknown`` gets an ``invalid_recipient`` error.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

import attrs
from omnichannel import WebhookParseError, WebhookRequest, WebhookResponse
from omnichannel.plugin import bearer_auth, constant_time_equal
from omnichannel.sandbox import BaseSimulator, SimulatorContext

from omnichannel_{{name}} import webhooks
from omnichannel_{{name}}.payloads import ADAPTER_NAME, MAX_POST_LENGTH, MAX_TEXT_LENGTH
from omnichannel_{{name}}.settings import {{Provider}}{{Channel}}Settings

__all__ = ["APPROVED_TEMPLATES", "{{Provider}}{{Channel}}Simulator"]

RATE_LIMITED_RECIPIENT: Final = "rate-limited"
UNKNOWN_RECIPIENT: Final = "unknown"
APPROVED_TEMPLATES: Final = frozenset({"order_update", "follow_up"})
"""The template names the simulated account has approved."""
MEDIA_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/gif", "application/pdf"})
MAX_MEDIA_BYTES: Final = 5 * 1024 * 1024
MAX_MEDIA_ITEMS: Final = 4
MAX_BUTTONS: Final = 3
MAX_BUTTON_TITLE: Final = 20
MAX_ROWS: Final = 10
MAX_ROW_TITLE: Final = 24
PAGE_SIZE: Final = 50

Handler = Callable[[WebhookRequest], Awaitable[WebhookResponse]]


def _error(status_code: int, code: str, message: str) -> WebhookResponse:
    return WebhookResponse.json({"error": {"code": code, "message": message}}, status_code)


def _invalid(message: str) -> WebhookResponse:
    return _error(400, "invalid_request", message)


def _is_text(value: object, limit: int = MAX_TEXT_LENGTH) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit


class {{Provider}}{{Channel}}Simulator(BaseSimulator):
    """The {{Provider}} API: messages, posts, media, lookups and the inbound queue."""

    adapter_name: ClassVar[str] = ADAPTER_NAME
    prefix: ClassVar[str] = "{{name}}"
    sample_recipient: ClassVar[str] = "customer-1"

    settings: {{Provider}}{{Channel}}Settings

    def __init__(
        self,
        settings: {{Provider}}{{Channel}}Settings,
        context: SimulatorContext,
    ) -> None:
        super().__init__(settings, context)
        self._ids = itertools.count(1)
        self.messages: dict[str, dict[str, Any]] = {}
        """Every message and post sent, by id, as lookups list them."""
        self.media: dict[str, bytes] = {}
        """Every uploaded file, by media id."""
        self.inbound: list[dict[str, Any]] = []
        """Inbound message events for pollers; the cursor is an index into this list."""
        self._routes: Mapping[tuple[str, str], Handler] = {
            ("POST", "/messages"): self._send_message,
            ("GET", "/messages"): self._find,
            ("POST", "/posts"): self._post,
            ("GET", "/posts"): self._find,
            ("POST", "/media"): self._upload,
            ("GET", "/messages/inbound"): self._inbound_page,
        }

    @classmethod
    def sample_settings(cls, base_url: str) -> dict[str, Any]:
        """Settings for the adapter, pointing at the simulator mounted at ``base_url``."""
        return {
            "api_token": "sandbox-api-token",
            "webhook_secret": "sandbox-webhook-secret",
            "from": "support",
            "base_url": base_url,
        }

    def queue_inbound(self, *, sender: str, text: str, choice: str | None = None) -> dict[str, Any]:
        """Queue an inbound message from ``sender``, for the next ``GET /messages/inbound``."""
        event = webhooks.message_event(
            message_id=f"in-{next(self._ids):06d}",
            sender=sender,
            recipient=self.settings.from_ or "business",
            text=text,
            timestamp=datetime.now(UTC),
            choice=choice,
        )
        self.inbound.append(event)
        return event

    async def handle(self, request: WebhookRequest) -> WebhookResponse:
        """Answer one API request, as {{Provider}} would."""
        route = self._routes.get((request.method, self.subpath(request).rstrip("/")))
        if route is None:
            return _error(404, "not_found", f"no such endpoint: {request.method} {request.path}")
        expected = bearer_auth(self.settings.api_token.reveal())
        if not constant_time_equal(request.header("Authorization") or "", expected):
            return _error(401, "unauthorized", "invalid or missing API token")
        return await route(request)

    # -- sending ----------------------------------------------------------------------------

    async def _send_message(self, request: WebhookRequest) -> WebhookResponse:
        data = _json_object(request)
        if isinstance(data, WebhookResponse):
            return data
        to = data.get("to")
        if not isinstance(to, str) or not to:
            return _invalid("'to' is a required string")
        problem = self._message_problem(data)
        if problem is not None:
            return problem
        if to == RATE_LIMITED_RECIPIENT:
            limited = _error(429, "rate_limited", "too many requests")
            return attrs.evolve(limited, headers={"Retry-After": "2"})
        if to == UNKNOWN_RECIPIENT:
            return _error(400, "invalid_recipient", f"no such recipient: {to}")
        message = self._store("msg", data, status="accepted")
        self.context.spawn(lambda: self._report(message))
        return WebhookResponse.json({"id": message["id"], "status": "accepted"}, 201)

    def _message_problem(self, data: Mapping[str, Any]) -> WebhookResponse | None:
        text, template = data.get("text"), data.get("template")
        if text is not None and not _is_text(text):
            return _invalid(f"'text' must be 1 to {MAX_TEXT_LENGTH} characters")
        if text is None and template is None and not data.get("media"):
            return _invalid("give 'text', 'media' or a 'template'")
        problem = self._media_problem(data.get("media"), uploads=True)
        if problem is None and data.get("interactive") is not None:
            problem = _interactive_problem(data["interactive"], has_text=text is not None)
        if problem is None and template is not None:
            problem = self._template_problem(template)
        return problem

    def _media_problem(self, media: object, *, uploads: bool) -> WebhookResponse | None:
        if media is None:
            return None
        if not isinstance(media, list) or not 0 < len(media) <= MAX_MEDIA_ITEMS:
            return _invalid(f"'media' is a list of 1 to {MAX_MEDIA_ITEMS} items")
        for item in media:
            problem = self._media_item_problem(item, uploads=uploads)
            if problem is not None:
                return problem
        return None

    def _media_item_problem(self, item: object, *, uploads: bool) -> WebhookResponse | None:
        if not isinstance(item, dict) or ("link" in item) == ("id" in item):
            return _invalid("each media item has either a 'link' or an 'id'")
        if "id" in item and not uploads:
            return _invalid("posts attach media by 'link' only")
        if "id" in item and item["id"] not in self.media:
            return _error(400, "media_rejected", f"no uploaded media {item['id']!r}")
        if "link" in item and not _is_text(item["link"]):
            return _invalid("a media 'link' is a URL")
        return None

    def _template_problem(self, template: object) -> WebhookResponse | None:
        if not isinstance(template, dict) or not isinstance(template.get("name"), str):
            return _invalid("'template' is an object with a 'name'")
        if template["name"] not in APPROVED_TEMPLATES:
            return _error(400, "template_not_found", f"no approved template {template['name']!r}")
        parameters, named = template.get("parameters"), template.get("named_parameters")
        if parameters is not None and named is not None:
            return _invalid("give 'parameters' or 'named_parameters', not both")
        if parameters is not None and not (
            isinstance(parameters, list) and all(_is_text(item) for item in parameters)
        ):
            return _invalid("template 'parameters' is a list of strings")
        if named is not None and not (
            isinstance(named, dict) and all(_is_text(item) for item in named.values())
        ):
            return _invalid("template 'named_parameters' maps names to strings")
        header = template.get("header")
        if header is not None:
            if not isinstance(header, dict) or len(header) != 1:
                return _invalid("a template 'header' is {'text': ...} or {'media': ...}")
            if "media" in header:
                return self._media_item_problem(header["media"], uploads=True)
            if not _is_text(header.get("text"), 60):
                return _invalid("a template header 'text' is 1 to 60 characters")
        return _template_buttons_problem(template.get("buttons"))

    async def _post(self, request: WebhookRequest) -> WebhookResponse:
        data = _json_object(request)
        if isinstance(data, WebhookResponse):
            return data
        if not _is_text(data.get("text"), MAX_POST_LENGTH):
            return _invalid(f"a post's 'text' is 1 to {MAX_POST_LENGTH} characters")
        reply_to = data.get("in_reply_to")
        if reply_to is not None and not _is_text(reply_to):
            return _invalid("'in_reply_to' is a post id")
        problem = self._media_problem(data.get("media"), uploads=False)
        if problem is not None:
            return problem
        post = self._store("post", data, status="sent")
        return WebhookResponse.json({"id": post["id"], "status": "sent"}, 201)

    async def _upload(self, request: WebhookRequest) -> WebhookResponse:
        content_type = (request.header("Content-Type") or "").split(";")[0].strip()
        if content_type not in MEDIA_TYPES:
            return _error(400, "media_rejected", f"type {content_type or 'none'} is not accepted")
        if not 0 < len(request.body) <= MAX_MEDIA_BYTES:
            return _error(400, "media_rejected", f"a file is 1 byte to {MAX_MEDIA_BYTES} bytes")
        media_id = f"media-{next(self._ids):06d}"
        self.media[media_id] = request.body
        return WebhookResponse.json({"id": media_id}, 201)

    def _store(self, kind: str, data: Mapping[str, Any], *, status: str) -> dict[str, Any]:
        message_id = f"{kind}-{next(self._ids):06d}"
        message = {
            "id": message_id,
            "status": status,
            "reference": data.get("reference"),
            "to": data.get("to"),
            "in_reply_to": data.get("in_reply_to"),
            "text": data.get("text"),
            "created_at": datetime.now(UTC).isoformat(),
        }
        self.messages[message_id] = message
        return message

    async def _report(self, message: dict[str, Any]) -> None:
        url = self.context.webhook_url("{{channel}}")
        if url is None:
            return
        steps = ["sent", "delivered"]
        if self.context.out_of_order:
            steps.reverse()
        for status in steps:
            await self.context.sleep(self.context.step_delay)
            message["status"] = status
            event = webhooks.status_event(
                message_id=message["id"],
                status=status,
                timestamp=datetime.now(UTC),
                reference=message["reference"],
            )
            callback = webhooks.signed_request(url, event, self.settings.webhook_secret)
            await self.context.post(url, headers=dict(callback.headers), body=callback.body)

    # -- reading back -----------------------------------------------------------------------

    async def _find(self, request: WebhookRequest) -> WebhookResponse:
        reference = request.query_value("reference")
        if not reference:
            return _invalid("'reference' is a required query parameter")
        kind = "post" if self.subpath(request).startswith("/posts") else "msg"
        found = [
            message
            for message in self.messages.values()
            if message["reference"] == reference and message["id"].startswith(f"{kind}-")
        ]
        return WebhookResponse.json({"messages": found})

    async def _inbound_page(self, request: WebhookRequest) -> WebhookResponse:
        after = request.query_value("after")
        if after is not None and not (after.isdigit() and int(after) <= len(self.inbound)):
            return _error(400, "invalid_cursor", f"cursor {after!r} was not issued here")
        start = int(after) if after is not None else 0
        page = self.inbound[start : start + PAGE_SIZE]
        end = start + len(page)
        return WebhookResponse.json(
            {
                "messages": page,
                "cursor": str(end) if end or after is not None else None,
                "more": end < len(self.inbound),
            }
        )


def _json_object(request: WebhookRequest) -> dict[str, Any] | WebhookResponse:
    try:
        data = request.json()
    except WebhookParseError:
        return _invalid("the body is not JSON")
    if not isinstance(data, dict):
        return _invalid("the body must be a JSON object")
    return data


def _interactive_problem(interactive: object, *, has_text: bool) -> WebhookResponse | None:
    if not has_text:
        return _invalid("an interactive message needs 'text' (its body)")
    if not isinstance(interactive, dict):
        return _invalid("'interactive' is an object")
    if interactive.get("type") == "buttons":
        options, title_limit = interactive.get("buttons"), MAX_BUTTON_TITLE
        if not isinstance(options, list) or not 0 < len(options) <= MAX_BUTTONS:
            return _invalid(f"'buttons' is a list of 1 to {MAX_BUTTONS} buttons")
    elif interactive.get("type") == "list":
        sections = interactive.get("sections")
        if not _is_text(interactive.get("button"), 20) or not isinstance(sections, list):
            return _invalid("a list has a 'button' label and 'sections'")
        if not all(isinstance(section, dict) for section in sections):
            return _invalid("each list section is an object")
        options = [row for section in sections for row in section.get("rows") or ()]
        title_limit = MAX_ROW_TITLE
        if not 0 < len(options) <= MAX_ROWS:
            return _invalid(f"a list has 1 to {MAX_ROWS} rows")
    else:
        return _invalid("'interactive.type' is 'buttons' or 'list'")
    for option in options:
        if not isinstance(option, dict) or not _is_text(option.get("id"), 200):
            return _invalid("each option has an 'id' of 1 to 200 characters")
        if not _is_text(option.get("title"), title_limit):
            return _invalid(f"each option has a 'title' of 1 to {title_limit} characters")
    return None


def _template_buttons_problem(buttons: object) -> WebhookResponse | None:
    if buttons is None:
        return None
    if not isinstance(buttons, list) or len(buttons) > 10:
        return _invalid("template 'buttons' is a list of at most 10 buttons")
    for button in buttons:
        if not isinstance(button, dict) or button.get("type") not in ("quick_reply", "url"):
            return _invalid("a template button's 'type' is 'quick_reply' or 'url'")
        if not isinstance(button.get("index"), int) or not _is_text(button.get("value")):
            return _invalid("a template button has an 'index' and a 'value'")
    return None
