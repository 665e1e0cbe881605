"""The base both Twilio adapters stand on: what a Twilio account does the same for Messages
and for Calls.

``BaseAdapter`` does the sending, retries and receipts; :class:`TwilioAdapter` adds Twilio's
common parts once: Basic auth computed once (an API key when one is set), the resource URL and
request headers built once, errors read by code through the adapter's code table, the
``X-Twilio-Signature`` check with the primary then the secondary Auth Token, and
:meth:`~TwilioAdapter.reconcile`, which settles an unknown send by reading the resource's list
with Twilio's filters (:mod:`omnichannel_twilio.lookups`). The adapters themselves
(:mod:`omnichannel_twilio.messaging.adapter`, :mod:`omnichannel_twilio.voice.adapter`) build
their create request, read its answer, parse their webhooks and say what a send of an envelope
creates (:meth:`~TwilioAdapter.lookup`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final, Generic, TypeVar

from omnichannel import (
    Envelope,
    OmnichannelError,
    ProviderError,
    SendError,
    SendReceipt,
    WebhookRequest,
    WebhookResponse,
)
from omnichannel.plugin import (
    AdapterContext,
    BaseAdapter,
    ProviderRequest,
    ProviderResponse,
    SentMessage,
    basic_auth,
    retry_after_seconds,
)
from omnichannel_twilio.lookups import Lookup, list_request, page_request, read_page
from omnichannel_twilio.payloads import (
    CodeRule,
    TwilioResource,
    account_url,
    api_headers,
    error_for,
    form_headers,
    parse_error,
    parse_time,
)
from omnichannel_twilio.settings import TwilioAccount
from omnichannel_twilio.webhooks import verify_request

__all__ = ["LOOKUP_MARGIN", "LOOKUP_PAGES", "TwilioAdapter"]

AccountT = TypeVar("AccountT", bound=TwilioAccount)

LOOKUP_MARGIN: Final = timedelta(seconds=60)
"""How much earlier than the attempt a resource may be dated and still be it: Twilio's clock
and ours differ a little, and Twilio's dates are whole seconds."""
LOOKUP_PAGES: Final = 5
"""The most list pages one lookup reads before it gives up as inconclusive."""
_REMEMBERED: Final = 1024


class TwilioAdapter(BaseAdapter[AccountT], Generic[AccountT]):
    """The shared base of ``sms.twilio`` and ``voice.twilio``; see the module docstring.

    A subclass sets :attr:`resource` and :attr:`error_codes`, and implements :meth:`lookup`
    for :meth:`reconcile`.
    """

    resource: ClassVar[TwilioResource]
    """The list resource sends create and lookups read (Messages, Calls)."""
    error_codes: ClassVar[Mapping[int, CodeRule]]
    """Twilio error codes, classified by what the caller should do."""

    def __init__(self, settings: AccountT, context: AdapterContext | None = None) -> None:
        super().__init__(settings, context)
        # Built once per adapter, not per send.
        self.resource_url = account_url(settings.base_url, settings.account_sid, self.resource.name)
        self.form_headers = form_headers(self.auth_headers)
        self.read_headers = api_headers(self.auth_headers)
        self._placed: OrderedDict[str, str] = OrderedDict()

    def build_auth_headers(self) -> Mapping[str, str]:
        """Basic auth: the API key when one is set, else the Account SID and Auth Token."""
        username, password = self.settings.api_credentials[0]
        return {"Authorization": basic_auth(username, password.reveal())}

    def error_for_response(self, response: ProviderResponse) -> SendError:
        """A typed error from Twilio's error code, else from the HTTP status."""
        return self._error_for(response, self.resource.subject)

    def _error_for(self, response: ProviderResponse, what: str) -> SendError:
        return error_for(
            response.status_code,
            parse_error(response.body),
            retry_after_seconds(response.headers),
            codes=self.error_codes,
            what=what,
        )

    def verify_webhook(self, request: WebhookRequest) -> WebhookResponse | None:
        """Check ``X-Twilio-Signature`` with the primary, then the secondary, Auth Token."""
        verify_request(request, self.settings.webhook_tokens)
        return None

    async def send(self, envelope: Envelope) -> SendReceipt:
        """Send as the base does, remembering which envelope each created resource is for
        (so a lookup for another envelope never takes it for its own)."""
        receipt = await super().send(envelope)
        for provider_id in receipt.provider_ids:
            self._placed[provider_id] = envelope.id
        while len(self._placed) > _REMEMBERED:
            self._placed.popitem(last=False)
        return receipt

    # -- reconcile ----------------------------------------------------------------------------

    def lookup(self, envelope: Envelope, since: datetime) -> Lookup:
        """What a send of ``envelope`` at or after ``since`` creates: the list filters, and the
        fields a listed resource must have to be it."""
        raise NotImplementedError

    def found(self, resource: Mapping[str, Any]) -> SentMessage:
        """The message found: its SID and its status now, as the status table maps it."""
        return SentMessage(
            provider_id=str(resource["sid"]),
            status=self.resource.status_of(resource.get("status")),
            raw=dict(resource),
        )

    async def reconcile(self, envelope: Envelope, *, attempted_at: datetime) -> SentMessage | None:
        """Look up whether an ambiguous send of ``envelope`` created a resource at Twilio.

        Reads the list resource with the filters of :meth:`lookup` (following
        ``next_page_uri`` for up to :data:`LOOKUP_PAGES` pages) and keeps what has the fields
        it expects, created no earlier than ``attempted_at`` less :data:`LOOKUP_MARGIN`, and
        not already sent by this adapter for another envelope; the earliest is the answer. None
        when Twilio lists none (sending again is then safe). A failed or inconclusive lookup
        raises a :class:`~omnichannel.SendError`.
        """
        since = attempted_at.astimezone(UTC) - LOOKUP_MARGIN
        try:
            candidates = await self._candidates(envelope, since)
        except OmnichannelError as error:
            raise self.with_context(error, envelope) from error.__cause__
        if not candidates:
            return None
        _, earliest = min(candidates, key=lambda pair: pair[0])
        return self.found(earliest)

    async def _candidates(
        self, envelope: Envelope, since: datetime
    ) -> list[tuple[datetime, Mapping[str, Any]]]:
        wanted = self.lookup(envelope, since)
        request: ProviderRequest = list_request(
            self.resource_url, wanted.filters, self.read_headers
        )
        what = f"{self.resource.subject} lookup"
        candidates: list[tuple[datetime, Mapping[str, Any]]] = []
        for _ in range(LOOKUP_PAGES):
            response = await self.context.sender.send(
                request, error_for=lambda answer: self._error_for(answer, what)
            )
            page = read_page(response.body, self.resource.key)
            candidates.extend(self._recognised(envelope, wanted, page.items, since))
            if page.next_page_uri is None:
                return candidates
            request = page_request(
                self.settings.base_url,
                self.settings.account_sid,
                page.next_page_uri,
                self.read_headers,
            )
        if not candidates:
            raise ProviderError(
                f"Twilio lists more than {LOOKUP_PAGES} pages of {self.resource.key} for this "
                "recipient since the attempt; the lookup is inconclusive, check the Twilio "
                "console before resending",
                retryable=False,
            )
        return candidates

    def _recognised(
        self,
        envelope: Envelope,
        wanted: Lookup,
        resources: Sequence[Mapping[str, Any]],
        since: datetime,
    ) -> list[tuple[datetime, Mapping[str, Any]]]:
        recognised = []
        for resource in resources:
            sid, created = resource.get("sid"), parse_time(resource.get("date_created"))
            if not isinstance(sid, str) or not sid or created is None or created < since:
                continue
            if self._placed.get(sid, envelope.id) != envelope.id:
                continue
            if wanted.matches(resource):
                recognised.append((created, resource))
        return recognised
