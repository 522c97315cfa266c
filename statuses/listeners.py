"""What a service hears of the machines: one :class:`Transition` record per move, delivered to listeners.

Theory of operation
-------------------
``statuses.subscribe(callback)`` hears every transition in the process;
``folder.subscribe(callback)`` those of one folder and its analyses.  Both
return a :class:`Subscription`.

The machines report a move only while something listens: the engine takes a
reporting path for its events only while a subscription or a :class:`Hub`
hold is open anywhere (:func:`when_armed`), so with none a move costs
nothing more.  Each folder (and, together, the analyses of no folder) has a
:class:`Hub`: the engine opens a place in it when it takes an edge and fills
it once the edge's effects have run, so the records keep the order the moves
were taken in even though a folder's ``settle`` completes inside its
analysis's ``finish``.  When the outermost move is complete (the analysis's
and its folder's), the hub delivers: each record to each of the folder's
listeners, then to each of the process's.

Delivery runs on the thread that moved, under the folder's lock: a listener
reads the folder as the move left it, and the listeners of one folder hear
its moves in the order taken.  A listener should be quick (hand slow work to
a queue).  One that raises does not stop the others, nor undo the move: once
every record has been delivered, :class:`~statuses.errors.ListenerError`
reaches the caller of the event, saying what moved.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Literal

import attrs

from .enums import AnalysisState, FolderStatus, Resolution
from .errors import InvalidArgument, ListenerError
from .values import short_repr


@attrs.frozen
class Transition:
    """One move of one entity as its machine took it: what listeners receive and every report lists.

    The same record reports a move everywhere: to listeners, from
    :meth:`statuses.Folder.catch_up` and :func:`statuses.payloads.observe`,
    and from the store (its return values, ``history`` and ``changes``).
    """

    entity: Literal["analysis", "folder"]
    """Which machine moved."""
    id: str
    """The analysis's ``analyse_id`` or the folder's ``folder_id``."""
    folder_id: str | None
    """The folder it belongs to (its own id for a folder); None for a standalone analysis of no known folder."""
    group_id: str | None
    """An analysis's group; for ``submit`` the group submitted, for ``settle`` the last-finished group that decided."""
    event: str
    """``finish``, ``fail``, ``submit`` or ``settle``."""
    source: AnalysisState | FolderStatus
    """The state it left."""
    dest: AnalysisState | FolderStatus
    """The state it entered."""
    result: Resolution
    """The entity's result field after the move: an analysis's ``resolution_status``, a folder's ``system_resolution``."""
    argument: Resolution | str | None = None
    """The event's argument: ``finish``'s verdict, ``fail``'s reason; None for the folder's events."""


Listener = Callable[[Transition], object]
"""Called with each transition; what it returns is ignored."""

_lock = threading.RLock()
"""Guards the subscriptions and the arming count; never held while a listener runs.  Re-entrant: a collected
hub's finalizer may disarm while this thread holds it."""
_process: list[Listener] = []
"""Every process-wide listener.  Replaced, never changed in place, so a delivery iterates a stable list."""
_armed = 0
"""Open subscriptions and holds: the machines report moves while it is above zero."""
_arming: list[Callable[[bool], None]] = []


def when_armed(switch: Callable[[bool], None]) -> None:
    """Call ``switch(True)`` when reporting becomes needed and ``switch(False)`` when it no longer is.

    The engine registers each machine here, so that an event pays for
    reporting only while something listens.
    """
    with _lock:
        _arming.append(switch)
        if _armed:
            switch(True)


def _arm(delta: int) -> None:
    global _armed
    with _lock:
        before, _armed = _armed, _armed + delta
        if bool(before) != bool(_armed):
            for switch in _arming:
                switch(bool(_armed))


def process_listening() -> bool:
    """Whether a process-wide listener is subscribed: then every move is recorded."""
    return bool(_process)


class Subscription:
    """A listener's registration: :meth:`cancel` it, or use it as a context manager that cancels on exit."""

    __slots__ = ("callback", "_target", "_active")

    def __init__(self, callback: Listener, hub: Hub | None) -> None:
        if not callable(callback):
            raise InvalidArgument("statuses", "subscribe(callback)", f"takes a callable, not {short_repr(callback)}")
        self.callback = callback
        self._target = hub
        self._active = False

    def _start(self) -> Subscription:
        global _process
        with _lock:
            if self._target is None:
                _process = [*_process, self.callback]
            else:
                self._target.subscribers = [*self._target.subscribers, self.callback]
                self._target.held_open(+1)
            self._active = True
        _arm(+1)
        return self

    @property
    def active(self) -> bool:
        """Whether the listener still hears transitions."""
        return self._active

    def cancel(self) -> None:
        """Stop hearing transitions, from the next move on; cancelling twice does nothing."""
        global _process
        with _lock:
            if not self._active:
                return
            self._active = False
            if self._target is None:
                _process = _without(_process, self.callback)
            else:
                self._target.subscribers = _without(self._target.subscribers, self.callback)
                self._target.held_open(-1)
        _arm(-1)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.cancel()

    def __repr__(self) -> str:
        where = "process" if self._target is None else "folder"
        return f"<Subscription of {self.callback!r} to the {where}'s transitions{'' if self._active else ', cancelled'}>"


def _without(listeners: list[Listener], callback: Listener) -> list[Listener]:
    """``listeners`` without one registration of ``callback`` (the same callable may be subscribed twice)."""
    kept = list(listeners)
    for index, listener in enumerate(kept):
        if listener is callback:
            del kept[index]
            break
    return kept


def subscribe(callback: Listener) -> Subscription:
    """Hear every transition taken in this process from now on: ``callback(transition)`` after each move.

    >>> import statuses
    >>> heard = []
    >>> with statuses.subscribe(heard.append):
    ...     statuses.Analysis(type="QUALITY").finish("SUCCESS")
    >>> [(t.entity, t.event, t.dest.value, t.result.value) for t in heard]
    [('analysis', 'finish', 'FINISHED', 'SUCCESS')]
    """
    return Subscription(callback, None)._start()


class Hub:
    """One folder's listeners, and the transitions of the move in progress on it, kept in the order taken.

    Changed only under the lock of what it serves (its folder's, or the one
    of the analyses of no folder), so it needs none of its own.
    """

    __slots__ = ("subscribers", "pending", "depth", "holds", "muted", "delivering", "queued", "_open", "__weakref__")

    def __init__(self, *, muted: bool = False) -> None:
        self.subscribers: list[Listener] = []
        self.pending: list[Transition | None] = []
        """The records of the move in progress; a None is a place opened and not yet filled."""
        self.depth = 0
        """Moves begun and not yet ended, holds included: delivery waits for zero."""
        self.holds = 0
        self.muted = muted
        """A rehearsal's hub: nothing taken on it is reported."""
        self.delivering = False
        """Whether a delivery is under way: a move a listener takes then waits in :attr:`queued`."""
        self.queued: list[Transition] = []
        self._open: list[int] | None = None
        """How many of its subscriptions are active, shared with the finalizer that disarms them if the hub is
        collected uncancelled (its folder dropped): else every event in the process would go on reporting."""

    def held_open(self, change: int) -> None:
        """Count a subscription started (+1) or cancelled (-1); called under the module's lock."""
        if self._open is None:
            self._open = [0]
            weakref.finalize(self, _release, self._open)
        self._open[0] += change

    def subscribe(self, callback: Listener) -> Subscription:
        """Hear this hub's transitions from now on."""
        return Subscription(callback, self)._start()

    @property
    def listening(self) -> bool:
        """Whether a move here must be recorded: someone hears it, or a hold collects it."""
        return not self.muted and bool(self.holds or self.subscribers or _process)

    def begin(self) -> int:
        """Open the place of a move's record, before the move's effects run (which may move others)."""
        self.depth += 1
        self.pending.append(None)
        return len(self.pending) - 1

    def end(self, place: int, record: Transition) -> None:
        """Fill the place with the finished move's record; deliver once the outermost move has ended."""
        self.pending[place] = record
        self.depth -= 1
        if not self.depth:
            self.deliver()

    def abandon(self, place: int) -> None:
        """A move that raised half-way (a bug in an effect): its place stays empty and nothing is delivered."""
        self.depth -= 1
        if not self.depth:
            self.pending = []

    def deliver(self) -> None:
        """Give every record to every listener, then raise :class:`ListenerError` if any of them raised.

        A listener that moves the folder while it hears a record has its move
        queued, not delivered inside its own call: the records that came
        before reach every listener first, so all of them hear the same order.
        """
        records = [record for record in self.pending if record is not None]
        self.pending = []
        if not records:
            return
        if self.delivering:
            self.queued.extend(records)
            return
        self.delivering = True
        delivered: list[Transition] = []
        errors: list[Exception] = []
        try:
            while records:
                errors += _give(records, self.subscribers)
                delivered += records
                records, self.queued = self.queued, []
        finally:
            self.delivering = False
        if errors:
            raise ListenerError(delivered, errors) from errors[0]

    @contextmanager
    def hold(self, deliver_after: bool = True) -> Iterator[list[Transition]]:
        """Collect the moves taken inside the block into the list it yields, delivered at its end (or not).

        For what takes several moves as one (``Folder.catch_up``) and for the
        store, which delivers once its transaction has committed
        (``deliver_after=False``).  On an exception nothing is delivered.
        """
        _arm(+1)
        self.holds += 1
        self.depth += 1
        start = len(self.pending)
        taken: list[Transition] = []
        delivered = False
        try:
            yield taken
            taken.extend(record for record in self.pending[start:] if record is not None)
            if not deliver_after:
                del self.pending[start:]
            delivered = True
        finally:
            self.holds -= 1
            self.depth -= 1
            if not delivered:
                del self.pending[start:]
            _arm(-1)
        if not self.depth:
            self.deliver()


def _release(still_open: list[int]) -> None:
    """A collected hub's subscriptions, never cancelled, stop keeping the machines reporting."""
    if still_open[0]:
        _arm(-still_open[0])


def deliver(records: Sequence[Transition], subscribers: Sequence[Listener] = ()) -> None:
    """Give each record to each of ``subscribers``, then to each process-wide listener, in order.

    Every listener hears every record even when one raises; then
    :class:`ListenerError` is raised, its ``__cause__`` the first error.
    """
    errors = _give(records, subscribers)
    if errors:
        raise ListenerError(records, errors) from errors[0]


def _give(records: Sequence[Transition], subscribers: Sequence[Listener]) -> list[Exception]:
    """Give each record to each listener; what they raised, in order."""
    errors: list[Exception] = []
    everyone = [*subscribers, *_process]
    for record in records:
        for listener in everyone:
            try:
                listener(record)
            except Exception as error:  # the move stands: the others still hear it, the caller hears of this
                errors.append(error)
    return errors
