"""The sandbox: local simulators of provider APIs, contributed by plugins.

Each channel plugin ships a simulator of its provider through the
:func:`~omnichannel.hookspecs.omnichannel_simulators` hook. The :class:`Sandbox` mounts every
simulator at ``/{prefix}/`` of one ASGI app (``omni sandbox`` serves it). A simulator accepts the
adapter's real requests, answers as the provider does, and posts signed status callbacks to the
webhook URL it was given, so an application can be exercised end to end on one machine.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol

from omnichannel.adapter import WebhookRequest, WebhookResponse
from omnichannel.config import Config, build_settings
from omnichannel.errors import WebhookParseError
from omnichannel.plugins import PluginHost
from omnichannel.web import (
    BodyTooLarge,
    ClientDisconnected,
    Receive,
    Scope,
    Send,
    lifespan,
    read_request,
    send_response,
)

if TYPE_CHECKING:
    import asyncio

    import httpx

# Plugins import this module for BaseSimulator whenever they are discovered (``omni channels``,
# ``omni --help``): httpx and asyncio are imported when a simulator first posts a callback.

__all__ = [
    "BaseSimulator",
    "ProviderSimulator",
    "Sandbox",
    "SimulatorContext",
    "build_sandbox",
    "request_recipient",
    "simulator_classes",
]

logger = logging.getLogger("omnichannel.sandbox")


class SimulatorContext:
    """What the sandbox gives each simulator: where to post callbacks and how to pace them.

    ``transport`` carries the callbacks (tests inject ``httpx.ASGITransport`` around the
    webhook app); ``step_delay`` is the pause between two status changes of one message (0 in
    tests, so no test sleeps); ``sleep`` can be replaced too. With ``out_of_order``, simulators
    post each message's status callbacks in reverse order, as real providers sometimes do, to
    exercise status precedence and reordering.
    """

    def __init__(
        self,
        *,
        public_url: str | None,
        transport: httpx.AsyncBaseTransport | None = None,
        step_delay: float = 0.0,
        out_of_order: bool = False,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.public_url = public_url.rstrip("/") if public_url else None
        self._transport = transport
        self.step_delay = step_delay
        self.out_of_order = out_of_order
        self.sleep: Callable[[float], Awaitable[None]] = sleep or _anyio_sleep
        self._tasks: set[asyncio.Task[None]] = set()

    def set_transport(self, transport: httpx.AsyncBaseTransport) -> None:
        """Carry callbacks through ``transport`` (tests: an ``httpx.ASGITransport``)."""
        self._transport = transport

    def webhook_url(self, channel: str) -> str | None:
        """The webhook URL of ``channel`` on the application side, when one is configured."""
        return f"{self.public_url}/webhooks/{channel}" if self.public_url else None

    async def post(self, url: str, *, headers: Mapping[str, str], body: bytes) -> int:
        """POST a callback; returns the HTTP status (0 when the application was unreachable)."""
        import httpx

        if self._transport is None:
            self._transport = httpx.AsyncHTTPTransport()
        request = httpx.Request("POST", url, headers=headers, content=body)
        request.extensions["timeout"] = httpx.Timeout(10.0).as_dict()
        try:
            response = await self._transport.handle_async_request(request)
            await response.aread()
            await response.aclose()
        except httpx.TransportError as exc:
            logger.warning(
                "callback to %s failed: the listener is unreachable (%s); is omni listen "
                "running there?",
                url,
                type(exc).__name__,
            )
            return 0
        return response.status_code

    def spawn(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` in the background (status progressions); :meth:`settle` waits for it."""
        import asyncio

        task = asyncio.get_running_loop().create_task(self._guard(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Exception:
            logger.exception("a simulator background step failed")

    async def settle(self) -> None:
        """Wait until every background step has run (tests call this instead of sleeping)."""
        import asyncio

        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel pending steps and close the callback transport."""
        import asyncio

        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._transport is not None:
            await self._transport.aclose()


async def _anyio_sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)


class ProviderSimulator(Protocol):
    """A local stand-in for one provider API. Construct as ``Simulator(settings, context)``,
    where ``settings`` is the adapter's settings object (the simulator checks the same
    credentials the real provider would, and signs callbacks with the same secrets)."""

    adapter_name: ClassVar[str]
    """The adapter whose requests this simulator accepts (``"sms.example"``)."""
    prefix: ClassVar[str]
    """The URL path segment it is mounted at; the adapter's ``base_url`` points there."""
    sample_recipient: ClassVar[str]
    """An address the simulator accepts as a recipient (used by ``omni demo``)."""
    inbound_relay: ClassVar[str | None]
    """A path below the prefix that takes a signed inbound request and relays it to the
    application as the provider would, so the simulator knows the customer wrote (a provider
    keeping a session window needs to); None when the simulator has none."""

    @classmethod
    def sample_settings(cls, base_url: str) -> dict[str, Any]:
        """Settings values for the adapter, pointing at the simulator mounted at ``base_url``."""
        ...

    async def handle(self, request: WebhookRequest) -> WebhookResponse:
        """Answer one API request, as the provider would."""
        ...

    async def start(self) -> None:
        """Open what the simulator serves besides HTTP (a mail server's ports)."""
        ...

    async def aclose(self) -> None:
        """Close what :meth:`start` opened."""
        ...


class BaseSimulator:
    """A convenient base: keeps the settings and the context; subclasses implement ``handle``."""

    adapter_name: ClassVar[str]
    prefix: ClassVar[str]
    sample_recipient: ClassVar[str]
    inbound_relay: ClassVar[str | None] = None
    scenarios: ClassVar[Mapping[str, str]] = {}
    """The magic recipients the simulator honours, each with what happens to a message sent
    there (``"+15005550010": "rings, then ends busy"``); ``omni sandbox --scenarios`` lists
    them and the sandbox's request log names the one a request hit."""

    def __init__(self, settings: Any, context: SimulatorContext) -> None:
        self.settings = settings
        self.context = context

    @classmethod
    def sample_settings(cls, base_url: str) -> dict[str, Any]:
        """Configuration values for the adapter, pointing at ``base_url``."""
        raise NotImplementedError

    def subpath(self, request: WebhookRequest) -> str:
        """The request path below this simulator's prefix (``/2010-04-01/...``)."""
        path = request.path
        mount = f"/{self.prefix}"
        return path[len(mount) :] if path.startswith(mount) else path

    async def handle(self, request: WebhookRequest) -> WebhookResponse:
        """Answer one API request, as the provider would."""
        raise NotImplementedError

    async def start(self) -> None:
        """Nothing to open by default: the sandbox serves the HTTP side."""

    async def aclose(self) -> None:
        """Nothing to close by default."""


# Field names recipients go by in provider APIs, compared case-insensitively.
_RECIPIENT_FIELDS: Final = frozenset(
    {"to", "recipient", "recipient_id", "chat_id", "phone", "phone_number", "address"}
)


def _recipient_in(data: object, depth: int = 0) -> str | None:
    if not isinstance(data, Mapping) or depth > 1:
        return None
    for key, value in data.items():
        if str(key).lower() in _RECIPIENT_FIELDS:
            if isinstance(value, str | int) and not isinstance(value, bool):
                return str(value)
            found = _recipient_in(value, depth + 1)
            if found is not None:
                return found
    return None


def request_recipient(request: WebhookRequest) -> str | None:
    """The recipient a provider API request names, for the sandbox's log: the first
    ``to``/``recipient``/``chat_id``/``phone``... field of its form or JSON body (or of a
    nested object), None when there is none."""
    content_type = (request.header("content-type") or "").lower()
    try:
        if "json" in content_type:
            return _recipient_in(request.json())
        pairs = dict(reversed(request.form())) if request.body else dict(request.query())
    except (WebhookParseError, ValueError):
        return None
    return _recipient_in(pairs)


class Sandbox:
    """An ASGI app mounting simulators at ``/{prefix}/``; ``GET /`` lists them.

    Each API request is logged on ``omnichannel.sandbox`` at INFO: the method, the adapter,
    the recipient and the scenario its magic recipient chose (``omni sandbox`` shows them).
    """

    def __init__(self, simulators: Iterable[ProviderSimulator], context: SimulatorContext) -> None:
        self.context = context
        self.simulators: dict[str, ProviderSimulator] = {}
        for simulator in simulators:
            if simulator.prefix in self.simulators:
                raise ValueError(f"two simulators claim the sandbox prefix {simulator.prefix!r}")
            self.simulators[simulator.prefix] = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        segment = scope["path"].strip("/").split("/", 1)[0]
        if not segment:
            listing = {prefix: sim.adapter_name for prefix, sim in self.simulators.items()}
            await send_response(send, WebhookResponse.json({"simulators": listing}))
            return
        simulator = self.simulators.get(segment)
        if simulator is None:
            await send_response(
                send,
                WebhookResponse.json(
                    {"error": f"no simulator at /{segment}", "mounted": sorted(self.simulators)},
                    status_code=404,
                ),
            )
            return
        try:
            request = await read_request(scope, receive)
        except BodyTooLarge:
            await send_response(
                send, WebhookResponse.json({"error": "body too large"}, status_code=413)
            )
            return
        except ClientDisconnected:
            return
        try:
            response = await simulator.handle(request)
        except Exception:
            logger.exception("simulator %s failed", simulator.adapter_name)
            response = WebhookResponse.json({"error": "simulator failure"}, status_code=500)
        if logger.isEnabledFor(logging.INFO):
            _log_request(simulator, request, response)
        await send_response(send, response)

    async def settle(self) -> None:
        """Wait until every simulator's pending callbacks have been posted."""
        await self.context.settle()

    async def start(self) -> None:
        """Start every simulator (one that serves more than HTTP opens its ports here)."""
        for simulator in self.simulators.values():
            await simulator.start()

    async def aclose(self) -> None:
        """Stop pending callbacks, close every simulator and the connections."""
        for simulator in self.simulators.values():
            try:
                await simulator.aclose()
            except Exception:
                logger.exception("simulator %s did not close cleanly", simulator.adapter_name)
        await self.context.aclose()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _log_request(
    simulator: ProviderSimulator, request: WebhookRequest, response: WebhookResponse
) -> None:
    recipient = request_recipient(request)
    scenarios: Mapping[str, str] = getattr(simulator, "scenarios", {})
    scenario = scenarios.get(recipient, "") if recipient is not None else ""
    logger.info(
        "%s %s to %s -> %d%s",
        request.method,
        simulator.adapter_name,
        recipient or "-",
        response.status_code,
        f" (scenario: {scenario})" if scenario else "",
    )


def simulator_classes(host: PluginHost) -> dict[str, type[ProviderSimulator]]:
    """The simulator classes plugins contribute, by the adapter name each one serves."""
    return {cls.adapter_name: cls for cls in host.simulators()}


def build_sandbox(config: Config, host: PluginHost, context: SimulatorContext) -> Sandbox:
    """A sandbox with a simulator for every configured channel whose plugin ships one.

    Each simulator gets the same settings as the adapter, so credentials and webhook secrets
    match on both sides.
    """
    classes = simulator_classes(host)
    simulators: list[ProviderSimulator] = []
    for channel, channel_config in config.channels.items():
        simulator_class: Any = classes.get(channel_config.adapter)
        if simulator_class is None:
            continue
        entry = host.adapter(channel_config.adapter)
        settings = build_settings(
            entry.adapter_class.settings_class,
            channel_config.settings,
            where=f"[channels.{channel}] ({channel_config.adapter})",
        )
        simulators.append(simulator_class(settings, context))
    return Sandbox(simulators, context)
