"""Steps of the store's plans: a statement, its parameters, and how its result is read.

The hot statements are :class:`Prepared`: built with SQLAlchemy Core from the
tables in :mod:`statuses.store.schema`, compiled once per dialect, and then
run as SQL text on the driver's connection under SQLAlchemy's (its pool, its
transaction), since building a Core statement and running it through
SQLAlchemy's execution layer cost several times the driver's own work.  A
driver's error is raised as SQLAlchemy's (``DBAPIError.instance``), and a
lost connection invalidated, as SQLAlchemy would.  Their parameters and
results are what the driver takes and gives (strings for the enums'
columns, JSON as text on SQLite); the rest (``load``, the queries,
upgrades) run as Core statements, read by SQLAlchemy.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

Parameters = Mapping[str, Any]
Build = Callable[[str], sa.ClauseElement | None]
"""A statement for a dialect's name (``sqlite``, ``postgresql``): for what the two spell differently.  None: that
dialect runs nothing for the step, another statement of the plan doing its work."""


class Compiled:
    """A :class:`Prepared` statement for one dialect: its SQL, its parameters' order, its rows' class."""

    __slots__ = ("sql", "order", "row")

    def __init__(self, statement: sa.ClauseElement | None, dialect: sa.Dialect) -> None:
        compiled = None if statement is None else statement.compile(dialect=dialect)
        order = getattr(compiled, "positiontup", None)  # an SQLCompiler's: None for named parameters
        self.sql: str | None = None if compiled is None else compiled.string
        """None: the dialect runs nothing for this statement (see :data:`Build`)."""
        self.order: tuple[str, ...] | None = None if order is None else tuple(order)
        """The parameters' names in the order a positional driver (sqlite3) takes them; None: by name."""
        self.row: type[Any] | None = None
        """Its result's rows, named by column: made from the first result that has columns."""

    def parameters(self, given: Parameters | Sequence[Parameters] | None) -> Any:
        """``given`` (one set by name, or a list for ``executemany``) as the driver takes them."""
        order = self.order
        if given is None:
            return ()
        if order is None:
            return given if isinstance(given, Mapping) else list(given)
        if isinstance(given, Mapping):
            return tuple([given[name] for name in order])
        return [tuple([one[name] for name in order]) for one in given]

    def rows(self, description: Any) -> type[Any] | None:
        row = self.row
        if row is None and description is not None:
            row = self.row = namedtuple("Row", [column[0] for column in description])
        return row


class Prepared:
    """A Core statement compiled once per dialect; run as its SQL text with the driver's parameters."""

    __slots__ = ("_build", "_compiled")

    def __init__(self, build: sa.ClauseElement | Build) -> None:
        self._build = build
        self._compiled: dict[sa.Dialect, Compiled] = {}

    def compiled(self, dialect: sa.Dialect) -> Compiled:
        """It for ``dialect`` (an engine's dialect: one object per engine), compiled on first use."""
        found = self._compiled.get(dialect)
        if found is None:
            statement = self._build if isinstance(self._build, sa.ClauseElement) else self._build(dialect.name)
            found = self._compiled[dialect] = Compiled(statement, dialect)
        return found

    def run(self, connection: sa.Connection, parameters: Parameters | Sequence[Parameters] | None) -> Any:
        """Run it on the driver's connection under ``connection`` (in its transaction); errors as SQLAlchemy's.

        Where someone watches the engine's statements (``echo``, cursor
        event listeners: a tracer, a test), through SQLAlchemy instead, so
        that they see every one.
        """
        if watched(connection):
            compiled = self.compiled(connection.dialect)
            if compiled.sql is None:
                return NOTHING_RUN
            return connection.exec_driver_sql(compiled.sql, compiled.parameters(parameters))
        return self.run_on(connection.connection, connection.dialect, parameters, connection.invalidate)

    def run_on(self, pooled: Any, dialect: sa.Dialect, parameters: Parameters | Sequence[Parameters] | None,
               lose: Callable[[BaseException], None]) -> DriverResult | NothingRun:
        """Run it on a pool's connection; a driver's error raised as SQLAlchemy's, ``lose`` called if the connection
        was lost."""
        compiled = self._compiled.get(dialect) or self.compiled(dialect)
        if compiled.sql is None:
            return NOTHING_RUN
        given = compiled.parameters(parameters)
        cursor = pooled.cursor()
        try:
            if type(given) is list:
                cursor.executemany(compiled.sql, given)
            else:
                cursor.execute(compiled.sql, given)
        except dialect.loaded_dbapi.Error as error:
            cursor.close()
            raise driver_error(dialect, pooled, error, compiled.sql, given, lose) from error
        return DriverResult(cursor, compiled.row or compiled.rows(cursor.description))


def driver_error(dialect: sa.Dialect, pooled: Any, error: BaseException, sql: str, given: Any,
                 lose: Callable[[BaseException], None]) -> sa.exc.DBAPIError:
    """A driver's error as SQLAlchemy raises it, the connection given up (``lose``) if it was lost."""
    lost = dialect.is_disconnect(error, pooled.dbapi_connection, None)  # type: ignore[arg-type]
    if lost:
        lose(error)
    wrapped = sa.exc.DBAPIError.instance(sql, given, error, dialect.loaded_dbapi.Error,
                                         connection_invalidated=lost, dialect=dialect)
    assert isinstance(wrapped, sa.exc.DBAPIError)
    return wrapped


def watched(connection: sa.Connection | sa.Engine) -> bool:
    """Whether the engine logs or hands out its statements: then they must go through SQLAlchemy."""
    dispatch = connection.dispatch
    return bool(connection.engine.echo or dispatch.before_cursor_execute or dispatch.after_cursor_execute)


class DriverResult:
    """A driver's cursor, read as the plans read SQLAlchemy's results: rows by column name."""

    __slots__ = ("_cursor", "_row")

    def __init__(self, cursor: Any, row: type[Any] | None) -> None:
        self._cursor, self._row = cursor, row

    def first(self) -> Any:
        found = self._cursor.fetchone() if self._row is not None else None
        self._cursor.close()
        return None if found is None or self._row is None else self._row(*found)

    def all(self) -> list[Any]:
        found = self._cursor.fetchall() if self._row is not None else []
        self._cursor.close()
        return [self._row(*row) for row in found] if self._row is not None else []


    @property
    def rowcount(self) -> int:
        count: int = self._cursor.rowcount
        self._cursor.close()
        return count


class NothingRun:
    """The result of a statement a dialect does not run (see :data:`Build`): no rows, none changed."""

    __slots__ = ()
    rowcount = 0

    def first(self) -> None:
        return None

    def all(self) -> list[Any]:
        return []


NOTHING_RUN = NothingRun()

Result = Any
"""SQLAlchemy's ``CursorResult``, a :class:`DriverResult` or :data:`NOTHING_RUN`: what a step's ``read`` is given."""


def first(result: Result) -> Any:
    return result.first()


def every(result: Result) -> list[Any]:
    return list(result.all())


def rowcount(result: Result) -> int:
    count: int = result.rowcount
    return count


def nothing(result: Result) -> None:
    return None



@attrs.frozen
class Step:
    """One statement of a plan: what a store runs, with its parameters and how its result is read."""

    statement: Prepared | sa.Executable
    parameters: Parameters | Sequence[Parameters] | None = None
    read: Callable[[Result], Any] = nothing
    """What the plan is sent back: the first row, every row, the row count, nothing."""



def json_value(stored: Any) -> Any:
    """A JSON column's value from a driver: SQLite's gives the text, psycopg the parsed value."""
    return json.loads(stored) if isinstance(stored, str) else stored


def json_text(value: Any) -> str | None:
    """What a prepared statement writes to a JSON column (None stays SQL NULL)."""
    return None if value is None else json.dumps(value)
