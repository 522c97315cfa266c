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
   or ISO 8601 timestamps; its detailed validation gives the path of every
   bad value, at the key the document itself used;
3. *consistency*: the spec's tables are checked on the records (legal pairs,
   a folder PROCESSING exactly while an analysis is, and ``system_resolution``
   equal to the result of a group that may have finished last: by
   ``time_updated`` where every analysis has a ``group_id``, by the results
   alone where membership is unknown).

Every problem of every pass is collected with its path; if there is any, one
:class:`PayloadError` lists them all.  Only then are the entities built, in
their recorded state, without replaying events.  Whatever the value handed
in (numbers of any size, nesting of any depth), the only exception is
:class:`PayloadError`, and messages name values in bounded time and space.

The form written by :func:`dump_folder` / :func:`dump_analysis`: the keys the
document was read with (``analysis_id`` stays ``analysis_id``; a ``resolution``
sent beside ``resolution_status`` is written beside it), or the API's own
for entities made in memory; upper-case values; timestamps in Unix seconds
(an ``int`` when whole); ``folder_id`` on every analysis; ``group_id`` only
where known; modelled keys first in the API's order, then the others as they
came.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NewType

import attrs
import cattrs

from .analysis import ANALYSIS_MACHINE, Analysis, restore_problem
from .enums import AnalysisState, AnalysisType, ApiEnum, FolderStatus, Resolution
from .errors import IllegalTransition
from .folder import FOLDER_DEFINITION, FOLDER_MACHINE, Folder, Group
from .settings import DEFAULT_SETTINGS, Settings
from .values import check_id, describe_value, parse_time, short_repr

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
        """Every problem found; the message shows the first :data:`SHOWN` of them."""
        count = len(self.problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems[:self.SHOWN])
        more = f"\n  ...and {count - self.SHOWN} more (see .problems)" if count > self.SHOWN else ""
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the payload:\n{lines}{more}")

    SHOWN = 20
    """How many problems the message lists: a document can have a million."""

    def __reduce__(self) -> tuple[type[PayloadError], tuple[tuple[Problem, ...]], dict[str, Any]]:
        return (type(self), (self.problems,), self.__dict__)  # rebuilt from its problems, not its message


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
_ANALYSIS_FIELDS = frozenset(ANALYSIS_KEYS)
_FOLDER_FIELDS = frozenset((*FOLDER_KEYS, "analyses"))
ALIASES = {"analysis_id": "analyse_id", "resolution": "resolution_status"}
"""Spellings seen in the wild -> the API's own; only on analyses."""
_SPELLED_TWO_WAYS = frozenset({*ALIASES, *ALIASES.values()})
_API_SPELLING = ("analyse_id", "resolution_status")
_ENUM_FIELDS = frozenset({"type", "state", "resolution_status"})
"""Fields whose two spellings agree when they differ only in letter case."""


def _structure_enum(value: Any, kind: type[ApiEnum]) -> ApiEnum:
    exact = _EXACT_SPELLINGS[kind].get(value) if value.__class__ is str else None
    return exact if exact is not None else kind.parse(value)


_EXACT_SPELLINGS: dict[type[ApiEnum], dict[str, ApiEnum]] = {
    kind: {member.value: member for member in kind} for kind in (AnalysisType, AnalysisState, FolderStatus, Resolution)
}
"""The API's own spellings, read with one lookup; others (lower case, ``liveness``) go through ``parse``."""


def _structure_id(value: Any, _: type) -> str:
    return check_id(value)


def _structure_timestamp(value: Any, _: type) -> Timestamp:
    return Timestamp(parse_time(value))


def _converter() -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=True)
    for kind in (AnalysisType, AnalysisState, FolderStatus, Resolution):
        converter.register_structure_hook(kind, _structure_enum)
    # The optional fields' hooks too: a null there is removed before structuring, so the
    # converter's Optional wrapper (a call per field) would only ever pass values through.
    for plain, hook in ((str, _structure_id), (Timestamp, _structure_timestamp)):
        converter.register_structure_hook(plain, hook)
        converter.register_structure_hook(plain | None, hook)
    converter.register_unstructure_hook(ApiEnum, lambda member: member.value)
    return converter


CONVERTER = _converter()


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _agree(first: object, second: object, name: str) -> bool:
    """Whether two spellings of one field say the same, compared in bounded time: only plain values are."""
    if first is second:
        return True
    if type(first) is str and type(second) is str:
        return first.upper() == second.upper() if name in _ENUM_FIELDS else first == second
    plain = (bool, int, float, type(None))
    return type(first) in plain and type(second) in plain and type(first) is type(second) and first == second


@attrs.define
class _Fields:
    """An object's keys, split: the modelled ones (aliases folded) and the rest, kept as they came."""

    modelled: dict[str, Any]
    extra: dict[str, Any]
    keys: dict[str, str]
    """Modelled field -> the key the document used for it, where that is not the field's own name."""
    spelled: tuple[str, ...] | None
    """The keys used for the fields spelled two ways, in document order; None if only the API's own."""


class _Reader:
    """Collects the problems of one document while reading it."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def split(self, obj: Mapping[Any, Any], known: frozenset[str], path: str,
              aliases: Mapping[str, str]) -> _Fields:
        modelled: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        keys: dict[str, str] = {}
        aliased = False
        for key, value in obj.items():
            if key.__class__ is not str and not isinstance(key, str):
                self.problem(path, f"key {short_repr(key)} is not a string")
                continue
            name = aliases.get(key, key)
            if name not in known:
                extra[key] = value
            elif name not in modelled:
                modelled[name] = value
                if name != key:
                    keys[name], aliased = key, True
            else:
                # Both spellings: the API's own is the one read, and the other must say the same.
                own, alias = (value, keys.pop(name)) if key == name else (modelled[name], key)
                other = modelled[name] if key == name else value
                if not _agree(own, other, name):
                    self.problem(_join(path, alias), f"conflicts with {name}: {short_repr(own)}")
                modelled[name], aliased = own, True
        spelled = tuple(key for key in obj if key in _SPELLED_TWO_WAYS) if aliased else None
        return _Fields(modelled, extra, keys, spelled)

    def structure(self, fields: _Fields, record: type[Any], path: str) -> Any:
        """The modelled fields as a ``record``, or None with its problems noted; a null optional field is absent."""
        optional = _OPTIONAL[record]
        values = {key: value for key, value in fields.modelled.items() if not (value is None and key in optional)}
        try:
            return CONVERTER.structure(values, record)
        except (cattrs.BaseValidationError, ValueError, TypeError) as error:
            for message in cattrs.transform_error(error, path="$", format_exception=_format_exception):
                text, _, where = message.rpartition(" @ $")
                where = where.lstrip(".")
                where = fields.keys.get(where, where)
                self.problem(_join(path, where) if where else path, text)
            return None


def _format_exception(error: BaseException, kind: type | None) -> str:
    if isinstance(error, KeyError):
        return "required field missing"
    if isinstance(error, ValueError) and str(error):
        return str(error)
    return f"invalid value ({type(error).__name__})"


_OPTIONAL: dict[type[Any], frozenset[str]] = {
    record: frozenset(field.name for field in attrs.fields(record) if field.default is None)
    for record in (AnalysisRecord, FolderRecord)
}
"""Each record's optional fields: a null there reads as absent."""

_SPELLINGS: dict[tuple[str, ...], tuple[str, ...]] = {}
"""One shared tuple per way of spelling an analysis: a million analyses hold a handful of tuples."""


def _spellings(spelled: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if spelled is None or spelled == _API_SPELLING:
        return None
    return _SPELLINGS.setdefault(spelled, spelled)


@attrs.define
class _ReadAnalysis:
    record: AnalysisRecord
    extra: dict[str, Any]
    spellings: tuple[str, ...] | None
    position: int
    """Its index in the document's list of analyses."""


def _read_analysis(reader: _Reader, obj: object, path: str, position: int = 0) -> _ReadAnalysis | None:
    if not isinstance(obj, Mapping):
        reader.problem(path, f"expected an object, got {describe_value(obj)}")
        return None
    fields = reader.split(obj, _ANALYSIS_FIELDS, path, ALIASES)
    record = reader.structure(fields, AnalysisRecord, path)
    if record is None:
        return None
    problem = restore_problem(record.type, record.state, record.resolution_status)
    if problem is not None:
        reader.problem(_join(path, fields.keys.get("resolution_status", "resolution_status")), problem)
    return _ReadAnalysis(record, fields.extra, _spellings(fields.spelled), position)


def _analysis_entity(read: _ReadAnalysis, settings: Settings) -> Analysis:
    record = read.record
    # restore(): the record's members take its one-lookup path instead of the constructor's converters.
    return Analysis.restore(
        type=record.type, settings=settings, state=record.state, resolution_status=record.resolution_status,
        analyse_id=record.analyse_id, folder_id=record.folder_id, time_created=record.time_created,
        time_updated=record.time_updated, extra=read.extra or None, spellings=read.spellings,
    )


def load_analysis(obj: object, *, settings: Settings = DEFAULT_SETTINGS) -> Analysis:
    """A standalone :class:`Analysis` restored from the API's JSON; :class:`PayloadError` if bad."""
    reader = _Reader()
    read = _read_analysis(reader, obj, "")
    if reader.problems or read is None:
        raise PayloadError(reader.problems)
    if read.record.group_id is not None:  # no Group to hold it: kept with the fields not modelled
        read = attrs.evolve(read, extra={"group_id": read.record.group_id, **read.extra})
    return _analysis_entity(read, settings)


def load_folder(obj: object, *, settings: Settings = DEFAULT_SETTINGS) -> Folder:
    """A :class:`Folder` restored, with its groups and analyses, from the API's JSON.

    ``obj`` is what ``GET /api/folders/{id}/?with_analyses=true`` returns.
    Raises :class:`PayloadError` listing every problem found.
    """
    reader = _Reader()
    read = _read_folder(reader, obj, "", settings)
    if reader.problems or read is None:
        raise PayloadError(reader.problems)
    return read.folder


@attrs.frozen
class _ReadFolder:
    folder: Folder
    positions: dict[str, int]
    """Each analysis's index in the document, by id: the restored folder lists them group by group."""


def _read_folder(reader: _Reader, obj: object, path: str, settings: Settings) -> _ReadFolder | None:
    if not isinstance(obj, Mapping):
        reader.problem(path, f"expected a folder object, got {describe_value(obj)}")
        return None
    fields = reader.split(obj, _FOLDER_FIELDS, path, {})
    raw_analyses = fields.modelled.pop("analyses", None)
    record: FolderRecord | None = reader.structure(fields, FolderRecord, path)
    analyses_path = _join(path, "analyses")
    if raw_analyses is None:
        reader.problem(analyses_path, "required field missing (ask the API with with_analyses=true)")
        return None
    if not isinstance(raw_analyses, list):
        reader.problem(analyses_path, f"expected a list, got {describe_value(raw_analyses)}")
        return None
    reads: list[_ReadAnalysis] = []
    seen: dict[str, int] = {}
    problems_before = len(reader.problems)
    for index, raw in enumerate(raw_analyses):
        item_path = f"{analyses_path}[{index}]"
        read = _read_analysis(reader, raw, item_path, index)
        if read is None:
            continue
        analysis = read.record
        if analysis.analyse_id in seen:
            reader.problem(_join(item_path, _keys_for(read.spellings, "analyse_id")[0]),
                           f"{short_repr(analysis.analyse_id)} is also analyses[{seen[analysis.analyse_id]}]")
        seen.setdefault(analysis.analyse_id, index)
        if record is not None and analysis.folder_id not in (None, record.folder_id):
            reader.problem(_join(item_path, "folder_id"),
                           f"{short_repr(analysis.folder_id)} is not the folder's id {short_repr(record.folder_id)}")
        reads.append(read)
    if record is None or len(reads) != len(raw_analyses):
        return None
    units = _units(reads, record)
    deciders = _may_have_decided(units)
    _check_folder(reader, record, units, deciders, path, fields.keys,
                  analyses_consistent=len(reader.problems) == problems_before)
    if reader.problems:
        return None
    folder = Folder.restore(
        folder_id=record.folder_id, resolution_status=record.resolution_status,
        system_resolution=record.system_resolution,
        groups=[(unit.group_id, [_analysis_entity(read, settings) for read in unit.members]) for unit in units],
        settings=settings, time_created=record.time_created, time_updated=record.time_updated,
        extra=fields.extra or None, finished_order=_finished_order(units, deciders, record.system_resolution),
    )
    return _ReadFolder(folder, {read.record.analyse_id: read.position for read in reads})


# Consistency: which group may have decided the folder.


@attrs.define
class _Unit:
    """A group as the document tells it: the analyses of one ``group_id``, or one analysis without it."""

    group_id: str | None
    members: list[_ReadAnalysis]
    running: bool = False
    result: Resolution = Resolution.SUCCESS
    """The worst of its analyses' results, once :func:`_units` has read them all."""
    end: float | None = None
    """When its last analysis ended; None if some member's ``time_updated`` is missing."""

    def name(self) -> str:
        if self.group_id is not None:
            return short_repr(self.group_id)
        return "of " + ", ".join(f"analyses[{read.position}]" for read in self.members[:3]) + \
            (", ..." if len(self.members) > 3 else "")


def _units(reads: list[_ReadAnalysis], folder: FolderRecord | None) -> list[_Unit]:
    """The document's groups in submit order, and a model of those it does not tell.

    Analyses without ``group_id`` were sent in requests the document does
    not name: they form one group (one request, the usual case), unless the
    folder has settled with a better result than the worst of theirs; then
    those worse than ``system_resolution`` form one group and the others
    another, which is the only way a group of them can have decided it.
    """
    unknown = [read for read in reads if read.record.group_id is None]
    split = bool(unknown) and folder is not None \
        and folder.resolution_status in (FolderStatus.FAILED, FolderStatus.FINISHED) \
        and Resolution.worst(read.record.resolution_status for read in unknown).rank < folder.system_resolution.rank
    units: list[_Unit] = []
    by_key: dict[object, _Unit] = {}
    for read in reads:
        group_id = read.record.group_id
        key: object = group_id
        if group_id is None and split:
            assert folder is not None
            key = (read.record.resolution_status.rank < folder.system_resolution.rank,)
        if key in by_key:
            by_key[key].members.append(read)
        else:
            by_key[key] = _Unit(group_id, [read])
            units.append(by_key[key])
    for unit in units:  # each figure once, read by the check and by the finished order alike
        records = [read.record for read in unit.members]
        unit.result = Resolution.worst(record.resolution_status for record in records)
        unit.running = unit.result is Resolution.PROCESSING
        times = [record.time_updated for record in records]
        unit.end = None if None in times else max(times)  # type: ignore[type-var]
    return units


def _may_have_decided(units: list[_Unit]) -> list[_Unit]:
    """The finished groups that may have finished last, by what the document tells.

    With every ``group_id`` known: the groups whose end is the latest, or
    unknown.  An analysis without ``group_id`` could have been in any
    group, so then any finished group may have.
    """
    finished = [unit for unit in units if not unit.running]
    if any(unit.group_id is None for unit in units):
        return finished
    ends = [unit.end for unit in finished if unit.end is not None]
    latest = max(ends, default=None)
    return [unit for unit in finished if unit.end is None or unit.end == latest]


def _check_folder(reader: _Reader, folder: FolderRecord, units: list[_Unit], deciders: list[_Unit], path: str,
                  keys: Mapping[str, str], analyses_consistent: bool) -> None:
    status, result = folder.resolution_status, folder.system_resolution
    status_path = _join(path, keys.get("resolution_status", "resolution_status"))
    result_path = _join(path, keys.get("system_resolution", "system_resolution"))
    if (status, result) not in _FOLDER_PAIRS:
        reader.problem(result_path, f"{status.value} folder cannot have system_resolution {result.value}")
        return
    count = sum(len(unit.members) for unit in units)
    if status is FolderStatus.INITIAL:
        if count:
            reader.problem(status_path, f"{status.value} but the folder has {count} analyses")
        return
    if not count:
        reader.problem(status_path, f"{status.value} but the folder has no analyses")
        return
    running = [read.position for unit in units for read in unit.members
               if read.record.state is AnalysisState.PROCESSING]
    if running and status is not FolderStatus.PROCESSING:
        reader.problem(status_path, f"{status.value} but analyses[{min(running)}] is {AnalysisState.PROCESSING.value}")
    if not running and status is FolderStatus.PROCESSING:
        reader.problem(status_path, f"{status.value} but no analysis is")
    if running or status is FolderStatus.PROCESSING or not analyses_consistent:
        return  # the group results are not to be trusted, or not decided yet
    if any(unit.result is result for unit in deciders):
        return
    if len(deciders) == 1:
        reader.problem(result_path, f"{result.value} but the last-finished group {deciders[0].name()} has result "
                                    f"{deciders[0].result.value}")
    else:
        shown = ", ".join(f"{unit.name()} {unit.result.value}" for unit in deciders[:5])
        more = f" and {len(deciders) - 5} more" if len(deciders) > 5 else ""
        reader.problem(result_path, f"{result.value} but no group that may have finished last has that result "
                                    f"({shown}{more})")


def _finished_order(units: list[_Unit], deciders: list[_Unit], result: Resolution) -> list[int | None]:
    """Each group's place among the finished ones (1 first), for :meth:`Folder.restore`.

    By their ends, earliest first; where the document cannot tell the last
    one apart (a tie, an unknown time, unknown membership), the last is one
    whose result is ``system_resolution``, so the restored folder agrees
    with itself.
    """
    finished = [index for index, unit in enumerate(units) if not unit.running]

    def when(index: int) -> tuple[float, int]:
        unit = units[index]
        known = [read.record.time_updated for read in unit.members if read.record.time_updated is not None]
        return (unit.end if unit.end is not None else max(known, default=-math.inf), index)

    finished.sort(key=when)
    if finished and units[finished[-1]].result is not result:
        may_have = {id(unit) for unit in deciders}
        matching = [index for index in finished if id(units[index]) in may_have and units[index].result is result]
        if matching:
            finished.remove(matching[-1])
            finished.append(matching[-1])
    order: list[int | None] = [None] * len(units)
    for rank, index in enumerate(finished, start=1):
        order[index] = rank
    return order


_FOLDER_PAIRS = frozenset(FOLDER_DEFINITION.legal_pairs())


# Checking documents: one folder, a list of them, or an API page; and the Web SDK's bodies.


def folder_problems(obj: object, path: str = "") -> list[Problem]:
    """Every problem of one folder document (empty when it is consistent)."""
    reader = _Reader()
    _read_folder(reader, obj, path, DEFAULT_SETTINGS)
    return reader.problems


def document_problems(document: object) -> list[Problem]:
    """Problems of a document holding one folder, a list of them, or ``{"items": [...]}``.

    A folder may also be a Web SDK result body (see :func:`load_sdk_result`).
    In a list, folders must also agree with each other: an analysis is in one
    folder only, and a folder listed twice has the same statuses both times.
    """
    if isinstance(document, list):
        return _list_problems(document, "folders")
    if isinstance(document, Mapping) and "items" in document and "folder_id" not in document:
        items = document["items"]
        if not isinstance(items, list):
            return [Problem("items", f"expected a list, got {describe_value(items)}")]
        return _list_problems(items, "items")
    return _item_problems(_Reader(), document, "")


def _item_problems(reader: _Reader, item: object, path: str) -> list[Problem]:
    if is_sdk_result(item):
        _read_sdk(reader, item, path)
    else:
        _read_folder(reader, item, path, DEFAULT_SETTINGS)
    return reader.problems


def _list_problems(items: list[Any], name: str) -> list[Problem]:
    problems: list[Problem] = []
    folders: dict[str, tuple[int, Folder]] = {}
    owners: dict[str, tuple[int, str]] = {}  # analysis id -> the first folder that has it
    for index, item in enumerate(items):
        path = f"{name}[{index}]"
        reader = _Reader()
        if is_sdk_result(item):
            problems += _item_problems(reader, item, path)
            continue
        read = _read_folder(reader, item, path, DEFAULT_SETTINGS)
        problems += reader.problems
        if read is None:
            continue
        folder = read.folder
        first = folders.get(folder.folder_id)
        if first is None:
            folders[folder.folder_id] = (index, folder)
        elif _statuses(first[1]) != _statuses(folder):
            problems.append(Problem(_join(path, "folder_id"), f"{short_repr(folder.folder_id)} is also {name}"
                                    f"[{first[0]}], where it is {'/'.join(_statuses(first[1]))}, not "
                                    f"{'/'.join(_statuses(folder))}"))
        for analysis in folder.analyses:
            owner = owners.setdefault(analysis.analyse_id, (index, folder.folder_id))
            if owner[1] != folder.folder_id:
                where = f"{path}.analyses[{read.positions[analysis.analyse_id]}]"
                problems.append(Problem(_join(where, _keys_for(analysis.spellings, "analyse_id")[0]),
                                        f"{short_repr(analysis.analyse_id)} is also in {name}[{owner[0]}], "
                                        f"folder {short_repr(owner[1])}"))
    return problems


def _statuses(folder: Folder) -> tuple[str, str]:
    return folder.resolution_status.value, folder.system_resolution.value


# Writing.


def _seconds(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def _keys_for(spellings: tuple[str, ...] | None, field: str) -> list[str]:
    """The keys ``field`` is read and written under: those the document used for it, else the API's own."""
    used = [key for key in spellings if ALIASES.get(key, key) == field] if spellings is not None else []
    return used or [field]


def dump_analysis(analysis: Analysis) -> dict[str, Any]:
    """The analysis in the API's JSON, in the form the module's doc describes."""
    out: dict[str, Any] = {}
    for key in _keys_for(analysis.spellings, "analyse_id"):
        out[key] = analysis.analyse_id
    folder_id = analysis.owner_folder_id
    if folder_id is not None:
        out["folder_id"] = folder_id
    out["type"] = analysis.type.value
    out["state"] = analysis.state.value
    for key in _keys_for(analysis.spellings, "resolution_status"):
        out[key] = analysis.resolution_status.value
    group_id = analysis.group.group_id if analysis.group is not None else None
    if group_id is not None:
        out["group_id"] = group_id
    _put_times(out, analysis.time_created, analysis.time_updated)
    if analysis.extra:
        out.update(analysis.extra)
        if group_id is not None:  # its group's id, not one kept from when it stood alone
            out["group_id"] = group_id
    return out


def dump_folder(folder: Folder) -> dict[str, Any]:
    """The folder with its analyses in the API's JSON, in the form the module's doc describes."""
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


# The Oz Web SDK's result bodies.


@attrs.frozen
class SdkAnalysis:
    """One analysis of a Web SDK result: its state, and its resolution (PROCESSING while it runs)."""

    state: AnalysisState
    resolution: Resolution


@attrs.frozen
class SdkResult:
    """What the Oz Web SDK hands the page: the folder's state, and per analysis type what it knows.

    It comes from the browser, which its user controls: use it to know when
    to fetch the folder from the API, and decide on the folder you fetched.
    """

    state: FolderStatus
    folder_id: str | None = None
    """Present in the SDK's ``folder`` result mode."""
    analyses: Mapping[AnalysisType, SdkAnalysis] | None = None
    """Present in the ``status`` and ``folder`` modes; None in ``safe`` mode, which sends only ``state``."""


def is_sdk_result(document: object) -> bool:
    """Whether ``document`` looks like a Web SDK result body rather than the API's folder."""
    return isinstance(document, Mapping) and "state" in document and "resolution_status" not in document


def load_sdk_result(obj: object) -> SdkResult:
    """A Web SDK result body (``{"state": "finished", "analyses": {"quality": {...}}}``) as an :class:`SdkResult`.

    Values in any letter case; a ``resolution`` of ``""`` reads as
    PROCESSING.  Raises :class:`PayloadError` listing every problem found.
    """
    reader = _Reader()
    result = _read_sdk(reader, obj, "")
    if reader.problems or result is None:
        raise PayloadError(reader.problems)
    return result


def _read_sdk(reader: _Reader, obj: object, path: str) -> SdkResult | None:
    if not isinstance(obj, Mapping):
        reader.problem(path, f"expected a Web SDK result object, got {describe_value(obj)}")
        return None
    state = _sdk_value(reader, obj, "state", FolderStatus, path, required=True)
    folder_id: str | None = None
    if obj.get("folder_id") is not None:
        try:
            folder_id = check_id(obj["folder_id"])
        except ValueError as error:
            reader.problem(_join(path, "folder_id"), str(error))
    raw = obj.get("analyses")
    analyses: dict[AnalysisType, SdkAnalysis] | None = None
    if raw is not None:
        if not isinstance(raw, Mapping):
            reader.problem(_join(path, "analyses"), f"expected an object keyed by analysis type, got "
                                                    f"{describe_value(raw)}")
        else:
            analyses = _read_sdk_analyses(reader, raw, _join(path, "analyses"))
    if state is None or reader.problems:
        return None
    if analyses:
        problem = _sdk_state_problem(state, [item.resolution for item in analyses.values()])
        if problem is not None:
            reader.problem(_join(path, "state"), problem)
            return None
    return SdkResult(state=state, folder_id=folder_id, analyses=analyses)


def _sdk_state_problem(state: FolderStatus, results: list[Resolution]) -> str | None:
    """Why the folder cannot be in ``state`` with analyses of these results, whichever group each was in."""
    running = Resolution.PROCESSING in results
    if state is FolderStatus.INITIAL:
        return f"{state.value} but the folder has {len(results)} analyses"
    if running != (state is FolderStatus.PROCESSING):
        return f"{state.value} but {'an analysis is' if running else 'no analysis is'} {AnalysisState.PROCESSING.value}"
    failed = Resolution.FAILED in results
    if state is FolderStatus.FAILED and not failed:
        return f"{state.value} but no analysis has {Resolution.FAILED.value}: the group that decided it had one"
    if state is FolderStatus.FINISHED and all(result is Resolution.FAILED for result in results):
        return f"{state.value} but every analysis has {Resolution.FAILED.value}: the group that decided it had none"
    return None


def _read_sdk_analyses(reader: _Reader, raw: Mapping[Any, Any], path: str) -> dict[AnalysisType, SdkAnalysis]:
    analyses: dict[AnalysisType, SdkAnalysis] = {}
    for key, item in raw.items():
        where = _join(path, key if isinstance(key, str) and len(key) <= 40 else short_repr(key, 40))
        try:
            kind = AnalysisType.parse(key)
        except ValueError as error:
            reader.problem(where, f"key: {error}")
            continue
        if kind in analyses:
            reader.problem(where, f"{kind.value} is given twice")
            continue
        if not isinstance(item, Mapping):
            reader.problem(where, f"expected an object, got {describe_value(item)}")
            continue
        state = _sdk_value(reader, item, "state", AnalysisState, where, required=True)
        raw_resolution = item.get("resolution")
        if raw_resolution == "" or raw_resolution is None:
            resolution: Resolution | None = Resolution.PROCESSING
        else:
            resolution = _sdk_value(reader, item, "resolution", Resolution, where, required=False)
        if state is None or resolution is None:
            continue
        problem = restore_problem(kind, state, resolution)
        if problem is not None:
            reader.problem(_join(where, "resolution"), problem)
            continue
        analyses[kind] = SdkAnalysis(state, resolution)
    return analyses


def _sdk_value(reader: _Reader, obj: Mapping[Any, Any], key: str, kind: type[ApiEnum], path: str,
               required: bool) -> Any:
    if key not in obj:
        if required:
            reader.problem(_join(path, key), "required field missing")
        return None
    try:
        return kind.parse(obj[key])
    except ValueError as error:
        reader.problem(_join(path, key), str(error))
        return None


# Keeping up with the API: observe.


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

    A snapshot is compared analysis by analysis.  What it adds (an analysis
    that ended, a new group) is applied by the machines' own events, all or
    nothing, and afterwards the folder's statuses are the snapshot's.
    Snapshots come whole seconds apart at best, so time alone decides
    nothing: a snapshot with the folder's own ``time_updated`` and newer
    content is applied.  What a snapshot can do instead:

    * only move backwards (an analysis still PROCESSING that has ended here,
      an analysis it does not list yet): it is stale, delivered late, and
      is ignored (``[]``) unless it is newer by ``time_updated``, when it
      contradicts what was seen and is refused;
    * change an ended analysis's outcome, or move one analysis forward and
      another back: no order of events explains it, so it is refused;
    * say something the legal steps cannot reach (the folder's statuses,
      an analysis moved to another group): refused.

    Refused means ``IllegalTransition`` for a move the machines do not
    allow and :class:`PayloadError` for a snapshot that does not fit the
    folder (an analysis missing, moved to another group, another folder's
    id); either way nothing changes.  The folder's ``time_updated`` never
    goes back.  Returns the transitions applied.  Thread-safe: the folder's
    lock is held from the plan to the last step.
    """
    reader = _Reader()
    read = _read_folder(reader, snapshot, "", folder.settings)
    if reader.problems or read is None:
        raise PayloadError(reader.problems)
    if read.folder.folder_id != folder.folder_id:
        raise PayloadError([Problem("folder_id", f"{short_repr(read.folder.folder_id)} is not {folder.describe()}")])
    with folder.lock:
        return _catch_up(folder, read)


@attrs.define
class _Plan:
    """What a snapshot asks of a folder, analysis by analysis."""

    forward: list[Analysis] = attrs.Factory(list)
    """The snapshot's analyses that ended where the folder's are still PROCESSING."""
    new: list[Analysis] = attrs.Factory(list)
    """The snapshot's analyses the folder does not have."""
    backward: list[Analysis] = attrs.Factory(list)
    """The folder's analyses that have ended where the snapshot's are PROCESSING."""
    missing: list[Analysis] = attrs.Factory(list)
    """The folder's analyses the snapshot does not list."""


def _catch_up(folder: Folder, read: _ReadFolder) -> list[Applied]:
    remote, positions = read.folder, read.positions
    local = {analysis.analyse_id: analysis for analysis in folder.analyses}
    plan, misfits = _plan(folder, remote, local, positions)
    if misfits:
        raise PayloadError(misfits)
    newer = remote.time_updated is not None and folder.time_updated is not None \
        and remote.time_updated > folder.time_updated
    progress = plan.forward or plan.new
    if plan.backward or plan.missing:
        if not (progress or newer):
            return []  # stale: an older state of this folder, delivered late
        if plan.backward:
            ours = plan.backward[0]
            raise IllegalTransition(ours.describe(), ours.state.value, "observe",
                                    f"cannot go back to {AnalysisState.PROCESSING.value} (the snapshot "
                                    f"{'moves other analyses forward' if progress else 'is newer'})")
        raise PayloadError([Problem("analyses", f"the snapshot does not list {ours.describe()}, which the folder "
                                                f"has") for ours in plan.missing])
    if not progress and _statuses(folder) != _statuses(remote):
        raise IllegalTransition(folder.describe(), folder.resolution_status.value, "observe",
                                f"the snapshot's analyses are the folder's, but it says "
                                f"{'/'.join(_statuses(remote))}, not {'/'.join(_statuses(folder))}")
    if progress:
        # A rehearsal on a copy first: if the legal steps cannot reach the snapshot, nothing here changes.
        rehearsal = _copy_statuses(folder)
        _replay(rehearsal, plan, {a.analyse_id: a for a in rehearsal.analyses})
        if _statuses(rehearsal) != _statuses(remote):
            raise IllegalTransition(
                folder.describe(), folder.resolution_status.value, "observe",
                f"leads by legal steps to {'/'.join(_statuses(rehearsal))}, not to the snapshot's "
                f"{'/'.join(_statuses(remote))}")
    applied = _replay(folder, plan, local) if progress else []
    if _statuses(folder) != _statuses(remote):  # the rehearsal took the same steps: a bug if it differs
        raise AssertionError(f"observe: {folder.describe()} reached {_statuses(folder)}, its rehearsal "
                             f"{_statuses(remote)}")
    _adopt_fields(folder, remote, local, moved={a.analyse_id for a in (*plan.forward, *plan.new)})
    return applied


def _plan(folder: Folder, remote: Folder, local: dict[str, Analysis],
          positions: dict[str, int]) -> tuple[_Plan, list[Problem]]:
    plan = _Plan()
    misfits: list[Problem] = []
    listed: set[str] = set()
    known_groups = {group.group_id for group in folder.groups if group.group_id is not None}
    for theirs in remote.analyses:
        where = f"analyses[{positions[theirs.analyse_id]}]"
        their_group = theirs.group.group_id if theirs.group is not None else None
        ours = local.get(theirs.analyse_id)
        if ours is None:
            if their_group in known_groups:
                misfits.append(Problem(_join(where, "group_id"), f"{short_repr(their_group)} is a group the folder "
                                       f"has already, without {short_repr(theirs.analyse_id)}"))
            plan.new.append(theirs)
            continue
        listed.add(ours.analyse_id)
        our_group = ours.group.group_id if ours.group is not None else None
        if None not in (our_group, their_group) and our_group != their_group:
            misfits.append(Problem(_join(where, "group_id"), f"{short_repr(their_group)}, but the folder has "
                                   f"{short_repr(theirs.analyse_id)} in group {short_repr(our_group)}"))
        if ours.type is not theirs.type:
            misfits.append(Problem(_join(where, "type"), f"{theirs.type.value}, but the folder has "
                                   f"{short_repr(theirs.analyse_id)} as {ours.type.value}"))
            continue
        if (ours.state, ours.resolution_status) == (theirs.state, theirs.resolution_status):
            continue
        if ours.state is AnalysisState.PROCESSING:
            plan.forward.append(theirs)
        elif theirs.state is AnalysisState.PROCESSING:
            plan.backward.append(ours)
        else:
            raise IllegalTransition(ours.describe(), ours.state.value, "observe",
                                    f"cannot change its outcome from {ours.resolution_status.value} to "
                                    f"{theirs.state.value}/{theirs.resolution_status.value} (the snapshot says so)")
    plan.missing = [ours for ours in folder.analyses if ours.analyse_id not in listed]
    return plan, misfits


def _copy_statuses(folder: Folder) -> Folder:
    """A copy of ``folder``'s statuses and groups only, to rehearse a plan on."""
    groups = [(group.group_id, [Analysis.restore(analyse_id=a.analyse_id, type=a.type, state=a.state,
                                                 resolution_status=a.resolution_status, settings=a.settings)
                                for a in group.analyses]) for group in folder.groups]
    return Folder.restore(folder_id=folder.folder_id, resolution_status=folder.resolution_status,
                          system_resolution=folder.system_resolution, groups=groups, settings=folder.settings,
                          finished_order=[group.finished_order for group in folder.groups])


def _replay(folder: Folder, plan: _Plan, local: dict[str, Analysis]) -> list[Applied]:
    """Take the plan's steps on ``folder``: submit the new groups, then end analyses as the snapshot did.

    The analyses end group by group in the order the snapshot's groups
    finished, so the group that decided the snapshot decides here too.
    """
    applied: list[Applied] = []
    new_groups: dict[int, tuple[Group | None, list[Analysis]]] = {}
    for theirs in plan.new:
        new_groups.setdefault(id(theirs.group), (theirs.group, []))[1].append(theirs)
    for their_group, members in new_groups.values():
        before = folder.resolution_status
        group = folder._new_group([m.type for m in members], their_group.group_id if their_group else None,
                                  [m.analyse_id for m in members])
        FOLDER_MACHINE.fire(folder, "submit", group)
        applied.append(Applied("folder", folder.folder_id, before.value, folder.resolution_status.value, "submit"))
        for mine in group.analyses:
            local[mine.analyse_id] = mine
    ends = [theirs for theirs in (*plan.forward, *plan.new) if theirs.ended]
    ends.sort(key=_end_order)
    for theirs in ends:
        ours = local[theirs.analyse_id]
        before = folder.resolution_status
        event, argument = ("fail", theirs.failure_reason) if theirs.state is AnalysisState.FAILED \
            else ("finish", theirs.resolution_status)
        ANALYSIS_MACHINE.fire(ours, event, argument)
        applied.append(Applied("analysis", ours.analyse_id, AnalysisState.PROCESSING.value, ours.state.value, event))
        if folder.resolution_status is not before:
            applied.append(Applied("folder", folder.folder_id, before.value, folder.resolution_status.value,
                                   "settle"))
    return applied


def _end_order(theirs: Analysis) -> tuple[float, float]:
    """Groups in the order they finished in the snapshot, the running ones after; then by end time."""
    rank = theirs.group.finished_order if theirs.group is not None else None
    when = theirs.time_updated
    return (math.inf if rank is None else rank, math.inf if when is None else when)


def _adopt_fields(folder: Folder, remote: Folder, local: dict[str, Analysis], moved: set[str]) -> None:
    """The snapshot's other fields (times, extras, key spellings), where it is not older than the folder."""
    older = remote.time_updated is not None and folder.time_updated is not None \
        and remote.time_updated < folder.time_updated
    for theirs in remote.analyses:
        ours = local[theirs.analyse_id]
        if older and theirs.analyse_id not in moved:
            continue
        ours.time_created = _known(theirs.time_created, ours.time_created)
        ours.time_updated = _known(theirs.time_updated, ours.time_updated)
        ours.extra, ours.spellings = theirs.extra, theirs.spellings
    if not older:
        folder.time_created = _known(remote.time_created, folder.time_created)
        folder.time_updated = _known(remote.time_updated, folder.time_updated)
        folder.extra = remote.extra


def _known(theirs: float | None, ours: float | None) -> float | None:
    """A snapshot that does not give a time leaves the one known: a clock never goes back to unknown."""
    return ours if theirs is None else theirs
