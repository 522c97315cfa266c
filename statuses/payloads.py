"""The API's JSON: read folders and analyses as the Oz API returns them, and write them back.

Theory of operation
-------------------
Reading happens in three passes over the document, each linear in its size:

1. *shape*: the document must be an object with the expected keys; the
   spellings seen in the wild are folded into the API's own (``analysis_id``
   → ``analyse_id``, ``resolution`` → ``resolution_status``), and every key
   this package does not model is set aside, to be written back unchanged;
2. *values*: cattrs structures each object into a small record class, with
   hooks that accept lower-case enum values, ``"liveness"``, and Unix-second
   or ISO 8601 timestamps; its detailed validation gives the JSON path of
   every bad value;
3. *consistency*: the spec's tables are checked on the records (legal pairs,
   a folder PROCESSING exactly while an analysis is, and, where ``group_id``
   and ``time_updated`` decide it, ``system_resolution`` equal to the
   last-finished group's result).

Every problem of every pass is collected with its path; if there is any, one
:class:`PayloadError` lists them all.  Only then are the entities built, in
their recorded state, without replaying events.

The normal form written by :func:`dump_folder` / :func:`dump_analysis`: the
API's key spellings, upper-case values, timestamps in Unix seconds (an ``int``
when whole), ``folder_id`` on every analysis, ``group_id`` only where known,
modelled keys first in the API's order, then the others as they came.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from typing import Any, NewType

import attrs
import cattrs

from .analysis import ANALYSIS_MACHINE, Analysis, restore_problem
from .enums import AnalysisState, AnalysisType, ApiEnum, FolderStatus, Resolution
from .values import short_repr
from .errors import IllegalTransition
from .folder import FOLDER_DEFINITION, FOLDER_MACHINE, Folder
from .settings import DEFAULT_SETTINGS, Settings

Timestamp = NewType("Timestamp", float)
"""Unix seconds; read from a number or an ISO 8601 string."""


@attrs.frozen
class Problem:
    """One thing wrong with a document, and where (a JSON path such as ``analyses[2].state``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PayloadError(ValueError):
    """A document that is not a consistent folder or analysis; lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the payload:\n{lines}")


@attrs.frozen
class AnalysisRecord:
    """An analysis as the API writes it, after spelling is normalised."""

    analyse_id: str
    type: AnalysisType
    state: AnalysisState
    resolution_status: Resolution
    folder_id: str | None = None
    group_id: str | None = None
    time_created: Timestamp | None = None
    time_updated: Timestamp | None = None


@attrs.frozen
class FolderRecord:
    """A folder as the API writes it, without its analyses."""

    folder_id: str
    resolution_status: FolderStatus
    system_resolution: Resolution
    time_created: Timestamp | None = None
    time_updated: Timestamp | None = None


ANALYSIS_KEYS = tuple(field.name for field in attrs.fields(AnalysisRecord))
FOLDER_KEYS = tuple(field.name for field in attrs.fields(FolderRecord))
ALIASES = {"analysis_id": "analyse_id", "resolution": "resolution_status"}
"""Spellings seen in the wild -> the API's own; only on analyses."""


def _structure_enum(value: Any, kind: type[ApiEnum]) -> ApiEnum:
    exact = _EXACT_SPELLINGS[kind].get(value) if value.__class__ is str else None
    return exact if exact is not None else kind.parse(value)


_EXACT_SPELLINGS: dict[type[ApiEnum], dict[str, ApiEnum]] = {
    kind: {member.value: member for member in kind} for kind in (AnalysisType, AnalysisState, FolderStatus, Resolution)
}
"""The API's own spellings, read with one lookup; others (lower case, ``liveness``) go through ``parse``."""


def _structure_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_describe_value(value)}")
    if not value:
        raise ValueError("expected a non-empty string")
    return value


def _structure_timestamp(value: Any, _: type) -> Timestamp:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected Unix seconds or an ISO 8601 string, got {_describe_value(value)}")
    if isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{short_repr(value)} is not an ISO 8601 timestamp") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        return Timestamp(moment.timestamp())
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{value!r} is not a time in Unix seconds")
    return Timestamp(float(value))


def _converter() -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=True)
    for kind in (AnalysisType, AnalysisState, FolderStatus, Resolution):
        converter.register_structure_hook(kind, _structure_enum)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(Timestamp, _structure_timestamp)
    converter.register_unstructure_hook(ApiEnum, lambda member: member.value)
    return converter


CONVERTER = _converter()


def _describe_value(value: object) -> str:
    kind = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return kind.get(type(value), f"{type(value).__name__} {short_repr(value)}")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


class _Reader:
    """Collects the problems of one document while reading it."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def split(self, obj: Mapping[str, Any], known: tuple[str, ...], path: str,
              aliases: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``obj``'s modelled keys (aliases folded) and its other keys."""
        modelled: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                self.problem(path, f"key {short_repr(key)} is not a string")
                continue
            name = aliases.get(key, key)
            if name in known:
                if name in modelled and modelled[name] != value:
                    self.problem(_join(path, key), f"conflicts with {name}: {short_repr(modelled[name])}")
                modelled[name] = value
            else:
                extra[key] = value
        return modelled, extra

    def structure(self, fields: dict[str, Any], record: type[Any], path: str) -> Any:
        """``fields`` as a ``record``, or None with its problems noted; a null optional field is absent."""
        optional = _OPTIONAL[record]
        fields = {key: value for key, value in fields.items() if not (value is None and key in optional)}
        try:
            return CONVERTER.structure(fields, record)
        except (cattrs.BaseValidationError, ValueError, TypeError) as error:
            for message in cattrs.transform_error(error, path="$", format_exception=_format_exception):
                text, _, where = message.rpartition(" @ $")
                where = where.lstrip(".")
                self.problem(_join(path, where) if where else path, text)
            return None


def _format_exception(error: BaseException, kind: type | None) -> str:
    if isinstance(error, KeyError):
        return "required field missing"
    if isinstance(error, ValueError) and str(error):
        return str(error)
    return f"invalid value ({error})"


def _read_analysis(reader: _Reader, obj: object, path: str) -> tuple[AnalysisRecord, dict[str, Any]] | None:
    if not isinstance(obj, Mapping):
        reader.problem(path, f"expected an object, got {_describe_value(obj)}")
        return None
    fields, extra = reader.split(obj, ANALYSIS_KEYS, path, ALIASES)
    record = reader.structure(fields, AnalysisRecord, path)
    if record is None:
        return None
    problem = restore_problem(record.type, record.state, record.resolution_status)
    if problem is not None:
        reader.problem(_join(path, "resolution_status"), problem)
    return record, extra


_OPTIONAL: dict[type[Any], frozenset[str]] = {
    record: frozenset(field.name for field in attrs.fields(record) if field.default is None)
    for record in (AnalysisRecord, FolderRecord)
}
"""Each record's optional fields: a null there reads as absent."""


def _analysis_entity(record: AnalysisRecord, extra: dict[str, Any], settings: Settings) -> Analysis:
    # restore(): the record's members take its one-lookup path instead of the constructor's converters.
    return Analysis.restore(
        type=record.type, settings=settings, state=record.state, resolution_status=record.resolution_status,
        analyse_id=record.analyse_id, folder_id=record.folder_id, time_created=record.time_created,
        time_updated=record.time_updated, extra=extra or None,
    )


def load_analysis(obj: object, *, settings: Settings = DEFAULT_SETTINGS) -> Analysis:
    """A standalone :class:`Analysis` restored from the API's JSON; :class:`PayloadError` if bad."""
    reader = _Reader()
    read = _read_analysis(reader, obj, "")
    if reader.problems or read is None:
        raise PayloadError(reader.problems)
    record, extra = read
    if record.group_id is not None:  # no Group to hold it: kept with the fields not modelled
        extra = {"group_id": record.group_id, **extra}
    return _analysis_entity(record, extra, settings)


def load_folder(obj: object, *, settings: Settings = DEFAULT_SETTINGS) -> Folder:
    """A :class:`Folder` restored, with its groups and analyses, from the API's JSON.

    ``obj`` is what ``GET /api/folders/{id}/?with_analyses=true`` returns.
    Raises :class:`PayloadError` listing every problem found.
    """
    reader = _Reader()
    folder = _read_folder(reader, obj, "", settings)
    if reader.problems or folder is None:
        raise PayloadError(reader.problems)
    return folder


def _read_folder(reader: _Reader, obj: object, path: str, settings: Settings) -> Folder | None:
    if not isinstance(obj, Mapping):
        reader.problem(path, f"expected a folder object, got {_describe_value(obj)}")
        return None
    fields, extra = reader.split(obj, (*FOLDER_KEYS, "analyses"), path, {})
    raw_analyses = fields.pop("analyses", None)
    record: FolderRecord | None = reader.structure(fields, FolderRecord, path)
    analyses_path = _join(path, "analyses")
    if raw_analyses is None:
        reader.problem(analyses_path, "required field missing (ask the API with with_analyses=true)")
        return None
    if not isinstance(raw_analyses, list):
        reader.problem(analyses_path, f"expected a list, got {_describe_value(raw_analyses)}")
        return None
    records: list[tuple[AnalysisRecord, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    problems_before = len(reader.problems)
    for index, raw in enumerate(raw_analyses):
        item_path = f"{analyses_path}[{index}]"
        read = _read_analysis(reader, raw, item_path)
        if read is None:
            continue
        analysis = read[0]
        if analysis.analyse_id in seen:
            reader.problem(_join(item_path, "analyse_id"),
                           f"{analysis.analyse_id!r} is also analyses[{seen[analysis.analyse_id]}]")
        seen.setdefault(analysis.analyse_id, index)
        if record is not None and analysis.folder_id not in (None, record.folder_id):
            reader.problem(_join(item_path, "folder_id"),
                           f"{analysis.folder_id!r} is not the folder's id {record.folder_id!r}")
        records.append(read)
    if record is None or len(records) != len(raw_analyses):
        return None
    analyses_consistent = len(reader.problems) == problems_before
    _check_folder(reader, record, [r for r, _ in records], path, analyses_consistent)
    if reader.problems:
        return None
    groups: dict[str | None, list[Analysis]] = {}
    for analysis_record, analysis_extra in records:
        groups.setdefault(analysis_record.group_id, []).append(
            _analysis_entity(analysis_record, analysis_extra, settings))
    return Folder.restore(
        folder_id=record.folder_id, resolution_status=record.resolution_status,
        system_resolution=record.system_resolution, groups=list(groups.items()), settings=settings,
        time_created=record.time_created, time_updated=record.time_updated, extra=extra or None,
    )


def folder_problems(obj: object, path: str = "") -> list[Problem]:
    """Every problem of one folder document (empty when it is consistent)."""
    reader = _Reader()
    _read_folder(reader, obj, path, DEFAULT_SETTINGS)
    return reader.problems


def document_problems(document: object) -> list[Problem]:
    """Problems of a document holding one folder, a list of them, or ``{"items": [...]}``."""
    if isinstance(document, list):
        return [p for index, item in enumerate(document) for p in folder_problems(item, f"folders[{index}]")]
    if isinstance(document, Mapping) and "items" in document and "folder_id" not in document:
        items = document["items"]
        if not isinstance(items, list):
            return [Problem("items", f"expected a list, got {_describe_value(items)}")]
        return [p for index, item in enumerate(items) for p in folder_problems(item, f"items[{index}]")]
    return folder_problems(document)


def _check_folder(reader: _Reader, folder: FolderRecord, analyses: list[AnalysisRecord], path: str,
                  analyses_consistent: bool) -> None:
    status, result = folder.resolution_status, folder.system_resolution
    status_path, result_path = _join(path, "resolution_status"), _join(path, "system_resolution")
    if (status, result) not in _FOLDER_PAIRS:
        reader.problem(result_path, f"{status.value} folder cannot have system_resolution {result.value}")
        return
    running = [i for i, a in enumerate(analyses) if a.state is AnalysisState.PROCESSING]
    if status is FolderStatus.INITIAL:
        if analyses:
            reader.problem(status_path, f"{status.value} but the folder has {len(analyses)} analyses")
        return
    if not analyses:
        reader.problem(status_path, f"{status.value} but the folder has no analyses")
        return
    if running and status is not FolderStatus.PROCESSING:
        reader.problem(status_path, f"{status.value} but analyses[{running[0]}] is {AnalysisState.PROCESSING.value}")
    if not running and status is FolderStatus.PROCESSING:
        reader.problem(status_path, f"{status.value} but no analysis is")
    if running or status is FolderStatus.PROCESSING or not analyses_consistent:
        return  # the group results are not to be trusted, or not decided yet
    expected = _last_finished_result(analyses)
    if expected is not None and expected[1] is not result:
        reader.problem(result_path, f"{result.value} but the last-finished group {expected[0]!r} has result "
                                    f"{expected[1].value}")


def _last_finished_result(analyses: list[AnalysisRecord]) -> tuple[str, Resolution] | None:
    """The last-finished group's id and result, when group ids and times decide it."""
    groups: dict[str, list[AnalysisRecord]] = {}
    for analysis in analyses:
        if analysis.group_id is None or analysis.time_updated is None:
            return None
        groups.setdefault(analysis.group_id, []).append(analysis)
    ends = {group_id: max(a.time_updated or 0.0 for a in members) for group_id, members in groups.items()}
    latest = max(ends.values())
    results = {group_id: Resolution.worst(a.resolution_status for a in groups[group_id])
               for group_id, end in ends.items() if end == latest}
    if len(set(results.values())) != 1:
        return None  # a tie between groups with different results: undecidable
    return next(iter(results.items()))


_FOLDER_PAIRS = frozenset(FOLDER_DEFINITION.legal_pairs())


def _seconds(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def dump_analysis(analysis: Analysis) -> dict[str, Any]:
    """The analysis in the API's JSON, in the normal form (see the module's doc)."""
    out: dict[str, Any] = {"analyse_id": analysis.analyse_id}
    folder_id = analysis.owner_folder_id
    if folder_id is not None:
        out["folder_id"] = folder_id
    out["type"] = analysis.type.value
    out["state"] = analysis.state.value
    out["resolution_status"] = analysis.resolution_status.value
    group_id = analysis.group.group_id if analysis.group is not None else None
    if group_id is not None:
        out["group_id"] = group_id
    _put_times(out, analysis.time_created, analysis.time_updated)
    if analysis.extra:
        out.update(analysis.extra)
    return out


def dump_folder(folder: Folder) -> dict[str, Any]:
    """The folder with its analyses in the API's JSON, in the normal form."""
    out: dict[str, Any] = {
        "folder_id": folder.folder_id,
        "resolution_status": folder.resolution_status.value,
        "system_resolution": folder.system_resolution.value,
    }
    _put_times(out, folder.time_created, folder.time_updated)
    out["analyses"] = [dump_analysis(analysis) for analysis in folder.analyses]
    if folder.extra:
        out.update(folder.extra)
    return out


def _put_times(out: dict[str, Any], created: float | None, updated: float | None) -> None:
    if created is not None:
        out["time_created"] = _seconds(created)
    if updated is not None:
        out["time_updated"] = _seconds(updated)


@attrs.frozen
class Applied:
    """One transition that :func:`observe` applied, for a service to publish."""

    entity: str
    """``"analysis"`` or ``"folder"``."""
    id: str
    source: str
    dest: str
    event: str


def observe(folder: Folder, snapshot: object) -> list[Applied]:
    """Move ``folder`` forward to ``snapshot`` (newer API JSON of it) by legal steps only.

    All or nothing: a snapshot that would need an illegal step (an analysis
    going back to PROCESSING, a verdict changing) raises ``IllegalTransition``
    and leaves the folder exactly as it was; a bad document raises
    :class:`PayloadError`.  A snapshot not newer than the folder's
    ``time_updated`` changes nothing.  Returns the transitions applied.
    Thread-safe: the folder's lock is held from the plan to the last step.
    """
    remote = load_folder(snapshot, settings=folder.settings)
    if remote.folder_id != folder.folder_id:
        raise PayloadError([Problem("folder_id", f"{remote.folder_id!r} is not {folder.describe()}")])
    with folder.lock:
        return _catch_up(folder, remote)


def _catch_up(folder: Folder, remote: Folder) -> list[Applied]:
    """:func:`observe` once the snapshot is read: check every step, then take them all."""
    if remote.time_updated is not None and folder.time_updated is not None \
            and remote.time_updated <= folder.time_updated:
        return []
    local = {analysis.analyse_id: analysis for analysis in folder.analyses}
    ends: list[tuple[float, int, Analysis]] = []  # (when it ended, its place, the snapshot's analysis)
    new_groups: dict[str | None, list[Analysis]] = {}
    for order, theirs in enumerate(remote.analyses):
        ours = local.get(theirs.analyse_id)
        if ours is None:
            new_groups.setdefault(theirs.group.group_id if theirs.group else None, []).append(theirs)
            if theirs.ended:
                _check_end(_fresh(folder, theirs), theirs)
                ends.append((theirs.time_updated or math.inf, order, theirs))
            continue
        if (ours.state, ours.resolution_status) == (theirs.state, theirs.resolution_status):
            continue
        _check_end(ours, theirs)
        ends.append((theirs.time_updated or math.inf, order, theirs))
    applied: list[Applied] = []
    for group_id, members in new_groups.items():
        before = folder.resolution_status
        group = folder._new_group([m.type for m in members], group_id, [m.analyse_id for m in members])
        FOLDER_MACHINE.fire(folder, "submit", group)
        _folder_moved(applied, folder, before, "submit")
        for mine, theirs in zip(group.analyses, members):
            mine.time_created, mine.time_updated, mine.extra = theirs.time_created, theirs.time_updated, theirs.extra
            local[mine.analyse_id] = mine
    for _, _, theirs in sorted(ends, key=lambda item: item[:2]):
        ours = local[theirs.analyse_id]
        before_folder, analysis_before = folder.resolution_status, ours.state
        event, argument = _end_event(theirs)
        ANALYSIS_MACHINE.fire(ours, event, argument)
        ours.time_updated, ours.extra = theirs.time_updated, theirs.extra
        applied.append(Applied("analysis", ours.analyse_id, analysis_before.value, ours.state.value, event))
        _folder_moved(applied, folder, before_folder, "settle")
    folder.time_updated, folder.extra = remote.time_updated, remote.extra
    return applied


def _fresh(folder: Folder, theirs: Analysis) -> Analysis:
    return Analysis(type=theirs.type, settings=folder.settings, analyse_id=theirs.analyse_id)


def _check_end(ours: Analysis, theirs: Analysis) -> None:
    """Raise IllegalTransition unless ``ours`` may move to where ``theirs`` is."""
    if theirs.state is AnalysisState.PROCESSING:
        raise IllegalTransition(ours.describe(), ours.state.value, "observe",
                                f"cannot go back to {AnalysisState.PROCESSING.value} (the snapshot says so)")
    ANALYSIS_MACHINE.check(ours, *_end_event(theirs))


def _end_event(theirs: Analysis) -> tuple[str, object]:
    """The event, and its argument, that ends an analysis where ``theirs`` ended."""
    if theirs.state is AnalysisState.FAILED:
        return "fail", theirs.failure_reason
    return "finish", theirs.resolution_status


def _folder_moved(applied: list[Applied], folder: Folder, before: FolderStatus, event: str) -> None:
    if folder.resolution_status is not before or event == "submit":
        applied.append(Applied("folder", folder.folder_id, before.value, folder.resolution_status.value, event))
