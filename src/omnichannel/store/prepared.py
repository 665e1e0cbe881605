"""Statements compiled once and run past Core's per-statement machinery: the store's hot paths
(a send claimed and settled, a webhook's events written) are small writes, where building the
execution context costs more than the database's work."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

__all__ = ["Prepared"]

_MISSING: Any = object()


def _taker(names: Sequence[str]) -> Callable[[Mapping[str, Any]], Sequence[Any]]:
    """A function giving a row's values of ``names``, in order: one C call for many."""
    if len(names) > 1:
        return operator.itemgetter(*names)
    if names:
        name = names[0]
        return lambda row: (row[name],)
    return lambda _row: ()


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
        positional: Sequence[str] | None = compiled.positiontup
        self.names = list(positional) if positional is not None else list(compiled.binds)
        """The parameters in the order the driver takes them."""
        self._positional = positional is not None
        taken: list[str] = []
        # (index among the row's values, processor, what it writes for None: JSON writes
        # 'null', once here): only the columns that have a processor are visited per row.
        self._processed: list[tuple[int, Any, Any]] = []
        # (index among all the values, processed value): the statement's own literals.
        self._literals: list[tuple[int, Any]] = []
        for index, name in enumerate(self.names):
            if name in types:
                process = types[name].dialect_impl(dialect).bind_processor(dialect)
                if process is not None:
                    self._processed.append((len(taken), process, process(None)))
                taken.append(name)
            else:
                bind = compiled.binds[name]
                process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                value = bind.effective_value
                self._literals.append((index, process(value) if process else value))
        self._take = _taker(taken)

    def _values(self, row: Mapping[str, Any], times: dict[tuple[Any, datetime], Any]) -> list[Any]:
        """The parameter values of ``row``, in :attr:`names` order."""
        values = list(self._take(row))
        for index, process, for_none in self._processed:
            value = values[index]
            if value is None:
                values[index] = for_none
            elif type(value) is datetime:
                # A batch's rows share a handful of instants (now, now + lease): convert once.
                key = (process, value)
                converted = times.get(key, _MISSING)
                if converted is _MISSING:
                    converted = times[key] = process(value)
                values[index] = converted
            else:
                values[index] = process(value)
        for index, literal in self._literals:  # ascending: each lands where it belongs
            values.insert(index, literal)
        return values

    def _parameters(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        times: dict[tuple[Any, datetime], Any] = {}
        if self._positional:
            return [tuple(self._values(row, times)) for row in rows]
        names = self.names
        return [dict(zip(names, self._values(row, times), strict=True)) for row in rows]

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Execute for every row (an ``executemany``); the rows changed, -1 when the driver
        does not say."""
        parameters = self._parameters(rows)
        if not self.raw:
            rowcount: int = conn.exec_driver_sql(self.sql, parameters).rowcount
            return rowcount
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(self.sql, parameters)
            return int(cursor.rowcount)
        except conn.dialect.loaded_dbapi.Error as error:
            raise self._wrapped(conn, error, parameters, many=True) from error
        finally:
            cursor.close()

    def each(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Execute once per row, in order; the rows each execution changed (where an
        ``executemany`` would give only their sum)."""
        parameters = self._parameters(rows)
        if not self.raw:
            return [conn.exec_driver_sql(self.sql, one).rowcount for one in parameters]
        cursor = conn.connection.cursor()
        try:
            counts = []
            for one in parameters:
                cursor.execute(self.sql, one)
                counts.append(int(cursor.rowcount))
            return counts
        except conn.dialect.loaded_dbapi.Error as error:
            raise self._wrapped(conn, error, parameters, many=True) from error
        finally:
            cursor.close()

    def first(self, conn: Connection, row: Mapping[str, Any]) -> Any:
        """Execute for ``row``; the first column of the first row it returns (a
        ``RETURNING``), or None when it returns none."""
        (parameters,) = self._parameters([row])
        if not self.raw:
            return conn.exec_driver_sql(self.sql, parameters).scalar()
        cursor = conn.connection.cursor()
        try:
            cursor.execute(self.sql, parameters)
            found = cursor.fetchone()
            return None if found is None else found[0]
        except conn.dialect.loaded_dbapi.Error as error:
            raise self._wrapped(conn, error, parameters, many=False) from error
        finally:
            cursor.close()

    def _wrapped(
        self, conn: Connection, error: Exception, parameters: Any, *, many: bool
    ) -> sa.exc.StatementError:
        # SQLite: the statements run straight on the driver's cursor, past the execution
        # context Core builds per statement (most of a small write's cost), in a try block
        # of their own rather than a context manager (a generator's frames, per statement);
        # errors are wrapped as Core would.
        return sa.exc.DBAPIError.instance(
            self.sql, parameters, error, conn.dialect.loaded_dbapi.Error, ismulti=many
        )
