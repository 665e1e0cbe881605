"""Opening a store: URLs, engines, the SQLite worker lock, the schema check and migrations.

User-facing URLs are ``sqlite:///path.db`` (a path relative to the working directory;
``sqlite:////abs/path.db`` for an absolute one), ``sqlite://`` (in memory, for tests) and
``postgresql+psycopg://user@host/db``; they are mapped to the async drivers here (aiosqlite,
psycopg 3). SQLite connections run in WAL mode with a busy timeout and foreign keys on, and
every transaction the store writes in starts with ``BEGIN IMMEDIATE`` (a deferred one that
reads first and writes later can fail at once when another writer committed in between).
Commits use ``synchronous = NORMAL``, which SQLite's documentation calls a good choice in WAL
mode: a commit is never lost to a crashed or killed process and the file never corrupts, but
the last commits before a power loss or an OS crash may be; ``?synchronous=full`` makes every
commit wait for the disk (several milliseconds each on a typical virtual disk).

SQLite serves one worker process: :class:`WorkerLock` takes an exclusive lock on
``<file>.lock`` next to the database with portalocker, the same lock on POSIX (``flock``) and
Windows, released by the operating system when the process dies, so a killed worker never
leaves a stale lock behind.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final

import attrs
import orjson
import portalocker
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from omnichannel.config import Config
from omnichannel.errors import ConfigurationError, StoreLocked, StoreSchemaOutdated
from omnichannel.store.schema import SCHEMA_VERSION, VERSION_TABLE
from omnichannel.store.writer import SQLITE_BUSY, WRITER_BEGINS

__all__ = [
    "READ_ONLY",
    "StoreURL",
    "WorkerLock",
    "check_schema",
    "configured_url",
    "create_engine",
    "create_schema",
    "create_sync_engine",
    "current_version",
    "enter_wal",
    "parse_url",
    "run_upgrade",
]

DEFAULT_FILE_NAME: Final = "omnichannel.db"
BUSY_TIMEOUT_MS: Final = 5_000
READ_ONLY: Final = "omnichannel_read_only"
"""The execution option that makes a SQLite transaction a deferred (reading) one."""
_SYNCHRONOUS = ("off", "normal", "full", "extra")
# Serialises concurrent `omni store upgrade` runs against one PostgreSQL database.
_UPGRADE_LOCK_KEY: Final = 0x6F6D6E69
_MIGRATIONS: Final = "omnichannel.store:migrations"
_EXCLUSIVE_NOW: Final = portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING
_version_table = sa.Table(
    VERSION_TABLE, sa.MetaData(), sa.Column("version_num", sa.String(32), primary_key=True)
)


def dumps_json(value: Any) -> str:
    """The JSON text the store writes for ``value`` (a JSON column).

    orjson, a tenth of the standard library's cost per envelope on the send path; what it
    cannot write (an integer wider than 64 bits) goes through :func:`json.dumps`, which also
    gives the usual TypeError for a value that is not JSON at all.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def loads_json(text: str | bytes) -> Any:
    """A JSON column's value read back (orjson, :func:`json.loads` for what it refuses)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


_JSON_CODEC: Final[dict[str, Any]] = {
    "json_serializer": dumps_json,
    "json_deserializer": loads_json,
}


@attrs.frozen(kw_only=True)
class StoreURL:
    """A parsed store URL: the driver URL, and what the store needs to know about it."""

    url: URL
    dialect: str
    """``sqlite`` or ``postgresql``."""
    display: str
    """The URL as the user wrote it, password hidden: what messages show."""
    sqlite_path: Path | None = None
    """The database file (None in memory and on PostgreSQL)."""
    synchronous: str = "normal"

    @property
    def memory(self) -> bool:
        """Whether this is an in-memory SQLite database."""
        return self.dialect == "sqlite" and self.sqlite_path is None


def parse_url(url: str) -> StoreURL:
    """Read a user-facing store URL; anything else is a :class:`ConfigurationError`."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"store url {url!r} is not a database URL; use sqlite:///path.db or "
            "postgresql+psycopg://user@host/database"
        ) from None
    display = parsed.render_as_string(hide_password=True)
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("", "aiosqlite"):
            raise ConfigurationError(f"store url {display}: SQLite is used through aiosqlite")
        synchronous = str(parsed.query.get("synchronous", "normal")).lower()
        if synchronous not in _SYNCHRONOUS:
            raise ConfigurationError(
                f"store url {display}: synchronous must be one of {', '.join(_SYNCHRONOUS)}"
            )
        unknown = sorted(set(parsed.query) - {"synchronous"})
        if unknown:
            raise ConfigurationError(f"store url {display}: unknown option(s) {', '.join(unknown)}")
        database = parsed.database or ""
        path = None if database in ("", ":memory:") else Path(database)
        return StoreURL(
            url=parsed.set(drivername="sqlite+aiosqlite", query={}),
            dialect="sqlite",
            display=display,
            sqlite_path=path,
            synchronous=synchronous,
        )
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise ConfigurationError(
                f"store url {display}: PostgreSQL is used through psycopg 3 "
                "(postgresql+psycopg://...)"
            )
        return StoreURL(
            url=parsed.set(drivername="postgresql+psycopg"), dialect="postgresql", display=display
        )
    raise ConfigurationError(
        f"store url {display}: the store runs on sqlite:///... or postgresql+psycopg://..."
    )


def configured_url(config: Config) -> str:
    """The store URL of a configuration: ``[store] url``, else a SQLite file next to the
    configuration file (``./omnichannel.db`` without one).

    A relative SQLite path in the configuration is taken relative to the configuration file.
    ``url = "memory"`` (no store) is a :class:`ConfigurationError`.
    """
    base = config.path.parent if config.path is not None else Path()
    if config.store_url == "memory":
        raise ConfigurationError(
            '[store] url = "memory" keeps the router\'s state in its process: there is no '
            "store to open; set a database URL"
        )
    if config.store_url is None:
        return f"sqlite:///{base / DEFAULT_FILE_NAME}"
    parsed = make_url(config.store_url) if "://" in config.store_url else None
    if parsed is None or not parsed.drivername.startswith("sqlite") or not parsed.database:
        return config.store_url
    database = Path(parsed.database)
    if database.is_absolute() or parsed.database == ":memory:":
        return config.store_url
    rendered: str = parsed.set(database=str(base / database)).render_as_string(hide_password=False)
    return rendered


class WorkerLock:
    """An exclusive lock on ``<database>.lock``: one worker process per SQLite file."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle: IO[str] | None = handle

    @classmethod
    def acquire(cls, database: Path) -> WorkerLock:
        """Take the lock, or raise :class:`StoreLocked` naming the holder's pid."""
        path = database.with_name(database.name + ".lock")
        if not path.parent.is_dir():
            raise ConfigurationError(
                f"cannot open the SQLite store {database}: {path.parent} is not a directory"
            )
        handle = path.open("a+", encoding="ascii")
        try:
            portalocker.lock(handle, _EXCLUSIVE_NOW)
        except portalocker.LockException:
            handle.seek(0)
            holder = handle.read().strip() or None
            handle.close()
            raise StoreLocked(str(database), holder) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        return cls(path, handle)

    def release(self) -> None:
        """Let the lock go (the file stays: removing it would race the next holder)."""
        if self._handle is None:
            return
        handle, self._handle = self._handle, None
        handle.truncate(0)
        portalocker.unlock(handle)
        handle.close()


def create_engine(target: StoreURL) -> AsyncEngine:
    """The async engine for ``target``, with the SQLite pragmas and BEGIN handling installed."""
    if target.dialect == "postgresql":
        return create_async_engine(target.url, pool_size=10, max_overflow=10, **_JSON_CODEC)
    options: dict[str, Any] = dict(_JSON_CODEC)
    if target.memory:
        # One connection, so every user of the engine sees the same in-memory database.
        options["poolclass"] = StaticPool
    else:
        _require_directory(target)
    engine = create_async_engine(target.url, **options)
    _configure_sqlite(engine.sync_engine, target)
    return engine


def create_sync_engine(target: StoreURL) -> Engine | None:
    """For a SQLite file, the synchronous engine the store's own transactions run on in a
    worker thread (see :mod:`omnichannel.store._base`); None for other databases."""
    if target.sqlite_path is None:
        return None
    _require_directory(target)
    engine = sa.create_engine(
        target.url.set(drivername="sqlite"),
        # Each connection is used by one thread at a time, never two at once.
        connect_args={"check_same_thread": False},
        **_JSON_CODEC,
    )
    _configure_sqlite(engine, target)
    return engine


def enter_wal(
    cursor: Any,
    *,
    timeout: float = BUSY_TIMEOUT_MS / 1000,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Put the SQLite file of ``cursor``'s connection in WAL mode, where it is not already.

    The first switch of a new file takes an exclusive lock, and SQLite refuses it at once,
    without waiting out the busy timeout, to a connection that holds the shared lock while
    another one waits for the same switch (two processes opening a new store together: one
    in five such pairs failed with "database is locked"). The refused one looks again, a few
    milliseconds later, for up to ``timeout`` seconds; by then the other has switched it.
    """
    deadline = clock() + timeout
    delay = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode")
            (mode,) = cursor.fetchone()
            if str(mode).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except Exception as error:
            if getattr(error, "sqlite_errorcode", None) != SQLITE_BUSY or clock() >= deadline:
                raise
        sleep(delay)
        delay = min(delay * 2, 0.05)


def _require_directory(target: StoreURL) -> None:
    path = target.sqlite_path
    if path is not None and not path.parent.is_dir():
        raise ConfigurationError(
            f"cannot open the SQLite store {path}: {path.parent} is not a directory"
        )


def _configure_sqlite(engine: Engine, target: StoreURL) -> None:
    pragmas = [
        f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
        "PRAGMA foreign_keys = ON",
        f"PRAGMA synchronous = {target.synchronous.upper()}",
    ]

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: object) -> None:
        # The driver's own implicit BEGIN comes too late (at the first write) and is skipped
        # for DDL; the "begin" listener below emits ours instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not target.memory:
                enter_wal(cursor)
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get(WRITER_BEGINS, False):  # the writer began it on the driver already
            return
        reading = options.get(READ_ONLY, False)
        # On the driver's cursor: through exec_driver_sql, Core's execution context for this
        # one statement costs as much as a small write's own work.
        statement = "BEGIN" if reading else "BEGIN IMMEDIATE"
        cursor = connection.connection.cursor()
        error_type = connection.dialect.loaded_dbapi.Error
        try:
            cursor.execute(statement)
        except error_type as error:  # "database is locked" after the busy timeout, say
            raise DBAPIError.instance(statement, (), error, error_type) from error
        finally:
            cursor.close()


async def current_version(engine: AsyncEngine) -> str | None:
    """The migration version the database is at (None when it has no omnichannel schema)."""

    def read(connection: Connection) -> str | None:
        if not sa.inspect(connection).has_table(VERSION_TABLE):
            return None
        found = connection.execute(sa.select(_version_table.c.version_num)).scalar()
        return None if found is None else str(found)

    async with engine.connect() as connection:
        await connection.execution_options(**{READ_ONLY: True})
        return await connection.run_sync(read)


def unreachable(target: StoreURL, error: DBAPIError) -> ConfigurationError:
    """The error for a database that cannot be opened at all."""
    reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
    return ConfigurationError(f"cannot open the store at {target.display}: {reason}")


async def check_schema(engine: AsyncEngine, target: StoreURL) -> None:
    """Raise :class:`StoreSchemaOutdated` unless the database is at :data:`SCHEMA_VERSION`."""
    try:
        version = await current_version(engine)
    except DBAPIError as error:
        raise unreachable(target, error) from None
    if version != SCHEMA_VERSION:
        raise StoreSchemaOutdated(target.display, version, SCHEMA_VERSION)


async def create_schema(engine: AsyncEngine, target: StoreURL) -> bool:
    """Create this release's schema, stamped :data:`SCHEMA_VERSION`, in a database that has
    none, in one transaction; False, and nothing written, when it has one by then (creators
    racing queue on PostgreSQL's advisory lock, or on SQLite's write lock).

    The tables come from the live metadata, not from replaying the migrations: the store's
    tests check that migrating an empty database gives the same schema. A process that only
    creates its store so never imports Alembic with its templates and their syntax
    highlighter: opening a new SQLite file took 48 ms instead of 175, and the process 55 MB
    instead of 64 (13k fewer objects for the garbage collector to visit).
    """
    from omnichannel.store.schema import metadata

    def create(connection: Connection) -> bool:
        if target.dialect == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY}
            )
        if sa.inspect(connection).has_table(VERSION_TABLE):
            return False
        metadata.create_all(connection, checkfirst=False)  # tables without a version: refused
        _version_table.create(connection)
        connection.execute(sa.insert(_version_table).values(version_num=SCHEMA_VERSION))
        return True

    try:
        async with engine.begin() as connection:
            return await connection.run_sync(create)
    except DBAPIError as error:
        raise unreachable(target, error) from None


async def run_upgrade(engine: AsyncEngine, target: StoreURL) -> str:
    """Migrate the database to :data:`SCHEMA_VERSION` in one transaction; return the version."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from alembic.util import CommandError

    try:
        before = await current_version(engine)
    except DBAPIError as error:
        raise unreachable(target, error) from None
    if before is not None and before > SCHEMA_VERSION:
        raise StoreSchemaOutdated(target.display, before, SCHEMA_VERSION)
    config = AlembicConfig()
    config.set_main_option("script_location", _MIGRATIONS)

    def upgrade(connection: Connection) -> None:
        if target.dialect == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade)
    except DBAPIError as error:
        raise unreachable(target, error) from None
    except CommandError as error:
        # A version this release's migrations do not know (not newer: that is refused above).
        raise ConfigurationError(
            f"cannot migrate the store at {target.display}: {error}; it was not written by "
            "a release of omnichannel"
        ) from None
    version = await current_version(engine)
    if version is None:  # pragma: no cover - alembic always stamps the head it reached
        raise ConfigurationError(f"the store at {target.display} was not migrated")
    return version
