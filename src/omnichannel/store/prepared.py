"""Statements compiled once and run past Core's per-statement machinery: the store's hot paths
(a send claimed and settled, a webhook's events written) are small writes, where building the
execution context costs more than the database's work."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

__all__ = ["Prepared"]


class Prepared:
    """A statement compiled once for the store's dialect and run many rows at a time with the
    columns' own bind processors applied here: on the send path SQLAlchemy's per-row
    parameter machinery costs more than the database's work. What is written is what Core
    would write (the same processors: JSON, :class:`~omnichannel.store.schema.UTCDateTime`).
    ``types`` names the parameters each row gives; the statement's literals keep their values.
    """

    def __init__(
        self, statement: Any, dialect: Dialect, types: Mapping[str, sa.types.TypeEngine[Any]]
    ) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.raw = dialect.name == "sqlite"
        self.positional: Sequence[str] | None = compiled.positiontup
        names = list(self.positional) if self.positional is not None else list(compiled.binds)
        # (name, processor, True) for a row's value; (name, processed literal, False) else.
        self.parameters: list[tuple[str, Any, bool]] = []
        # A row's None skips its processor, except where the processor writes something else
        # for it (JSON writes 'null').
        self._processes_none: set[str] = set()
        for name in names:
            if name in types:
                process = types[name].dialect_impl(dialect).bind_processor(dialect)
                self.parameters.append((name, process, True))
                if process is not None and process(None) is not None:
                    self._processes_none.add(name)
            else:
                bind = compiled.binds[name]
                process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                value = bind.effective_value
                self.parameters.append((name, process(value) if process else value, False))

    def _values(self, row: Mapping[str, Any], times: dict[tuple[Any, datetime], Any]) -> list[Any]:
        """The parameter values of ``row``, in :attr:`parameters` order."""
        values: list[Any] = []
        append = values.append
        for name, given, from_row in self.parameters:
            if not from_row:
                append(given)
                continue
            value = row[name]
            if given is None or (value is None and name not in self._processes_none):
                append(value)
            elif isinstance(value, datetime):
                # A batch's rows share a handful of instants (now, now + lease): convert once.
                key = (given, value)
                if key not in times:
                    times[key] = given(value)
                append(times[key])
            else:
                append(given(value))
        return values

    def _parameters(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        times: dict[tuple[Any, datetime], Any] = {}
        if self.positional is not None:
            return [tuple(self._values(row, times)) for row in rows]
        names = [name for name, _, _ in self.parameters]
        return [dict(zip(names, self._values(row, times), strict=True)) for row in rows]

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Execute for every row (an ``executemany``); the rows changed, -1 when the driver
        does not say."""
        parameters = self._parameters(rows)
        if not self.raw:
            rowcount: int = conn.exec_driver_sql(self.sql, parameters).rowcount
            return rowcount
        with self._cursor(conn, parameters, many=True) as cursor:
            cursor.executemany(self.sql, parameters)
            return int(cursor.rowcount)

    def each(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Execute once per row, in order; the rows each execution changed (where an
        ``executemany`` would give only their sum)."""
        parameters = self._parameters(rows)
        if not self.raw:
            return [conn.exec_driver_sql(self.sql, one).rowcount for one in parameters]
        with self._cursor(conn, parameters, many=True) as cursor:
            counts = []
            for one in parameters:
                cursor.execute(self.sql, one)
                counts.append(int(cursor.rowcount))
            return counts

    def first(self, conn: Connection, row: Mapping[str, Any]) -> Any:
        """Execute for ``row``; the first column of the first row it returns (a
        ``RETURNING``), or None when it returns none."""
        (parameters,) = self._parameters([row])
        if not self.raw:
            return conn.exec_driver_sql(self.sql, parameters).scalar()
        with self._cursor(conn, parameters, many=False) as cursor:
            cursor.execute(self.sql, parameters)
            found = cursor.fetchone()
            return None if found is None else found[0]

    @contextmanager
    def _cursor(self, conn: Connection, parameters: Any, *, many: bool) -> Iterator[Any]:
        # SQLite: straight to the driver's cursor, past the execution context Core builds
        # per statement (most of a small write's cost); errors wrapped as Core would.
        cursor = conn.connection.cursor()
        error_type = conn.dialect.loaded_dbapi.Error
        try:
            yield cursor
        except error_type as error:
            raise sa.exc.DBAPIError.instance(
                self.sql, parameters, error, error_type, ismulti=many
            ) from error
        finally:
            cursor.close()
