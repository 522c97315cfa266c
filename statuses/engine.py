"""The transitions ``Machine`` that runs a :class:`MachineDefinition`.

Theory of operation
-------------------
One :class:`StatusMachine` is built per definition, once, at import; no
entity is ever added to it as a model.  An event is fired one way:
``machine.fire(entity, event, argument)``, or the entity's own method
(``analysis.finish(verdict)``).  Both end in the event's
:meth:`StatusEvent.take`: ``fire`` through transitions' own entry point,
:meth:`StatusEvent.trigger`, which checks the arguments first, and the
entity's method directly, as it passes exactly one.  transitions allows
triggering an event for an object that was never added, so holding a million
entities costs the machine nothing.

The classes below narrow transitions' general machinery to what a status
machine needs, which keeps the per-event path short:

* an event takes one argument or none (a definition says so), so the guards'
  checks and the effects are called with exactly that, never with
  ``*args, **kwargs`` forwarded: forwarding was the largest cost of an event;
* an event finds its candidate edges by the entity's current state in a dict
  built once, and raises :class:`NoTransition` when there are none;
* :meth:`StatusEvent.take` is the one loop over the guards: a candidate
  edge's guards run in order, each answering None when it holds or the
  reason it does not; when every candidate is refused the event raises
  :class:`GuardRefused` with every reason.  A refusal is never a quiet
  ``False``;
* taking an edge assigns the destination and runs the edge's effects.  There
  are no enter/exit callbacks, no queue and no logging on the way.

The edges are still ordinary transitions ``Transition`` objects with their
guards as conditions and their effects as ``after`` callbacks, so the stock
transitions tooling (diagrams, ``get_transitions``, ``get_triggers``) sees
exactly what runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from transitions import Event, EventData, Machine, Transition

from .definition import Edge, Effect, Guard, GuardCheck, MachineDefinition
from .enums import ApiEnum, spell
from .errors import GuardRefused, IllegalTransition, NoTransition


class Entity(Protocol):
    """What a machine needs of the objects it drives."""

    def describe(self) -> str:
        """The entity's kind, id and type, for error messages."""


class StatusTransition(Transition):
    """One edge from one source state, with its guards and effects resolved."""

    def __init__(
        self,
        source: str,
        dest: str,
        conditions: Any = None,
        unless: Any = None,
        before: Any = None,
        after: Any = None,
        prepare: Any = None,
        *,
        guards: Sequence[Guard] = (),
        effects: Sequence[Effect] = (),
        dest_value: ApiEnum,
    ) -> None:
        super().__init__(source, dest, conditions, unless, before, after, prepare)
        self.guards: tuple[Guard, ...] = tuple(guards)
        self.checks: tuple[tuple[str, GuardCheck], ...] = tuple((guard.name, guard.check) for guard in self.guards)
        """Each guard's name and check, resolved once so the hot path reads no attribute per guard."""
        self.effects: tuple[Effect, ...] = tuple(effects)
        self.dest_value = dest_value


NO_ARGUMENT: Any = object()
"""An event given no argument at all (None is an argument: ``fail(None)``)."""


class StatusEvent(Event):
    """An event that raises on refusal and dispatches without EventData."""

    def __init__(self, name: str, machine: Machine) -> None:
        super().__init__(name, machine)
        self.by_state: dict[ApiEnum, list[StatusTransition]] = {}
        self.state_field: str = machine.model_attribute
        """Read once: the machine's ``model_attribute`` never changes."""
        self.parameter: str | None = None
        """The name of the event's one parameter, if it takes one (set from its :class:`EventSpec`)."""
        self.arity = 0
        """How many positional arguments it takes at most: 1 with a parameter, else 0."""
        self.required = 0
        """How many it needs: 1 with a parameter that is not optional, else 0."""
        self.sources: tuple[str, ...] = ()
        """The states the event leaves from, spelled, for refusal messages."""
        self.spelled: dict[object, str] = {}
        """Every state of the machine, spelled once rather than on each refusal."""

    def add_transition(self, transition: Transition) -> None:
        super().add_transition(transition)
        assert isinstance(transition, StatusTransition)
        source = self.machine.get_state(transition.source).value
        assert isinstance(source, ApiEnum)  # StatusMachine's states are enum members
        self.by_state.setdefault(source, []).append(transition)
        self.sources = tuple(spell(value) for value in self.by_state)
        self.spelled = {state.value: spell(state.value) for state in self.machine.states.values()}

    def trigger(self, model: object, *args: Any, **kwargs: Any) -> bool:
        """Take the edge that ``model``'s state and guards allow; raise :class:`IllegalTransition` if none.

        ``args``: the event's one argument, or none; by keyword under the
        parameter's name (``verdict=...``) if the caller prefers.  This is
        transitions' own entry point, and :meth:`StatusMachine.fire`'s.
        """
        if kwargs or not self.required <= len(args) <= self.arity:
            args = self.arguments(args, kwargs)
        self.take(model, *args)
        return True

    def take(self, model: object, argument: Any = NO_ARGUMENT, apply: bool = True) -> StatusTransition:
        """The one loop over the guards: find the edge from ``model``'s state whose guards all hold, and take it.

        With ``apply`` False nothing changes: the edge is only returned (for
        :meth:`StatusMachine.check` and ``allows``).  Every refusal raises:
        :class:`NoTransition` without an edge from the state, else
        :class:`GuardRefused` with each candidate edge's first refusing guard.
        The argument is passed as it is, never through ``*args, **kwargs``
        (forwarding was the largest cost of an event): :meth:`trigger` checks
        it first; an entity's method, which calls this directly, passes one.
        """
        field = self.state_field
        state = getattr(model, field)
        candidates = self.by_state.get(state)
        if candidates is None:
            raise self._no_edge(model, state)
        one = argument is not NO_ARGUMENT
        refusals: list[tuple[str, str]] | None = None
        for transition in candidates:
            for name, check in transition.checks:
                reason = check(model, argument) if one else check(model)
                if reason is not None:
                    if refusals is None:
                        refusals = []
                    refusals.append((name, reason))
                    break
            else:
                if apply:
                    setattr(model, field, transition.dest_value)
                    for effect in transition.effects:
                        effect(model, argument) if one else effect(model)
                return transition
        raise GuardRefused(_describe(model), spell(state), self.name, refusals or ())

    def choose(self, model: object, args: tuple[Any, ...]) -> StatusTransition:
        """The edge :meth:`trigger` would take with ``args`` (one argument or none); raises if none.  Changes nothing."""
        return self.take(model, args[0] if args else NO_ARGUMENT, False)

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """``args`` and ``kwargs`` as the event's one positional argument or none; ``TypeError`` otherwise."""
        if kwargs:
            if args or self.parameter is None or set(kwargs) != {self.parameter}:
                takes = f"its one argument, {self.parameter!r}" if self.parameter else "no argument"
                raise TypeError(f"event {self.name!r} takes {takes}; got {len(args)} positional and "
                                f"{', '.join(map(repr, kwargs))} by keyword")
            return (kwargs[self.parameter],)
        if not self.required <= len(args) <= self.arity:
            takes = "no argument" if not self.parameter else \
                f"{'an optional' if not self.required else 'one'} argument ({self.parameter})"
            raise TypeError(f"event {self.name!r} takes {takes}; got {len(args)}")
        return args

    def _no_edge(self, model: object, state: object) -> NoTransition:
        """The refusal of this event from ``state``, which it has no edge from."""
        return NoTransition(_describe(model), self.spelled.get(state) or spell(state), self.name, self.sources)


class StatusMachine(Machine):
    """The transitions ``Machine`` of one definition; shared by all its entities."""

    transition_cls = StatusTransition
    event_cls = StatusEvent

    def __init__(self, definition: MachineDefinition) -> None:
        self.definition = definition
        super().__init__(
            model=None,
            states=[state.value for state in definition.states],
            initial=definition.initial.value,
            auto_transitions=False,
            send_event=True,
            model_attribute=definition.state_field,
            name=definition.name,
        )
        for edge in definition.edges:
            self._add_edge(edge)
        self.status_events: dict[str, StatusEvent] = {
            name: event for name, event in self.events.items() if isinstance(event, StatusEvent)
        }
        """Each event by name; an entity's method holds its own, to skip this lookup on every call."""
        for spec in definition.events:
            event = self.status_events[spec.name]
            event.parameter = spec.parameters[0] if spec.parameters else None
            event.arity = len(spec.parameters)
            event.required = 0 if spec.optional else event.arity

    def _add_edge(self, edge: Edge) -> None:
        guards = [self.definition.guards[name] for name in edge.guards]
        effects = [self.definition.effects[name] for name in edge.effects]
        self.add_transition(
            edge.event,
            list(edge.sources),
            edge.dest,
            # The stock transitions path (EventData, conditions, after) sees the
            # same rules as the fast path in StatusEvent.trigger.
            conditions=[_as_condition(guard) for guard in guards],
            after=[_as_callback(effect) for effect in effects],
            guards=guards,
            effects=effects,
            dest_value=edge.dest,
        )

    def fire(self, entity: Entity, event: str, *args: Any, **kwargs: Any) -> None:
        """Apply ``event`` (with its one argument, if it takes one) to ``entity``; raise if refused.

        Refused means :class:`IllegalTransition`: :class:`NoTransition` when
        the event has no edge from the entity's state, :class:`GuardRefused`
        when a guard said no.  Not locked: the entities' own methods
        (``Analysis.finish``, ``Folder.submit``…) are the thread-safe entry points.
        """
        self._event(event).trigger(entity, *args, **kwargs)

    def check(self, entity: Entity, event: str, *args: Any, **kwargs: Any) -> None:
        """Raise what :meth:`fire` would raise, without changing anything."""
        found = self._event(event)
        found.choose(entity, found.arguments(args, kwargs))

    def allows(self, entity: Entity, event: str, *args: Any, **kwargs: Any) -> bool:
        """Whether ``event`` with these arguments would be taken now."""
        try:
            self.check(entity, event, *args, **kwargs)
        except IllegalTransition:
            return False
        return True

    def _event(self, name: str) -> StatusEvent:
        try:
            return self.status_events[name]
        except KeyError:
            known = ", ".join(self.status_events)
            raise ValueError(f"machine {self.definition.name!r} has no event {name!r} (it has {known})") from None


def _as_condition(guard: Guard) -> Any:
    def condition(event_data: EventData) -> bool:
        return guard.check(event_data.model, *event_data.args, **event_data.kwargs) is None

    condition.__name__ = guard.name
    return condition


def _as_callback(effect: Effect) -> Any:
    def callback(event_data: EventData) -> None:
        effect(event_data.model, *event_data.args, **event_data.kwargs)

    return callback


def _describe(model: object) -> str:
    try:
        return model.describe()  # type: ignore[attr-defined, no-any-return]  # an Entity; others get their repr
    except AttributeError:
        return repr(model)

