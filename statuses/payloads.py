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
3. *consistency*: the folder's own checker (:func:`statuses.folder.consolidate`)
   reads the records as the folder's rules do, and each problem it finds is
   reported at the document's key for it.

Every problem of every pass is collected with its path; if there is any, one
:class:`PayloadError` lists them all.  The entities are built, in their
recorded state and without replaying events, only from analyses without a
problem, and the folder by :meth:`Folder.restore`, which runs the third pass.  Whatever the value handed
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

from collections.abc import Mapping, Sequence
from typing import Any, NewType

import attrs
import cattrs

from .analysis import Analysis, restore_problem
from .enums import AnalysisState, AnalysisType, ApiEnum, FolderStatus, Resolution
from .errors import Inconsistency, InconsistentFolder
from .folder import Folder, consolidate, folder_status_problem
from .listeners import Transition
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


_EXACT_SPELLINGS: dict[type[ApiEnum], Mapping[str, ApiEnum]] = {
    kind: kind.spellings() for kind in (AnalysisType, AnalysisState, FolderStatus, Resolution)
}
"""Each enum's own spelling map, held by kind: the API's own spellings are read with one lookup, others (lower
case) go through ``parse``."""


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
    groups: dict[str | None, list[_ReadAnalysis]] = {}  # by group_id, in the order the document first names each
    for read in reads:
        groups.setdefault(read.record.group_id, []).append(read)
    positions = {read.record.analyse_id: read.position for read in reads}
    if len(reader.problems) != problems_before:  # no entities from bad analyses; the folder's checks still run
        checked = consolidate(record.resolution_status, record.system_resolution,
                              [(group_id, [read.record for read in members]) for group_id, members in groups.items()])
        _report(reader, checked.problems, path, fields.keys, positions, reads)
        return None
    try:
        folder = Folder.restore(
            folder_id=record.folder_id, resolution_status=record.resolution_status,
            system_resolution=record.system_resolution,
            groups=[(group_id, [_analysis_entity(read, settings) for read in members])
                    for group_id, members in groups.items()],
            settings=settings, time_created=record.time_created, time_updated=record.time_updated,
            extra=fields.extra or None,
        )
    except InconsistentFolder as error:
        _report(reader, error.problems, path, fields.keys, positions, reads)
        return None
    return _ReadFolder(folder, positions)


def _report(reader: _Reader, problems: Sequence[Inconsistency], path: str, keys: Mapping[str, str],
            positions: Mapping[str, int], reads: Sequence[_ReadAnalysis]) -> None:
    """Note each problem the folder found at its place in the document."""
    at = _Locator(path, keys, positions, {read.record.analyse_id: read.spellings for read in reads})
    for problem in problems:
        if problem.field != "analyse_id":  # an id given twice: reported as it was read, naming both positions
            reader.problem(at.path(problem), problem.message)


@attrs.frozen
class _Locator:
    """Where in one folder document a problem the folder found is: at the key the document used."""

    root: str
    keys: Mapping[str, str]
    """The folder's field -> the key the document used for it, where not the field's own name."""
    positions: Mapping[str, int]
    spellings: Mapping[str, tuple[str, ...] | None]

    def path(self, problem: Inconsistency) -> str:
        analyse_id = problem.analyse_id
        if analyse_id is not None and analyse_id in self.positions:
            key = _keys_for(self.spellings.get(analyse_id), problem.field)[0]
            return _join(f"{_join(self.root, 'analyses')}[{self.positions[analyse_id]}]", key)
        return _join(self.root, self.keys.get(problem.field, problem.field))


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
        problem = folder_status_problem(state, [item.resolution for item in analyses.values()])
        if problem is not None:
            reader.problem(_join(path, "state"), problem)
            return None
    return SdkResult(state=state, folder_id=folder_id, analyses=analyses)


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


def observe(folder: Folder, snapshot: object) -> list[Transition]:
    """Move ``folder`` forward to ``snapshot`` (newer API JSON of it) by legal steps only.

    Reads the snapshot as :func:`load_folder` does, then hands it to
    :meth:`Folder.catch_up`, which says what is applied and what is refused.
    A snapshot that does not read, or does not fit the folder (another
    folder's id, an analysis missing, moved to another group or of another
    type) raises :class:`PayloadError` naming the document's keys; a move
    the machines refuse raises ``IllegalTransition``.  Either way nothing
    changes.  Returns the transitions taken, as the machines report them to listeners.
    """
    reader = _Reader()
    read = _read_folder(reader, snapshot, "", folder.settings)
    if reader.problems or read is None:
        raise PayloadError(reader.problems)
    try:
        return folder.catch_up(read.folder)
    except InconsistentFolder as error:
        at = _Locator("", {}, read.positions, {a.analyse_id: a.spellings for a in read.folder.analyses})
        raise PayloadError([Problem(at.path(problem), problem.message) for problem in error.problems]) from None
