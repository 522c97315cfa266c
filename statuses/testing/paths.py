"""Test cases read off a machine definition: its matrix and its paths.

Everything here is computed from a :class:`~statuses.definition.MachineDefinition`
alone, so it works for the package's two machines and for any definition in
the same form.  A step carries the arguments that take its edge: for the
package's machines they come from :mod:`statuses.testing.drivers`; for another
definition, pass ``arguments={(event, dest): args}`` (missing ones are ``()``).

The graph is the definition's edges, one per (source, event, dest): an
:class:`~statuses.definition.Edge` with several sources counts once per source.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import attrs

from ..definition import Edge, MachineDefinition
from ..engine import StatusMachine
from ..enums import ApiEnum, spell
from ..values import short_repr
from .defaults import Arguments, default_arguments

MachineLike = MachineDefinition | StatusMachine


@attrs.frozen
class Step:
    """One edge taken: ``event(*args)`` moves the entity from ``source`` to ``dest``."""

    event: str
    source: ApiEnum
    dest: ApiEnum
    guards: tuple[str, ...] = ()
    """The guards that must hold; ``args`` satisfy them."""
    args: tuple[object, ...] = ()

    def __str__(self) -> str:
        arguments = ", ".join(show_argument(arg) for arg in self.args)
        return f"{spell(self.source)} --{self.event}({arguments})--> {spell(self.dest)}"


@attrs.frozen
class Path:
    """A sequence of steps from the machine's initial state to :attr:`dest`."""

    machine: str
    start: ApiEnum
    steps: tuple[Step, ...]

    @property
    def dest(self) -> ApiEnum:
        return self.steps[-1].dest if self.steps else self.start

    @property
    def events(self) -> tuple[str, ...]:
        return tuple(step.event for step in self.steps)

    @property
    def id(self) -> str:
        """A readable test id: ``folder-INITIAL-submit-settle-FINISHED``."""
        return "-".join([self.machine, spell(self.start), *self.events, spell(self.dest)])

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __str__(self) -> str:
        if not self.steps:
            return f"{self.machine}: {spell(self.start)} (no step)"
        return f"{self.machine}: " + " ".join(
            [spell(self.start), *(f"--{step.event}--> {spell(step.dest)}" for step in self.steps)]
        )


@attrs.frozen
class Expectation:
    """What one event must do from one state: move to :attr:`dest`, or be refused.

    ``args`` are arguments that its guards accept (for an illegal pair, those
    that an edge of the same event would accept), so a refusal is due to the
    state alone.
    """

    machine: str
    state: ApiEnum
    event: str
    dest: ApiEnum | None
    """None when the event has no edge from :attr:`state`."""
    guards: tuple[str, ...] = ()
    args: tuple[object, ...] = ()

    @property
    def legal(self) -> bool:
        return self.dest is not None

    @property
    def id(self) -> str:
        """A readable test id: ``analysis-FINISHED-finish-illegal``, ``analysis-PROCESSING-fail-FAILED``."""
        outcome = "illegal" if self.dest is None else spell(self.dest)
        return f"{self.machine}-{spell(self.state)}-{self.event}-{outcome}"

    @property
    def step(self) -> Step:
        """The expectation as a step; :class:`ValueError` for an illegal one."""
        if self.dest is None:
            raise ValueError(f"{self.id}: an illegal pair is no step")
        return Step(self.event, self.state, self.dest, self.guards, self.args)


def show_argument(value: object) -> str:
    """An argument as messages and test ids write it: statuses in the API's spelling."""
    if isinstance(value, ApiEnum):
        return spell(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show_argument(item) for item in value) + "]"
    return short_repr(value)


def definition_of(machine: MachineLike) -> MachineDefinition:
    """The definition of a machine given as a definition or a :class:`StatusMachine`."""
    if isinstance(machine, StatusMachine):
        return machine.definition
    if isinstance(machine, MachineDefinition):
        return machine
    raise TypeError(f"expected a MachineDefinition or a StatusMachine, got {type(machine).__name__}")


def _arguments_for(definition: MachineDefinition, arguments: Arguments | None) -> Arguments:
    return arguments if arguments is not None else default_arguments(definition)


def _steps_from(definition: MachineDefinition, state: ApiEnum, arguments: Arguments) -> Iterator[Step]:
    for edge in definition.edges_from(state):
        yield _step(edge, state, arguments)


def _step(edge: Edge, source: ApiEnum, arguments: Arguments) -> Step:
    return Step(edge.event, source, edge.dest, edge.guards, arguments.get((edge.event, edge.dest), ()))


def transition_matrix(machine: MachineLike, *, arguments: Arguments | None = None) -> tuple[Expectation, ...]:
    """Every (state, event) pair and what it must do, in the definition's order.

    A pair with several guarded edges (the folder's ``settle``) gives one
    expectation per edge; a pair with none gives one illegal expectation.
    """
    definition = definition_of(machine)
    known = _arguments_for(definition, arguments)
    witness = {edge.event: known.get((edge.event, edge.dest), ()) for edge in reversed(definition.edges)}
    rows: list[Expectation] = []
    for state in definition.states:
        edges = definition.edges_from(state.value)
        for event in definition.events:
            taken = [edge for edge in edges if edge.event == event.name]
            if not taken:
                rows.append(Expectation(definition.name, state.value, event.name, None, (), witness[event.name]))
            for edge in taken:
                step = _step(edge, state.value, known)
                rows.append(Expectation(definition.name, state.value, event.name, edge.dest, edge.guards, step.args))
    return tuple(rows)


def shortest_paths(machine: MachineLike, *, arguments: Arguments | None = None) -> dict[ApiEnum, Path]:
    """One shortest path from the initial state to each reachable state (the initial one: no step).

    Breadth-first over the edges in the definition's order, so the answer is
    the same on every run.
    """
    definition = definition_of(machine)
    known = _arguments_for(definition, arguments)
    start = definition.initial.value
    paths: dict[ApiEnum, tuple[Step, ...]] = {start: ()}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        for step in _steps_from(definition, state, known):
            if step.dest not in paths:
                paths[step.dest] = (*paths[state], step)
                queue.append(step.dest)
    return {state: Path(definition.name, start, steps) for state, steps in paths.items()}


def simple_paths(machine: MachineLike, *, to: ApiEnum, arguments: Arguments | None = None) -> tuple[Path, ...]:
    """Every path from the initial state to ``to`` that visits no state twice.

    Two edges between the same states (different events, or the same event
    with different guards) make two paths.  ``to`` being the initial state
    gives the one empty path.
    """
    definition = definition_of(machine)
    target = definition.state(to).value  # KeyError naming the machine if it has no such state
    known = _arguments_for(definition, arguments)
    start = definition.initial.value
    found: list[Path] = []

    def walk(state: ApiEnum, visited: frozenset[ApiEnum], steps: tuple[Step, ...]) -> None:
        if state is target:
            found.append(Path(definition.name, start, steps))
            return
        for step in _steps_from(definition, state, known):
            if step.dest not in visited:
                walk(step.dest, visited | {step.dest}, (*steps, step))

    walk(start, frozenset({start}), ())
    return tuple(found)


def edge_cover(machine: MachineLike, *, arguments: Arguments | None = None) -> tuple[Path, ...]:
    """A few paths from the initial state that together take every edge at least once.

    Greedy: from where the current path stands, walk the shortest way to the
    nearest edge not taken yet and take it; when none can be reached from
    there (a final state), start a new path from the initial state.  Not
    always the minimum, but small, and the same on every run.
    """
    definition = definition_of(machine)
    known = _arguments_for(definition, arguments)
    start = definition.initial.value
    remaining = [_step(edge, source, known) for edge in definition.edges for source in edge.sources]
    paths: list[Path] = []
    steps: list[Step] = []
    state = start
    while remaining:
        route = _route_to_untaken(definition, state, remaining, known)
        if route is None:
            if not steps:
                unreachable = ", ".join(str(step) for step in remaining)
                raise ValueError(f"machine {definition.name!r}: edges not reachable from {spell(start)}: {unreachable}")
            paths.append(Path(definition.name, start, tuple(steps)))
            steps, state = [], start
            continue
        for step in route:
            if step in remaining:
                remaining.remove(step)
        steps.extend(route)
        state = route[-1].dest
    if steps:
        paths.append(Path(definition.name, start, tuple(steps)))
    return tuple(paths)


def _route_to_untaken(
    definition: MachineDefinition, state: ApiEnum, untaken: list[Step], known: Arguments
) -> list[Step] | None:
    """The shortest walk from ``state`` whose last step is one not taken yet."""
    routes: dict[ApiEnum, list[Step]] = {state: []}
    queue = deque([state])
    while queue:
        current = queue.popleft()
        for step in _steps_from(definition, current, known):
            if step in untaken:
                return [*routes[current], step]
            if step.dest not in routes:
                routes[step.dest] = [*routes[current], step]
                queue.append(step.dest)
    return None
