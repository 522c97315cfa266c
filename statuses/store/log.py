"""The transition log's entries, and the outbox cursor over them."""

from __future__ import annotations

import re
from typing import Any

import attrs
import sqlalchemy as sa

from ..values import short_repr
from .schema import transitions


@attrs.frozen
class LogEntry:
    """One transition a machine took, as the store logged it."""

    seq: int
    """Unique and increasing with time of writing; in one folder's history, the order of its transitions."""
    folder_id: str
    entity: str
    """``"analysis"`` or ``"folder"``: the machine's name."""
    entity_id: str
    source: str
    dest: str
    event: str
    arguments: dict[str, Any]
    """The event's arguments, as JSON (``{"verdict": "SUCCESS"}``, ``{"reason": …}``, ``{"types": …}``)."""
    idempotency_key: str | None
    time: float
    """Unix seconds, by the clock of the worker that applied it."""
    txid: int = attrs.field(default=0, repr=False)
    """The writing transaction's id on PostgreSQL, 0 on SQLite; part of :attr:`cursor`."""

    @property
    def cursor(self) -> str:
        """Where :meth:`Store.changes` resumes after this entry; store it with what you published."""
        return f"{self.txid}:{self.seq}"

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> LogEntry:
        values = row._mapping
        return cls(**{field.name: values[field.name] for field in attrs.fields(cls)})


LOG_COLUMNS = tuple(transitions.c[field.name] for field in attrs.fields(LogEntry))


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
                raise ValueError(f"Store.changes(): after={short_repr(cursor)} is out of range: a cursor's "
                                 f"numbers are at most {BIGINT}; pass None or an entry's .cursor")
            return (numbers[0], numbers[1])
    raise ValueError(f"Store.changes(): after={short_repr(cursor)} is not a cursor; pass None or an entry's .cursor")


def _bigint(digits: str) -> int | None:
    """The number ``digits`` spells if it is at most :data:`BIGINT`, else None.

    The length is checked first: int() refuses thousands of digits, and is slow before that.
    """
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(BIGINT)):
        return None
    number = int(significant)
    return number if number <= BIGINT else None
