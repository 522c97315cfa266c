"""The exceptions the package raises.

Each one pickles: it may cross a process boundary (a worker pool, a task
queue) and arrive with the same type, message and attributes.  Their
constructors take more than a message, so each says in ``__reduce__`` how it
is made again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs


class IllegalTransition(Exception):
    """An event that the entity's current state does not allow.

    Raised before anything changes: the entity, its group and its folder are
    exactly as they were before the call.  Made as cheaply as an exception
    can be, since a service may refuse as often as it moves: its fields are
    read from its ``args`` and its message is written when it is shown
    (filling an instance dict and writing the words were most of a
    refusal's cost).
    """

    args: tuple[Any, ...]

    def __init__(self, entity: str, state: str, event: str, detail: Any) -> None:
        # BaseException keeps positional arguments as ``args``, which the fields below read; keywords it drops.
        if len(self.args) != 4:
            self.args = (entity, state, event, detail)

    @property
    def entity(self) -> str:
        """The entity, named with its kind, id and type (``Analysis 3f0c… (QUALITY)``)."""
        entity: str = self.args[0]
        return entity

    @property
    def state(self) -> str:
        """The entity's state when the event was refused."""
        state: str = self.args[1]
        return state

    @property
    def event(self) -> str:
        """The refused event."""
        event: str = self.args[2]
        return event

    @property
    def detail(self) -> str:
        """Why the event was refused, in words."""
        detail: str = self.args[3]
        return detail

    def __str__(self) -> str:
        return f"{self.entity} is {self.state}: event {self.event!r} {self.detail}"


class NoTransition(IllegalTransition):
    """The event has no edge from the entity's current state."""

    def __init__(self, entity: str, state: str, event: str, sources: Sequence[str]) -> None:
        if len(self.args) != 4 or sources.__class__ is not tuple:  # by keyword, or a list: args as it pickles
            self.args = (entity, state, event, tuple(sources))  # (not a super() call: refusals are hot)

    @property
    def sources(self) -> tuple[str, ...]:
        """The states the event does leave from."""
        return tuple(self.args[3])

    @property
    def detail(self) -> str:
        where = ", ".join(self.sources) if self.sources else "no state"
        return f"has no edge from {self.state} (it leaves only {where})"


class GuardRefused(IllegalTransition):
    """The event has an edge from the current state, but a guard refused it."""

    def __init__(self, entity: str, state: str, event: str, refusals: Sequence[tuple[str, str]]) -> None:
        if not refusals:
            raise ValueError("GuardRefused needs the refusal of at least one guard")
        if len(self.args) != 4 or refusals.__class__ is not tuple:  # by keyword, or a list: args as it pickles
            self.args = (entity, state, event, tuple(tuple(refusal) for refusal in refusals))

    @property
    def refusals(self) -> tuple[tuple[str, str], ...]:
        """``(guard name, why it refused)`` for each edge that was tried, each once."""
        return tuple(dict.fromkeys(tuple(refusal) for refusal in self.args[3]))

    @property
    def guard(self) -> str:
        """The first refusing guard."""
        return self.refusals[0][0]

    @property
    def reason(self) -> str:
        """Why the first refusing guard refused."""
        return self.refusals[0][1]

    @property
    def detail(self) -> str:
        return "refused by " + "; ".join(f"guard {guard!r}: {reason}" for guard, reason in self.refusals)


class InvalidDefinition(ValueError):
    """A machine definition that breaks a rule every definition must keep."""

    def __init__(self, machine: str, problems: Sequence[str]) -> None:
        self.machine = machine
        self.problems = tuple(problems)
        super().__init__(f"machine {machine!r} is not valid: " + "; ".join(self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, (self.machine, self.problems), self.__dict__


@attrs.frozen
class Inconsistency:
    """One thing a folder's record says that its rules cannot explain, and the field it is about.

    ``field`` is the folder's (``system_resolution``, ``finished_order``…),
    or the analysis's when ``analyse_id`` names one (``group_id``,
    ``type``): a reader of a document maps it onto the document's path.
    """

    field: str
    message: str
    analyse_id: str | None = None

    def __str__(self) -> str:
        where = self.field if self.analyse_id is None else f"analysis {self.analyse_id!r} {self.field}"
        return f"{where}: {self.message}"


class InconsistentFolder(ValueError):
    """A folder's record that its rules cannot explain: nothing was changed or made.

    Raised by :meth:`statuses.Folder.restore` for statuses that contradict
    the analyses, and by :meth:`statuses.Folder.catch_up` for a snapshot
    that does not fit the folder; :attr:`problems` lists every one found.
    """

    def __init__(self, entity: str, problems: Sequence[Inconsistency]) -> None:
        self.entity = entity
        """The folder, named with its id (``Folder f-1``)."""
        self.problems = tuple(problems)
        shown = "; ".join(str(problem) for problem in self.problems[:self.SHOWN])
        more = f"; and {len(self.problems) - self.SHOWN} more" if len(self.problems) > self.SHOWN else ""
        super().__init__(f"{entity}: {shown}{more}")

    SHOWN = 10
    """How many problems the message lists; :attr:`problems` has them all."""

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, (self.entity, self.problems), self.__dict__


class InvalidArgument(ValueError, TypeError):
    """A caller's mistake that no state could make legal: the event, call or value is wrong in itself.

    A verdict that is not a verdict, an unknown analysis type, an empty
    group, an argument of the wrong type or number.  A service answers it
    with 400/422, where an :class:`IllegalTransition` (a move the state or a
    rule refuses) is 409.  Nothing was changed.  It is a ``ValueError`` and,
    since a wrong type is one of its cases, a ``TypeError`` too: code that
    caught either before still does.
    """

    def __init__(self, entity: str, call: str, problem: str) -> None:
        self.entity = entity
        """What the call was made on (``Analysis 3f0c… (QUALITY)``, ``Folder f-1``)."""
        self.call = call
        """The call and the argument at fault (``finish(verdict)``, ``submit(types[2])``)."""
        self.problem = problem
        """What is wrong with it, in words."""
        super().__init__(f"{entity}: {call}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, (self.entity, self.call, self.problem), self.__dict__


class ListenerError(Exception):
    """One or more listeners raised while being told of transitions that were taken and stand.

    Raised to the caller of the event once every listener has been given
    every record (none is skipped because another raised): the entities
    moved, and :attr:`transitions` says how.  ``__cause__`` is the first
    error; :attr:`errors` holds each.
    """

    def __init__(self, transitions: Sequence[Any], errors: Sequence[BaseException]) -> None:
        self.transitions = tuple(transitions)
        """The records delivered: the move that stands."""
        self.errors = tuple(errors)
        """What each failing listener raised, in the order they ran."""
        self.outcome: Any = None
        """What the call would have returned had no listener raised (``Folder.submit``'s group, ``Store.submit``'s
        ids), so that a caller loses nothing of a move that stands; None for the calls that return nothing."""
        moved = ", ".join(f"{t.entity} {t.id} {t.event} {t.source.value}->{t.dest.value}" for t in self.transitions)
        first = self.errors[0] if self.errors else None
        super().__init__(f"{len(self.errors)} listener(s) raised after a move that stands ({moved}); "
                         f"first: {first!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, (self.transitions, self.errors), self.__dict__


REFUSALS: tuple[type[IllegalTransition], type[InvalidArgument]] = (IllegalTransition, InvalidArgument)
"""What an event raises when it changes nothing: ``except REFUSALS`` catches a refused move and bad input alike."""

Refusal = IllegalTransition | InvalidArgument
"""The type of either refusal."""
