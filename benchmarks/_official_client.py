"""The official twilio client, async and sync, for ``send.py``.

Used only when ``twilio`` is installed (``pip install -r benchmarks/requirements.txt``). The
client is pointed at the local stand-in by rewriting the API host in its HTTP client, so it
POSTs the same form to the same server as every other variant, one distinct recipient per
message.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _harness import Meter, Sample, gather_sample

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
API_ROOT = "https://api.twilio.com"
FROM, BODY = "+14155550100", "Your order has shipped."


async def official_async(url: str, recipients: list[str], concurrency: int) -> Sample:
    """``client.messages.create_async`` through twilio's aiohttp client."""
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    class LocalAsyncClient(AsyncTwilioHttpClient):  # type: ignore[misc]
        async def request(self, method: str, target: str, *args: Any, **kwargs: Any) -> Any:
            return await super().request(method, target.replace(API_ROOT, url), *args, **kwargs)

    http_client = LocalAsyncClient()
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http_client)

    async def one(index: int) -> None:
        await client.messages.create_async(to=recipients[index], from_=FROM, body=BODY)

    try:
        return await gather_sample(len(recipients), concurrency, one)
    finally:
        await http_client.close()


async def official_sync(url: str, recipients: list[str], concurrency: int) -> Sample:
    """``client.messages.create`` from a pool of ``concurrency`` threads, one client each."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    class LocalClient(TwilioHttpClient):  # type: ignore[misc]
        def request(self, method: str, target: str, *args: Any, **kwargs: Any) -> Any:
            return super().request(method, target.replace(API_ROOT, url), *args, **kwargs)

    local = threading.local()

    def one(index: int) -> None:
        if not hasattr(local, "client"):
            local.client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=LocalClient())
        local.client.messages.create(to=recipients[index], from_=FROM, body=BODY)

    with ThreadPoolExecutor(max_workers=concurrency) as pool, Meter() as meter:
        list(pool.map(one, range(len(recipients))))
    return meter.sample(len(recipients))
