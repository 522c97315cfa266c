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
Build = Callable[[str], sa.ClauseElement]
"""A statement for a dialect's name (``sqlite``, ``postgresql``): for what the two spell differently."""


class Prepared:
    """A Core statement compiled once per dialect; run as its SQL text with the driver's parameters."""

    __slots__ = ("_build", "_compiled", "_rows")

    def __init__(self, build: sa.ClauseElement | Build) -> None:
        self._build = build
        self._compiled: dict[tuple[str, str], tuple[str, tuple[str, ...] | None]] = {}
        self._rows: dict[tuple[str, ...], type[Any]] = {}

    def run(self, connection: sa.Connection, parameters: Parameters | Sequence[Parameters] | None) -> Any:
        """Run it on the driver's connection under ``connection`` (in its transaction); errors as SQLAlchemy's.

        Where someone watches the engine's statements (``echo``, cursor
        event listeners: a tracer, a test), through SQLAlchemy instead, so
        that they see every one.
        """
        dialect = connection.dialect
        sql = self.compiled(dialect)[0]
        given = () if parameters is None else self.driver_parameters(dialect, parameters)
        if watched(connection):
            return connection.exec_driver_sql(sql, given)
        pooled = connection.connection
        cursor = pooled.cursor()
        try:
            if isinstance(given, list):
                cursor.executemany(sql, given)
            else:
                cursor.execute(sql, given)
        except dialect.loaded_dbapi.Error as error:
            lost = dialect.is_disconnect(error, pooled.dbapi_connection, cursor)
            cursor.close()
            if lost:
                connection.invalidate(error)
            raise sa.exc.DBAPIError.instance(sql, given, error, dialect.loaded_dbapi.Error,
                                             connection_invalidated=lost, dialect=dialect) from error
        return DriverResult(cursor, self._row_type(cursor.description))

    def _row_type(self, description: Any) -> type[Any] | None:
        """A row class naming the result's columns, made once per set of names."""
        if description is None:
            return None
        names = tuple(column[0] for column in description)
        found = self._rows.get(names)
        if found is None:
            found = self._rows[names] = namedtuple("Row", names)
        return found

    def compiled(self, dialect: sa.Dialect) -> tuple[str, tuple[str, ...] | None]:
        """Its SQL for ``dialect``, and the order of its parameters if the driver takes them by position."""
        key = (dialect.name, dialect.paramstyle)
        found = self._compiled.get(key)
        if found is None:
            statement = self._build if isinstance(self._build, sa.ClauseElement) else self._build(dialect.name)
            compiled = statement.compile(dialect=dialect)
            order = getattr(compiled, "positiontup", None)  # an SQLCompiler's: None for named parameters
            found = self._compiled[key] = (compiled.string, None if order is None else tuple(order))
        return found

    def driver_parameters(self, dialect: sa.Dialect, parameters: Parameters | Sequence[Parameters]) -> Any:
        """``parameters`` (one set by name, or a list for ``executemany``) as the driver takes them."""
        order = self.compiled(dialect)[1]
        if order is None:
            return parameters if isinstance(parameters, Mapping) else list(parameters)
        if isinstance(parameters, Mapping):
            return tuple([parameters[name] for name in order])
        return [tuple([one[name] for name in order]) for one in parameters]


def watched(connection: sa.Connection) -> bool:
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
        return None if found is None or self._row is None else self._row._make(found)

    def all(self) -> list[Any]:
        found = self._cursor.fetchall() if self._row is not None else []
        self._cursor.close()
        return [self._row._make(row) for row in found] if self._row is not None else []

    def scalar(self) -> Any:
        found = self._cursor.fetchone() if self._row is not None else None
        self._cursor.close()
        return None if found is None else found[0]

    @property
    def rowcount(self) -> int:
        count: int = self._cursor.rowcount
        self._cursor.close()
        return count


Result = Any
"""SQLAlchemy's ``CursorResult`` or a :class:`DriverResult`: what a step's ``read`` is given."""


def first(result: Result) -> Any:
    return result.first()


def every(result: Result) -> list[Any]:
    return list(result.all())


def rowcount(result: Result) -> int:
    count: int = result.rowcount
    return count


def nothing(result: Result) -> None:
    return None


def scalar(result: Result) -> Any:
    return result.scalar()


@attrs.frozen
class Step:
    """One statement of a plan: what :class:`~statuses.store.Store` and :class:`~statuses.store.AsyncStore` run."""

    statement: Prepared | sa.Executable
    parameters: Parameters | Sequence[Parameters] | None = None
    read: Callable[[Result], Any] = nothing
    """What the plan is sent back: the first row, every row, the row count, nothing."""

    def driver_call(self, dialect: sa.Dialect) -> tuple[str, Any] | None:
        """``(sql, parameters)`` for ``exec_driver_sql`` if the statement is prepared; None for a Core statement."""
        statement = self.statement
        if not isinstance(statement, Prepared):
            return None
        sql = statement.compiled(dialect)[0]
        if self.parameters is None:
            return sql, ()
        return sql, statement.driver_parameters(dialect, self.parameters)


def json_value(stored: Any) -> Any:
    """A JSON column's value from a driver: SQLite's gives the text, psycopg the parsed value."""
    return json.loads(stored) if isinstance(stored, str) else stored


def json_text(value: Any) -> str | None:
    """What a prepared statement writes to a JSON column (None stays SQL NULL)."""
    return None if value is None else json.dumps(value)
