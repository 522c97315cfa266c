"""``Store.observe``: a stored folder kept in step with the Oz API's JSON of it, by legal steps only.

Theory of operation
-------------------
A poller reads ``GET /api/folders/{id}/?with_analyses=true`` and hands the
document to :meth:`~statuses.store.Store.observe`.  Before any SQL the
document is read as :func:`statuses.payloads.load_folder` reads it (a bad one
raises its :class:`~statuses.payloads.PayloadError`, naming the path) and
checked for what only the store needs (:func:`read_snapshot`): every analysis
names its ``group_id`` (a group is a row, keyed by it), the ids fit the
store's columns, and every value is one that JSON keeps as it is.  Then, in
one transaction (:func:`observe`):

1. the folder's row is locked and read whole (every group and analysis,
   with their extras, times and key spellings);
2. with an idempotency key, the key is claimed for the event ``observe`` of
   the folder, with a SHA-256 of the snapshot as read as its request: a key
   claimed before returns the moves its first call logged, and writes nothing;
3. the stored folder, restored in memory, takes the snapshot by
   :func:`statuses.payloads.observe` (that is, :meth:`~statuses.Folder.catch_up`):
   the same plan, rehearsal, machines and refusals as in memory, and the same
   record fields adopted (times, extras, spellings).  A folder the store does
   not hold yet is a new INITIAL folder of that id, caught up the same way,
   so that its log and :meth:`~statuses.store.Store.history` tell the moves
   that got it there (the API's ``submit`` of each group, the ends, the
   ``settle`` they caused);
4. what changed is written: the new groups and analyses, each analysis whose
   record changed (``WHERE state`` is still the one read), the groups'
   counts, the folder's row (statuses, counts, record, ``version + 1`` ``WHERE
   version`` is still the one read) and one log row per move, with the
   arguments the other events log.  A snapshot that changes nothing (a stale
   one, the same one again) writes nothing but its key's claim, if it has
   one (so that a replay answers as the first call did), and returns ``[]``.

A refused snapshot (``IllegalTransition``, ``PayloadError``) rolls back,
the key's claim with it.  The moves are delivered to the listeners once the
transaction has committed, as for every event (:mod:`statuses.store.store`).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from ..analysis import Analysis
from ..enums import FolderStatus, Resolution
from ..errors import InvalidArgument
from ..folder import Folder, Group, GroupCounts
from ..listeners import Transition
from ..payloads import dump_folder, load_folder
from ..payloads import observe as observe_in_memory
from ..settings import Settings
from ..values import describe_value
from .errors import AlreadyExists, ConcurrentUpdate, called
from .operations import (
    FINISH_GROUP,
    INSERT_ANALYSIS,
    INSERT_FOLDER,
    INSERT_GROUP,
    INSERT_LOG,
    Moved,
    Plan,
    add_counts,
    claim,
    count_parameters,
    counting,
    tally,
    whole_folder,
)
from .replay import taken
from .rows import settings_json
from .schema import analyses, folders, groups
from .statements import Prepared, Step, every, first, json_text, rowcount

EVENT = "observe"
"""The event an idempotency key of ``observe`` is claimed for."""

DEEPEST = 100
"""How deep a snapshot's values may nest: the store writes and reads them as JSON text, which recursion bounds."""


@attrs.frozen
class Snapshot:
    """A snapshot read and checked before any SQL: the folder it is of, and the request a key records."""

    folder_id: str
    document: Mapping[str, Any]
    request: dict[str, str]
    """What identifies the snapshot as read, for an idempotency key: a SHA-256 of its canonical JSON."""
    ids: tuple[tuple[str, str], ...]
    """Each id the document gives, with its path (``snapshot.analyses[0].group_id``): for the store's checks."""


def read_snapshot(snapshot: object, settings: Settings) -> Snapshot:
    """Read ``snapshot`` as :meth:`Store.observe` does before any SQL, and check what only the store needs.

    :class:`~statuses.payloads.PayloadError` for what the JSON layer refuses;
    :class:`~statuses.InvalidArgument` for an analysis without its
    ``group_id`` (a group is a row, keyed by it) or a value JSON does not
    keep as it is.  The ids are checked against the store's columns by the
    caller (:func:`statuses.store.calls.observe`).
    """
    remote = load_folder(snapshot, settings=settings)
    assert isinstance(snapshot, Mapping)  # load_folder reads nothing else
    ids = [("snapshot.folder_id", remote.folder_id)]
    for index, item in enumerate(snapshot["analyses"]):
        where = f"snapshot.analyses[{index}]"
        ids += [(f"{where}.{key}", item[key]) for key in ("analyse_id", "analysis_id", "group_id")
                if item.get(key) is not None]
        if item.get("group_id") is None:
            raise InvalidArgument(called("observe"), f"{where}.group_id", "is missing: the store keeps each "
                                  "analysis in its group, by the API's group_id (ask the API for it)")
    # The document and its analyses are read into dicts of their own; the values in them are kept as they are.
    fields = [(value, f".{key}") for key, value in snapshot.items() if key != "analyses"]
    fields += [(value, f".analyses[{index}].{key}") for index, item in enumerate(snapshot["analyses"])
               for key, value in item.items()]
    for value, path in fields:
        problem = _not_json(value, path)
        if problem is not None:
            raise InvalidArgument(called("observe"), f"snapshot{problem[0]}", problem[1])
    # The snapshot as read identifies the request: spellings of one value (case, ISO or Unix times) are one request.
    text = json.dumps(dump_folder(remote), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return Snapshot(remote.folder_id, snapshot, {"snapshot_sha256": hashlib.sha256(text.encode()).hexdigest()},
                    tuple(ids))


def _not_json(value: object, path: str) -> tuple[str, str] | None:
    """Where in ``value`` (at ``path``) the first value is that JSON does not keep as it is, and why; None if none.

    Walked without recursion, so that no nesting is too deep to say where.
    """
    stack: list[tuple[object, str, int]] = [(value, path, 1)]
    while stack:
        value, path, depth = stack.pop()
        if value is None or isinstance(value, (str, bool)):
            continue
        if isinstance(value, int):
            try:
                int.__repr__(value)
            except ValueError:
                return path, f"{describe_value(value)} has too many digits to be written as JSON"
            continue
        if isinstance(value, float):
            if not math.isfinite(value):
                return path, f"{describe_value(value)} is no JSON number"
            continue
        if isinstance(value, (dict, list)) and depth > DEEPEST:
            return path, f"nests deeper than {DEEPEST} levels, which the store does not keep"
        if isinstance(value, dict):
            for key, item in reversed(value.items()):
                if not isinstance(key, str):
                    return path, f"key {describe_value(key)} is not a string: JSON would read it back as one"
                stack.append((item, f"{path}.{key}", depth + 1))
            continue
        if isinstance(value, list):
            stack.extend((item, f"{path}[{index}]", depth + 1) for index, item in reversed(list(enumerate(value))))
            continue
        if isinstance(value, tuple):
            return path, f"{describe_value(value)}: JSON has no tuples, and would read it back as a list"
        return path, f"{describe_value(value)} is no JSON value"
    return None


# The statements only observe runs

def _bound(*columns: sa.Column[Any]) -> dict[str, sa.BindParameter[Any]]:
    return {column.name: sa.bindparam(f"p_{column.name}", type_=column.type) for column in columns}


# Core, not prepared: the driver's JSON (text on SQLite) is read by SQLAlchemy, as read_folder expects.
LOCK_WHOLE_FOLDER = sa.select(folders).where(folders.c.folder_id == sa.bindparam("p_folder_id")).with_for_update()
WRITE_FOLDER_RECORD = Prepared(counting(
    folders.update()
    .where(folders.c.folder_id == sa.bindparam("p_folder_id"), folders.c.version == sa.bindparam("p_read_version"))
    .values(_bound(*(folders.c[name] for name in (
        "resolution_status", "system_resolution", "in_progress", "last_group_id", "last_finished_order",
        "last_result", "group_count", "analysis_count", "version", "time_created", "time_updated", "extra",
        "stored_at"))))))
WRITE_ANALYSIS_RECORD = Prepared(
    analyses.update()
    .where(analyses.c.analyse_id == sa.bindparam("p_analyse_id"), analyses.c.state == sa.bindparam("p_was"))
    .values(_bound(*(analyses.c[name] for name in (
        "state", "resolution_status", "failure_reason", "time_created", "time_updated", "extra", "spellings")))))


# The plan

def observe(snapshot: Snapshot, settings: Settings, key: str | None) -> Plan[Moved[list[Transition]]]:
    """Keep the stored folder of ``snapshot`` in step with it; see the module's theory of operation."""
    folder_id = snapshot.folder_id
    row = yield Step(LOCK_WHOLE_FOLDER, {"p_folder_id": folder_id}, first)
    now = time.time()
    if row is None:
        return (yield from _create(snapshot, settings, key, now))
    replayed = yield from claim(key, folder_id, folder_id, EVENT, snapshot.request, now)
    if replayed is not None:
        return [entry.transition for entry in replayed], []
    folder = yield from whole_folder(row)
    before = _Before.of(folder)
    _, records = taken(folder, lambda: observe_in_memory(folder, snapshot.document))
    if not records and before == _Before.of(folder):
        return [], []  # stale, or the record the store holds: nothing to write
    new = before.new_of(folder)
    yield from _check_new_ids(folder_id, new)
    counted = count_parameters(folder_id, _tally(folder, before, row.resolution_status))
    written = yield Step(WRITE_FOLDER_RECORD, {
        "p_folder_id": folder_id, "p_read_version": row.version, "p_version": row.version + 1,
        **_folder_parameters(folder, row.group_count + len(new.groups), row.analysis_count + len(new.analyses),
                             now), **counted}, rowcount)
    if written != 1:
        raise ConcurrentUpdate(f"{folder.describe()} changed after it was read (version {row.version})")
    yield from _write_members(folder, before, new, row.group_count, row.analysis_count)
    yield from add_counts(counted)
    yield from _log(key, now, folder, records)
    return records, records


def _create(snapshot: Snapshot, settings: Settings, key: str | None, now: float) -> Plan[Moved[list[Transition]]]:
    """A folder the store does not hold: a new INITIAL one of the snapshot's id, caught up to it, stored."""
    folder = Folder(settings=settings, folder_id=snapshot.folder_id)
    before = _Before.of(folder)
    _, records = taken(folder, lambda: observe_in_memory(folder, snapshot.document))
    new = before.new_of(folder)
    yield from _check_new_ids(folder.folder_id, new)
    # Two workers creating one folder: the second insert waits for the first, fails, and is retried.
    counted = count_parameters(folder.folder_id, _tally(folder, before, None))
    yield Step(INSERT_FOLDER, {
        "p_folder_id": folder.folder_id, "p_settings": json_text(settings_json(settings)), "p_version": 1,
        **_folder_parameters(folder, len(new.groups), len(new.analyses), now), **counted})
    if (yield from claim(key, folder.folder_id, folder.folder_id, EVENT, snapshot.request, now)) is not None:
        # A claim names a stored folder, and this one was not stored when read: a race to repeat.
        raise ConcurrentUpdate(f"{folder.describe()} was stored while this operation ran")
    yield from _write_members(folder, before, new, 0, 0)
    yield from add_counts(counted)
    yield from _log(key, now, folder, records)
    return records, records


@attrs.frozen
class _New:
    groups: list[Group]
    analyses: list[Analysis]


@attrs.frozen
class _Before:
    """What the store holds of a folder before the snapshot: to write only what it changed."""

    folder: tuple[Any, ...]
    groups: dict[str, GroupCounts]
    analyses: dict[str, tuple[Any, ...]]

    @classmethod
    def of(cls, folder: Folder) -> _Before:
        return cls(_folder_record(folder),
                   {counts.group_id: counts for counts in (group.counts() for group in folder.groups)},
                   {analysis.analyse_id: _analysis_record(analysis) for analysis in folder.analyses})

    def new_of(self, folder: Folder) -> _New:
        """The groups and analyses ``folder`` has that were not there before, in submit order."""
        return _New([group for group in folder.groups if group.group_id not in self.groups],
                    [analysis for analysis in folder.analyses if analysis.analyse_id not in self.analyses])


def _folder_record(folder: Folder) -> tuple[Any, ...]:
    return (folder.resolution_status, folder.system_resolution, folder.time_created, folder.time_updated,
            json_text(folder.extra))


def _analysis_record(analysis: Analysis) -> tuple[Any, ...]:
    return (analysis.state, analysis.resolution_status, analysis.failure_reason, analysis.time_created,
            analysis.time_updated, json_text(analysis.extra), analysis.spellings)


def _folder_parameters(folder: Folder, group_count: int, analysis_count: int, now: float) -> dict[str, Any]:
    counts = folder.counts()
    return {"p_resolution_status": folder.resolution_status.value,
            "p_system_resolution": folder.system_resolution.value, "p_in_progress": counts.in_progress,
            "p_last_group_id": counts.last_group_id, "p_last_finished_order": counts.last_finished_order,
            "p_last_result": None if counts.last_result is None else counts.last_result.value,
            "p_group_count": group_count,
            "p_analysis_count": analysis_count, "p_time_created": folder.time_created,
            "p_time_updated": folder.time_updated, "p_extra": json_text(folder.extra), "p_stored_at": now}


def _check_new_ids(folder_id: str, new: _New) -> Plan[None]:
    """AlreadyExists if a new group's or analysis's id is another folder's in the store (ids are the API's)."""
    for table, id_column, kind, ids in (
            (groups, groups.c.group_id, "group", [group.group_id for group in new.groups]),
            (analyses, analyses.c.analyse_id, "analysis", [analysis.analyse_id for analysis in new.analyses])):
        if not ids:
            continue
        taken_ids = yield Step(sa.select(id_column, table.c.folder_id).where(id_column.in_(ids))
                               .order_by(id_column), None, every)
        if taken_ids:
            entity_id, owner = taken_ids[0]
            if owner == folder_id:  # stored by another worker since this one found no folder: a race to repeat
                raise ConcurrentUpdate(f"Folder {folder_id} was stored while this operation ran")
            raise AlreadyExists(f"{called('observe')}: the snapshot of folder {folder_id!r} has {kind} {entity_id!r}, "
                                f"which the store holds already in folder {owner!r}")


def _write_members(folder: Folder, before: _Before, new: _New, group_count: int,
                   analysis_count: int) -> Plan[None]:
    """The new groups and analyses, the analyses whose record changed, the counts of the groups that moved."""
    folder_id = folder.folder_id
    if new.groups:
        yield Step(INSERT_GROUP, [{
            "p_group_id": counts.group_id, "p_folder_id": folder_id, "p_position": group_count + index,
            "p_finished_order": counts.finished_order, "p_in_progress": counts.in_progress,
            "p_worst_ended": counts.worst_ended.value,
        } for index, counts in enumerate(group.counts() for group in new.groups)])
    if new.analyses:
        yield Step(INSERT_ANALYSIS, [{
            "p_analyse_id": analysis.analyse_id, "p_folder_id": folder_id, "p_group_id": _group_of(analysis),
            "p_position": analysis_count + index, "p_type": analysis.type.value,
            **_analysis_parameters(analysis),
        } for index, analysis in enumerate(new.analyses)])
    for analysis in folder.analyses:
        was = before.analyses.get(analysis.analyse_id)
        if was is None or was == _analysis_record(analysis):
            continue
        written = yield Step(WRITE_ANALYSIS_RECORD, {"p_analyse_id": analysis.analyse_id, "p_was": was[0].value,
                                                     **_analysis_parameters(analysis)}, rowcount)
        if written != 1:
            raise ConcurrentUpdate(f"{analysis.describe()} changed while this operation ran")
    for group in folder.groups:
        counts = group.counts()
        if counts.group_id in before.groups and before.groups[counts.group_id] != counts:
            yield Step(FINISH_GROUP, {"p_group_id": counts.group_id, "p_in_progress": counts.in_progress,
                                     "p_worst_ended": counts.worst_ended.value,
                                     "p_finished_order": counts.finished_order})


def _tally(folder: Folder, before: _Before, stored: FolderStatus | None) -> dict[str, int]:
    """What the folder's moves add to the counts: its status from ``stored`` (None: new), its analyses' states."""
    was = {analysis_id: record[0] for analysis_id, record in before.analyses.items()}
    return tally(folders=[(stored, folder.resolution_status)],
                 analyses=[(was.get(analysis.analyse_id), analysis.state) for analysis in folder.analyses])


def _group_of(analysis: Analysis) -> str:
    group_id = analysis.group.group_id if analysis.group is not None else None
    assert group_id is not None  # read_snapshot refuses analyses without group_id
    return group_id


def _analysis_parameters(analysis: Analysis) -> dict[str, Any]:
    return {"p_state": analysis.state.value, "p_resolution_status": analysis.resolution_status.value,
            "p_failure_reason": analysis.failure_reason, "p_time_created": analysis.time_created,
            "p_time_updated": analysis.time_updated, "p_extra": json_text(analysis.extra),
            "p_spellings": None if analysis.spellings is None else json_text(list(analysis.spellings))}


def _log(key: str | None, now: float, folder: Folder, records: Sequence[Transition]) -> Plan[None]:
    """One log row per move, each with its event's arguments as the other events log them."""
    if not records:
        return
    by_id = {group.group_id: group for group in folder.groups}
    yield Step(INSERT_LOG, [
        {"p_folder_id": folder.folder_id, "p_entity": record.entity, "p_entity_id": record.id,
         "p_group_id": record.group_id, "p_event": record.event, "p_source": record.source.value,
         "p_dest": record.dest.value, "p_result": record.result.value,
         "p_arguments": json_text(_arguments(record, by_id)), "p_idempotency_key": key, "p_time": now}
        for record in records])


def _arguments(record: Transition, groups_by_id: Mapping[str | None, Group]) -> dict[str, Any]:
    if record.event == "submit":
        members = groups_by_id[record.group_id].analyses
        return {"types": [analysis.type.value for analysis in members], "group_id": record.group_id,
                "analysis_ids": [analysis.analyse_id for analysis in members]}
    if record.event == "finish":
        verdict = record.argument
        return {"verdict": verdict.value if isinstance(verdict, Resolution) else verdict}
    if record.event == "fail":
        return {"reason": record.argument}
    return {}
