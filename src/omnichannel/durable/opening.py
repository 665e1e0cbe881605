"""Opening a router's durable store: which store a configuration names, and attaching to it.

:func:`configured_opener` reads ``[store] url`` for :meth:`Router.from_config`;
:class:`StoreAttachment` holds a router's store, opens it on first use (once, however many
tasks ask), and attaches the durable paths (``router.outbox``, ``router.inbox``,
``router.chains``) when it opens. Nothing here imports SQLAlchemy until a store is opened.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

import anyio

from omnichannel.config import Config
from omnichannel.durable import StorePolicy, worker_identity
from omnichannel.errors import ConfigurationError

if TYPE_CHECKING:
    from omnichannel.router import Router
    from omnichannel.store import Store

__all__ = ["MEMORY_STORE", "StoreAttachment", "configured_opener"]

# The router's logger: where its state lives is the router's news to an operator.
logger = logging.getLogger("omnichannel.router")

MEMORY_STORE: Final = "memory"
"""``[store] url = "memory"``: keep the router's state in this process's memory."""


def configured_opener(config: Config, *, worker: bool) -> Callable[[], Awaitable[Store]] | None:
    """How :meth:`Router.from_config` opens the configuration's store (None: no store)."""
    if config.store_url == MEMORY_STORE or (config.store_url is None and config.path is None):
        return None
    try:
        from omnichannel.store import Store, configured_url
    except ImportError:
        if config.store_url is not None:
            raise ConfigurationError(
                "[store] url needs the store extra: pip install 'omnichannel[store]'"
            ) from None
        logger.warning(
            "the durable store is not installed (pip install 'omnichannel[store]'); the "
            "router keeps its state in memory"
        )
        return None
    url = configured_url(config)
    directory = Path(config.path).parent if config.path is not None else None

    async def open_store() -> Store:
        if directory is not None and not directory.is_dir():
            raise ConfigurationError(f"cannot create the store next to {config.path}")
        return await Store.open(url, worker=worker, create=True)

    return open_store


class StoreAttachment:
    """A router's durable store: given open, or opened on first use; None without one."""

    def __init__(
        self,
        router: Router,
        store: Store | Callable[[], Awaitable[Store]] | None,
        *,
        policy: StorePolicy | None,
    ) -> None:
        self.router = router
        self._policy = policy
        self._store: Store | None = None
        self._open_store: Callable[[], Awaitable[Store]] | None = None
        self._opening = anyio.Lock()
        if store is not None and callable(store) and not hasattr(store, "enqueue"):
            self._open_store = store
        elif store is not None:
            self.attach(store)  # type: ignore[arg-type]

    @property
    def store(self) -> Store | None:
        """The store, once open."""
        return self._store

    async def open(self) -> Store | None:
        """The store, opened on first use; None when the router has none."""
        if self._store is None and self._open_store is not None:
            async with self._opening:
                if self._store is None and self._open_store is not None:
                    self.attach(await self._open_store())
        return self._store

    def attach(self, store: Store) -> None:
        """Use ``store``: name this process's leases and build the router's durable paths."""
        from omnichannel.durable.chains import Chains
        from omnichannel.durable.inbound import DurableInbound
        from omnichannel.durable.sends import DurableSends

        router = self.router
        self._store = store
        router.worker_id = worker_identity()
        policy = self._policy or StorePolicy()
        chains = Chains(router, store, worker=router.worker_id)
        router.chains = chains
        router.outbox = DurableSends(
            router, store, worker=router.worker_id, policy=policy, chains=chains
        )
        router.inbox = DurableInbound(
            router,
            store,
            worker=router.worker_id,
            policy=policy,
            chains=chains,
            handle_inline=router.handle_inline,
        )

    async def close(self) -> None:
        """Close the store, when this router opened it (one given open is the caller's)."""
        if self._store is not None and self._open_store is not None:
            await self._store.close()
            self._store = None
