"""The analysis: one check run on a folder's media, and its machine.

An analysis is created PROCESSING and ends once: ``finish(verdict)`` moves it
to FINISHED carrying SUCCESS, DECLINED or OPERATOR_REQUIRED, ``fail(reason)``
to FAILED.  Its ``resolution_status`` is the verdict once finished and
otherwise echoes its state.  OPERATOR_REQUIRED is never a verdict of a
liveness (QUALITY) check, and only a verdict at all where the settings enable
operator review.

When the analysis belongs to a group, ending it reports to the group (its
:class:`Owner`), which relays it to its folder (:mod:`statuses.folder`).
"""

from __future__ import annotations

import operator
import os
from _thread import RLock
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from . import display
from .definition import Edge, EventSpec, Guard, MachineDefinition, StateSpec
from .engine import StatusMachine
from .enums import VERDICTS, AnalysisState, AnalysisType, Resolution
from .errors import InvalidArgument
from .listeners import Hub, Transition
from .settings import DEFAULT_SETTINGS, Settings, check_settings
from .values import (EARLIEST, LATEST, check_extra, check_field, check_id, check_spellings, check_text,
                     fields_repr, parse_time, read_only, short_repr)

PROCESSING, FAILED, FINISHED = AnalysisState.PROCESSING, AnalysisState.FAILED, AnalysisState.FINISHED
_RUNNING = Resolution.PROCESSING
# Members held as module constants: reading Resolution.FAILED goes through the enum's metaclass, 5x slower.
_FAILED_RESULT, _OPERATOR_REQUIRED, _QUALITY = Resolution.FAILED, Resolution.OPERATOR_REQUIRED, AnalysisType.QUALITY
_MOVERS = "finish() and fail()"


class Owner(Protocol):
    """What an analysis needs of the group it belongs to: a lock for its events, and a word when it ends.

    :class:`statuses.folder.Group` is the one implementation; the analysis
    knows nothing else of groups or folders.
    """

    @property
    def lock(self) -> AbstractContextManager[Any]:
        """Held while the analysis takes an event: its folder's lock."""

    @property
    def group_id(self) -> str | None: ...

    @property
    def folder_id(self) -> str:
        """The id of the folder the group belongs to."""

    def describe(self) -> str: ...

    def analysis_ended(self, analysis: Analysis) -> None:
        """Called, under :attr:`lock`, by an analysis of the group that has just left PROCESSING."""

    def listening_hub(self) -> Hub | None:
        """Where the moves of its analyses are recorded (its folder's hub), when something listens; else None."""


def new_id() -> str:
    """A fresh random id in the API's spelling (a UUID4 string).

    Formatted by hand from ``os.urandom``, as ``uuid.uuid4`` does, at a fifth
    of its cost: a group of N analyses makes N + 1 ids.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class _FreshId:
    """The constructor's default ``analyse_id``: a new one is made (None is refused, as the loader refuses it)."""

    def __repr__(self) -> str:
        return "<a fresh id>"


FRESH_ID: Any = _FreshId()
"""``Analysis(analyse_id=FRESH_ID)``, the default: a fresh id from :func:`new_id`."""


ANALYSIS_JSON_KEYS = frozenset({"analyse_id", "analysis_id", "folder_id", "type", "state", "resolution_status",
                                "resolution", "time_created", "time_updated"})
"""The API's keys an analysis's own fields are written under, in either spelling: its ``extra`` may hold none.

Not ``group_id``: a standalone analysis read from the API keeps it there, having no group to hold it."""


def _all_strings(keys: tuple[object, ...]) -> bool:
    """Whether every key is exactly a ``str``: a loop, cheaper than ``all()`` on restore's fast path."""
    for key in keys:
        if key.__class__ is not str:
            return False
    return True


def _join_group(analysis: Analysis, group: Owner) -> None:
    """``analysis.group = group``: once, by the folder that makes the group; never changed or undone after.

    An analysis whose group were swapped or cleared would end without its
    folder hearing of it, and the folder would stay PROCESSING for good.
    """
    if group is None or analysis._group not in (None, group):
        raise AttributeError(f"{analysis.describe()}: Analysis.group is set once, when its folder makes the group "
                             "(Folder.submit, Folder.restore), and never changed after")
    analysis._group = group


# The converters of Analysis's fields: named functions, so that attrs' mypy plugin types the constructor.

def _to_type(value: AnalysisType | str) -> AnalysisType:
    return check_field("Analysis", "type", AnalysisType.parse, value)


def _to_state(value: AnalysisState | str) -> AnalysisState:
    return check_field("Analysis", "state", AnalysisState.parse, value)


def _to_resolution(value: Resolution | str) -> Resolution:
    return check_field("Analysis", "resolution_status", Resolution.parse, value)


def _to_analyse_id(value: str) -> str:
    return check_field("Analysis", "analyse_id", check_id, value)


def _to_failure_reason(value: str | None) -> str | None:
    return None if value is None else check_field("Analysis", "failure_reason", check_text, value)


def _to_folder_id(value: str | None) -> str | None:
    return None if value is None else check_field("Analysis", "folder_id", check_id, value)


def _to_time_created(value: float | str | None) -> float | None:
    return None if value is None else check_field("Analysis", "time_created", parse_time, value)


def _to_time_updated(value: float | str | None) -> float | None:
    return None if value is None else check_field("Analysis", "time_updated", parse_time, value)


def _to_extra(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else check_field("Analysis", "extra", _check_analysis_extra, value)


_check_analysis_extra = check_extra(ANALYSIS_JSON_KEYS)


def _to_spellings(value: tuple[str, ...] | list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else check_field("Analysis", "spellings", check_spellings, value)


# No __weakref__ slot: it would take an analysis from 128 to 136 bytes, for weak references that entities
# compared by identity have no use for.
@attrs.define(eq=False, kw_only=True, on_setattr=attrs.setters.NO_OP, weakref_slot=False, init=False, repr=False)
class Analysis:
    """One analysis and its status; move it only through its methods.

    Entities compare by identity: two analyses in the same state are still two
    analyses.  ``Analysis(type=...)`` makes a standalone one, PROCESSING; pass
    ``state`` and ``resolution_status`` to restore a recorded one, or call
    :meth:`restore`, which checks the same at a fraction of the cost.  Each
    value is checked as the JSON loader checks it (:mod:`statuses.values`):
    ids are non-empty strings, times Unix seconds or ISO 8601 strings (kept as
    seconds) from 1970 on; a bad one raises ``ValueError`` naming the field.
    """

    _type: AnalysisType = attrs.field(converter=_to_type, alias="type")
    settings: Settings = attrs.field(default=DEFAULT_SETTINGS, validator=check_settings)
    _state: AnalysisState = attrs.field(default=PROCESSING, converter=_to_state, alias="state")
    _resolution_status: Resolution = attrs.field(default=Resolution.PROCESSING, converter=_to_resolution,
                                                 alias="resolution_status")
    analyse_id: str = attrs.field(factory=new_id, converter=_to_analyse_id)
    failure_reason: str | None = attrs.field(default=None, converter=_to_failure_reason)
    """Why the analysis failed, when the caller said."""
    folder_id: str | None = attrs.field(default=None, converter=_to_folder_id)
    """The folder of a standalone analysis read from the API; see :attr:`folder` otherwise."""
    time_created: float | None = attrs.field(default=None, converter=_to_time_created)
    """Unix seconds, as the API reported them."""
    time_updated: float | None = attrs.field(default=None, converter=_to_time_updated)
    extra: dict[str, Any] | None = attrs.field(default=None, repr=False, converter=_to_extra)
    """The API's fields this package does not model, kept to be written back unchanged."""
    spellings: tuple[str, ...] | None = attrs.field(default=None, repr=False, converter=_to_spellings)
    """The keys a document read from JSON used for the fields the API spells two ways
    (e.g. ``("analysis_id", "resolution_status", "resolution")``); None: the API's own spelling.
    The JSON layer fills and reads it; the analysis only carries it."""
    _group: Owner | None = attrs.field(default=None, init=False, repr=False, alias="group")

    if TYPE_CHECKING:
        @property
        def state(self) -> AnalysisState:
            """Where the analysis is: PROCESSING, then FINISHED or FAILED; moved only by its events."""

        @property
        def resolution_status(self) -> Resolution:
            """The verdict once FINISHED, else its state's echo; moved only by its events."""
        @property
        def type(self) -> AnalysisType:
            """What the analysis checks; fixed when it is made (OPERATOR_REQUIRED is never a liveness verdict)."""

        @property
        def group(self) -> Owner | None:
            """The group it was submitted in (a :class:`statuses.Group`); None for a standalone analysis."""

        @group.setter
        def group(self, group: Owner) -> None: ...
    else:  # the same, read at C speed and refused on assignment (the group set once, when its folder makes it)
        state = read_only("_state", "Analysis.state", _MOVERS)
        resolution_status = read_only("_resolution_status", "Analysis.resolution_status", _MOVERS)
        type = read_only("_type", "Analysis.type", "its making")
        group = property(operator.attrgetter("_group"), _join_group, None,
                         "The group it was submitted in; None for a standalone analysis.")

    def __init__(self, *, type: AnalysisType | str, settings: Settings = DEFAULT_SETTINGS,
                 state: AnalysisState | str = PROCESSING, resolution_status: Resolution | str = _RUNNING,
                 analyse_id: str = FRESH_ID, failure_reason: str | None = None, folder_id: str | None = None,
                 time_created: float | str | None = None, time_updated: float | str | None = None,
                 extra: dict[str, Any] | None = None, spellings: tuple[str, ...] | list[str] | None = None) -> None:
        """A new analysis, PROCESSING with a fresh id unless given; every value checked (see the class).

        A new one of a member type and nothing else given is made directly, as
        :meth:`new` makes it: the attrs ``__init__`` with its converters cost
        twice as much.
        """
        if analyse_id is FRESH_ID:
            analyse_id = new_id()
        if type.__class__ is str:  # the API's exact spelling ("QUALITY") is as good as the member
            type = _TYPE_SPELLINGS.get(type, type)
        if type.__class__ is AnalysisType and settings.__class__ is Settings and state is PROCESSING \
                and resolution_status is _RUNNING and analyse_id.__class__ is str and analyse_id \
                and failure_reason is None and folder_id is None and time_created is None and time_updated is None \
                and extra is None and spellings is None:
            _assign_row(self, type, settings, PROCESSING, _RUNNING, analyse_id)
            return
        self.__attrs_init__(type=type, settings=settings, state=state, resolution_status=resolution_status,
                            analyse_id=analyse_id, failure_reason=failure_reason, folder_id=folder_id,
                            time_created=time_created, time_updated=time_updated, extra=extra, spellings=spellings)

    def __attrs_post_init__(self) -> None:
        if _restorable(self._type, self._state, self._resolution_status) is None:
            problem = restore_problem(self._type, self._state, self._resolution_status)
            raise InvalidArgument(self.describe(), "Analysis()", str(problem))

    def __repr__(self) -> str:
        return fields_repr(self)

    @classmethod
    def restore(  # not keyword-only, though called by keyword: CPython fills a missing keyword-only
        cls,        # argument from a dict, a positional one from a tuple, and every stored row read pays it
        analyse_id: str,
        type: AnalysisType | str,
        state: AnalysisState | str,
        resolution_status: Resolution | str,
        settings: Settings = DEFAULT_SETTINGS,
        failure_reason: str | None = None,
        folder_id: str | None = None,
        time_created: float | None = None,
        time_updated: float | None = None,
        extra: dict[str, Any] | None = None,
        spellings: tuple[str, ...] | None = None,
    ) -> Analysis:
        """A recorded analysis, checked as the constructor checks it, at a fraction of its cost.

        Three dict lookups decide the legal (type, state, resolution_status)
        triples in their exact spellings (members or upper-case strings), and
        a few identity tests the common values: an id that is a non-empty
        ``str``, times None or seconds in range, ``extra`` None or a dict,
        ``spellings`` None or a tuple of strings.  Anything else goes through
        the constructor, which parses other spellings or raises the same errors.
        """
        try:  # _restorable(), inline: this runs on every row a store or a loader reads
            members = _RESTORABLE[type][state][resolution_status]
        except (KeyError, TypeError):  # another spelling, or an unhashable value: the constructor decides
            members = None
        if members is not None and (settings is DEFAULT_SETTINGS or settings.__class__ is Settings) \
                and analyse_id.__class__ is str and analyse_id:
            if failure_reason is None and folder_id is None and time_created is None and time_updated is None \
                    and extra is None and spellings is None:  # a stored row: nothing more to check
                kind, state_member, result = members
                return _new_row(cls, kind, settings, state_member, result, analyse_id)
            # The loader's shape: each optional value as it gives them, in range.
            if ((failure_reason is None or failure_reason.__class__ is str)
                    and (folder_id is None or folder_id.__class__ is str and folder_id)
                    and (time_created is None or time_created.__class__ in _SECONDS
                         and EARLIEST <= time_created <= LATEST)
                    and (time_updated is None or time_updated.__class__ in _SECONDS
                         and EARLIEST <= time_updated <= LATEST)
                    and (extra is None or extra.__class__ is dict and ANALYSIS_JSON_KEYS.isdisjoint(extra))
                    and (spellings is None or spellings.__class__ is tuple and _all_strings(spellings))):
                self = _new_instance(cls)
                kind, state_member, result = members
                _assign_fields(  # in field order
                    self, kind, settings, state_member, result, analyse_id, failure_reason, folder_id,
                    # Seconds are floats, as parse_time gives them to the constructor.
                    time_created if time_created.__class__ is not int else float(time_created),
                    time_updated if time_updated.__class__ is not int else float(time_updated),
                    extra, spellings, None)
                return self
        return cls(type=type, settings=settings, state=state, resolution_status=resolution_status,
                   analyse_id=analyse_id, failure_reason=failure_reason, folder_id=folder_id,
                   time_created=time_created, time_updated=time_updated, extra=extra, spellings=spellings)

    @classmethod
    def new(cls, type: AnalysisType, settings: Settings = DEFAULT_SETTINGS, analyse_id: str | None = None) -> Analysis:
        """A new PROCESSING analysis: ``Analysis(type=...)`` at a fraction of its cost, for a folder's submit.

        A member type, a :class:`Settings` and a non-empty ``str`` id (or
        None for a fresh one) are taken as they are; anything else goes
        through the constructor, which parses it or raises its errors.
        """
        if analyse_id is None:
            analyse_id = new_id()
        if type.__class__ is AnalysisType and settings.__class__ is Settings and analyse_id.__class__ is str \
                and analyse_id:
            return _new_row(cls, type, settings, PROCESSING, _RUNNING, analyse_id)
        return cls(type=type, settings=settings, analyse_id=analyse_id)

    def __copy__(self) -> Analysis:
        """A standalone analysis's independent copy, its ``extra`` dict copied too (not the values in it).

        An analysis in a group is refused: a copy would sit outside any folder
        while claiming the group, or end the original's group twice.  Copy its
        folder instead, and find the analysis there by its id.
        """
        group = self._group
        if group is not None:
            raise TypeError(f"{self.describe()} belongs to {group.describe()} and cannot be copied without it; "
                            "copy the folder instead: copy.deepcopy(folder), or copy.copy(folder)")
        twin = _new_instance(self.__class__)
        with _STANDALONE_LOCK:  # its events run under it: the copy takes each whole or not at all
            for name in _FIELD_NAMES:
                setattr(twin, name, getattr(self, name))
        if twin.extra is not None:
            twin.extra = dict(twin.extra)
        return twin

    def finish(self, verdict: Resolution | str) -> None:
        """End the analysis with a verdict: SUCCESS, DECLINED or OPERATOR_REQUIRED.

        Thread-safe: runs under its folder's lock (see :attr:`Folder.lock`),
        except the refusal of an analysis already ended: a final state has
        no edge and never changes, so it needs no lock (an exception leaving
        a ``with`` block doubled the cost of a refusal).
        """
        if verdict.__class__ is str:  # the API's exact spelling: one lookup, no call
            verdict = _RESOLUTION_SPELLINGS.get(verdict) or _as_resolution(verdict)
        elif verdict.__class__ is not Resolution:
            verdict = _as_resolution(verdict)
        state = self._state
        if state in _FINAL:  # it can never change again: refused without taking a lock
            raise _FINISH.no_edge(self, state, verdict)
        group = self._group
        with _STANDALONE_LOCK if group is None else group.lock:
            _FINISH.take(self, verdict)

    def fail(self, reason: str | None = None) -> None:
        """End the analysis as FAILED (a system error), with an optional reason; thread-safe as :meth:`finish`."""
        state = self._state
        if state in _FINAL:
            raise _FAIL.no_edge(self, state, reason)
        group = self._group
        with _STANDALONE_LOCK if group is None else group.lock:
            _FAIL.take(self, reason)

    def may_finish(self, verdict: Resolution | str) -> bool:
        """Whether :meth:`finish` with this verdict would be allowed now."""
        return ANALYSIS_MACHINE.allows(self, "finish", verdict)  # the guards read any spelling, as finish() does

    def may_fail(self) -> bool:
        """Whether :meth:`fail` would be allowed now."""
        return ANALYSIS_MACHINE.allows(self, "fail", None)

    @property
    def owner_folder_id(self) -> str | None:
        """The id of the folder this analysis belongs to, if known."""
        group = self._group
        return group.folder_id if group is not None else self.folder_id

    @property
    def ended(self) -> bool:
        """Whether the analysis has left PROCESSING."""
        return self._state is not PROCESSING

    def describe(self) -> str:
        return f"Analysis {self.analyse_id} ({self._type._value_})"

    def _repr_svg_(self) -> str | None:
        """The notebook's picture of it (see :mod:`statuses.display`)."""
        return display.svg(self)

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        """What a notebook shows: the picture and the ``repr`` (see :mod:`statuses.display`)."""
        return display.mimebundle(self)


def restore_problem(type: AnalysisType, state: AnalysisState, resolution: Resolution) -> str | None:
    """Why an analysis cannot be in this (state, resolution_status); None if it can."""
    if (state, resolution) not in _LEGAL_PAIRS:
        return f"state {state.value} cannot have resolution_status {resolution.value}"
    if resolution is _OPERATOR_REQUIRED and type is _QUALITY:
        return _NEVER_FOR_LIVENESS
    return None


def _as_resolution(verdict: object) -> Any:
    """The verdict as a Resolution when it spells one; else as given, for the guard to refuse."""
    if isinstance(verdict, Resolution):
        return verdict
    if verdict.__class__ is str:
        exact = _RESOLUTION_SPELLINGS.get(verdict)
        if exact is not None:
            return exact
    try:
        return Resolution.parse(verdict)
    except ValueError:
        return verdict


# Guards: each answers None when it holds, or why it does not.

_OPERATOR = Resolution.OPERATOR_REQUIRED.value
_VERDICT_SPELLING = ", ".join(v.value for v in VERDICTS)
_NEVER_FOR_LIVENESS = f"{_OPERATOR} is never the verdict of a {AnalysisType.QUALITY.value} (liveness) analysis"


def _reason_is_text(analysis: Analysis, reason: object) -> str | None:
    if reason is None or reason.__class__ is str:
        return None
    return None if isinstance(reason, str) else f"a reason is a string or None, not {short_repr(reason)}"


# The verdict is read in any of the API's spellings, as finish() reads it, so that machine.fire(analysis,
# "finish", "operator_required") is refused for the same reason as analysis.finish("operator_required").

def _verdict_is_final(analysis: Analysis, verdict: object) -> str | None:
    if verdict in VERDICTS or verdict.__class__ is not Resolution and _as_resolution(verdict) in VERDICTS:
        return None
    shown = repr(verdict.value) if isinstance(verdict, Resolution) else short_repr(verdict)
    return f"{shown} is not a verdict; a finished analysis is {_VERDICT_SPELLING}"


def _operator_review_not_for_liveness(analysis: Analysis, verdict: object) -> str | None:
    if (verdict is _OPERATOR_REQUIRED or verdict.__class__ is not Resolution
            and _as_resolution(verdict) is _OPERATOR_REQUIRED) and analysis._type is _QUALITY:
        return _NEVER_FOR_LIVENESS
    return None


def _operator_review_enabled(analysis: Analysis, verdict: object) -> str | None:
    if (verdict is _OPERATOR_REQUIRED or verdict.__class__ is not Resolution
            and _as_resolution(verdict) is _OPERATOR_REQUIRED) and not analysis.settings.operator_required:
        return f"{_OPERATOR} needs operator review enabled (Settings(operator_required=True))"
    return None


# Effects: what taking an edge does besides moving the state.


def _record_verdict(analysis: Analysis, verdict: Resolution | str) -> None:
    # The guards let only a verdict through: a member from finish(), maybe its spelling from the machine.
    analysis._resolution_status = verdict if verdict.__class__ is Resolution else Resolution.parse(verdict)


def _record_failure(analysis: Analysis, reason: str | None = None) -> None:
    analysis._resolution_status = _FAILED_RESULT
    analysis.failure_reason = reason if reason is None or reason.__class__ is str else str.__str__(reason)


def _report_to_group(analysis: Analysis, argument: object = None) -> None:
    group = analysis._group
    if group is not None:
        group.analysis_ended(analysis)


ANALYSIS_DEFINITION = MachineDefinition(
    name="analysis",
    entity="Analysis",
    state_field="state",
    result_field="resolution_status",
    states=(
        StateSpec(PROCESSING, (Resolution.PROCESSING,), initial=True),
        StateSpec(FAILED, (Resolution.FAILED,), final=True),
        StateSpec(FINISHED, VERDICTS, final=True),
    ),
    events=(
        EventSpec("finish", "the analysis ends with a verdict", ("verdict",)),
        EventSpec("fail", "the analysis ends with a system error", ("reason",), optional=True),
    ),
    edges=(
        Edge(
            "finish",
            (PROCESSING,),
            FINISHED,
            guards=("verdict_is_final", "operator_review_not_for_liveness", "operator_review_enabled"),
            effects=("record_verdict", "report_to_group"),
        ),
        Edge("fail", (PROCESSING,), FAILED, guards=("reason_is_text",), effects=("record_failure", "report_to_group")),
    ),
    guards={
        "verdict_is_final": Guard(
            "verdict_is_final", f"verdict is one of {_VERDICT_SPELLING}", _verdict_is_final, on_argument=True
        ),
        "operator_review_not_for_liveness": Guard(
            "operator_review_not_for_liveness",
            f"{_OPERATOR} only when type is not {AnalysisType.QUALITY.value}",
            _operator_review_not_for_liveness,
        ),
        "operator_review_enabled": Guard(
            "operator_review_enabled",
            f"{_OPERATOR} only when settings enable operator review",
            _operator_review_enabled,
        ),
        "reason_is_text": Guard("reason_is_text", "reason is a string or None", _reason_is_text, on_argument=True),
    },
    effects={
        "record_verdict": _record_verdict,
        "record_failure": _record_failure,
        "report_to_group": _report_to_group,
    },
)
"""The analysis machine: every state, edge, guard and effect, in one place."""

class _Reporter:
    """How the analysis machine's moves reach listeners (see :mod:`statuses.listeners`)."""

    def hub(self, analysis: Analysis) -> Hub | None:
        group = analysis._group
        if group is not None:
            return group.listening_hub()
        return _STANDALONE_HUB if _STANDALONE_HUB.listening else None

    def record(self, analysis: Analysis, event: str, source: AnalysisState, dest: AnalysisState,
               argument: Resolution | str | None) -> Transition:
        group = analysis._group
        return Transition("analysis", analysis.analyse_id, analysis.owner_folder_id,
                          None if group is None else group.group_id, event, source, dest,
                          analysis._resolution_status, argument)


_STANDALONE_HUB = Hub()
"""The analyses of no folder share one hub, under their one lock."""

ANALYSIS_MACHINE = StatusMachine(ANALYSIS_DEFINITION, state_attribute="_state", reporter=_Reporter())
_FINISH, _FAIL = ANALYSIS_MACHINE.status_events["finish"], ANALYSIS_MACHINE.status_events["fail"]

_LEGAL_PAIRS = frozenset(ANALYSIS_DEFINITION.legal_pairs())

_Triple = tuple[AnalysisType, AnalysisState, Resolution]
_RESTORABLE: dict[str, dict[str, dict[str, _Triple]]] = {}
"""Every legal (type, state, resolution_status) as members, by type, then state, then result, each keyed by its
exact spelling; a member finds its own spelling's entry, as the enums hash and compare as their values.
Nested rather than keyed by the triple: hashing a tuple of three strings cost more than three lookups."""
for _type in AnalysisType:
    for _state, _resolution in _LEGAL_PAIRS:
        assert isinstance(_state, AnalysisState)
        if restore_problem(_type, _state, _resolution) is None:
            _RESTORABLE.setdefault(_type.value, {}).setdefault(_state.value, {})[_resolution.value] = \
                (_type, _state, _resolution)


def _restorable(type: object, state: object, resolution: object) -> _Triple | None:
    """The members of a legal (type, state, resolution_status) given in exact spellings; None otherwise."""
    try:
        return _RESTORABLE[type][state][resolution]  # type: ignore[index]  # any value: a miss is the answer
    except (KeyError, TypeError):
        return None


_TYPE_SPELLINGS = AnalysisType.spellings()
_RESOLUTION_SPELLINGS = Resolution.spellings()
"""The enum's own map, held here: finish() reads it on every call with a string."""

_FINAL = frozenset(state.value for state in ANALYSIS_DEFINITION.final_states)

_STANDALONE_LOCK = RLock()
"""Serialises the events of analyses outside any folder; each folder has its own."""

_new_instance = object.__new__

_SECONDS = frozenset({float, int})
"""The classes of times :meth:`Analysis.restore` takes as they are, once in range."""

_FIELD_NAMES = tuple(field.name for field in attrs.fields(Analysis))


def _field_assigner(given: tuple[str, ...], make: bool = False) -> Callable[..., Any]:
    """A function that sets the ``given`` fields of an analysis from its positional arguments, in that order,
    and every other field of :data:`_FIELD_NAMES` to None; with ``make``, it takes the class and makes the
    analysis too, and returns it.

    Generated from the field list, as attrs generates ``__init__``: one call
    with positional arguments is what the fast constructors can afford
    (keywords cost as much again).  A field added to the class is set to
    None by the row assigner without another edit; the full one gains a
    parameter, and its one caller then fails loudly until it passes the value.
    """
    rest = [name for name in _FIELD_NAMES if name not in given]
    head = f"def assign(cls, {', '.join(given)}):\n    self = new(cls)\n" if make else \
        f"def assign(self, {', '.join(given)}):\n"
    source = (head
              + "".join(f"    self.{name} = {name}\n" for name in given)
              + (f"    self.{' = self.'.join(rest)} = None\n" if rest else "")
              + ("    return self\n" if make else ""))
    namespace: dict[str, Any] = {"new": _new_instance}
    exec(compile(source, f"<{__name__} field assigner>", "exec"), namespace)
    assign: Callable[..., Any] = namespace["assign"]
    return assign


_assign_fields = _field_assigner(_FIELD_NAMES)
"""Every field, in field order: for a restored analysis with all its values."""
_ROW = ("_type", "settings", "_state", "_resolution_status", "analyse_id")
_assign_row = _field_assigner(_ROW)
"""What a stored row or a submit gives, the rest None: for ``__init__``, which has its instance."""
_new_row: Callable[..., Analysis] = _field_assigner(_ROW, make=True)
"""What a stored row or a submit gives, the rest None."""
