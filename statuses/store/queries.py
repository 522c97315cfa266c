"""The store's read-only queries as plans: one analysis, pages of folders, and the counts for a dashboard.

Each costs the same however many rows the store holds: ``load_analysis`` is
a primary-key lookup and its folder, ``folders`` reads a page off the index
on the folders' ``(resolution_status, stored_at, folder_id)``, and
``counts`` sums the :data:`~statuses.store.schema.COUNT_SHARDS` rows of
``statuses_counts``, which every writing plan keeps in its own transaction.
``benchmarks/query_cost.py`` measures it from 1,000 to 1,000,000 analyses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from ..analysis import Analysis
from ..enums import AnalysisState, FolderStatus, Resolution
from ..errors import InvalidArgument
from ..values import short_repr
from .errors import StoreCorrupt, called
from .operations import ANALYSIS, Plan, folder_row, whole_folder
from .schema import ANALYSIS_COUNTERS, COUNT_SHARDS, FOLDER_COUNTERS, ID_LENGTH, analyses, counts, folders
from .statements import Step, every, first


@attrs.frozen
class FolderSummary:
    """A folder as a page of :meth:`Store.folders` lists it: enough to show or sweep it without loading it."""

    folder_id: str
    status: FolderStatus
    """``resolution_status``."""
    system_resolution: Resolution
    stored_at: float
    """The store's clock (Unix seconds) when an event last wrote the folder's row: what the page is ordered by."""


@attrs.frozen
class FolderPage:
    """One page of :meth:`Store.folders`: its folders in order, and the cursor of the next page (None: the last)."""

    folders: tuple[FolderSummary, ...]
    cursor: str | None


@attrs.frozen
class StoreCounts:
    """Folders by status and analyses by state, every member present (0 where none): :meth:`Store.counts`."""

    folders: Mapping[FolderStatus, int]
    analyses: Mapping[AnalysisState, int]


# The analysis

def load_analysis(analyse_id: str) -> Plan[Analysis]:
    """The analysis in its folder, read whole under a shared lock as ``load`` reads it: its group and folder too."""
    owner = sa.select(analyses.c.folder_id).where(analyses.c.analyse_id == analyse_id).scalar_subquery()
    row = yield from folder_row(owner, "load_analysis", lock=True, shared=True, missing=(ANALYSIS, analyse_id))
    folder = yield from whole_folder(row)
    for analysis in folder.analyses:
        if analysis.analyse_id == analyse_id:
            return analysis
    raise StoreCorrupt(f"analysis {analyse_id!r} names folder {row.folder_id!r}, which does not hold it")


# Pages of folders

MAX_PAGE = 1000
"""The most folders one page of :meth:`Store.folders` holds."""

_SUMMARY = (folders.c.folder_id, folders.c.resolution_status, folders.c.system_resolution, folders.c.stored_at)
_POSITION = sa.tuple_(folders.c.stored_at, folders.c.folder_id)
_CURSOR = re.compile(r"(-?0x[0-9a-f]\.[0-9a-f]+p[+-][0-9]+)/(.+)", re.DOTALL)
"""A page's cursor: the last folder's ``stored_at`` in ``float.hex`` (exact), a slash, its id."""

Position = tuple[float, str]
"""Where a page starts: after the folder of this ``(stored_at, folder_id)``."""


def cursor_of(summary: FolderSummary) -> str:
    """The cursor of the page after ``summary``."""
    return f"{summary.stored_at.hex()}/{summary.folder_id}"


def parse_page_cursor(cursor: object) -> Position | None:
    """The position a cursor from :attr:`FolderPage.cursor` stands for; None for the first page."""
    if cursor is None:
        return None
    found = _CURSOR.fullmatch(cursor) if isinstance(cursor, str) else None
    if found is not None and 0 < len(found.group(2)) <= ID_LENGTH:
        stored_at = float.fromhex(found.group(1))
        if stored_at.hex() == found.group(1):  # the one spelling cursor_of writes
            return stored_at, found.group(2)
    raise InvalidArgument(called("folders"), "after", f"{short_repr(cursor)} is not a cursor of {called('folders')}; "
                          "pass None or a page's .cursor")


def _range(status: FolderStatus, since: float | None, before: float | None, start: Position | None,
           limit: int) -> sa.Select[Any]:
    """The first ``limit`` folders of ``status`` from ``start`` in the window: one range of the status index."""
    query = sa.select(*_SUMMARY).where(folders.c.resolution_status == status)
    if start is not None:
        query = query.where(_POSITION > sa.tuple_(sa.literal(start[0], sa.Float), sa.literal(start[1], sa.String)))
    if since is not None:
        query = query.where(folders.c.stored_at >= since)
    if before is not None:
        query = query.where(folders.c.stored_at < before)
    return query.order_by(folders.c.stored_at, folders.c.folder_id).limit(limit)


def page_query(statuses: Sequence[FolderStatus], since: float | None, before: float | None,
               start: Position | None, limit: int) -> sa.Select[Any]:
    """The first ``limit`` folders of any of ``statuses`` after ``start``, by ``(stored_at, folder_id)``.

    One status is one range of ``statuses_folders_by_status``.  Several are a
    UNION ALL of one range per status, each ordered and cut at ``limit``, then
    merged and cut again: at most ``limit`` index entries per status whatever
    the table holds, where an index on ``(stored_at, folder_id)`` alone would
    cost every event's write another index entry to move (about a tenth of a
    SQLite event).  EXPLAIN shows each branch as a range of that index on both
    engines: on SQLite ``SEARCH statuses_folders USING INDEX
    statuses_folders_by_status (resolution_status=? AND
    (stored_at,folder_id)>(?,?) AND stored_at<?)`` per branch, merged by
    ``MERGE (UNION ALL)`` (each branch's at most ``limit`` rows put in a temp
    B-tree); on PostgreSQL a ``Merge Append`` of one ``Limit`` over an ``Index
    Scan using statuses_folders_by_status`` per status, which reads only the
    rows the page takes and sorts nothing.
    """
    if len(statuses) == 1:
        return _range(statuses[0], since, before, start, limit)
    # Each branch in a subquery of its own: SQLite takes no ORDER BY or LIMIT on a compound's members.
    merged = sa.union_all(*(sa.select(_range(status, since, before, start, limit).subquery())
                            for status in statuses)).subquery()
    return sa.select(merged).order_by(merged.c.stored_at, merged.c.folder_id).limit(limit)


def folders_page(status: FolderStatus | None, since: float | None, before: float | None, start: Position | None,
                 limit: int) -> Plan[FolderPage]:
    """A page of :meth:`Store.folders`: one more row is read than shown, to tell whether another page follows."""
    chosen = list(FolderStatus) if status is None else [status]
    rows = yield Step(page_query(chosen, since, before, start, limit + 1), None, every)
    try:
        shown = tuple(FolderSummary(row.folder_id, FolderStatus(row.resolution_status),
                                    Resolution(row.system_resolution), row.stored_at) for row in rows[:limit])
    except ValueError as error:
        raise StoreCorrupt(f"a stored folder's status is none of the API's: {error}") from None
    return FolderPage(shown, cursor_of(shown[-1]) if len(rows) > limit else None)


# The counts

COUNT_ALL = sa.select(sa.func.count(), *(sa.func.sum(counts.c[name])
                                         for name in (*FOLDER_COUNTERS.values(), *ANALYSIS_COUNTERS.values())))


def store_counts() -> Plan[StoreCounts]:
    """The sums of ``statuses_counts``' rows; StoreCorrupt if a shard's row is missing."""
    row = yield Step(COUNT_ALL, None, first)
    if row[0] != COUNT_SHARDS:
        raise StoreCorrupt(f"statuses_counts holds {row[0]} rows, not {COUNT_SHARDS}: it was changed outside the "
                           "store, and its counts are not to be trusted")
    # PostgreSQL sums BIGINT as NUMERIC: int() of its Decimal.
    totals = iter(int(total) for total in row[1:])
    return StoreCounts(folders={status: next(totals) for status in FOLDER_COUNTERS},
                       analyses={state: next(totals) for state in ANALYSIS_COUNTERS})
