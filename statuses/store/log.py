"""The transition log's entries, and the outbox cursor over them."""

from __future__ import annotations

import re
from typing import Any

import attrs
import sqlalchemy as sa

from ..enums import AnalysisState, FolderStatus, Resolution
from ..errors import InvalidArgument
from ..listeners import Transition
from ..values import short_repr
from .errors import StoreCorrupt, called
from .schema import transitions
from .statements import json_value


@attrs.frozen
class LogEntry:
    """One transition as the store logged it: the machine's :class:`~statuses.Transition` and what only the log knows.

    What :meth:`Store.changes` pages through.  ``entry.transition`` equals
    the record ``finish``/``fail`` returned and listeners heard for that move.
    """

    transition: Transition
    """The move, as the machine reported it."""
    arguments: dict[str, Any]
    """The event's arguments as logged, JSON: ``{"verdict": "SUCCESS"}`` for ``finish``, ``{"reason": …}``
    for ``fail``, ``{"types": …, "group_id": …, "analysis_ids": …}`` for ``submit``, ``{}`` for ``settle``."""
    idempotency_key: str | None
    """The key the event was applied with, if any (``settle`` carries its end's)."""
    time: float
    """Unix seconds, by the clock of the worker that applied it."""
    seq: int
    """Unique and increasing with time of writing; in one folder's history, the order of its transitions."""
    txid: int = attrs.field(default=0, repr=False)
    """The writing transaction's id on PostgreSQL, 0 on SQLite; part of :attr:`cursor`."""

    @property
    def cursor(self) -> str:
        """Where :meth:`Store.changes` resumes after this entry; store it with what you published."""
        return f"{self.txid}:{self.seq}"

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> LogEntry:
        """The entry of a row of :data:`LOG_COLUMNS`."""
        return cls(transition=transition_of(row), arguments=json_value(row.arguments), idempotency_key=row.idempotency_key,
                   time=row.time, seq=row.seq, txid=row.txid)


LOG_COLUMNS = tuple(transitions.c[name] for name in (
    "seq", "txid", "folder_id", "entity", "entity_id", "group_id", "event", "source", "dest", "result",
    "arguments", "idempotency_key", "time"))
"""The columns :meth:`LogEntry.from_row` and :func:`transition_of` read."""

_STATES: dict[str, type[AnalysisState] | type[FolderStatus]] = {"analysis": AnalysisState, "folder": FolderStatus}


def transition_of(row: sa.Row[Any]) -> Transition:
    """The :class:`~statuses.Transition` a log row records; StoreCorrupt for a row the store did not write."""
    try:
        states = _STATES[row.entity]
        if row.event == "finish":
            argument: Resolution | str | None = Resolution(json_value(row.arguments)["verdict"])
        elif row.event == "fail":
            argument = json_value(row.arguments)["reason"]
        else:
            argument = None
        return Transition(row.entity, row.entity_id, row.folder_id, row.group_id, row.event, states(row.source),
                          states(row.dest), Resolution(row.result), argument)
    except (KeyError, TypeError, ValueError) as error:
        raise StoreCorrupt(f"log row {row.seq} of folder {row.folder_id!r} is no transition: "
                           f"{short_repr(error)}") from None


BIGINT = 2**63 - 1
"""The largest number a cursor holds: ``txid`` and ``seq`` are 64-bit integers in both databases."""
_NUMBER = re.compile("[0-9]+")  # ASCII digits only: str.isdigit() also takes "²", which int() refuses


def parse_cursor(cursor: str | None) -> tuple[int, int]:
    """``(txid, seq)`` of a cursor from :attr:`LogEntry.cursor`; ``(-1, -1)`` for the start."""
    if cursor is None:
        return (-1, -1)
    if isinstance(cursor, str):
        txid, colon, seq = cursor.partition(":")
        if colon and _NUMBER.fullmatch(txid) and _NUMBER.fullmatch(seq):
            numbers = (_bigint(txid), _bigint(seq))
            if numbers[0] is None or numbers[1] is None:
                raise InvalidArgument(called("changes"), "after", f"{short_repr(cursor)} is out of range: a cursor's "
                                      f"numbers are at most {BIGINT}; pass None or an entry's .cursor")
            return (numbers[0], numbers[1])
    raise InvalidArgument(called("changes"), "after",
                          f"{short_repr(cursor)} is not a cursor; pass None or an entry's .cursor")


def _bigint(digits: str) -> int | None:
    """The number ``digits`` spells if it is at most :data:`BIGINT`, else None.

    The length is checked first: int() refuses thousands of digits, and is slow before that.
    """
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(BIGINT)):
        return None
    number = int(significant)
    return number if number <= BIGINT else None
