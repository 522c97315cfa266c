"""The store's operations as plans: the statements each runs, in order, and what it makes of their results.

Theory of operation
-------------------
A plan is a generator.  It yields a :class:`~statuses.store.statements.Step`,
is sent back what the step read, and returns the operation's outcome.  It
never touches a connection: :class:`~statuses.store.Store` runs plans on a
``Connection`` or on its driver, inside the transaction it manages (or the
caller's), so that a store doing its IO another way (asyncio) can run the
same statements, checks and machines.

An event costs the same whatever the size of its folder.  It locks the
folder's row, reads the one analysis with its group's counts, and restores
a part of the folder (:meth:`~statuses.Folder.restore_part`) from the
counts the rows keep (:class:`~statuses.folder.FolderCounts`,
:class:`~statuses.folder.GroupCounts`).  The machines take the event on it,
exactly as on the whole folder, and report their moves; the plan writes the
analysis (``WHERE state`` is still the one read), the group's counts, the
folder's statuses and counts (``WHERE version`` is still the one read), what
it moved to the store's counts by status (``statuses_counts``, the folder's
shard; on PostgreSQL in the folder's UPDATE) and one log row per move.
Nothing is compared: what moved is what the machines reported and what the
counts now say.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from ..analysis import ANALYSIS_DEFINITION, Analysis
from ..enums import AnalysisState, FolderStatus, Resolution
from ..errors import InconsistentFolder
from ..folder import FOLDER_DEFINITION, Folder, FolderCounts, GroupCounts
from ..listeners import Transition
from ..settings import Settings
from ..values import short_repr
from .errors import AlreadyExists, ConcurrentUpdate, IdempotencyConflict, NotFound, StoreCorrupt, called
from .log import LOG_COLUMNS, LogEntry, transition_of
from .replay import taken
from .rows import members_query, read_folder, read_settings, settings_json
from .schema import (ANALYSIS_COUNTERS, FOLDER_COUNTERS, analyses, count_shard, counts, folders, groups,
                     idempotency_keys, transitions)
from .statements import Prepared, Step, every, first, json_text, json_value, rowcount

T = TypeVar("T")
Plan = Generator[Step, Any, T]
"""A plan returning ``T``: see the module's theory of operation."""
Moved = tuple[T, list[Transition]]
"""What a writing plan returns: its outcome, and the moves to deliver once committed."""

ANALYSIS = ANALYSIS_DEFINITION.name
FOLDER = FOLDER_DEFINITION.name


def _bound(**columns: sa.ColumnElement[Any]) -> dict[str, sa.BindParameter[Any]]:
    return {name: sa.bindparam(f"p_{name}", type_=column.type) for name, column in columns.items()}


# The folder's row as an event reads it: its statuses and counts, not its record (extra, times).
_FOLDER_STATE = [folders.c[name] for name in (
    "folder_id", "settings", "resolution_status", "system_resolution", "version", "in_progress", "group_count",
    "analysis_count", "last_group_id", "last_finished_order", "last_result")]
_FOLDER_COUNTS = ("resolution_status", "system_resolution", "in_progress", "last_group_id", "last_finished_order",
                  "last_result")


def _lock(where: sa.ColumnElement[bool]) -> Prepared:
    # SQLite renders no FOR UPDATE: its transaction began with BEGIN IMMEDIATE, which holds the write lock.
    return Prepared(sa.select(*_FOLDER_STATE).where(where).with_for_update())


LOCK_FOLDER = _lock(folders.c.folder_id == sa.bindparam("p_folder_id"))
# The analysis an event ends, with its group's counts, under names apart from the folder's.
_ANALYSIS_STATE = [analyses.c.analyse_id, analyses.c.type, analyses.c.state.label("analysis_state"),
                   analyses.c.resolution_status.label("analysis_result"), analyses.c.failure_reason,
                   analyses.c.group_id, groups.c.in_progress.label("group_in_progress"), groups.c.worst_ended,
                   groups.c.finished_order]
_OF_ANALYSIS = analyses.c.analyse_id == sa.bindparam("p_analysis_id")
_ANALYSIS_AND_GROUP = analyses.join(groups, groups.c.group_id == analyses.c.group_id)


def _lock_of_analysis(dialect: str) -> sa.ClauseElement:
    if dialect == "sqlite":
        # The transaction holds the database's write lock already: the analysis and its group are read in the
        # same statement, a step fewer.
        return (sa.select(*_FOLDER_STATE, *_ANALYSIS_STATE)
                .select_from(_ANALYSIS_AND_GROUP.join(folders, folders.c.folder_id == analyses.c.folder_id))
                .where(_OF_ANALYSIS))
    # PostgreSQL locks the folder's row alone, then reads the rest: a join's other rows would be read as they
    # were before the lock was waited for (READ COMMITTED re-reads only the locked row).
    return (sa.select(*_FOLDER_STATE)
            .where(folders.c.folder_id == sa.select(analyses.c.folder_id).where(_OF_ANALYSIS).scalar_subquery())
            .with_for_update())


LOCK_FOLDER_OF_ANALYSIS = Prepared(_lock_of_analysis)
READ_ANALYSIS = Prepared(sa.select(*_ANALYSIS_STATE).select_from(_ANALYSIS_AND_GROUP).where(_OF_ANALYSIS))
FOLDER_EXISTS = Prepared(sa.select(folders.c.folder_id).where(folders.c.folder_id == sa.bindparam("p_folder_id")))
END_ANALYSIS = Prepared(
    analyses.update()
    .where(analyses.c.analyse_id == sa.bindparam("p_analyse_id"), analyses.c.state == sa.bindparam("p_was"))
    .values(_bound(state=analyses.c.state, resolution_status=analyses.c.resolution_status,
                   failure_reason=analyses.c.failure_reason, time_updated=analyses.c.time_updated)))
COUNT_GROUP = Prepared(
    groups.update().where(groups.c.group_id == sa.bindparam("p_group_id"))
    .values(_bound(in_progress=groups.c.in_progress, worst_ended=groups.c.worst_ended)))
FINISH_GROUP = Prepared(  # finished_order apart: setting it, even unchanged, rewrites its unique index's entry
    groups.update().where(groups.c.group_id == sa.bindparam("p_group_id"))
    .values(_bound(in_progress=groups.c.in_progress, worst_ended=groups.c.worst_ended,
                   finished_order=groups.c.finished_order)))
# Every counter in one statement, most of them + 0: one UPDATE of one row whatever the event moved.
_ADD_COUNTS = counts.update().where(counts.c.shard == sa.bindparam("p_shard")).values({
    column: column + sa.bindparam(f"p_{column.name}", type_=column.type)
    for column in counts.c if column.name != "shard"})


def counting(statement: sa.Insert | sa.Update) -> Callable[[str], sa.ClauseElement]:
    """``statement`` (the folder's write), adding the event's counts too on PostgreSQL: a round trip fewer.

    PostgreSQL runs the counts' UPDATE in the same statement (a data-modifying
    WITH; the row count stays the folder's), and :data:`ADD_COUNTS` runs
    nothing there; SQLite, which has no such WITH, runs it apart.
    """
    def build(dialect: str) -> sa.ClauseElement:
        if dialect != "postgresql":
            return statement
        return statement.add_cte(_ADD_COUNTS.returning(counts.c.shard).cte("counted"))

    return build


ADD_COUNTS = Prepared(lambda dialect: None if dialect == "postgresql" else _ADD_COUNTS)
WRITE_FOLDER = Prepared(counting(
    folders.update()
    .where(folders.c.folder_id == sa.bindparam("p_folder_id"), folders.c.version == sa.bindparam("p_read_version"))
    .values(_bound(**{name: folders.c[name] for name in (
        *_FOLDER_COUNTS, "group_count", "analysis_count", "version", "time_updated", "stored_at")}))))
INSERT_FOLDER = Prepared(counting(folders.insert().values(_bound(**{column.name: column for column in folders.c}))))
INSERT_GROUP = Prepared(groups.insert().values(_bound(**{column.name: column for column in groups.c})))
INSERT_ANALYSIS = Prepared(analyses.insert().values(_bound(**{column.name: column for column in analyses.c})))
_LOGGED = ("folder_id", "entity", "entity_id", "group_id", "event", "source", "dest", "result", "arguments",
           "idempotency_key", "time")


def _log_insert(dialect: str) -> sa.ClauseElement:
    # The writing transaction's id orders the outbox on PostgreSQL (see Store.changes); SQLite has one writer.
    txid: Any = sa.text("pg_current_xact_id()::text::bigint") if dialect == "postgresql" else sa.literal_column("0")
    return transitions.insert().values(txid=txid, **_bound(**{name: transitions.c[name] for name in _LOGGED}))


def _key_claim(dialect: str) -> sa.ClauseElement:
    # The dialects' own INSERT, for ON CONFLICT; imported here, as only a keyed event needs it.
    from sqlalchemy.dialects import postgresql, sqlite
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (insert(idempotency_keys)
            .values(_bound(**{column.name: column for column in idempotency_keys.c}))
            .on_conflict_do_nothing().returning(idempotency_keys.c.idempotency_key))


INSERT_LOG = Prepared(_log_insert)
CLAIM_KEY = Prepared(_key_claim)
FIRST_USE = Prepared(sa.select(idempotency_keys)
                     .where(idempotency_keys.c.idempotency_key == sa.bindparam("p_idempotency_key")))
KEYED_LOG = Prepared(sa.select(*LOG_COLUMNS).where(transitions.c.idempotency_key == sa.bindparam("p_idempotency_key"))
                     .order_by(transitions.c.seq))


# Writing plans

def create_folder(folder: Folder) -> Plan[Moved[str]]:
    """Store ``folder``, new and INITIAL; AlreadyExists if its id is taken."""
    if (yield Step(FOLDER_EXISTS, {"p_folder_id": folder.folder_id}, first)) is not None:
        raise AlreadyExists(f"{called('create_folder')}: folder {folder.folder_id!r} exists already")
    now = time.time()
    counts = folder.counts()
    added = count_parameters(folder.folder_id, tally(folders=[(None, folder.resolution_status)]))
    yield Step(INSERT_FOLDER, {
        "p_folder_id": folder.folder_id, "p_settings": json_text(settings_json(folder.settings)), "p_version": 1,
        **_counts_parameters(folder, counts), "p_group_count": 0, "p_analysis_count": 0,
        "p_time_created": now, "p_time_updated": now, "p_extra": None, "p_stored_at": now, **added})
    yield from add_counts(added)
    return folder.folder_id, []


def submit(folder_id: str, wanted: list[Any], key: str | None, request: dict[str, Any]) -> Plan[Moved[list[str]]]:
    """A new group of ``wanted`` types in the stored folder: its rows, the folder's counts, the log."""
    row = yield Step(LOCK_FOLDER, {"p_folder_id": folder_id}, first)
    if row is None:
        raise NotFound(FOLDER, folder_id, "submit")
    now = time.time()
    replayed = yield from claim(key, folder_id, folder_id, "submit", request, now)
    if replayed is not None:
        return list(replayed[0].arguments["analysis_ids"]), []
    folder = _restore_part(row, None, ())
    group, records = taken(folder, lambda: folder.submit(wanted))
    assert group.group_id is not None  # made by Folder.submit, which always gives an id
    counts = group.counts()
    yield Step(INSERT_GROUP, {
        "p_group_id": group.group_id, "p_folder_id": folder_id, "p_position": row.group_count,
        "p_finished_order": counts.finished_order, "p_in_progress": counts.in_progress,
        "p_worst_ended": counts.worst_ended.value})
    yield Step(INSERT_ANALYSIS, [{
        "p_analyse_id": analysis.analyse_id, "p_folder_id": folder_id, "p_group_id": group.group_id,
        "p_position": row.analysis_count + index, "p_type": analysis.type.value, "p_state": analysis.state.value,
        "p_resolution_status": analysis.resolution_status.value, "p_failure_reason": None,
        "p_time_created": now, "p_time_updated": now, "p_extra": None, "p_spellings": None,
    } for index, analysis in enumerate(group.analyses)])
    added = tally(folders=[(row.resolution_status, folder.resolution_status)],
                  analyses=[(None, analysis.state) for analysis in group.analyses])
    yield from _write_folder(folder, row, now, added, groups_added=1, analyses_added=len(group.analyses))
    ids = [analysis.analyse_id for analysis in group.analyses]
    arguments = {"types": [analysis.type.value for analysis in group.analyses], "group_id": group.group_id,
                 "analysis_ids": ids}
    yield from log(key, now, folder_id, records, arguments)
    return ids, records


def end(event: str, analysis_id: str, request: dict[str, Any], key: str | None,
        apply: Callable[[Analysis], object]) -> Plan[Moved[list[Transition]]]:
    """``finish`` or ``fail`` (``apply``) of a stored analysis: reads and writes that analysis, its group, its folder."""
    row = yield Step(LOCK_FOLDER_OF_ANALYSIS, {"p_analysis_id": analysis_id}, first)
    if row is None:
        raise NotFound(ANALYSIS, analysis_id, event)
    # On SQLite the lock's statement read the analysis too (see _lock_of_analysis).
    stored = row if hasattr(row, "analysis_state") else (
        yield Step(READ_ANALYSIS, {"p_analysis_id": analysis_id}, first))
    if stored is None:  # the folder was found through it, and the store deletes nothing
        raise StoreCorrupt(f"analysis {analysis_id!r} vanished while its folder {row.folder_id!r} was locked")
    now = time.time()
    replayed = yield from claim(key, row.folder_id, analysis_id, event, request, now)
    if replayed is not None:
        return [entry.transition for entry in replayed], []
    settings = read_settings(row.folder_id, row.settings)
    try:
        analysis = Analysis.restore(stored.analyse_id, stored.type, stored.analysis_state, stored.analysis_result,
                                    settings, stored.failure_reason)
    except ValueError as error:
        raise StoreCorrupt(f"Folder {row.folder_id}: {error}") from None
    group_counts = GroupCounts(stored.group_id, stored.group_in_progress, _resolution(stored.worst_ended),
                               stored.finished_order)
    folder = _restore_part(row, group_counts, (analysis,), settings)
    _, records = taken(folder, lambda: apply(analysis))
    ended = yield Step(END_ANALYSIS, {
        "p_analyse_id": analysis_id, "p_was": stored.analysis_state, "p_state": analysis.state.value,
        "p_resolution_status": analysis.resolution_status.value, "p_failure_reason": analysis.failure_reason,
        "p_time_updated": now}, rowcount)
    if ended != 1:
        raise ConcurrentUpdate(f"{analysis.describe()} changed while this operation ran")
    counts = folder.groups[0].counts()
    if counts.finished_order is None:
        yield Step(COUNT_GROUP, {"p_group_id": counts.group_id, "p_in_progress": counts.in_progress,
                                 "p_worst_ended": counts.worst_ended.value})
    else:
        yield Step(FINISH_GROUP, {"p_group_id": counts.group_id, "p_in_progress": counts.in_progress,
                                  "p_worst_ended": counts.worst_ended.value,
                                  "p_finished_order": counts.finished_order})
    added = tally(folders=[(row.resolution_status, folder.resolution_status)],
                  analyses=[(stored.analysis_state, analysis.state)])
    yield from _write_folder(folder, row, now, added)
    yield from log(key, now, row.folder_id, records, request)
    return records, records


def _restore_part(row: Any, group: GroupCounts | None, members: Sequence[Analysis],
                  settings: Settings | None = None) -> Folder:
    """The part of the folder of ``row`` (its statuses and counts) that one event needs."""
    try:
        return Folder.restore_part(
            folder_id=row.folder_id, resolution_status=row.resolution_status,
            system_resolution=row.system_resolution, settings=settings or read_settings(row.folder_id, row.settings),
            counts=FolderCounts(row.in_progress, row.last_group_id, row.last_finished_order,
                                None if row.last_result is None else _resolution(row.last_result)),
            group=group, analyses=members)
    except InconsistentFolder as error:
        raise StoreCorrupt(str(error)) from None
    except ValueError as error:
        raise StoreCorrupt(f"Folder {row.folder_id}: {error}") from None


def _resolution(stored: str) -> Resolution:
    try:
        return Resolution(stored)
    except ValueError:
        raise StoreCorrupt(f"a stored result {short_repr(stored)} is none of the API's") from None


def _counts_parameters(folder: Folder, counts: FolderCounts) -> dict[str, Any]:
    return {"p_resolution_status": folder.resolution_status.value,
            "p_system_resolution": folder.system_resolution.value, "p_in_progress": counts.in_progress,
            "p_last_group_id": counts.last_group_id, "p_last_finished_order": counts.last_finished_order,
            "p_last_result": None if counts.last_result is None else counts.last_result.value}


def _write_folder(folder: Folder, row: Any, now: float, added: dict[str, int], groups_added: int = 0,
                  analyses_added: int = 0) -> Plan[None]:
    """The folder's statuses and counts, ``WHERE version`` is still the one read (ConcurrentUpdate if not), and
    what the event ``added`` to the store's counts (see :func:`tally`)."""
    counted = count_parameters(row.folder_id, added)
    written = yield Step(WRITE_FOLDER, {
        "p_folder_id": row.folder_id, "p_read_version": row.version, "p_version": row.version + 1,
        **_counts_parameters(folder, folder.counts()), "p_group_count": row.group_count + groups_added,
        "p_analysis_count": row.analysis_count + analyses_added, "p_time_updated": now, "p_stored_at": now,
        **counted}, rowcount)
    if written != 1:
        raise ConcurrentUpdate(f"{folder.describe()} changed after it was read (version {row.version})")
    yield from add_counts(counted)


# The counts, the log and the idempotency keys

StatusMoves = Sequence[tuple[str | None, str]]
"""Statuses (members, or their spellings as a driver gives them) before and after; None before: a new row."""


def tally(folders: StatusMoves = (), analyses: StatusMoves = ()) -> dict[str, int]:
    """What moves of folders' statuses and analyses' states add to each column of ``statuses_counts``."""
    added: dict[str, int] = {}
    moved = [(FOLDER_COUNTERS[FolderStatus(now)], FOLDER_COUNTERS[FolderStatus(was)] if was else None)
             for was, now in folders]
    moved += [(ANALYSIS_COUNTERS[AnalysisState(now)], ANALYSIS_COUNTERS[AnalysisState(was)] if was else None)
              for was, now in analyses]
    for into, out_of in moved:
        added[into] = added.get(into, 0) + 1
        if out_of is not None:
            added[out_of] = added.get(out_of, 0) - 1
    return added


def count_parameters(folder_id: str, added: dict[str, int]) -> dict[str, int]:
    """The parameters that add ``added`` (see :func:`tally`) to the folder's row of ``statuses_counts``.

    The folder's write takes them (on PostgreSQL it adds them itself: see
    :func:`counting`), then :func:`add_counts`.
    """
    return {"p_shard": count_shard(folder_id),
            **{f"p_{column.name}": added.get(column.name, 0) for column in counts.c if column.name != "shard"}}


def add_counts(counted: dict[str, int]) -> Plan[None]:
    """Add :func:`count_parameters`' counts to their row on SQLite, after the folder's write (PostgreSQL: in it).

    Late in the event, so that the row's lock (on PostgreSQL) is held for the
    rest of it only: till its commit, writers of another folder in the same
    shard (one in :data:`~statuses.store.schema.COUNT_SHARDS`) wait for it, and
    inside a caller's transaction till the caller's commit.
    """
    yield Step(ADD_COUNTS, counted)


def log(key: str | None, now: float, folder_id: str, records: Sequence[Transition],
        arguments: dict[str, Any]) -> Plan[None]:
    """One log row per record, in order: the event's with its ``arguments``, the ``settle`` it caused with none."""
    if not records:
        return
    yield Step(INSERT_LOG, [
        {"p_folder_id": folder_id, "p_entity": record.entity, "p_entity_id": record.id,
         "p_group_id": record.group_id, "p_event": record.event, "p_source": record.source.value,
         "p_dest": record.dest.value, "p_result": record.result.value,
         "p_arguments": json_text(arguments if index == 0 else {}), "p_idempotency_key": key, "p_time": now}
        for index, record in enumerate(records)])


def claim(key: str | None, folder_id: str, entity_id: str, event: str, request: dict[str, Any],
          now: float) -> Plan[list[LogEntry] | None]:
    """Record ``key`` as this event's; if an event took it first, that event's logged outcome.

    The insert waits for a concurrent one of the same key to end, so two
    racing deliveries cannot both claim it.  A key first used for another
    event raises IdempotencyConflict.
    """
    if key is None:
        return None
    claimed = yield Step(CLAIM_KEY, {
        "p_idempotency_key": key, "p_folder_id": folder_id, "p_entity_id": entity_id, "p_event": event,
        "p_request": json_text(request), "p_time": now}, first)
    if claimed is not None:
        return None
    first_use = yield Step(FIRST_USE, {"p_idempotency_key": key}, first)
    if (first_use.entity_id, first_use.event, json_value(first_use.request)) != (entity_id, event, request):
        raise IdempotencyConflict(
            f"{called(event)}: idempotency key {key!r} was first used for {first_use.event} of "
            f"{first_use.entity_id} with {short_repr(json_value(first_use.request), 200)}, not for {event} of "
            f"{entity_id} "
            f"with {short_repr(request, 200)}")
    rows = yield Step(KEYED_LOG, {"p_idempotency_key": key}, every)
    return [LogEntry.from_row(row) for row in rows]


# Reading plans

def folder_row(folder_id: str | sa.ScalarSelect[Any], operation: str, lock: bool = False, shared: bool = False,
               missing: tuple[str, str] | None = None) -> Plan[Any]:
    """The folder's row, locked if asked; NotFound naming ``missing`` (default: the folder) if none."""
    query = sa.select(folders).where(folders.c.folder_id == folder_id)
    if lock:
        query = query.with_for_update(read=shared)
    row = yield Step(query, None, first)
    if row is None:
        kind, entity_id = missing or (FOLDER, str(folder_id))
        raise NotFound(kind, entity_id, operation)
    return row


def load(folder_id: str) -> Plan[Folder]:
    """The whole folder in its stored state, read under a shared lock so that no event is half in it."""
    row = yield from folder_row(folder_id, "load", lock=True, shared=True)
    return (yield from whole_folder(row))


def whole_folder(row: Any) -> Plan[Folder]:
    """The folder of ``row`` with every group and analysis (see :func:`~statuses.store.rows.read_folder`)."""
    members = yield Step(members_query(row.folder_id), None, every)
    return read_folder(row, members)


def history(folder_id: str) -> Plan[list[Transition]]:
    yield from folder_row(folder_id, "history")
    rows = yield Step(sa.select(*LOG_COLUMNS).where(transitions.c.folder_id == folder_id)
                      .order_by(transitions.c.seq), None, every)
    return [transition_of(row) for row in rows]
