"""Opening a store: URLs, the configured default, the [store] table, the optional extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from omnichannel.config import parse_config
from omnichannel.errors import ConfigurationError, StoreSchemaOutdated
from omnichannel.store import SCHEMA_VERSION, configured_url
from omnichannel.store.engine import parse_url


@pytest.mark.parametrize(
    ("url", "driver", "dialect", "path"),
    [
        ("sqlite:///omnichannel.db", "sqlite+aiosqlite", "sqlite", "omnichannel.db"),
        (
            "sqlite:////var/lib/omni/store.db",
            "sqlite+aiosqlite",
            "sqlite",
            "/var/lib/omni/store.db",
        ),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite", "sqlite", "x.db"),
        ("sqlite://", "sqlite+aiosqlite", "sqlite", None),
        ("postgresql+psycopg://app@db/omni", "postgresql+psycopg", "postgresql", None),
        ("postgresql://app@db/omni", "postgresql+psycopg", "postgresql", None),
    ],
)
def test_user_urls_map_to_the_async_drivers(
    url: str, driver: str, dialect: str, path: str | None
) -> None:
    target = parse_url(url)
    assert (target.url.drivername, target.dialect) == (driver, dialect)
    assert target.sqlite_path == (None if path is None else Path(path))
    assert target.memory is (url == "sqlite://")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://app@db/omni", "runs on sqlite:///... or postgresql+psycopg://"),
        ("postgresql+asyncpg://app@db/omni", "through psycopg 3"),
        ("sqlite+pysqlite:///x.db", "through aiosqlite"),
        ("sqlite:///x.db?synchronous=sometimes", "synchronous must be one of"),
        ("sqlite:///x.db?journal=off", "unknown option(s) journal"),
    ],
)
def test_bad_urls_are_configuration_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_url(url)
    assert message in str(raised.value)


def test_messages_show_a_url_without_its_password() -> None:
    target = parse_url("postgresql+psycopg://app:hunter2@db/omni")
    assert "hunter2" not in target.display
    assert "hunter2" not in repr(target)
    assert target.url.password == "hunter2"


def test_without_a_store_table_the_store_is_a_file_next_to_the_configuration(
    tmp_path: Path,
) -> None:
    config = parse_config({}, path=tmp_path / "omnichannel.toml")
    assert configured_url(config) == f"sqlite:///{tmp_path / 'omnichannel.db'}"
    assert configured_url(parse_config({})) == "sqlite:///omnichannel.db"


def test_a_relative_sqlite_path_in_the_configuration_is_relative_to_the_file(
    tmp_path: Path,
) -> None:
    data = {"store": {"url": "sqlite:///state/omni.db"}}
    config = parse_config(data, path=tmp_path / "omnichannel.toml")
    assert configured_url(config) == f"sqlite:///{tmp_path / 'state' / 'omni.db'}"
    absolute = parse_config({"store": {"url": "sqlite:////srv/omni.db"}}, path=tmp_path / "c.toml")
    assert configured_url(absolute) == "sqlite:////srv/omni.db"


def test_the_store_url_is_read_with_environment_variables() -> None:
    data = {"store": {"url": "postgresql+psycopg://app:${DB_PASSWORD}@db/omni"}}
    config = parse_config(data, environ={"DB_PASSWORD": "s3cret"})
    assert configured_url(config) == "postgresql+psycopg://app:s3cret@db/omni"


def test_unknown_store_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown \[store\] setting\(s\) path"):
        parse_config({"store": {"path": "x.db"}})
    with pytest.raises(ConfigurationError, match=r"store\.url must be a database URL"):
        parse_config({"store": {"url": 3}})


def test_the_schema_error_says_what_to_do_either_way() -> None:
    older = StoreSchemaOutdated("sqlite:///x.db", "0000", SCHEMA_VERSION)
    assert "run `omni store upgrade`" in str(older)
    newer = StoreSchemaOutdated("sqlite:///x.db", "9999", SCHEMA_VERSION)
    assert "upgrade omnichannel" in str(newer)
    assert isinstance(newer, ConfigurationError)


def test_the_schema_version_is_the_head_of_the_shipped_migrations() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "omnichannel.store:migrations")
    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_VERSION]


def test_sqlalchemy_is_imported_only_by_the_store() -> None:
    code = (
        "import sys\n"
        "import omnichannel, omnichannel.router, omnichannel.cli, omnichannel.web\n"
        "from omnichannel import StoreError, DuplicateEnvelope\n"
        "from omnichannel.store import OutboxState, OutboxRecord, InboxState\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'alembic', 'aiosqlite', 'psycopg')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_store_created_on_open_leaves_alembic_unimported(tmp_path: Path) -> None:
    # Alembic, its templates and their syntax highlighter stay out of a process that only
    # creates its store: they were two thirds of the time a new SQLite file took to open.
    code = (
        "import asyncio, sys\n"
        "from omnichannel.store import Store\n"
        "async def main():\n"
        "    store = await Store.open(sys.argv[1], create=True)\n"
        "    print(await store.schema_version(sys.argv[1]))\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = subprocess.run(
        [sys.executable, "-c", code, url], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == [SCHEMA_VERSION, "[]"]


def test_a_state_written_into_a_statement_must_be_a_state_name() -> None:
    from omnichannel.store.schema import in_state, outbox

    condition = in_state(outbox.c.state, "queued")
    assert str(condition) == "omnichannel_outbox.state = 'queued'"
    with pytest.raises(ValueError, match="not a state"):
        in_state(outbox.c.state, "queued' OR 'x' = 'x")


class _Busy(Exception):
    sqlite_errorcode = 5


class _SwitchingCursor:
    """A cursor whose file another connection is switching to WAL: refused ``refusals``
    times, then in WAL mode."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.executed: list[str] = []
        self._mode = "delete"

    def execute(self, statement: str) -> None:
        self.executed.append(statement)
        if self.refusals:
            self.refusals -= 1
            raise _Busy("database is locked")
        if statement == "PRAGMA journal_mode = WAL":
            self._mode = "wal"

    def fetchone(self) -> tuple[str]:
        return (self._mode,)


def test_a_file_another_connection_is_switching_to_wal_is_looked_at_again() -> None:
    from omnichannel.store.engine import enter_wal

    slept: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    cursor = _SwitchingCursor(refusals=3)
    enter_wal(cursor, timeout=5, clock=lambda: now[0], sleep=sleep)
    assert slept == [0.001, 0.002, 0.004]
    assert cursor.executed[-2:] == ["PRAGMA journal_mode", "PRAGMA journal_mode = WAL"]
    assert cursor.fetchone() == ("wal",)


def test_a_file_locked_past_the_busy_timeout_is_an_error() -> None:
    from omnichannel.store.engine import enter_wal

    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(_Busy):
        enter_wal(_SwitchingCursor(refusals=10_000), timeout=1, clock=lambda: now[0], sleep=sleep)
    assert now[0] >= 1


def test_only_a_busy_database_is_looked_at_again() -> None:
    from omnichannel.store.engine import enter_wal

    class Broken(_SwitchingCursor):
        def execute(self, statement: str) -> None:
            raise OSError("disk I/O error")

    with pytest.raises(OSError, match="disk I/O"):
        enter_wal(Broken(0), sleep=lambda _: pytest.fail("slept on an error that is no lock"))


def test_connections_opening_a_new_file_together_all_open_it(tmp_path: Path) -> None:
    # Two connections switching one new file to WAL at once: SQLite refused one of them at
    # once in about one pair in five.
    import sqlite3
    import threading

    from omnichannel.store.engine import enter_wal

    failures: list[BaseException] = []
    for attempt in range(40):
        path = tmp_path / f"new-{attempt}.db"
        connections = [sqlite3.connect(path, check_same_thread=False) for _ in range(2)]
        start = threading.Barrier(len(connections))

        def switch(connection: sqlite3.Connection, start: threading.Barrier) -> None:
            cursor = connection.cursor()
            start.wait()
            try:
                enter_wal(cursor)
                assert cursor.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            except BaseException as error:  # reported below
                failures.append(error)
            finally:
                cursor.close()

        threads = [threading.Thread(target=switch, args=(one, start)) for one in connections]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for connection in connections:
            connection.close()
    assert failures == []
