"""Machine definitions as data: the one description every consumer reads.

A :class:`MachineDefinition` lists a machine's states, events, edges, guards
and effects.  The transitions ``Machine`` is built from it
(:mod:`statuses.engine`), and so are the diagrams, the status tables and the
test matrices; nothing else may describe a machine a second time.

A definition checks itself when it is made, so a broken one fails at import
time with a message that says what is wrong, rather than misbehaving later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from . import display
from .enums import ApiEnum, Resolution, spell
from .errors import InvalidDefinition

GuardCheck = Callable[..., "str | None"]
"""``check(entity, *args, **kwargs)``: None when the guard holds, else why not."""

Effect = Callable[..., None]
"""``effect(entity, *args, **kwargs)``: what taking an edge does besides moving."""


@attrs.frozen
class Guard:
    """A named condition an edge needs, with the rule it enforces in words."""

    name: str
    requirement: str
    """The rule, short enough for a diagram label."""
    check: GuardCheck = attrs.field(eq=False, repr=False)
    on_argument: bool = False
    """Whether it reads the event's argument alone, never the entity: its refusal is then the caller's
    mistake in any state (``InvalidArgument``), not a move the state refuses (``IllegalTransition``)."""


@attrs.frozen
class StateSpec:
    """One state of a machine and the results an entity may carry in it."""

    value: ApiEnum
    results: tuple[Resolution, ...]
    """The legal values of the entity's result field while it is in this state."""
    initial: bool = False
    final: bool = False


@attrs.frozen
class EventSpec:
    """An event: its trigger's name, its parameters and what it stands for."""

    name: str
    description: str
    parameters: tuple[str, ...] = ()
    """Its one parameter's name, or none: an event takes one argument or none."""
    optional: bool = False
    """Whether its parameter may be left out (``fail()`` has no reason)."""


@attrs.frozen
class Edge:
    """``event`` moves an entity from any of ``sources`` to ``dest``.

    Every guard must hold; then every effect runs, in order, after the move.
    """

    event: str
    sources: tuple[ApiEnum, ...]
    dest: ApiEnum
    guards: tuple[str, ...] = ()
    effects: tuple[str, ...] = ()


@attrs.frozen
class Drive:
    """How another machine's events move this one: the coupling between two machines, as data.

    When an entity of ``source`` takes one of ``events``, its owner
    (``through``) takes note as ``note`` says; once ``when`` holds, the
    owner's entity takes this machine's ``event``, in the same step.  The
    folder declares that its analyses' ends drive its ``settle`` this way, so
    the diagrams, the rules page and the test paths can show it.
    """

    source: MachineDefinition
    events: tuple[str, ...]
    through: str
    """What relays the source's events to this machine's entity (``group``)."""
    note: str
    """What the relay does with each event, in words."""
    event: str
    when: str
    """When the relay fires ``event``, in words."""


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(value)


@attrs.frozen
class MachineDefinition:
    """Everything there is to know about one machine, checked when made."""

    name: str
    """Short lower-case name, used for file names and messages (``analysis``)."""
    entity: str
    """The class of the entities it drives (``Analysis``)."""
    state_field: str
    """The entity attribute that holds the state."""
    result_field: str
    """The entity attribute whose legal values depend on the state."""
    states: tuple[StateSpec, ...]
    events: tuple[EventSpec, ...]
    edges: tuple[Edge, ...]
    guards: Mapping[str, Guard] = attrs.field(converter=_frozen_mapping, eq=False)
    effects: Mapping[str, Effect] = attrs.field(converter=_frozen_mapping, eq=False)
    drives: tuple[Drive, ...] = ()
    """Other machines' events that move this one (see :class:`Drive`)."""

    def __attrs_post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise InvalidDefinition(self.name, problems)

    def _repr_svg_(self) -> str | None:
        """The notebook's picture of it (see :mod:`statuses.display`)."""
        return display.svg(self)

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        """What a notebook shows: the picture and the ``repr`` (see :mod:`statuses.display`)."""
        return display.mimebundle(self)

    @property
    def initial(self) -> StateSpec:
        """The state every new entity starts in."""
        return next(state for state in self.states if state.initial)

    @property
    def final_states(self) -> tuple[StateSpec, ...]:
        return tuple(state for state in self.states if state.final)

    def state(self, value: ApiEnum) -> StateSpec:
        """The spec of state ``value``; ``KeyError`` if the machine has none."""
        for state in self.states:
            if state.value is value:
                return state
        raise KeyError(f"machine {self.name!r} has no state {value!r}")

    def event(self, name: str) -> EventSpec:
        """The spec of event ``name``; ``KeyError`` if the machine has none."""
        for event in self.events:
            if event.name == name:
                return event
        raise KeyError(f"machine {self.name!r} has no event {name!r}")

    def edges_from(self, value: ApiEnum) -> tuple[Edge, ...]:
        return tuple(edge for edge in self.edges if value in edge.sources)

    def legal_pairs(self) -> tuple[tuple[ApiEnum, Resolution], ...]:
        """Every (state, result) pair an entity may be in, in table order."""
        return tuple((state.value, result) for state in self.states for result in state.results)


def _problems(definition: MachineDefinition) -> Iterator[str]:
    values = [state.value for state in definition.states]
    known = set(values)
    if len(known) != len(values):
        yield "a state is declared twice"
    if len({type(value) for value in values}) > 1:
        yield "states mix values of different enums"
    initials = [state.value.value for state in definition.states if state.initial]
    if len(initials) != 1:
        yield f"exactly one state must be initial, found {len(initials)}: {initials}"
    for state in definition.states:
        if not state.results:
            yield f"state {state.value.value} allows no value of {definition.result_field}"
        if state.initial and state.final:
            yield f"state {state.value.value} is both initial and final"

    event_names = [event.name for event in definition.events]
    if len(set(event_names)) != len(event_names):
        yield "an event is declared twice"
    for spec in definition.events:
        if len(spec.parameters) > 1:
            yield f"event {spec.name!r} takes {len(spec.parameters)} parameters; an event takes one or none"
    for drive in definition.drives:
        if drive.event not in event_names:
            yield f"drive from {drive.source.name}: event {drive.event!r} is not declared"
        for name in drive.events:
            if not any(source_event.name == name for source_event in drive.source.events):
                yield f"drive from {drive.source.name}: {drive.source.name} has no event {name!r}"
    for name in event_names:
        if not name.isidentifier() or name.startswith("_"):
            yield f"event name {name!r} is not a public identifier"
        if not any(edge.event == name for edge in definition.edges):
            yield f"event {name!r} has no edge"

    state_enum = type(values[0]) if values else None
    for index, edge in enumerate(definition.edges):
        where = f"edge {index} ({edge.event})"
        for value in (*edge.sources, edge.dest):
            if type(value) is not state_enum:
                yield f"{where}: {value!r} is not a {getattr(state_enum, '__name__', 'state')}"
        if edge.event not in event_names:
            yield f"{where}: event {edge.event!r} is not declared"
        if not edge.sources:
            yield f"{where}: has no source state"
        for source in edge.sources:
            if source not in known and type(source) is state_enum:
                yield f"{where}: source {spell(source)} is not a state of the machine"
        if edge.dest not in known and type(edge.dest) is state_enum:
            yield f"{where}: dest {spell(edge.dest)} is not a state of the machine"
        for guard in edge.guards:
            if guard not in definition.guards:
                yield f"{where}: guard {guard!r} is not defined"
        for effect in edge.effects:
            if effect not in definition.effects:
                yield f"{where}: effect {effect!r} is not defined"

    for name, registered in definition.guards.items():
        if registered.name != name:
            yield f"guard {name!r} is registered under another name ({registered.name!r})"
        if registered.on_argument:
            for edge in definition.edges:
                takes = edge.event not in event_names or definition.event(edge.event).parameters
                if name in edge.guards and not takes:
                    yield f"guard {name!r} reads the argument, but event {edge.event!r} takes none"

    for state in definition.states:
        exits = definition.edges_from(state.value)
        if state.final and exits:
            yield f"final state {state.value.value} has exits ({', '.join(e.event for e in exits)})"
        if not state.final and not exits:
            yield f"state {state.value.value} has no exit but is not marked final"
        for event in {edge.event for edge in exits}:
            unguarded = [edge for edge in exits if edge.event == event and not edge.guards]
            if len(unguarded) > 1 or (unguarded and len([e for e in exits if e.event == event]) > 1):
                yield f"event {event!r} from {state.value.value} has an unguarded edge beside another edge"

    if len(initials) == 1:
        reachable = _reachable(definition)
        for state in definition.states:
            if state.value not in reachable:
                yield f"state {state.value.value} cannot be reached from {initials[0]}"


def _reachable(definition: MachineDefinition) -> set[ApiEnum]:
    seen = {definition.initial.value}
    frontier = [definition.initial.value]
    while frontier:
        current = frontier.pop()
        for edge in definition.edges_from(current):
            if edge.dest not in seen:
                seen.add(edge.dest)
                frontier.append(edge.dest)
    return seen

