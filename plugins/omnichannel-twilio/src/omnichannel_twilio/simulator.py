"""What the sandbox's Twilio simulators share: the account's resource routes, Basic auth and
Twilio's error bodies.

A :class:`TwilioSimulator` serves one list resource of the 2010 API the way Twilio does:
``POST /2010-04-01/Accounts/{AccountSid}/{Resource}.json`` creates (the subclass's
:meth:`~TwilioSimulator.create`) and ``GET …/{Resource}/{Sid}.json`` fetches one. Every request
is checked for Basic auth with the account's credentials and for the account in the path
(``401``, code 20003, as Twilio answers both); an unknown route is ``404``, code 20404.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Generic, TypeVar

from omnichannel import WebhookParseError, WebhookRequest, WebhookResponse
from omnichannel.plugin import constant_time_equal
from omnichannel.sandbox import BaseSimulator, SimulatorContext
from omnichannel_twilio.payloads import (
    API_VERSION,
    FormPairs,
    TwilioResource,
    account_path,
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


class TwilioSimulator(BaseSimulator, Generic[AccountT]):
    """One Twilio list resource of an account: auth, routes and fetch.

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
        if match["sid"] is not None and method == "GET":
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
