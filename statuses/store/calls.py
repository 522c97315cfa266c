"""What each of the store's public calls checks before any SQL, and the plan it then runs.

Kept apart from :class:`~statuses.store.Store`'s IO, so that any store
refuses the same input with the same words and runs the same plans
(:mod:`statuses.store.operations`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import sqlalchemy as sa

from ..analysis import ANALYSIS_MACHINE, Analysis
from ..enums import AnalysisType, FolderStatus, Resolution
from ..errors import InvalidArgument
from ..folder import Folder
from ..listeners import Transition
from ..settings import DEFAULT_SETTINGS, Settings
from ..values import short_repr
from . import operations, queries
from .errors import called
from .log import BIGINT, LOG_COLUMNS, LogEntry, parse_cursor
from .operations import Plan
from .schema import ID_LENGTH, IDEMPOTENCY_KEY_LENGTH, transitions
from .statements import Step, every


@attrs.frozen
class Call:
    """A checked call: its name (for messages), a maker of its plan (one per attempt), and what it does."""

    operation: str
    plan: Callable[[], Plan[Any]]
    writes: bool = True
    """A writing plan returns ``(outcome, moves)``; a reading one, its outcome, and runs read-only."""
    prepared: bool = False
    """Whether every step of its plan is :class:`~statuses.store.statements.Prepared`: then a store may run it
    on the driver alone, in a transaction of its own."""


def create_folder(settings: Settings = DEFAULT_SETTINGS, folder_id: str | None = None) -> Call:
    if not isinstance(settings, Settings):
        raise InvalidArgument(called("create_folder"), "settings", f"must be a Settings, not {short_repr(settings)}")
    if folder_id is not None:
        check_id("create_folder", "folder_id", folder_id)
    folder = Folder(settings=settings) if folder_id is None else Folder(settings=settings, folder_id=folder_id)
    return Call("create_folder", lambda: operations.create_folder(folder), prepared=True)


def submit(folder_id: str, types: Iterable[AnalysisType | str], key: str | None) -> Call:
    check_id("submit", "folder_id", folder_id)
    check_key("submit", key)
    if isinstance(types, (str, bytes)) or not isinstance(types, Iterable):
        raise InvalidArgument(called("submit"), "types", f"must be a list of analysis types, not {short_repr(types)}")
    wanted = list(types)
    request = {"types": [spelling(AnalysisType, raw) for raw in wanted]}
    return Call("submit", lambda: operations.submit(folder_id, wanted, key, request), prepared=True)


def finish(analysis_id: str, resolution: Resolution | str, key: str | None) -> Call:
    ANALYSIS_MACHINE.check_argument(called("finish"), "finish", resolution)  # bad input: before any SQL
    return _end("finish", analysis_id, {"verdict": spelling(Resolution, resolution)}, key,
                lambda analysis: analysis.finish(resolution))


def fail(analysis_id: str, reason: str | None, key: str | None) -> Call:
    if reason is not None and not isinstance(reason, str):
        raise InvalidArgument(called("fail"), "reason", f"must be a str or None, not {short_repr(reason)}")
    if reason is not None:
        check_text("fail", "reason", reason)
    return _end("fail", analysis_id, {"reason": reason}, key, lambda analysis: analysis.fail(reason))


def _end(event: str, analysis_id: str, request: dict[str, Any], key: str | None,
         apply: Callable[[Analysis], object]) -> Call:
    check_id(event, "analysis_id", analysis_id)
    check_key(event, key)
    return Call(event, lambda: operations.end(event, analysis_id, request, key, apply), prepared=True)


def load(folder_id: str) -> Call:
    check_id("load", "folder_id", folder_id)
    return Call("load", lambda: operations.load(folder_id), writes=False)


def history(folder_id: str) -> Call:
    check_id("history", "folder_id", folder_id)
    return Call("history", lambda: operations.history(folder_id), writes=False)


def changes(after: str | None, limit: int, postgresql: bool) -> Call:
    start = parse_cursor(after)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= BIGINT:
        raise InvalidArgument(called("changes"), "limit", f"must be an int from 1 to {BIGINT}, not {short_repr(limit)}")
    position = sa.tuple_(transitions.c.txid, transitions.c.seq)
    # Typed BIGINT: PostgreSQL would otherwise be sent the seq and the limit as INTEGER, 32 bits.
    query = sa.select(*LOG_COLUMNS).where(position > sa.tuple_(*(sa.literal(n, sa.BigInteger) for n in start)))
    if postgresql:
        # Transactions take ids in one order and commit in another: only
        # entries of transactions older than every one still running are
        # final, and (txid, seq) orders them so later ones sort after.
        horizon = sa.text("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        query = query.where(transitions.c.txid < horizon)
    query = query.order_by(transitions.c.txid, transitions.c.seq).limit(sa.literal(limit, sa.BigInteger))

    def plan() -> Plan[list[LogEntry]]:
        rows = yield Step(query, None, every)
        return [LogEntry.from_row(row) for row in rows]

    return Call("changes", plan, writes=False)


def load_analysis(analyse_id: str) -> Call:
    check_id("load_analysis", "analyse_id", analyse_id)
    return Call("load_analysis", lambda: queries.load_analysis(analyse_id), writes=False)


def folders(status: FolderStatus | str | None, updated_after: float | None, updated_before: float | None,
            limit: int, after: str | None) -> Call:
    """A page's filters, its size and its cursor checked; the page's plan (:func:`~statuses.store.queries.folders_page`)."""
    wanted = None
    if status is not None:
        try:
            wanted = FolderStatus.parse(status)
        except ValueError as error:
            raise InvalidArgument(called("folders"), "status", f"must be None or a FolderStatus: {error}") from None
    since = _time("folders", "updated_after", updated_after)
    before = _time("folders", "updated_before", updated_before)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= queries.MAX_PAGE:
        raise InvalidArgument(called("folders"), "limit", f"must be an int from 1 to {queries.MAX_PAGE}, "
                              f"not {short_repr(limit)}")
    start = queries.parse_page_cursor(after)
    if start is not None:   # its folder id reaches the database: text neither can keep is refused here
        check_text("folders", "after", start[1])
    return Call("folders", lambda: queries.folders_page(wanted, since, before, start, limit), writes=False)


def counts() -> Call:
    return Call("counts", queries.store_counts, writes=False)


def _time(operation: str, name: str, value: object) -> float | None:
    """A time a query takes: None, or Unix seconds as a finite int or float."""
    if value is None:
        return None
    seconds = math.inf
    if not isinstance(value, bool) and isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:  # an int past a float's range
            pass
    if not math.isfinite(seconds):
        raise InvalidArgument(called(operation), name, f"must be None or Unix seconds (a finite int or float), "
                              f"not {short_repr(value)}")
    return seconds


def observe(snapshot: object, settings: Settings, key: str | None) -> Call:
    """The snapshot read and checked (:func:`~statuses.store.observing.read_snapshot`), its ids too, before any SQL."""
    from . import observing  # imported where used: only observe needs it

    if not isinstance(settings, Settings):
        raise InvalidArgument(called("observe"), "settings", f"must be a Settings, not {short_repr(settings)}")
    check_key(observing.EVENT, key)
    checked = observing.read_snapshot(snapshot, settings)
    for path, value in checked.ids:
        check_id(observing.EVENT, path, value)
    return Call(observing.EVENT, lambda: observing.observe(checked, settings, key))


Moves = list[Transition]


def spelling(kind: type[AnalysisType] | type[Resolution], raw: object) -> object:
    """How an argument is recorded: the API's spelling when it is one, else (the machine refuses it) storable."""
    try:
        return kind.parse(raw).value
    except ValueError:
        return _storable(raw)


_RECORDED_TEXT = 60
"""The longest string recorded as given; longer ones are recorded as their :func:`short_repr`."""
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(raw: object) -> object:
    """``raw`` if both databases keep it as JSON and read it back equal; else its ``short_repr``.

    The idempotency claim records the request before the machine runs, so a
    value the machine will refuse must still be written first: NaN and
    infinities are no JSON (PostgreSQL refuses them), integers past 4,300
    digits cannot be written at all, and any other object is no JSON value.
    The machine then refuses the value itself, as in memory, and the claim
    is rolled back with the rest.
    """
    if raw is None or type(raw) is bool:
        return raw
    if type(raw) is int and -BIGINT - 1 <= raw <= BIGINT:
        return raw
    if type(raw) is float and math.isfinite(raw):
        return raw
    if type(raw) is str and len(raw) <= _RECORDED_TEXT and _UNSTORABLE.search(raw) is None:
        return raw
    # An object's own repr may hold what no database keeps: escaped as Python would spell it.
    return _UNSTORABLE.sub(lambda found: ascii(found.group())[1:-1], short_repr(raw))


def check_id(operation: str, name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(called(operation), name, f"must be a non-empty str, not {short_repr(value)}")
    if len(value) > ID_LENGTH:
        raise InvalidArgument(called(operation), name, f"must be at most {ID_LENGTH} characters, "
                              f"not {short_repr(value)} ({len(value)})")
    check_text(operation, name, value)


def check_key(operation: str, key: object) -> None:
    if key is None:
        return
    if not isinstance(key, str) or not key or len(key) > IDEMPOTENCY_KEY_LENGTH:
        raise InvalidArgument(called(operation), "idempotency_key", f"must be None or a str of 1 to "
                              f"{IDEMPOTENCY_KEY_LENGTH} characters, not {short_repr(key)}")
    check_text(operation, "idempotency_key", key)


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(operation: str, name: str, value: str) -> None:
    """Refuse text a database cannot keep, before any SQL: the same answer on both.

    PostgreSQL refuses NUL in text (SQLite would store it); a surrogate code
    point (U+D800 to U+DFFF, half of a UTF-16 pair) has no UTF-8 encoding,
    so both drivers would fail on it halfway through the transaction.
    """
    if "\x00" in value:
        raise InvalidArgument(called(operation), name, f"must not contain a NUL character, not {short_repr(value)}")
    surrogate = _SURROGATE.search(value)
    if surrogate is not None:
        raise InvalidArgument(called(operation), name, f"must not contain a lone surrogate "
                              f"(U+{ord(surrogate.group()):04X} at index {surrogate.start()}), which UTF-8 cannot "
                              f"encode, not {short_repr(value)}")
