"""Steps of the store's plans: a statement, its parameters, and how its result is read.

The hot statements are :class:`Prepared`: built with SQLAlchemy Core from the
tables in :mod:`statuses.store.schema`, compiled once per dialect, and then
run as SQL text through SQLAlchemy's connection (``exec_driver_sql``), since
building and compiling a Core statement on every call cost several times its
execution.  Their parameters and results are what the driver takes and
gives (strings for the enums' columns, JSON as text on SQLite); the rest
(``load``, the queries, upgrades) run as Core statements, read by SQLAlchemy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

Parameters = Mapping[str, Any]
Build = Callable[[str], sa.ClauseElement]
"""A statement for a dialect's name (``sqlite``, ``postgresql``): for what the two spell differently."""


class Prepared:
    """A Core statement compiled once per dialect; run as its SQL text with the driver's parameters."""

    __slots__ = ("_build", "_compiled")

    def __init__(self, build: sa.ClauseElement | Build) -> None:
        self._build = build
        self._compiled: dict[tuple[str, str], tuple[str, tuple[str, ...] | None]] = {}

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


def first(result: sa.CursorResult[Any]) -> sa.Row[Any] | None:
    return result.first()


def every(result: sa.CursorResult[Any]) -> list[sa.Row[Any]]:
    return list(result.all())


def rowcount(result: sa.CursorResult[Any]) -> int:
    return result.rowcount


def nothing(result: sa.CursorResult[Any]) -> None:
    return None


def scalar(result: sa.CursorResult[Any]) -> Any:
    return result.scalar()


@attrs.frozen
class Step:
    """One statement of a plan: what :class:`~statuses.store.Store` and :class:`~statuses.store.AsyncStore` run."""

    statement: Prepared | sa.Executable
    parameters: Parameters | Sequence[Parameters] | None = None
    read: Callable[[sa.CursorResult[Any]], Any] = nothing
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
