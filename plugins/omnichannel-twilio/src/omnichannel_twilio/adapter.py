"""The base both Twilio adapters stand on: what a Twilio account does the same for Messages
and for Calls.

``BaseAdapter`` does the sending, retries and receipts; :class:`TwilioAdapter` adds Twilio's
common parts once: Basic auth computed once (an API key when one is set), the resource URL and
request headers built once, errors read by code through the adapter's code table, and the
``X-Twilio-Signature`` check with the primary then the secondary Auth Token. The
adapters themselves (:mod:`omnichannel_twilio.messaging.adapter`,
:mod:`omnichannel_twilio.voice.adapter`) build their create request, read its answer and parse
their webhooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Generic, TypeVar

from omnichannel import SendError, WebhookRequest, WebhookResponse
from omnichannel.plugin import (
    AdapterContext,
    BaseAdapter,
    ProviderResponse,
    basic_auth,
    retry_after_seconds,
)
from omnichannel_twilio.payloads import (
    CodeRule,
    TwilioResource,
    account_url,
    error_for,
    form_headers,
    parse_error,
)
from omnichannel_twilio.settings import TwilioAccount
from omnichannel_twilio.webhooks import verify_request

__all__ = ["TwilioAdapter"]

AccountT = TypeVar("AccountT", bound=TwilioAccount)


class TwilioAdapter(BaseAdapter[AccountT], Generic[AccountT]):
    """The shared base of ``sms.twilio`` and ``voice.twilio``; see the module docstring.

    A subclass sets :attr:`resource` and :attr:`error_codes`.
    """

    resource: ClassVar[TwilioResource]
    """The list resource sends create (Messages, Calls)."""
    error_codes: ClassVar[Mapping[int, CodeRule]]
    """Twilio error codes, classified by what the caller should do."""

    def __init__(self, settings: AccountT, context: AdapterContext | None = None) -> None:
        super().__init__(settings, context)
        # Built once per adapter, not per send.
        self.resource_url = account_url(settings.base_url, settings.account_sid, self.resource.name)
        self.form_headers = form_headers(self.auth_headers)

    def build_auth_headers(self) -> Mapping[str, str]:
        """Basic auth: the API key when one is set, else the Account SID and Auth Token."""
        username, password = self.settings.api_credentials[0]
        return {"Authorization": basic_auth(username, password.reveal())}

    def error_for_response(self, response: ProviderResponse) -> SendError:
        """A typed error from Twilio's error code, else from the HTTP status."""
        return error_for(
            response.status_code,
            parse_error(response.body),
            retry_after_seconds(response.headers),
            codes=self.error_codes,
            what=self.resource.subject,
        )

    def verify_webhook(self, request: WebhookRequest) -> WebhookResponse | None:
        """Check ``X-Twilio-Signature`` with the primary, then the secondary, Auth Token."""
        verify_request(request, self.settings.webhook_tokens)
        return None
