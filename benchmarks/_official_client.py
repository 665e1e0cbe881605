"""The SMS adapter against the official twilio client, for ``send.py``.

Used only when both ``omnichannel-twilio`` and ``twilio`` are installed
(``pip install -r benchmarks/requirements.txt``). The official client is pointed at the local
server by rewriting the API host in its HTTP client, so every variant POSTs the same form to the
same server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _harness import gather_rate

from omnichannel import Address, Envelope, PluginHost, Router
from omnichannel.plugin import AdapterContext, Sender

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
API_ROOT = "https://api.twilio.com"
TO, FROM, BODY = "+14155550199", "+14155550100", "Your order has shipped."

Variant = Callable[[str, int, int], Awaitable[float]]


async def sms_adapter(url: str, count: int, concurrency: int) -> float:
    from omnichannel_twilio import TwilioSmsAdapter, TwilioSmsSettings

    from omnichannel.plugin import build_settings

    settings = build_settings(
        TwilioSmsSettings,
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from": FROM, "base_url": url},
        where="benchmark",
    )
    sender = Sender()
    adapter = TwilioSmsAdapter(settings, AdapterContext(sender=sender))
    async with Router([adapter], host=PluginHost(), sender=sender) as router:
        envelope = Envelope(channel="sms", recipient=Address(channel="sms", value=TO), content=BODY)
        return await gather_rate(count, concurrency, lambda: router.send(envelope))


async def official_async(url: str, count: int, concurrency: int) -> float:
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    class LocalAsyncClient(AsyncTwilioHttpClient):  # type: ignore[misc]
        async def request(self, method: str, target: str, *args: Any, **kwargs: Any) -> Any:
            return await super().request(method, target.replace(API_ROOT, url), *args, **kwargs)

    http_client = LocalAsyncClient()
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http_client)
    try:
        return await gather_rate(
            count,
            concurrency,
            lambda: client.messages.create_async(to=TO, from_=FROM, body=BODY),
        )
    finally:
        await http_client.close()


async def official_sync(url: str, count: int, concurrency: int) -> float:
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    class LocalClient(TwilioHttpClient):  # type: ignore[misc]
        def request(self, method: str, target: str, *args: Any, **kwargs: Any) -> Any:
            return super().request(method, target.replace(API_ROOT, url), *args, **kwargs)

    local = threading.local()

    def one(_: int) -> None:
        if not hasattr(local, "client"):
            local.client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=LocalClient())
        local.client.messages.create(to=TO, from_=FROM, body=BODY)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(count)))
    return count / (time.perf_counter() - started)


VARIANTS: dict[str, Variant] = {
    "sms.twilio router.send": sms_adapter,
    "twilio client, async": official_async,
    "twilio client, sync (threads)": official_sync,
}
