"""The hand-written baseline: what a careful engineer writes without a machine library.

A dict ``(state, event) -> target`` for each machine, plain attribute sets,
and the same checks as ``statuses`` (legal (state, result) pairs, the verdict
guards, the QUALITY rule, incremental group and folder consolidation).  The
analysis is a bare attrs slots class with the same fields as
:class:`statuses.Analysis`, so it is also the reference for memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from statuses.analysis import new_id  # ids cost the same in both: they are not what is compared

TYPES = {"BIOMETRY", "QUALITY", "DOCUMENTS", "COLLECTION"}
VERDICTS = ("SUCCESS", "DECLINED", "OPERATOR_REQUIRED")
ANALYSIS_EDGES = {("PROCESSING", "finish"): "FINISHED", ("PROCESSING", "fail"): "FAILED"}
LEGAL_PAIRS = {("PROCESSING", "PROCESSING"), ("FAILED", "FAILED")} | {("FINISHED", v) for v in VERDICTS}
FOLDER_PAIRS = {("INITIAL", "INITIAL"), ("PROCESSING", "PROCESSING"), ("FAILED", "FAILED")} | {
    ("FINISHED", v) for v in VERDICTS
}
RANK = {name: rank for rank, name in enumerate(
    ("INITIAL", "PROCESSING", "FAILED", "DECLINED", "OPERATOR_REQUIRED", "SUCCESS"))}


class Illegal(ValueError):
    """The baseline's refusal: the entity, its state and the event, in words."""


@attrs.define(eq=False, weakref_slot=False)  # as Analysis
class BareAnalysis:
    """A bare attrs slots class with the fields of :class:`statuses.Analysis`."""

    type: str
    settings: object
    state: str
    resolution_status: str
    analyse_id: str
    failure_reason: str | None = None
    folder_id: str | None = None
    time_created: float | None = None
    time_updated: float | None = None
    extra: dict[str, Any] | None = None
    spellings: tuple[str, ...] | None = None
    group: HandGroup | None = None


@attrs.define(eq=False)
class HandGroup:
    folder: HandFolder
    analyses: list[BareAnalysis]
    group_id: str | None
    in_progress: int = 0
    worst: str = "SUCCESS"
    finished_order: int | None = None


@attrs.define(eq=False)
class HandFolder:
    folder_id: str
    operator_required: bool = False
    resolution_status: str = "INITIAL"
    system_resolution: str = "INITIAL"
    groups: list[HandGroup] = attrs.Factory(list)
    in_progress: int = 0
    last_finished: HandGroup | None = None


def restore(row: Sequence[str]) -> BareAnalysis:
    """An analysis from a stored row ``(id, type, state, resolution_status)``, checked."""
    analyse_id, kind, state, resolution = row
    if kind not in TYPES or (state, resolution) not in LEGAL_PAIRS:
        raise Illegal(f"Analysis {analyse_id}: state {state} cannot have resolution_status {resolution}")
    if resolution == "OPERATOR_REQUIRED" and kind == "QUALITY":
        raise Illegal(f"Analysis {analyse_id}: OPERATOR_REQUIRED is never the verdict of a QUALITY analysis")
    return BareAnalysis(kind, None, state, resolution, analyse_id)


def new_analysis(kind: str) -> BareAnalysis:
    """A new PROCESSING analysis with a fresh id, its type checked: what ``Analysis(type=...)`` does."""
    if kind not in TYPES:
        raise Illegal(f"{kind!r} is not an analysis type")
    return BareAnalysis(kind, None, "PROCESSING", "PROCESSING", new_id())


def submit(folder: HandFolder, types: Sequence[str]) -> HandGroup:
    if not types:
        raise Illegal(f"Folder {folder.folder_id}: a group needs one analysis or more")
    group = HandGroup(folder, [], new_id(), len(types))
    group.analyses = [BareAnalysis(kind, None, "PROCESSING", "PROCESSING", new_id(), group=group)
                      for kind in types]
    folder.groups.append(group)
    folder.in_progress += len(types)
    folder.resolution_status = folder.system_resolution = "PROCESSING"
    return group


def _move(analysis: BareAnalysis, event: str) -> None:
    target = ANALYSIS_EDGES.get((analysis.state, event))
    if target is None:
        raise Illegal(f"Analysis {analysis.analyse_id} ({analysis.type}) is {analysis.state}: "
                      f"event {event!r} has no edge from {analysis.state}")
    analysis.state = target


def finish(analysis: BareAnalysis, verdict: str) -> None:
    if (analysis.state, "finish") in ANALYSIS_EDGES:
        if verdict not in VERDICTS:
            raise Illegal(f"Analysis {analysis.analyse_id}: {verdict!r} is not a verdict")
        if verdict == "OPERATOR_REQUIRED":
            group = analysis.group
            if analysis.type == "QUALITY" or group is None or not group.folder.operator_required:
                raise Illegal(f"Analysis {analysis.analyse_id}: OPERATOR_REQUIRED is not allowed here")
    _move(analysis, "finish")
    analysis.resolution_status = verdict
    _ended(analysis)


def fail(analysis: BareAnalysis, reason: str | None = None) -> None:
    _move(analysis, "fail")
    analysis.resolution_status = "FAILED"
    analysis.failure_reason = reason
    _ended(analysis)


def _ended(analysis: BareAnalysis) -> None:
    group = analysis.group
    if group is not None and note_end(group, analysis.resolution_status):
        folder = group.folder
        result = folder.last_finished.worst if folder.last_finished else "FAILED"
        folder.resolution_status = "FAILED" if result == "FAILED" else "FINISHED"
        folder.system_resolution = result


def note_end(group: Any, result: str) -> bool:
    """Count one ended analysis in its group and folder; True when the folder has none left running."""
    group.in_progress -= 1
    if RANK[result] < RANK[group.worst]:
        group.worst = result
    folder = group.folder
    folder.in_progress -= 1
    if not group.in_progress:
        previous = folder.last_finished
        group.finished_order = 1 if previous is None else (previous.finished_order or 0) + 1
        folder.last_finished = group
    return not folder.in_progress


# Bulk loading: the checks of statuses.payloads, written by hand for this one shape.

ALIASES = {"analysis_id": "analyse_id", "resolution": "resolution_status"}
_UPPER = {name.lower(): name for name in (*TYPES, "PROCESSING", "FAILED", "FINISHED", "INITIAL", *VERDICTS)}
_UPPER["liveness"] = "QUALITY"


def _spelling(value: object, allowed: set[str] | frozenset[str], where: str) -> str:
    if isinstance(value, str):
        upper = _UPPER.get(value.lower())
        if upper in allowed:
            return upper
    raise Illegal(f"{where}: {value!r} is not one of {', '.join(sorted(allowed))}")


_STATES = frozenset({"PROCESSING", "FAILED", "FINISHED"})
_RESULTS = frozenset(RANK)
_FOLDER_STATES = frozenset({"INITIAL", "PROCESSING", "FAILED", "FINISHED"})


def _time(value: object, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise Illegal(f"{where}: {value!r} is not Unix seconds")
    return float(value)


def load_folder(doc: Mapping[str, Any]) -> HandFolder:
    """A folder with its analyses from the API's JSON, every value and the tables checked."""
    folder_id = doc["folder_id"]
    status = _spelling(doc["resolution_status"], _FOLDER_STATES, "resolution_status")
    result = _spelling(doc["system_resolution"], _RESULTS, "system_resolution")
    if (status, result) not in FOLDER_PAIRS:
        raise Illegal(f"{status} folder cannot have system_resolution {result}")
    folder = HandFolder(folder_id, False, status, result)
    groups: dict[str | None, HandGroup] = {}
    seen: set[str] = set()
    running = 0
    for index, raw in enumerate(doc["analyses"]):
        fields = {ALIASES.get(key, key): value for key, value in raw.items()}
        where = f"analyses[{index}]"
        kind = _spelling(fields["type"], TYPES, where)
        state = _spelling(fields["state"], _STATES, where)
        resolution = _spelling(fields["resolution_status"], _RESULTS, where)
        analyse_id = fields["analyse_id"]
        if not isinstance(analyse_id, str) or analyse_id in seen:
            raise Illegal(f"{where}.analyse_id: {analyse_id!r} is repeated or not a string")
        seen.add(analyse_id)
        if (state, resolution) not in LEGAL_PAIRS or (resolution == "OPERATOR_REQUIRED" and kind == "QUALITY"):
            raise Illegal(f"{where}: state {state} cannot have resolution_status {resolution}")
        if fields.get("folder_id") not in (None, folder_id):
            raise Illegal(f"{where}.folder_id: not the folder's id")
        extra = {key: value for key, value in raw.items() if key not in _ANALYSIS_KEYS}
        analysis = BareAnalysis(kind, None, state, resolution, analyse_id, None, fields.get("folder_id"),
                                _time(fields.get("time_created"), where), _time(fields.get("time_updated"), where),
                                extra or None)
        group_id = fields.get("group_id")
        group = groups.get(group_id)
        if group is None:
            group = groups[group_id] = HandGroup(folder, [], group_id)
            folder.groups.append(group)
        group.analyses.append(analysis)
        analysis.group = group
        if state == "PROCESSING":
            group.in_progress += 1
            running += 1
        elif RANK[resolution] < RANK[group.worst]:
            group.worst = resolution
    folder.in_progress = running
    if (status == "PROCESSING") != bool(running):
        raise Illegal(f"resolution_status {status} but {running} analyses are PROCESSING")
    finished = [(max(a.time_updated or 0.0 for a in g.analyses), i, g)
                for i, g in enumerate(folder.groups) if not g.in_progress]
    for _, _, group in sorted(finished, key=lambda item: item[:2]):
        previous = folder.last_finished
        group.finished_order = 1 if previous is None else (previous.finished_order or 0) + 1
        folder.last_finished = group
    if not running and folder.last_finished is not None and folder.last_finished.worst != result:
        raise Illegal(f"system_resolution {result} but the last-finished group has {folder.last_finished.worst}")
    return folder


_ANALYSIS_KEYS = frozenset({"analyse_id", "analysis_id", "type", "state", "resolution_status", "resolution",
                            "folder_id", "group_id", "time_created", "time_updated"})
