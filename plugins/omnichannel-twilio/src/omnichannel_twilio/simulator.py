"""What the sandbox's Twilio simulators share: the account's resource routes, Basic auth,
Twilio's error bodies, and the list reads a lookup makes.

A :class:`TwilioSimulator` serves one list resource of the 2010 API the way Twilio does:
``POST /2010-04-01/Accounts/{AccountSid}/{Resource}.json`` creates (the subclass's
:meth:`~TwilioSimulator.create`), ``GET`` on it lists what was created, newest first, with
Twilio's filters (``To``, ``From`` and a day or day inequality on the resource's date filter:
``DateSent`` for Messages, ``StartTime`` for Calls) in pages of ``PageSize`` linked by
``next_page_uri``, and ``GET …/{Resource}/{Sid}.json`` fetches one. Every request is checked
for Basic auth with the account's credentials and for the account in the path (``401``, code
20003, as Twilio answers both); an unknown route is ``404``, code 20404.

A resource Twilio has not sent (or started) yet has no ``date_sent`` (``start_time``); whether
Twilio lists it under a ``DateSent`` filter is not documented, and the simulator lists it under
the day it was created.
"""

from __future__ import annotations

import base64
import binascii
import operator
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Final, Generic, TypeVar
from urllib.parse import urlencode

from omnichannel import WebhookParseError, WebhookRequest, WebhookResponse
from omnichannel.plugin import constant_time_equal
from omnichannel.sandbox import BaseSimulator, SimulatorContext
from omnichannel_twilio.payloads import (
    API_VERSION,
    FormPairs,
    TwilioResource,
    account_path,
    parse_time,
    rfc2822,
)
from omnichannel_twilio.settings import TwilioAccount

__all__ = [
    "SAMPLE_ACCOUNT_SID",
    "SAMPLE_AUTH_TOKEN",
    "SAMPLE_FROM",
    "TwilioSimulator",
    "twilio_error",
]

SAMPLE_ACCOUNT_SID: Final = "AC5a4dbe1c0ffee0ddba11ca7fe5eed5a1"
SAMPLE_AUTH_TOKEN: Final = "0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f6"
SAMPLE_FROM: Final = "+14155550100"

AccountT = TypeVar("AccountT", bound=TwilioAccount)

_DOCS: Final = "https://www.twilio.com/docs/errors/"
_DEFAULT_PAGE_SIZE: Final = 50
_MAX_PAGE_SIZE: Final = 1000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def twilio_error(status: int, code: int, message: str) -> WebhookResponse:
    """Twilio's legacy error body ``{code, message, more_info, status}``."""
    body = {"code": code, "message": message, "more_info": f"{_DOCS}{code}", "status": status}
    return WebhookResponse.json(body, status_code=status)


def _basic_credentials(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        return base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


class TwilioSimulator(BaseSimulator, Generic[AccountT]):
    """One Twilio list resource of an account: auth, routes, fetch and filtered lists.

    A subclass sets ``adapter_name``, ``prefix`` and :attr:`resource`, and implements
    :meth:`create` (a ``201`` with the new resource, which it stores in :attr:`resources`).
    Both simulators act for one sample account (:meth:`sample_settings`), as one Twilio account
    serves Messaging and Voice.
    """

    resource: ClassVar[TwilioResource]
    """The list resource served (Messages, Calls)."""
    sample_recipient: ClassVar[str] = "+14155550199"

    settings: AccountT

    def __init__(self, settings: AccountT, context: SimulatorContext) -> None:
        super().__init__(settings, context)
        self.resources: dict[str, dict[str, Any]] = {}
        """Every resource created, by SID, as the API would return it now."""
        base = re.escape(account_path("ACCOUNT", self.resource.name)[: -len(".json")])
        self._route = re.compile(
            base.replace("ACCOUNT", "(?P<account>[^/]+)") + r"(?:/(?P<sid>[^/]+))?\.json"
        )

    @classmethod
    def sample_settings(cls, base_url: str) -> dict[str, Any]:
        """Demo settings (fake but well-formed credentials) pointing at ``base_url``."""
        return {
            "account_sid": SAMPLE_ACCOUNT_SID,
            "auth_token": SAMPLE_AUTH_TOKEN,
            "from": SAMPLE_FROM,
            "base_url": base_url,
        }

    # -- requests --------------------------------------------------------------------------------

    async def handle(self, request: WebhookRequest) -> WebhookResponse:
        """Answer one API request as Twilio would."""
        path = self.subpath(request)
        match = self._route.fullmatch(path)
        if match is None:
            return twilio_error(404, 20404, f"The requested resource {path} was not found")
        refusal = self.authenticate(request, match["account"])
        if refusal is not None:
            return refusal
        method = request.method.upper()
        if match["sid"] is None and method == "POST":
            try:
                form = request.form()
            except WebhookParseError:
                return twilio_error(400, 20001, "Could not parse the request body")
            return self.create(form)
        if match["sid"] is None and method == "GET":
            return self._list(request, path)
        if method == "GET":
            found = self.resources.get(match["sid"])
            if found is None:
                return twilio_error(404, 20404, f"The requested resource {path} was not found")
            return WebhookResponse.json(found)
        return twilio_error(405, 20004, "Method not allowed")

    def authenticate(self, request: WebhookRequest, account: str) -> WebhookResponse | None:
        """None when ``request`` carries credentials of this account and names it in its path;
        else Twilio's ``401`` (20003), which it gives for both."""
        given = _basic_credentials(request.header("Authorization"))
        matched = False
        # Every pair is compared, so the time taken says nothing about which one matched.
        for username, password in self.settings.api_credentials:
            expected = f"{username}:{password.reveal()}"
            matched |= given is not None and constant_time_equal(given, expected)
        if matched and account == self.settings.account_sid:
            return None
        response = twilio_error(401, 20003, "Authenticate")
        return WebhookResponse(
            status_code=response.status_code,
            body=response.body,
            content_type=response.content_type,
            headers={"WWW-Authenticate": 'Basic realm="Twilio API"'},
        )

    def create(self, form: FormPairs) -> WebhookResponse:
        """Create a resource from the POSTed ``form`` (the subclass's own rules)."""
        raise NotImplementedError

    def new_resource(self, sid: str, subresources: Iterable[str]) -> dict[str, Any]:
        """The fields every resource of the account has, for a new one: its SID, account, API
        version, dates (now) and URIs (``subresources`` by their names, ``Media``)."""
        now = rfc2822(datetime.now(UTC))
        path = account_path(self.settings.account_sid, f"{self.resource.name}/{sid}")
        base = path.removesuffix(".json")
        return {
            "sid": sid,
            "account_sid": self.settings.account_sid,
            "api_version": API_VERSION,
            "date_created": now,
            "date_updated": now,
            "uri": path,
            "subresource_uris": {name.lower(): f"{base}/{name}.json" for name in subresources},
        }

    # -- lists -----------------------------------------------------------------------------------

    def _dated(self, resource: Mapping[str, Any]) -> datetime | None:
        return parse_time(resource.get(self.resource.date_field)) or parse_time(
            resource.get("date_created")
        )

    def _matches(self, resource: Mapping[str, Any], query: Mapping[str, str]) -> bool:
        for name in ("To", "From"):
            if name in query and resource.get(name.lower()) != query[name]:
                return False
        moment = self._dated(resource)
        day = moment.date() if moment is not None else None
        for suffix, holds in (("", operator.eq), (">", operator.ge), ("<", operator.le)):
            wanted = query.get(f"{self.resource.date_filter}{suffix}")
            if wanted is None:
                continue
            bound = _day(wanted)
            if bound is None or day is None or not holds(day, bound):
                return False
        return True

    def _list(self, request: WebhookRequest, path: str) -> WebhookResponse:
        query = {name: value for name, value in request.query()}
        try:
            size = min(_MAX_PAGE_SIZE, max(1, int(query.get("PageSize", _DEFAULT_PAGE_SIZE))))
            page = max(0, int(query.get("Page", "0")))
        except ValueError:
            return twilio_error(400, 20001, "Invalid paging parameter")
        matched = [item for item in self.resources.values() if self._matches(item, query)]
        # Newest first, as Twilio lists them.
        matched.sort(key=lambda item: self._dated(item) or _EPOCH, reverse=True)
        chunk = matched[page * size : (page + 1) * size]
        filters = [(name, value) for name, value in query.items() if name != "Page"]

        def page_uri(number: int) -> str:
            # Relative to the API root, as Twilio gives them: the adapter joins its base_url.
            return f"{path}?{urlencode([*filters, ('Page', str(number))])}"

        has_next = (page + 1) * size < len(matched)
        return WebhookResponse.json(
            {
                self.resource.key: chunk,
                "end": page * size + max(len(chunk) - 1, 0),
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) if has_next else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
                "start": page * size,
                "uri": page_uri(page),
            }
        )
