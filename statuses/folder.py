"""The folder, its groups of analyses, and the folder's machine.

Theory of operation
-------------------
A folder starts INITIAL.  Each ``submit`` of analysis types forms a group (the
analyses of one request) and moves the folder to PROCESSING, from any state:
a finished or failed folder takes new groups.  The folder stays PROCESSING
while any of its analyses is.  When the last analysis in progress ends, the
folder's ``settle`` event decides it by the *last-finished group* (the group
whose last analysis ended most recently): FAILED if that group's result is
FAILED, FINISHED otherwise, and ``system_resolution`` takes that result.

Consolidation is incremental.  Each group counts its analyses still in
progress and keeps the worst result of those that ended; the folder counts
its analyses in progress.  Ending one analysis is O(1) whatever the size of
its group or folder: nothing is rescanned.

Threads: each folder has one lock (:attr:`Folder.lock`, re-entrant), taken by
the public entry points that change it or its analyses (``submit``,
``observe``, and an analysis's ``finish`` and ``fail``).  Two threads ending
the last two analyses of a folder are serialised, so no group completion is
lost, and the same analysis ended twice is applied once and refused once.
"""

from __future__ import annotations

import copy
from _thread import RLock
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from .analysis import Analysis, check_extra, check_field, check_settings, new_id
from .definition import Edge, EventSpec, Guard, MachineDefinition, StateSpec
from .engine import StatusMachine
from .enums import VERDICTS, AnalysisState, AnalysisType, FolderStatus, Resolution
from .settings import DEFAULT_SETTINGS, Settings
from .values import check_id, parse_time

INITIAL, PROCESSING = FolderStatus.INITIAL, FolderStatus.PROCESSING
FAILED, FINISHED = FolderStatus.FAILED, FolderStatus.FINISHED

_BEST = Resolution.SUCCESS
_RANK = {result: result.rank for result in Resolution}
"""Read on every ended analysis: a dict lookup rather than a property call."""


@attrs.define(eq=False, kw_only=True, on_setattr=attrs.setters.NO_OP)
class Group:
    """The analyses sent in one request; its result is the worst of theirs."""

    folder: Folder = attrs.field(repr=False)
    analyses: tuple[Analysis, ...] = attrs.field(repr=False)
    """The group's analyses, in request order."""
    group_id: str | None = attrs.field(factory=new_id)
    """None for analyses restored without a ``group_id``: their group is unknown."""
    finished_order: int | None = None
    """1 for the folder's first group to finish, 2 for the next…; None while running."""
    _in_progress: int = attrs.field(init=False, repr=False)
    _worst_ended: Resolution = attrs.field(init=False, default=_BEST, repr=False)
    _submitted: bool = attrs.field(init=False, default=False, repr=False)
    """Whether it was attached to its folder: a flag, so that refusing a second submit scans nothing."""
    _vouched: bool = attrs.field(init=False, default=False, repr=False)
    """Whether its folder built it of new analyses (:meth:`Folder.submit`), so that submitting it scans nothing."""

    def __attrs_post_init__(self) -> None:
        self._in_progress = 0
        for analysis in self.analyses:
            if analysis.state is AnalysisState.PROCESSING:
                self._in_progress += 1
            else:
                self._note_result(analysis.resolution_status)

    @property
    def result(self) -> Resolution:
        """The worst ``resolution_status`` of the group's analyses."""
        return Resolution.PROCESSING if self._in_progress else self._worst_ended

    @property
    def finished(self) -> bool:
        """Whether none of the group's analyses is PROCESSING."""
        return not self._in_progress

    def _analysis_ended(self, analysis: Analysis) -> None:
        """Called by an analysis of this group that just left PROCESSING."""
        self._in_progress -= 1
        result = analysis.resolution_status
        if _RANK[result] < _RANK[self._worst_ended]:
            self._worst_ended = result
        if not self._submitted:  # a hand-built group: not counted by its folder, whose submit now refuses it
            return
        folder = self.folder
        folder._in_progress -= 1  # the folder's share, inline: this runs on every ended analysis
        if not self._in_progress:
            folder._mark_finished(self)
        if not folder._in_progress:
            _SETTLE.run(folder)

    def __copy__(self) -> Group:
        """Refused: a group belongs to its folder, which would count the copy's analyses as its own."""
        raise TypeError(f"{self.describe()} cannot be copied without its folder; "
                        "copy the folder instead: copy.deepcopy(folder), or copy.copy(folder)")

    def _note_result(self, result: Resolution) -> None:
        if _RANK[result] < _RANK[self._worst_ended]:
            self._worst_ended = result

    def describe(self) -> str:
        return f"Group {self.group_id} of Folder {self.folder.folder_id}"


# The converters of Folder's fields: named functions, so that attrs' mypy plugin types the constructor.

def _to_folder_id(value: str) -> str:
    return check_field("Folder", "folder_id", check_id, value)


def _to_time_created(value: float | str | None) -> float | None:
    return None if value is None else check_field("Folder", "time_created", parse_time, value)


def _to_time_updated(value: float | str | None) -> float | None:
    return None if value is None else check_field("Folder", "time_updated", parse_time, value)


def _to_extra(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else check_field("Folder", "extra", _check_folder_extra, value)


FOLDER_JSON_KEYS = frozenset({"folder_id", "resolution_status", "system_resolution", "time_created", "time_updated",
                         "analyses"})
"""The API's keys a folder's own fields are written under: its ``extra`` may hold none of them."""
_check_folder_extra = check_extra(FOLDER_JSON_KEYS)


@attrs.define(eq=False, kw_only=True, on_setattr=attrs.setters.NO_OP)
class Folder:
    """A folder of media, the groups of analyses run on it, and its statuses.

    Its values are checked as :class:`Analysis`'s are, in the same words:
    ``Folder(): folder_id: expected a non-empty string, got int 123``.
    """

    settings: Settings = attrs.field(default=DEFAULT_SETTINGS, validator=check_settings)
    folder_id: str = attrs.field(factory=new_id, converter=_to_folder_id)
    resolution_status: FolderStatus = attrs.field(init=False, default=INITIAL)
    system_resolution: Resolution = attrs.field(init=False, default=Resolution.INITIAL)
    time_created: float | None = attrs.field(default=None, converter=_to_time_created)
    """Unix seconds, as the API reported them."""
    time_updated: float | None = attrs.field(default=None, converter=_to_time_updated)
    extra: dict[str, Any] | None = attrs.field(default=None, repr=False, converter=_to_extra)
    """The API's fields this package does not model, kept to be written back unchanged."""
    _groups: list[Group] = attrs.field(init=False, factory=list, repr=False)
    _in_progress: int = attrs.field(init=False, default=0, repr=False)
    _last_finished: Group | None = attrs.field(init=False, default=None, repr=False)
    lock: RLock = attrs.field(init=False, factory=RLock, repr=False)
    """Taken by ``submit``, ``observe`` and the ``finish``/``fail`` of its analyses; hold it to
    read the folder consistently while other threads change it.  Re-entrant, since ``settle``
    runs inside an analysis's ``finish``."""

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the lock, which cannot be copied: a copy or an unpickled folder makes its own."""
        return {name: getattr(self, name) for name in _FOLDER_STATE}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "lock", RLock())

    def __copy__(self) -> Folder:
        """An independent folder: its groups and analyses copied, and a lock of its own.

        Events on either leave the other as it was.  As in any shallow copy,
        what the ``extra`` dicts hold is shared: each dict is copied, not the
        values in it; ``copy.deepcopy`` shares nothing.  Copied under :attr:`lock`.
        """
        with self.lock:
            shared: dict[int, Any] = {id(self.settings): self.settings}
            extras = [self.extra]
            for analysis in self.analyses:
                shared[id(analysis.settings)] = analysis.settings
                extras.append(analysis.extra)
            for extra in extras:
                if extra:
                    shared.update((id(value), value) for value in extra.values())
            # deepcopy takes the values seeded in its memo as they are: they are the ones shared.
            return self.__deepcopy__(shared)

    def __deepcopy__(self, memo: dict[int, Any]) -> Folder:
        """A copy sharing nothing with this folder, taken under :attr:`lock` so that no event is half in it."""
        twin: Folder = object.__new__(self.__class__)
        memo[id(self)] = twin  # its groups point back to it
        with self.lock:
            state = copy.deepcopy(self.__getstate__(), memo)
        twin.__setstate__(state)
        return twin

    def submit(self, types: Iterable[AnalysisType | str]) -> Group:
        """Start a group of analyses, one per type, in this order; returns the group.

        Types may be given as members or in the API's spellings (``"quality"``,
        ``"liveness"``).  An empty group is refused with ``IllegalTransition``.
        Thread-safe: runs under :attr:`lock`.
        """
        group = self._new_group(types, new_id())
        with self.lock:
            _SUBMIT.trigger(self, group)
        return group

    def observe(self, snapshot: object) -> list[Any]:
        """Bring this folder up to a newer API snapshot of it, under :attr:`lock`.

        See :func:`statuses.payloads.observe`.
        """
        from .payloads import observe

        return observe(self, snapshot)

    def may_submit(self, types: Iterable[AnalysisType | str]) -> bool:
        """Whether :meth:`submit` with these types would be allowed now."""
        return FOLDER_MACHINE.allows(self, "submit", self._new_group(types, new_id()))

    @property
    def groups(self) -> tuple[Group, ...]:
        """The folder's groups, in submit order."""
        return tuple(self._groups)

    @property
    def analyses(self) -> Iterator[Analysis]:
        """Every analysis of the folder, group by group, in submit order."""
        for group in self._groups:
            yield from group.analyses

    @property
    def last_finished_group(self) -> Group | None:
        """The group whose last analysis ended most recently, which decides the folder."""
        return self._last_finished

    @property
    def analyses_in_progress(self) -> int:
        return self._in_progress

    def _mark_finished(self, group: Group) -> None:
        """Make ``group`` the last-finished one, numbered after the one before it."""
        previous = self._last_finished
        group.finished_order = 1 if previous is None else (previous.finished_order or 0) + 1
        self._last_finished = group

    def describe(self) -> str:
        return f"Folder {self.folder_id}"

    @classmethod
    def restore(
        cls,
        *,
        folder_id: str,
        resolution_status: FolderStatus,
        system_resolution: Resolution,
        groups: Sequence[tuple[str | None, Sequence[Analysis]]],
        settings: Settings = DEFAULT_SETTINGS,
        time_created: float | None = None,
        time_updated: float | None = None,
        extra: dict[str, Any] | None = None,
        finished_order: Mapping[str | None, int] | Sequence[int | None] | None = None,
    ) -> Folder:
        """A folder in a recorded state, without replaying its events.

        ``groups`` are ``(group_id, analyses)`` in submit order.  The finished
        groups are ranked to find the last-finished one: by ``finished_order``
        (1 for the first to finish, 2 for the next…, by group id, or one per
        group in the order of ``groups``) when the caller recorded it, as a
        store does; otherwise by their analyses' latest ``time_updated``,
        which is all the API's JSON tells.  Its values are checked as the
        constructor checks them, and its analyses must be in no group yet
        (``ValueError`` otherwise, the analyses untouched); for consistency
        the caller vouches: :func:`statuses.payloads.load_folder` checks it
        first.
        """
        folder = cls(settings=settings, folder_id=folder_id, time_created=time_created,
                     time_updated=time_updated, extra=extra)
        folder.resolution_status = check_field("Folder", "resolution_status", FolderStatus.parse, resolution_status)
        folder.system_resolution = check_field("Folder", "system_resolution", Resolution.parse, system_resolution)
        made = [Group(folder=folder, analyses=tuple(analyses), group_id=group_id) for group_id, analyses in groups]
        _check_unclaimed(made)
        finished = [(_finish_rank(group, index, finished_order), index, group)
                    for index, group in enumerate(made) if group.finished]
        # Only now that nothing can fail do the caller's analyses point to their groups.
        for group in made:
            for analysis in group.analyses:
                analysis.group = group
            group._submitted = True
            folder._groups.append(group)
            folder._in_progress += group._in_progress
        for _, _, group in sorted(finished, key=lambda item: item[:2]):
            folder._mark_finished(group)
        return folder

    def _new_group(self, types: Iterable[AnalysisType | str], group_id: str | None,
                   analysis_ids: Sequence[str] | None = None) -> Group:
        """A group of new analyses for this folder, not yet attached to it."""
        if isinstance(types, (str, bytes)) or not isinstance(types, Iterable):
            raise TypeError(f"{self.describe()}: submit() takes a list of analysis types, not {types!r}")
        parsed: list[AnalysisType] = []
        for index, raw in enumerate(types):
            try:
                parsed.append(AnalysisType.parse(raw))
            except ValueError as error:
                raise ValueError(f"{self.describe()}: submit() types[{index}]: {error}") from None
        settings, make = self.settings, Analysis._new  # the types are parsed, the settings checked
        ids = [new_id() for _ in parsed] if analysis_ids is None else analysis_ids
        analyses = tuple(make(kind, settings, analysis_id) for kind, analysis_id in zip(parsed, ids, strict=True))
        group = Group(folder=self, analyses=analyses, group_id=group_id)
        for analysis in analyses:
            analysis.group = group
        group._vouched = True
        return group


_FOLDER_STATE = tuple(field.name for field in attrs.fields(Folder) if field.name != "lock")


def _check_unclaimed(groups: list[Group]) -> None:
    """Refuse, for :meth:`Folder.restore`, an analysis in a group already or given twice.

    Taking it would leave the group it is in waiting for it forever.
    """
    seen: set[int] = set()
    for index, group in enumerate(groups):
        for analysis in group.analyses:
            owner = analysis.group
            if owner is not None:
                raise ValueError(f"Folder.restore(): groups[{index}]: {analysis.describe()} "
                                 f"belongs to {owner.describe()} already")
            if id(analysis) in seen:
                raise ValueError(f"Folder.restore(): groups[{index}]: {analysis.describe()} is given twice")
            seen.add(id(analysis))


def _finish_rank(group: Group, index: int,
                 finished_order: Mapping[str | None, int] | Sequence[int | None] | None) -> float:
    """Where a finished group ranks among the folder's finished ones, for :meth:`Folder.restore`."""
    if finished_order is None:
        return max((a.time_updated or 0.0 for a in group.analyses), default=0.0)
    rank = finished_order.get(group.group_id) if isinstance(finished_order, Mapping) else finished_order[index]
    if rank is None:
        raise ValueError(f"{group.describe()} has finished but finished_order does not rank it")
    return rank


# Guards: each answers None when it holds, or why it does not.

_FAILED = Resolution.FAILED.value


def _group_not_empty(folder: Folder, group: Group) -> str | None:
    return None if group.analyses else "a group needs one analysis or more"


def _group_is_new(folder: Folder, group: Group) -> str | None:
    if group.folder is not folder:
        return f"group {group.group_id} was made for {group.folder.describe()}"
    if group._submitted:
        return f"group {group.group_id} was submitted already"
    return None if group._vouched else _stray_analysis(group)


def _stray_analysis(group: Group) -> str | None:
    """Why a group built by hand cannot run in its folder: an analysis that ended, is elsewhere, or is in twice.

    Any of these would leave the folder PROCESSING for good, counting an
    analysis that will never report to it.
    """
    seen: set[int] = set()
    for analysis in group.analyses:
        owner = analysis.group
        if owner is None:
            return f"group {group.group_id}: {analysis.describe()} does not point back to it (its group is None)"
        if owner is not group:
            return f"group {group.group_id}: {analysis.describe()} belongs to {owner.describe()}"
        if analysis.state is not _RUNNING:
            return f"group {group.group_id}: {analysis.describe()} has ended ({analysis.state.value})"
        if id(analysis) in seen:
            return f"group {group.group_id}: {analysis.describe()} is in it twice"
        seen.add(id(analysis))
    return None


_RUNNING = AnalysisState.PROCESSING


def _none_in_progress(folder: Folder) -> str | None:
    count = folder._in_progress
    if not count:
        return None
    return f"{count} {'analysis is' if count == 1 else 'analyses are'} still {PROCESSING.value}"


def _last_group_failed(folder: Folder) -> str | None:
    return None if _deciding_result(folder) is Resolution.FAILED else f"the last-finished group is not {_FAILED}"


def _last_group_not_failed(folder: Folder) -> str | None:
    return f"the last-finished group is {_FAILED}" if _deciding_result(folder) is Resolution.FAILED else None


def _deciding_result(folder: Folder) -> Resolution | None:
    group = folder._last_finished
    return None if group is None else group.result


# Effects: what taking an edge does besides moving the state.


def _attach_group(folder: Folder, group: Group) -> None:
    group._submitted = True
    folder._groups.append(group)
    folder._in_progress += len(group.analyses)
    folder.system_resolution = Resolution.PROCESSING


def _adopt_last_group_result(folder: Folder) -> None:
    result = _deciding_result(folder)
    assert result is not None  # the guards of settle saw a finished group
    folder.system_resolution = result


FOLDER_DEFINITION = MachineDefinition(
    name="folder",
    entity="Folder",
    state_field="resolution_status",
    result_field="system_resolution",
    states=(
        StateSpec(INITIAL, (Resolution.INITIAL,), initial=True),
        StateSpec(PROCESSING, (Resolution.PROCESSING,)),
        StateSpec(FAILED, (Resolution.FAILED,)),
        StateSpec(FINISHED, VERDICTS),
    ),
    events=(
        EventSpec("submit", "a group of analyses is submitted", ("group",)),
        EventSpec("settle", "the last analysis in progress ends"),
    ),
    edges=(
        Edge("submit", (INITIAL, PROCESSING, FAILED, FINISHED), PROCESSING,
             guards=("group_not_empty", "group_is_new"), effects=("attach_group",)),
        Edge("settle", (PROCESSING,), FAILED,
             guards=("none_in_progress", "last_group_failed"), effects=("adopt_last_group_result",)),
        Edge("settle", (PROCESSING,), FINISHED,
             guards=("none_in_progress", "last_group_not_failed"), effects=("adopt_last_group_result",)),
    ),
    guards={
        "group_not_empty": Guard("group_not_empty", "the group is not empty", _group_not_empty),
        "group_is_new": Guard("group_is_new", "the group is new and made for this folder", _group_is_new),
        "none_in_progress": Guard("none_in_progress", "no analysis is in progress", _none_in_progress),
        "last_group_failed": Guard(
            "last_group_failed", f"the last-finished group's result is {_FAILED}", _last_group_failed
        ),
        "last_group_not_failed": Guard(
            "last_group_not_failed", f"the last-finished group's result is not {_FAILED}", _last_group_not_failed
        ),
    },
    effects={"attach_group": _attach_group, "adopt_last_group_result": _adopt_last_group_result},
)
"""The folder machine: every state, edge, guard and effect, in one place."""

FOLDER_MACHINE = StatusMachine(FOLDER_DEFINITION)
_SUBMIT, _SETTLE = FOLDER_MACHINE.event("submit"), FOLDER_MACHINE.event("settle")
