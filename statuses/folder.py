"""The folder, its groups of analyses, and the folder's machine: every rule of a folder lives here.

Theory of operation
-------------------
A folder starts INITIAL.  Each ``submit`` of analysis types forms a group (the
analyses of one request) and moves the folder to PROCESSING, from any state:
a finished or failed folder takes new groups.  The folder stays PROCESSING
while any of its analyses is.  When the last analysis in progress ends, the
folder's ``settle`` event decides it by the *last-finished group* (the group
whose last analysis ended most recently): FAILED if that group's result is
FAILED, FINISHED otherwise, and ``system_resolution`` takes that result.

The coupling is data: :data:`FOLDER_DEFINITION` declares (a :class:`Drive`)
that the analyses' ``finish`` and ``fail`` drive the folder through their
group, and :meth:`Group.analysis_ended` fires the event it names.

Consolidation is incremental.  Each group counts its analyses still in
progress and keeps the worst result of those that ended; the folder counts
its analyses in progress.  Ending one analysis is O(1) whatever the size of
its group or folder: nothing is rescanned.

A folder in a recorded state (a store's rows, the API's JSON) is restored,
not replayed: :func:`consolidate` checks the record against the rules above
(one checker, used by :meth:`Folder.restore`, the JSON loader and the
store) and :meth:`Folder.catch_up` moves a folder forward to a newer record
of it by the machines' own events.

Threads: each folder has one lock (:attr:`Folder.lock`, re-entrant), taken by
the public entry points that change it or its analyses (``submit``,
``catch_up``, and an analysis's ``finish`` and ``fail``).  Two threads ending
the last two analyses of a folder are serialised, so no group completion is
lost, and the same analysis ended twice is applied once and refused once.
"""

from __future__ import annotations

import copy
import math
from _thread import RLock
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs

from . import display
from .analysis import ANALYSIS_DEFINITION, Analysis, new_id, restore_problem
from .definition import Drive, Edge, EventSpec, Guard, MachineDefinition, StateSpec
from .engine import StatusMachine
from .enums import VERDICTS, AnalysisState, AnalysisType, FolderStatus, Resolution
from .errors import IllegalTransition, Inconsistency, InconsistentFolder, InvalidArgument, ListenerError
from .listeners import Hub, Listener, Subscription, Transition, process_listening
from .settings import DEFAULT_SETTINGS, Settings, check_settings
from .values import check_extra, check_field, check_id, fields_repr, parse_time, read_only, short_repr

INITIAL, PROCESSING = FolderStatus.INITIAL, FolderStatus.PROCESSING
FAILED, FINISHED = FolderStatus.FAILED, FolderStatus.FINISHED

_BEST = Resolution.SUCCESS
_RUNNING = AnalysisState.PROCESSING
# Members held as module constants: reading Resolution.FAILED goes through the enum's metaclass, 5x slower.
_PENDING, _FAILED_RESULT = Resolution.PROCESSING, Resolution.FAILED
_FOLDER_MOVERS = "submit() and the settle its analyses' ends drive"
_GROUP_MOVERS = "its analyses' finish() and fail()"


@attrs.frozen
class GroupCounts:
    """What a group keeps of its analyses, so that ending one reads none of the others.

    A store keeps these in the group's row: with them, :meth:`Folder.restore_part`
    gives the machines a folder holding only the analysis that moves.
    """

    group_id: str
    in_progress: int
    """Its analyses still PROCESSING."""
    worst_ended: Resolution
    """The worst result of its analyses that ended; SUCCESS (the best) while none has."""
    finished_order: int | None
    """Its rank in the folder's finish order once its last analysis ended; None before."""


@attrs.frozen
class FolderCounts:
    """What a folder keeps of its groups, so that an event reads none of them: a store keeps these in its row."""

    in_progress: int
    """Its analyses still PROCESSING."""
    last_group_id: str | None = None
    """The last-finished group, which decides the folder; None while no group has finished."""
    last_finished_order: int | None = None
    last_result: Resolution | None = None
    """The last-finished group's result."""


@attrs.define(eq=False, kw_only=True, on_setattr=attrs.setters.NO_OP, repr=False)
class Group:
    """The analyses sent in one request; its result is the worst of theirs.

    The :class:`~statuses.analysis.Owner` of its analyses: their events run
    under its folder's lock, and each reports its end here.
    """

    folder: Folder = attrs.field(repr=False)
    _analyses: tuple[Analysis, ...] = attrs.field(repr=False, alias="analyses")
    group_id: str | None = attrs.field(factory=new_id)
    """None for analyses restored without a ``group_id``: their group is unknown."""
    _finished_order: int | None = attrs.field(init=False, default=None, alias="finished_order")
    _in_progress: int = attrs.field(init=False, repr=False)
    _worst_ended: Resolution = attrs.field(init=False, default=_BEST, repr=False)
    _submitted: bool = attrs.field(init=False, default=False, repr=False)
    """Whether it was attached to its folder: a flag, so that refusing a second submit scans nothing."""
    _vouched: bool = attrs.field(init=False, default=False, repr=False)
    """Whether its folder built it of new analyses (:meth:`Folder.submit`), so that submitting it scans nothing."""
    _named: bool = attrs.field(init=False, default=False, repr=False)
    """Whether the caller chose its ids, which its submit then checks against the folder's, under the lock."""
    lock: RLock = attrs.field(init=False, repr=False)
    """Its folder's lock, under which its analyses take their events; held here, not looked up, as every
    ``finish`` reads it."""

    def __attrs_post_init__(self) -> None:
        self.lock = self.folder.lock
        ended = [analysis.resolution_status for analysis in self.analyses if analysis.state is not _RUNNING]
        self._in_progress = len(self.analyses) - len(ended)
        self._worst_ended = Resolution.worst(ended) if ended else _BEST

    if TYPE_CHECKING:
        @property
        def finished_order(self) -> int | None:
            """1 for the folder's first group to finish, 2 for the next…; None while running."""

        @property
        def analyses(self) -> tuple[Analysis, ...]:
            """The group's analyses, in request order; fixed when the group is made."""
    else:
        finished_order = read_only("_finished_order", "Group.finished_order", _GROUP_MOVERS)
        analyses = read_only("_analyses", "Group.analyses", "the group's making")

    @property
    def result(self) -> Resolution:
        """The worst ``resolution_status`` of the group's analyses; follows them, never assigned."""
        return _PENDING if self._in_progress else self._worst_ended

    @result.setter
    def result(self, value: object) -> None:
        raise AttributeError(f"Group.result cannot be assigned: it is the worst result of the group's analyses, "
                             f"moved by {_GROUP_MOVERS}")

    def __repr__(self) -> str:
        return fields_repr(self)

    def listening_hub(self) -> Hub | None:
        """Its folder's hub when its analyses' moves must be recorded for listeners; None otherwise."""
        return _listening_hub(self.folder)

    @property
    def finished(self) -> bool:
        """Whether none of the group's analyses is PROCESSING."""
        return not self._in_progress

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the lock, which is its folder's: the folder's ``__setstate__`` hands the new one out."""
        return {name: getattr(self, name) for name in _GROUP_STATE}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    @property
    def folder_id(self) -> str:
        return self.folder.folder_id

    def counts(self) -> GroupCounts:
        """What it keeps of its analyses: what a store writes to the group's row after each event."""
        if self.group_id is None:
            raise ValueError(f"{self.describe()}: a group without a group_id has no counts to keep")
        return GroupCounts(self.group_id, self._in_progress, self._worst_ended, self._finished_order)

    def analysis_ended(self, analysis: Analysis) -> None:
        """Relay the end of one of its analyses, as :data:`FOLDER_DEFINITION`'s drive declares.

        The group counts it and keeps the worst result; when it was the
        group's last, the group is the folder's last-finished; when it was the
        folder's last, the folder takes the drive's event (``settle``).
        Called under :attr:`lock` by the analysis's ``report_to_group`` effect.
        """
        self._in_progress -= 1
        result = analysis.resolution_status
        if result.rank < self._worst_ended.rank:
            self._worst_ended = result
        if not self._submitted:  # not counted by its folder yet, whose submit now scans it and refuses it
            self._vouched = False
            return
        folder = self.folder
        folder._in_progress -= 1  # the folder's share, inline: this runs on every ended analysis
        if not self._in_progress:  # the group's last: it is the last-finished now (Folder._mark_finished, inline)
            previous = folder._last_finished
            self._finished_order = 1 if previous is None else (previous._finished_order or 0) + 1
            folder._last_finished, folder._last_result = self, self._worst_ended
        if not folder._in_progress:
            # Reported exactly when the analysis's move is (its place is open in the hub): a listener subscribed
            # on another thread mid-move must not hear the settle without the end that caused it.
            hub = folder._hub
            (_DRIVEN.reporting_take if hub is not None and hub.depth else _DRIVEN.plain_take)(folder)

    def __copy__(self) -> Group:
        """Refused: a group belongs to its folder, which would count the copy's analyses as its own."""
        raise TypeError(f"{self.describe()} cannot be copied without its folder; "
                        "copy the folder instead: copy.deepcopy(folder), or copy.copy(folder)")

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


@attrs.define(eq=False, kw_only=True, on_setattr=attrs.setters.NO_OP, repr=False)
class Folder:
    """A folder of media, the groups of analyses run on it, and its statuses.

    Its values are checked as :class:`Analysis`'s are, in the same words:
    ``Folder(): folder_id: expected a non-empty string, got int 123``.
    """

    settings: Settings = attrs.field(default=DEFAULT_SETTINGS, validator=check_settings)
    folder_id: str = attrs.field(factory=new_id, converter=_to_folder_id)
    _folder_status: FolderStatus = attrs.field(init=False, default=INITIAL, alias="resolution_status")
    _system_resolution: Resolution = attrs.field(init=False, default=Resolution.INITIAL, alias="system_resolution")
    time_created: float | None = attrs.field(default=None, converter=_to_time_created)
    """Unix seconds, as the API reported them."""
    time_updated: float | None = attrs.field(default=None, converter=_to_time_updated)
    extra: dict[str, Any] | None = attrs.field(default=None, repr=False, converter=_to_extra)
    """The API's fields this package does not model, kept to be written back unchanged."""
    _groups: list[Group] = attrs.field(init=False, factory=list, repr=False)
    _in_progress: int = attrs.field(init=False, default=0, repr=False)
    _last_finished: Group | None = attrs.field(init=False, default=None, repr=False)
    _last_result: Resolution | None = attrs.field(init=False, default=None, repr=False)
    """The last-finished group's result, kept when it finishes (it cannot change then): settle reads it thrice."""
    lock: RLock = attrs.field(init=False, factory=RLock, repr=False)
    """Taken by ``submit``, ``catch_up`` and the ``finish``/``fail`` of its analyses; hold it to
    read the folder consistently while other threads change it.  Re-entrant, since ``settle``
    runs inside an analysis's ``finish``."""
    _hub: Hub | None = attrs.field(init=False, default=None, repr=False, eq=False)
    """Its listeners and the moves in progress (:mod:`statuses.listeners`); made on first use."""

    if TYPE_CHECKING:
        @property
        def resolution_status(self) -> FolderStatus:
            """Where the folder is: INITIAL, PROCESSING, FINISHED or FAILED; moved only by its events."""

        @property
        def system_resolution(self) -> Resolution:
            """The folder's result: its last-finished group's once settled; moved only by its events."""
    else:  # the same two, read at C speed and refused on assignment
        resolution_status = read_only("_folder_status", "Folder.resolution_status", _FOLDER_MOVERS)
        system_resolution = read_only("_system_resolution", "Folder.system_resolution", _FOLDER_MOVERS)

    def __repr__(self) -> str:
        return fields_repr(self)

    def subscribe(self, callback: Listener) -> Subscription:
        """Hear the transitions of this folder and its analyses from now on, in the order taken.

        ``callback(transition)`` runs after each whole move (an analysis's
        end and the folder's ``settle`` it caused are delivered together,
        the analysis's first), under :attr:`lock`, on the thread that moved;
        see :mod:`statuses.listeners`.  Copies of the folder do not inherit
        its subscriptions.
        """
        with self.lock:
            return self.hub().subscribe(callback)

    def hub(self) -> Hub:
        """Its :class:`~statuses.listeners.Hub`, made on first use: under :attr:`lock` (events run under it)."""
        hub = self._hub
        if hub is None:
            with self.lock:
                hub = self._hub
                if hub is None:
                    hub = self._hub = Hub()
        return hub

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the lock, which cannot be copied: a copy or an unpickled folder makes its own."""
        return {name: getattr(self, name) for name in _FOLDER_STATE}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        lock = RLock()
        object.__setattr__(self, "lock", lock)
        object.__setattr__(self, "_hub", None)
        for group in self._groups:  # restored already: a group's state comes inside its folder's
            group.lock = lock

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

    def submit(self, types: Iterable[AnalysisType | str], *, group_id: str | None = None,
               analysis_ids: Sequence[str] | None = None) -> Group:
        """Start a group of analyses, one per type, in this order; returns the group.

        Types may be given as members or in the API's spellings (``"quality"``,
        ``"liveness"``).  ``group_id`` and ``analysis_ids`` (one per type) are
        the ids the API gave, when the folder mirrors it; fresh UUID4 strings
        otherwise.  An empty group is refused with ``IllegalTransition``.
        Thread-safe: runs under :attr:`lock`.
        """
        group = self.new_group(types, group_id=group_id, analysis_ids=analysis_ids)
        with self.lock:
            try:
                _SUBMIT.take(self, group)
            except ListenerError as error:  # the group stands: the caller gets it on the error
                error.outcome = group
                raise
        return group

    def may_submit(self, types: Iterable[AnalysisType | str]) -> bool:
        """Whether :meth:`submit` with these types would be allowed now; False for types that are wrong."""
        try:
            group = self.new_group(types)
        except InvalidArgument:
            return False
        return FOLDER_MACHINE.allows(self, "submit", group)

    def new_group(self, types: Iterable[AnalysisType | str], *, group_id: str | None = None,
                  analysis_ids: Sequence[str] | None = None) -> Group:
        """A group of new analyses for this folder, not yet submitted: what :meth:`submit` submits.

        For code that drives the machine itself: ``FOLDER_MACHINE.fire(folder,
        "submit", folder.new_group(types))``.  Bad types or ids raise
        ``TypeError``/``ValueError`` naming the one at fault.
        """
        if group_id is not None:
            group_id = check_field("Folder.new_group", "group_id", check_id, group_id)
        return self._make_group(types, new_id() if group_id is None else group_id, analysis_ids,
                                named=group_id is not None or analysis_ids is not None)

    def catch_up(self, remote: Folder) -> list[Transition]:
        """Move this folder forward to ``remote``, a newer record of it, by legal steps only; under :attr:`lock`.

        ``remote`` is the same folder as recorded elsewhere later (the API's
        JSON read by :func:`statuses.payloads.observe`, another process's
        copy).  It is compared analysis by analysis.  What it adds (an
        analysis that ended, a new group) is applied by the machines' own
        events, all or nothing, and afterwards this folder's statuses are
        ``remote``'s.  Records come whole seconds apart at best, so time alone
        decides nothing: a ``remote`` with this folder's own ``time_updated``
        and newer content is applied.  What ``remote`` can do instead:

        * only move backwards (an analysis still PROCESSING that has ended
          here, an analysis it does not list yet): it is stale, delivered
          late, and is ignored (``[]``) unless it is newer by
          ``time_updated``, when it contradicts what was seen and is refused;
        * change an ended analysis's outcome, or move one analysis forward and
          another back: no order of events explains it, so it is refused;
        * say something the legal steps cannot reach (the folder's statuses,
          an analysis moved to another group): refused.

        Refused means ``IllegalTransition`` for a move the machines do not
        allow and :class:`~statuses.errors.InconsistentFolder` for a record
        that does not fit this folder (another folder's id, an analysis
        missing, moved to another group or of another type); either way
        nothing changes.  The folder's ``time_updated`` never goes back.
        Returns the transitions taken, in order, as the machines report them
        to listeners (who hear them once the whole catch-up is done).
        """
        if not isinstance(remote, Folder):
            raise InvalidArgument(self.describe(), "catch_up(remote)", f"takes a Folder, not {short_repr(remote)}; "
                                  "for the API's JSON, use statuses.payloads.observe(folder, snapshot)")
        if remote.folder_id != self.folder_id:
            raise InconsistentFolder(self.describe(), [
                Inconsistency("folder_id", f"{short_repr(remote.folder_id)} is not {self.describe()}")])
        # Both locks, always in the same order, so that two folders catching up with each other cannot deadlock.
        first, second = sorted((self.lock, remote.lock), key=id)
        with first, second, self.hub().hold() as taken:  # listeners hear the whole catch-up once it is complete
            _catch_up(self, remote)
        return taken

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

    def counts(self) -> FolderCounts:
        """What it keeps of its groups: what a store writes to the folder's row after each event."""
        last = self._last_finished
        if last is None:
            return FolderCounts(self._in_progress)
        return FolderCounts(self._in_progress, last.group_id, last._finished_order, self._last_result)

    def _mark_finished(self, group: Group) -> None:
        """Make ``group`` the last-finished one, numbered after the one before it."""
        previous = self._last_finished
        group._finished_order = 1 if previous is None else (previous._finished_order or 0) + 1
        self._last_finished, self._last_result = group, group._worst_ended

    def describe(self) -> str:
        return f"Folder {self.folder_id}"

    def _repr_svg_(self) -> str | None:
        """The notebook's picture of it (see :mod:`statuses.display`)."""
        return display.svg(self)

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        """What a notebook shows: the picture and the ``repr`` (see :mod:`statuses.display`)."""
        return display.mimebundle(self)

    @classmethod
    def restore(
        cls,
        *,
        folder_id: str,
        resolution_status: FolderStatus | str,
        system_resolution: Resolution | str,
        groups: Sequence[tuple[str | None, Sequence[Analysis]]],
        settings: Settings = DEFAULT_SETTINGS,
        time_created: float | None = None,
        time_updated: float | None = None,
        extra: dict[str, Any] | None = None,
        finished_order: FinishedOrder | None = None,
    ) -> Folder:
        """A folder in a recorded state, without replaying its events; checked by :func:`consolidate`.

        ``groups`` are ``(group_id, analyses)`` in submit order.
        ``finished_order`` ranks the finished groups (1 for the first to
        finish, by group id or one per group in the order of ``groups``), as a
        store records it; without it, the record is read as the API's JSON
        tells it, by the analyses' ``time_updated`` (see :func:`consolidate`).
        A record the rules cannot explain raises
        :class:`~statuses.errors.InconsistentFolder` listing every problem; a
        bad value, or an analysis in a group already or given twice, raises
        ``ValueError``.  Either way the analyses handed in are left untouched.
        """
        folder = cls(settings=settings, folder_id=folder_id, time_created=time_created,
                     time_updated=time_updated, extra=extra)
        folder._folder_status = check_field("Folder", "resolution_status", FolderStatus.parse, resolution_status)
        folder._system_resolution = check_field("Folder", "system_resolution", Resolution.parse, system_resolution)
        _check_unclaimed(groups)
        record = consolidate(folder._folder_status, folder._system_resolution, groups, finished_order)
        if record.problems:
            raise InconsistentFolder(folder.describe(), record.problems)
        made = [Group(folder=folder, analyses=tuple(analyses), group_id=group_id)
                for group_id, analyses in record.groups]
        # Only now that nothing can fail do the caller's analyses point to their groups.
        for group in made:
            for analysis in group.analyses:
                analysis.group = group
            _attach(folder, group)
        for _, index in sorted((rank, index) for index, rank in enumerate(record.finished_order) if rank is not None):
            folder._mark_finished(made[index])
        return folder

    @classmethod
    def restore_part(
        cls,
        *,
        folder_id: str,
        resolution_status: FolderStatus | str,
        system_resolution: Resolution | str,
        counts: FolderCounts,
        group: GroupCounts | None = None,
        analyses: Sequence[Analysis] = (),
        settings: Settings = DEFAULT_SETTINGS,
        time_created: float | None = None,
        time_updated: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Folder:
        """A working part of a recorded folder: its statuses and counts, and at most one group with some of its analyses.

        Enough for the machines to take one event exactly as on the whole
        folder (``submit``, or the ``finish``/``fail`` of an analysis given),
        reading none of the other groups: what a store does, so that an
        event costs the same in a folder of 2 analyses or 2,000.  Its
        ``groups`` and ``analyses`` hold only what was given; read the moves
        with :meth:`counts`, :meth:`Group.counts` and the analyses, not the
        folder's contents.  Counts the rules cannot explain raise
        :class:`~statuses.errors.InconsistentFolder`.
        """
        folder = cls(settings=settings, folder_id=folder_id, time_created=time_created,
                     time_updated=time_updated, extra=extra)
        folder._folder_status = check_field("Folder", "resolution_status", FolderStatus.parse, resolution_status)
        folder._system_resolution = check_field("Folder", "system_resolution", Resolution.parse, system_resolution)
        problems = _counts_problems(folder._folder_status, folder._system_resolution, counts, group, analyses)
        if problems:
            raise InconsistentFolder(folder.describe(), problems)
        _check_unclaimed([(None if group is None else group.group_id, analyses)])
        folder._in_progress = counts.in_progress
        part = None
        if group is not None:
            part = Group(folder=folder, analyses=tuple(analyses), group_id=group.group_id)
            part._in_progress, part._worst_ended = group.in_progress, group.worst_ended
            part._finished_order = group.finished_order
            for analysis in analyses:
                analysis.group = part
            part._submitted = True
            folder._groups.append(part)
        if counts.last_group_id is not None:
            last = part if part is not None and part.group_id == counts.last_group_id else \
                Group(folder=folder, analyses=(), group_id=counts.last_group_id)
            last._finished_order = counts.last_finished_order
            folder._last_finished, folder._last_result = last, counts.last_result
        return folder

    def _make_group(self, types: Iterable[AnalysisType | str], group_id: str | None,
                    analysis_ids: Sequence[str] | None, named: bool) -> Group:
        """A group of new analyses for this folder, not yet attached to it; ``group_id`` None: unknown.

        ``named``: the caller chose an id, so the submit guard checks the ids against the folder's (a scan of it).
        """
        me = self.describe()
        if isinstance(types, (str, bytes)) or not isinstance(types, Iterable):
            raise InvalidArgument(me, "submit(types)", f"expected a list of analysis types, not {short_repr(types)}")
        parsed: list[AnalysisType] = []
        for index, raw in enumerate(types):
            try:
                parsed.append(AnalysisType.parse(raw))
            except ValueError as error:
                raise InvalidArgument(me, f"submit(types[{index}])", str(error)) from None
        if analysis_ids is None:
            ids: list[str] = [new_id() for _ in parsed]
        else:
            if isinstance(analysis_ids, (str, bytes)) or not isinstance(analysis_ids, Iterable):
                raise InvalidArgument(me, "submit(analysis_ids)",
                                      f"a list of ids, one per type, not {short_repr(analysis_ids)}")
            ids = [check_field(f"{me}: submit", f"analysis_ids[{index}]", check_id, analysis_id)
                   for index, analysis_id in enumerate(analysis_ids)]
            if len(ids) != len(parsed):
                raise InvalidArgument(me, "submit(analysis_ids)",
                                      f"one analysis id per type: {len(parsed)} types, {len(ids)} ids")
            seen: set[str] = set()
            for index, analysis_id in enumerate(ids):
                if analysis_id in seen:
                    raise InvalidArgument(me, f"submit(analysis_ids[{index}])", f"{short_repr(analysis_id)} is given twice")
                seen.add(analysis_id)
        settings, new = self.settings, Analysis.new
        analyses = tuple(new(kind, settings, analysis_id) for kind, analysis_id in zip(parsed, ids))
        group = Group(folder=self, analyses=analyses, group_id=group_id)
        for analysis in analyses:
            analysis.group = group
        group._vouched = True
        # Ids the caller chose are checked against the folder's by the group_is_new guard, under the lock.
        group._named = named
        return group


_FOLDER_STATE = tuple(field.name for field in attrs.fields(Folder) if field.name not in ("lock", "_hub"))
_GROUP_STATE = tuple(field.name for field in attrs.fields(Group) if field.name != "lock")


def _counts_problems(status: FolderStatus, result: Resolution, counts: FolderCounts, group: GroupCounts | None,
                     analyses: Sequence[Analysis]) -> list[Inconsistency]:
    """What the folder's rules cannot explain in a part of a folder (:meth:`Folder.restore_part`)."""
    problems: list[Inconsistency] = []

    def problem(field: str, message: str) -> None:
        problems.append(Inconsistency(field, message))

    last = (counts.last_group_id, counts.last_finished_order, counts.last_result)
    if counts.in_progress < 0:
        problem("in_progress", f"{counts.in_progress} analyses in progress")
    if (None in last) and last != (None, None, None):
        problem("last_finished", f"the last-finished group is told in part: {last}")
    if counts.in_progress > 0 and status is not PROCESSING:
        problem("resolution_status", f"{status.value} but {_count(counts.in_progress)} still {_RUNNING.value}")
    elif counts.in_progress <= 0 and status is PROCESSING:
        problem("resolution_status", f"{status.value} but no analysis is {_RUNNING.value}")
    if status is INITIAL and counts.last_group_id is not None:
        problem("resolution_status", f"{status.value} but group {counts.last_group_id} has finished")
    if status in (FINISHED, FAILED):
        if counts.last_result is None:
            problem("resolution_status", f"{status.value} but no group has finished")
        elif (counts.last_result is _FAILED_RESULT) != (status is FAILED) or result is not counts.last_result:
            problem("system_resolution", f"{status.value} with {result.value}, decided by a group of "
                    f"{counts.last_result.value}")
    elif result is not (_PENDING if status is PROCESSING else Resolution.INITIAL):
        problem("system_resolution", f"{result.value} while {status.value}")
    if group is None:
        if analyses:
            problem("analyses", "analyses without their group's counts")
        return problems
    running = sum(analysis.state is _RUNNING for analysis in analyses)
    if not running <= group.in_progress <= counts.in_progress:
        problem("in_progress", f"group {group.group_id} counts {group.in_progress} in progress: given "
                f"{running} of them, of the folder's {counts.in_progress}")
    if (group.finished_order is None) != (group.in_progress > 0):
        problem("finished_order", f"group {group.group_id} with {_count(group.in_progress)} in progress "
                f"has finished_order {group.finished_order}")
    for analysis in analyses:
        if analysis.state is not _RUNNING and analysis.resolution_status.rank < group.worst_ended.rank:
            problem("group_id", f"{analysis.describe()} ended {analysis.resolution_status.value}, worse than "
                    f"its group's worst, {group.worst_ended.value}")
    return problems


def _check_unclaimed(groups: Sequence[tuple[str | None, Sequence[Analysis]]]) -> None:
    """Refuse, for :meth:`Folder.restore`, an analysis in a group already or given twice.

    Taking it would leave the group it is in waiting for it forever.
    """
    seen: set[int] = set()
    for index, (_, analyses) in enumerate(groups):
        for analysis in analyses:
            owner = analysis.group
            if owner is not None:
                raise ValueError(f"Folder.restore(): groups[{index}]: {analysis.describe()} "
                                 f"belongs to {owner.describe()} already")
            if id(analysis) in seen:
                raise ValueError(f"Folder.restore(): groups[{index}]: {analysis.describe()} is given twice")
            seen.add(id(analysis))


# Reading a record: the folder's invariants, one checker for every reader.


class AnalysisFacts(Protocol):
    """What the folder's rules read of an analysis: an :class:`Analysis`, or a reader's record of one."""

    @property
    def analyse_id(self) -> str: ...

    @property
    def type(self) -> AnalysisType: ...

    @property
    def state(self) -> AnalysisState: ...

    @property
    def resolution_status(self) -> Resolution: ...

    @property
    def time_updated(self) -> float | None: ...


_A = TypeVar("_A", bound=AnalysisFacts)

FinishedOrder = Mapping[str | None, int] | Sequence[int | None]
"""Each finished group's place among the finished ones (1 first): by group id, or one per group in order."""


@attrs.frozen
class Consolidated(Generic[_A]):
    """A folder's record as its rules read it: its groups, the order they finished in, and what does not fit."""

    groups: tuple[tuple[str | None, tuple[_A, ...]], ...]
    """The record's groups in submit order, analyses of unknown groups modelled as :func:`consolidate` says."""
    finished_order: tuple[int | None, ...]
    """Each group's place among the finished ones (1 first); None for a running group."""
    problems: tuple[Inconsistency, ...]
    """Empty when the record is one the folder's events could have produced."""


def consolidate(resolution_status: FolderStatus, system_resolution: Resolution,
                groups: Sequence[tuple[str | None, Sequence[_A]]],
                finished_order: FinishedOrder | None = None) -> Consolidated[_A]:
    """Check a folder's record against the folder's rules: the one checker of a folder's invariants.

    :meth:`Folder.restore`, the JSON loader and the store all read records
    through it.  The rules: the (status, result) pair is legal; a folder is
    INITIAL exactly while it has no analyses, and PROCESSING exactly while one
    of them is; a group has an analysis or more; a settled folder's result is
    that of its last-finished group.

    ``finished_order`` is the order the groups finished in, when the record
    keeps it (a store does): it must rank exactly the finished groups, 1 to
    k.  Without it (the API's JSON) the last-finished group is any finished
    group whose last ``time_updated`` is the latest or unknown, and the order
    is inferred from those times, the tie going to a group whose result is
    the folder's.  Analyses whose group is unknown (``group_id`` None) could
    have been in any request, so then any finished group may have finished
    last, and they are modelled as one group: or as two, the ones worse than
    a settled folder's result and the others, which is the only way a group
    of them can have decided it.
    """
    exact = finished_order is not None
    facts = _group_facts(groups if exact else _model_unknown_groups(groups, resolution_status, system_resolution))
    problems: list[Inconsistency] = []
    _check_ids(facts, problems)
    ranks = _given_ranks(facts, finished_order, problems) if finished_order is not None else None
    deciders = _may_have_decided(facts, None if problems else ranks)  # ranks that do not fit decide nothing
    _check_statuses(resolution_status, system_resolution, facts, deciders, problems)
    order = ranks if ranks is not None and not problems else _inferred_order(facts, deciders, system_resolution)
    return Consolidated(tuple((group.group_id, group.members) for group in facts), tuple(order), tuple(problems))


@attrs.define
class _GroupFacts(Generic[_A]):
    """One recorded group and what the rules read of it, each figure computed once."""

    group_id: str | None
    members: tuple[_A, ...]
    running: bool
    result: Resolution
    """The worst of its analyses' results."""
    end: float | None
    """When its last analysis ended; None if some analysis's ``time_updated`` is missing."""
    trusted: bool
    """Whether every analysis's (state, result) is legal: else the group's figures mean nothing."""

    def name(self) -> str:
        if self.group_id is not None:
            return short_repr(self.group_id)
        shown = ", ".join(short_repr(member.analyse_id, 20) for member in self.members[:3])
        return f"of {shown}{', ...' if len(self.members) > 3 else ''}"


def _group_facts(groups: Sequence[tuple[str | None, Sequence[_A]]]) -> list[_GroupFacts[_A]]:
    facts = []
    for group_id, analyses in groups:
        members = tuple(analyses)  # the same object when it is a tuple already
        # One pass per group: this runs on every analysis a loader or a store reads.
        worst, running, latest, times_known, trusted = _BEST, False, -math.inf, True, True
        for member in members:
            state, result = member.state, member.resolution_status
            if result.rank < worst.rank:
                worst = result
            if state is _RUNNING:
                running = True
            when = member.time_updated
            if when is None:
                times_known = False
            elif when > latest:
                latest = when
            if trusted and restore_problem(member.type, state, result) is not None:
                trusted = False
        facts.append(_GroupFacts(group_id, members, running=running, result=worst,
                                 end=latest if times_known and members else None, trusted=trusted))
    return facts


def folder_status_problem(state: FolderStatus, results: Sequence[Resolution]) -> str | None:
    """Why a folder cannot be in ``state`` with analyses of these results, whichever group each was in.

    None if it can.  For a record that tells the results but not the groups (the Web SDK's bodies).
    """
    running = Resolution.PROCESSING in results
    if state is FolderStatus.INITIAL:
        return f"{state.value} but the folder has {len(results)} analyses"
    if running != (state is FolderStatus.PROCESSING):
        return f"{state.value} but {'an analysis is' if running else 'no analysis is'} {_RUNNING.value}"
    failed = Resolution.FAILED in results
    if state is FolderStatus.FAILED and not failed:
        return f"{state.value} but no analysis has {Resolution.FAILED.value}: the group that decided it had one"
    if state is FolderStatus.FINISHED and all(result is Resolution.FAILED for result in results):
        return f"{state.value} but every analysis has {Resolution.FAILED.value}: the group that decided it had none"
    return None


def _model_unknown_groups(groups: Sequence[tuple[str | None, Sequence[_A]]], status: FolderStatus,
                          result: Resolution) -> Sequence[tuple[str | None, Sequence[_A]]]:
    """The groups, with the analyses of unknown groups as one group, or two (see :func:`consolidate`)."""
    if all(group_id is not None for group_id, _ in groups):
        return groups  # every group known: nothing to model, and nothing copied (a loader reads millions)
    unknown = [analysis for group_id, analyses in groups if group_id is None for analysis in analyses]
    split = bool(unknown) and status in (FAILED, FINISHED) \
        and Resolution.worst(analysis.resolution_status for analysis in unknown).rank < result.rank
    modelled: list[tuple[str | None, list[_A]]] = []
    by_key: dict[object, list[_A]] = {}
    for group_id, analyses in groups:
        if group_id is not None:
            modelled.append((group_id, list(analyses)))
            continue
        for analysis in analyses:
            key = analysis.resolution_status.rank < result.rank if split else None
            if key not in by_key:
                by_key[key] = []
                modelled.append((None, by_key[key]))
            by_key[key].append(analysis)
    return modelled


def _check_ids(facts: list[_GroupFacts[_A]], problems: list[Inconsistency]) -> None:
    """Each group id a non-empty string given once, each analysis id given once."""
    groups: set[str] = set()
    analyses: set[str] = set()
    for group in facts:
        group_id = group.group_id
        if group_id is not None:
            if group_id.__class__ is not str or not group_id:
                problems.append(Inconsistency("group_id", f"{short_repr(group_id)} is not a group id (a non-empty "
                                                          "string)"))
            elif group_id in groups:
                problems.append(Inconsistency("group_id", f"{short_repr(group_id)} is given for two groups"))
            else:
                groups.add(group_id)
        for member in group.members:
            if member.analyse_id in analyses:
                problems.append(Inconsistency("analyse_id", f"{short_repr(member.analyse_id)} is given twice",
                                              member.analyse_id))
            analyses.add(member.analyse_id)


def _given_ranks(facts: list[_GroupFacts[_A]], finished_order: FinishedOrder,
                 problems: list[Inconsistency]) -> list[int | None]:
    """The recorded ranks, one per group; each one that does not fit is a problem."""
    if isinstance(finished_order, Mapping):
        known = {group.group_id for group in facts}
        for key in finished_order:
            if key not in known:
                problems.append(Inconsistency("finished_order", f"ranks {short_repr(key)}, which is no group of "
                                                                "the folder"))
        ranks = [finished_order.get(group.group_id) for group in facts]
    else:
        ranks = list(finished_order)
        if len(ranks) != len(facts):
            problems.append(Inconsistency("finished_order", f"has {len(ranks)} entries for {len(facts)} groups"))
            return [None] * len(facts)
    for index, rank in enumerate(ranks):
        if rank is not None and rank.__class__ is not int:
            problems.append(Inconsistency("finished_order", f"ranks group {facts[index].name()} "
                                                            f"{short_repr(rank)}, not a whole number"))
            ranks[index] = None
    for group, rank in zip(facts, ranks):
        if group.running and rank is not None:
            problems.append(Inconsistency("finished_order", f"ranks group {group.name()} {rank}, but it is running"))
        elif not group.running and rank is None:
            problems.append(Inconsistency("finished_order", f"group {group.name()} has finished but finished_order "
                                                            f"does not rank it"))
    given = sorted(rank for rank, group in zip(ranks, facts) if rank is not None and not group.running)
    if given != list(range(1, len(given) + 1)):
        problems.append(Inconsistency("finished_order", f"ranks the finished groups {given[:10]}, not 1 to "
                                                        f"{len(given)}"))
    return ranks


def _may_have_decided(facts: list[_GroupFacts[_A]], ranks: list[int | None] | None) -> list[_GroupFacts[_A]]:
    """The finished groups that may have finished last, by what the record tells."""
    finished = [group for group in facts if not group.running]
    if ranks is not None:
        ranked = [(rank, group) for rank, group in zip(ranks, facts) if rank is not None]
        return [max(ranked, key=lambda item: item[0])[1]] if ranked else []
    if any(group.group_id is None for group in facts):
        return finished
    latest = max((group.end for group in finished if group.end is not None), default=None)
    return [group for group in finished if group.end is None or group.end == latest]


def _check_statuses(status: FolderStatus, result: Resolution, facts: list[_GroupFacts[_A]],
                    deciders: list[_GroupFacts[_A]], problems: list[Inconsistency]) -> None:
    if (status, result) not in _LEGAL_PAIRS:
        problems.append(Inconsistency("system_resolution", f"{status.value} folder cannot have system_resolution "
                                                           f"{result.value}"))
        return
    for group in facts:
        empty = _group_size_problem(len(group.members))
        if empty is not None:
            problems.append(Inconsistency("analyses", f"group {group.name()}: {empty}"))
    count = sum(len(group.members) for group in facts)
    if status is INITIAL:
        if count:
            problems.append(Inconsistency("resolution_status", f"{status.value} but the folder has {count} analyses"))
        return
    if not count:
        problems.append(Inconsistency("resolution_status", f"{status.value} but the folder has no analyses"))
        return
    running = [member.analyse_id for group in facts for member in group.members if member.state is _RUNNING]
    if running and status is not PROCESSING:
        shown = ", ".join(short_repr(analyse_id, 20) for analyse_id in running[:3])
        problems.append(Inconsistency("resolution_status", f"{status.value} but {_count(len(running))} still "
                                      f"{_RUNNING.value}: {shown}{', ...' if len(running) > 3 else ''}"))
    if not running and status is PROCESSING:
        problems.append(Inconsistency("resolution_status", f"{status.value} but no analysis is"))
    if running or status is PROCESSING or not all(group.trusted for group in facts):
        return  # not decided yet, or the group results are not to be trusted
    if any(group.result is result for group in deciders):
        return
    if len(deciders) == 1:
        problems.append(Inconsistency("system_resolution", f"{result.value} but the last-finished group "
                                      f"{deciders[0].name()} has result {deciders[0].result.value}"))
    else:
        shown = ", ".join(f"{group.name()} {group.result.value}" for group in deciders[:5])
        more = f" and {len(deciders) - 5} more" if len(deciders) > 5 else ""
        problems.append(Inconsistency("system_resolution", f"{result.value} but no group that may have finished "
                                      f"last has that result ({shown}{more})"))


def _count(analyses: int) -> str:
    return f"{analyses} {'analysis is' if analyses == 1 else 'analyses are'}"


def _inferred_order(facts: list[_GroupFacts[_A]], deciders: list[_GroupFacts[_A]],
                    result: Resolution) -> list[int | None]:
    """Each group's place among the finished ones (1 first), by their ends, earliest first.

    Where the record cannot tell the last one apart (a tie, an unknown time,
    unknown membership), the last is one whose result is the folder's, so the
    restored folder agrees with itself.
    """
    finished = [index for index, group in enumerate(facts) if not group.running]

    def when(index: int) -> tuple[float, int]:
        group = facts[index]
        known = [member.time_updated for member in group.members if member.time_updated is not None]
        return (group.end if group.end is not None else max(known, default=-math.inf), index)

    finished.sort(key=when)
    if finished and facts[finished[-1]].result is not result:
        may_have = {id(group) for group in deciders}
        matching = [index for index in finished if id(facts[index]) in may_have and facts[index].result is result]
        if matching:
            finished.remove(matching[-1])
            finished.append(matching[-1])
    order: list[int | None] = [None] * len(facts)
    for rank, index in enumerate(finished, start=1):
        order[index] = rank
    return order


# Guards: each answers None when it holds, or why it does not.

_FAILED = Resolution.FAILED.value


SMALLEST_GROUP = 1
"""The fewest analyses a group may have: read by the submit guard, :func:`consolidate` and the toolkit's strategies."""


def _group_size_problem(count: int) -> str | None:
    """Why a group of ``count`` analyses cannot be: read by the submit guard and by :func:`consolidate`."""
    return None if count >= SMALLEST_GROUP else "a group needs one analysis or more"


def _group_not_empty(folder: Folder, group: Group) -> str | None:
    if not isinstance(group, Group):
        return f"expected a Group (folder.new_group(types)), got {short_repr(group)}"
    return _group_size_problem(len(group.analyses))


def _group_is_new(folder: Folder, group: Group) -> str | None:
    if group.folder is not folder:
        return f"group {group.group_id} was made for {group.folder.describe()}"
    if group._submitted:
        return f"group {group.group_id} was submitted already"
    stray = None if group._vouched else _stray_analysis(group)
    if stray is not None or not group._named:
        return stray
    taken = _taken_ids(folder, group)
    return None if taken is None else f"group {group.group_id}: {taken}"


def _taken_ids(folder: Folder, group: Group) -> str | None:
    """Why ``group``'s ids clash with each other or with ``folder``'s; None if they do not.  Scans the folder."""
    if group.group_id is not None and any(other.group_id == group.group_id for other in folder.groups):
        return f"group_id: {short_repr(group.group_id)} is already a group of the folder"
    taken = {analysis.analyse_id for analysis in folder.analyses}
    seen: set[str] = set()
    for index, analysis in enumerate(group.analyses):
        if analysis.analyse_id in taken:
            return f"analysis_ids[{index}]: {short_repr(analysis.analyse_id)} is already an analysis of the folder"
        if analysis.analyse_id in seen:
            return f"analysis_ids[{index}]: {short_repr(analysis.analyse_id)} is given twice"
        seen.add(analysis.analyse_id)
    return None


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


def _none_in_progress(folder: Folder) -> str | None:
    count = folder._in_progress
    return None if not count else f"{_count(count)} still {PROCESSING.value}"


_NOT_FAILED = f"the last-finished group is not {_FAILED}"
_IS_FAILED = f"the last-finished group is {_FAILED}"
_NONE_FINISHED = "no group has finished"


def _last_group_failed(folder: Folder) -> str | None:
    return None if _deciding_result(folder) is _FAILED_RESULT else _NOT_FAILED


def _last_group_not_failed(folder: Folder) -> str | None:
    result = _deciding_result(folder)
    if result is None:
        return _NONE_FINISHED
    return _IS_FAILED if result is _FAILED_RESULT else None


def _deciding_result(folder: Folder) -> Resolution | None:
    """The last-finished group's result; None while no group has finished."""
    return folder._last_result


# Effects: what taking an edge does besides moving the state.


def _attach(folder: Folder, group: Group) -> None:
    """Make ``group`` one of ``folder``'s, counted: for the submit event and for :meth:`Folder.restore` alike."""
    group._submitted = True
    folder._groups.append(group)
    folder._in_progress += group._in_progress


def _attach_group(folder: Folder, group: Group) -> None:
    _attach(folder, group)
    folder._system_resolution = _PENDING


def _adopt_last_group_result(folder: Folder) -> None:
    result = _deciding_result(folder)
    assert result is not None  # both settle edges' guards refuse while no group has finished
    folder._system_resolution = result


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
        "group_not_empty": Guard("group_not_empty", "the group is not empty", _group_not_empty, on_argument=True),
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
    drives=(
        Drive(
            source=ANALYSIS_DEFINITION,
            events=("finish", "fail"),
            through="group",
            note="counts it as ended and keeps the worst result (the group's last analysis to end makes it the "
                 "last-finished group)",
            event="settle",
            when="no analysis of the folder is in progress",
        ),
    ),
)
"""The folder machine: every state, edge, guard and effect, in one place."""

class _Reporter:
    """How the folder machine's moves reach listeners (see :mod:`statuses.listeners`)."""

    def hub(self, folder: Folder) -> Hub | None:
        return _listening_hub(folder)

    def record(self, folder: Folder, event: str, source: FolderStatus, dest: FolderStatus,
               argument: object) -> Transition:
        # submit's argument is the group submitted; settle's deciding group is the last-finished one.
        group = argument if isinstance(argument, Group) else folder._last_finished
        return Transition("folder", folder.folder_id, folder.folder_id, None if group is None else group.group_id,
                          event, source, dest, folder._system_resolution, None)


def _listening_hub(folder: Folder) -> Hub | None:
    """The folder's hub when a move of it or its analyses must be recorded; None (and no hub made) otherwise."""
    hub = folder._hub
    if hub is None:
        if not process_listening():
            return None
        hub = folder.hub()
    return hub if hub.listening else None


FOLDER_MACHINE = StatusMachine(FOLDER_DEFINITION, state_attribute="_folder_status", reporter=_Reporter())
_SUBMIT = FOLDER_MACHINE.status_events["submit"]
_DRIVEN = FOLDER_MACHINE.status_events[FOLDER_DEFINITION.drives[0].event]
"""The event the analyses' ends drive, as the definition declares: fired by :meth:`Group.analysis_ended`."""

_LEGAL_PAIRS = frozenset(FOLDER_DEFINITION.legal_pairs())


# Catching up with a newer record of the folder.


@attrs.define
class _Plan:
    """What a newer record asks of a folder, analysis by analysis."""

    forward: list[Analysis] = attrs.Factory(list)
    """The record's analyses that ended where the folder's are still PROCESSING."""
    new: list[Analysis] = attrs.Factory(list)
    """The record's analyses the folder does not have."""
    backward: list[Analysis] = attrs.Factory(list)
    """The folder's analyses that have ended where the record's are PROCESSING."""
    missing: list[Analysis] = attrs.Factory(list)
    """The folder's analyses the record does not list."""


def _catch_up(folder: Folder, remote: Folder) -> None:
    local = {analysis.analyse_id: analysis for analysis in folder.analyses}
    plan, misfits = _plan(folder, remote, local)
    if misfits:
        raise InconsistentFolder(folder.describe(), misfits)
    newer = remote.time_updated is not None and folder.time_updated is not None \
        and remote.time_updated > folder.time_updated
    progress = plan.forward or plan.new
    if plan.backward or plan.missing:
        if not (progress or newer):
            return  # stale: an older state of this folder, delivered late
        if plan.backward:
            ours = plan.backward[0]
            raise IllegalTransition(ours.describe(), ours.state.value, "catch_up",
                                    f"cannot go back to {_RUNNING.value} (the snapshot "
                                    f"{'moves other analyses forward' if progress else 'is newer'})")
        raise InconsistentFolder(folder.describe(), [
            Inconsistency("analyses", f"the snapshot does not list {ours.describe()}, which the folder has")
            for ours in plan.missing])
    if not progress and _statuses(folder) != _statuses(remote):
        raise IllegalTransition(folder.describe(), folder.resolution_status.value, "catch_up",
                                f"the snapshot's analyses are the folder's, but it says "
                                f"{'/'.join(_statuses(remote))}, not {'/'.join(_statuses(folder))}")
    if progress:
        # A rehearsal on a copy first: if the legal steps cannot reach the record, nothing here changes.
        rehearsal = _copy_statuses(folder)
        rehearsal._hub = Hub(muted=True)  # its moves are a rehearsal: nobody hears them
        _replay(rehearsal, remote, plan, {a.analyse_id: a for a in rehearsal.analyses})
        if _statuses(rehearsal) != _statuses(remote):
            raise IllegalTransition(
                folder.describe(), folder.resolution_status.value, "catch_up",
                f"leads by legal steps to {'/'.join(_statuses(rehearsal))}, not to the snapshot's "
                f"{'/'.join(_statuses(remote))}")
    if progress:
        _replay(folder, remote, plan, local)
    if _statuses(folder) != _statuses(remote):  # the rehearsal took the same steps: a bug if it differs
        raise AssertionError(f"catch_up: {folder.describe()} reached {_statuses(folder)}, its rehearsal "
                             f"{_statuses(remote)}")
    _adopt_fields(folder, remote, local, moved={a.analyse_id for a in (*plan.forward, *plan.new)})


def _statuses(folder: Folder) -> tuple[str, str]:
    return folder.resolution_status.value, folder.system_resolution.value


def _plan(folder: Folder, remote: Folder, local: dict[str, Analysis]) -> tuple[_Plan, list[Inconsistency]]:
    plan = _Plan()
    misfits: list[Inconsistency] = []
    listed: set[str] = set()
    known_groups = {group.group_id for group in folder.groups if group.group_id is not None}
    for their_group in remote.groups:
        group_id = their_group.group_id
        for theirs in their_group.analyses:
            ours = local.get(theirs.analyse_id)
            if ours is None:
                if group_id in known_groups:
                    misfits.append(Inconsistency("group_id", f"{short_repr(group_id)} is a group the folder has "
                                                 f"already, without {short_repr(theirs.analyse_id)}",
                                                 theirs.analyse_id))
                plan.new.append(theirs)
                continue
            listed.add(ours.analyse_id)
            our_group = ours.group.group_id if ours.group is not None else None
            if None not in (our_group, group_id) and our_group != group_id:
                misfits.append(Inconsistency("group_id", f"{short_repr(group_id)}, but the folder has "
                                             f"{short_repr(theirs.analyse_id)} in group {short_repr(our_group)}",
                                             theirs.analyse_id))
            if ours.type is not theirs.type:
                misfits.append(Inconsistency("type", f"{theirs.type.value}, but the folder has "
                                             f"{short_repr(theirs.analyse_id)} as {ours.type.value}",
                                             theirs.analyse_id))
                continue
            if (ours.state, ours.resolution_status) == (theirs.state, theirs.resolution_status):
                continue
            if ours.state is _RUNNING:
                plan.forward.append(theirs)
            elif theirs.state is _RUNNING:
                plan.backward.append(ours)
            else:
                raise IllegalTransition(ours.describe(), ours.state.value, "catch_up",
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


def _replay(folder: Folder, remote: Folder, plan: _Plan, local: dict[str, Analysis]) -> None:
    """Take the plan's steps on ``folder``: submit the new groups, then end analyses as the record did.

    The analyses end group by group in the order the record's groups
    finished, so the group that decided the record decides here too.
    """
    rank: dict[int, float] = {}
    new = {id(theirs) for theirs in plan.new}
    for their_group in remote.groups:
        for theirs in their_group.analyses:
            rank[id(theirs)] = math.inf if their_group.finished_order is None else their_group.finished_order
        members = [theirs for theirs in their_group.analyses if id(theirs) in new]
        if not members:
            continue
        group = folder._make_group([m.type for m in members], their_group.group_id, [m.analyse_id for m in members],
                                   named=True)
        _SUBMIT.take(folder, group)
        for mine in group.analyses:
            local[mine.analyse_id] = mine
    ends = [theirs for theirs in (*plan.forward, *plan.new) if theirs.ended]
    # Groups in the order they finished in the record, the running ones after; then by end time.
    ends.sort(key=lambda theirs: (rank[id(theirs)], math.inf if theirs.time_updated is None else theirs.time_updated))
    for theirs in ends:
        ours = local[theirs.analyse_id]
        if theirs.state is AnalysisState.FAILED:
            ours.fail(theirs.failure_reason)
        else:
            ours.finish(theirs.resolution_status)


def _adopt_fields(folder: Folder, remote: Folder, local: dict[str, Analysis], moved: set[str]) -> None:
    """The record's other fields (times, extras, key spellings), where it is not older than the folder."""
    older = remote.time_updated is not None and folder.time_updated is not None \
        and remote.time_updated < folder.time_updated
    for theirs in remote.analyses:
        ours = local[theirs.analyse_id]
        if older and theirs.analyse_id not in moved:
            continue
        ours.time_created = _known(theirs.time_created, ours.time_created)
        ours.time_updated = _known(theirs.time_updated, ours.time_updated)
        ours.extra, ours.spellings = _own(theirs.extra), theirs.spellings
    if not older:
        folder.time_created = _known(remote.time_created, folder.time_created)
        folder.time_updated = _known(remote.time_updated, folder.time_updated)
        folder.extra = _own(remote.extra)


def _own(extra: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy of a remote folder's ``extra`` dict: the remote may live on, and must not share it."""
    return None if extra is None else dict(extra)


def _known(theirs: float | None, ours: float | None) -> float | None:
    """A record that does not give a time leaves the one known: a clock never goes back to unknown."""
    return ours if theirs is None else theirs
