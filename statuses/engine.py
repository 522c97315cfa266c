"""The transitions ``Machine`` that runs a :class:`MachineDefinition`.

Theory of operation
-------------------
One :class:`StatusMachine` is built per definition, once, at import; no
entity is ever added to it as a model.  An entity's trigger method calls
``machine.fire(entity, event, ...)``, which hands the entity to the event's
``trigger`` directly (transitions allows triggering an event for an object
that was never added), so holding a million entities costs the machine
nothing.

The classes below narrow transitions' general machinery to what a status
machine needs, which keeps the per-event path short:

* an event finds its candidate edges by the entity's current state in a dict
  built once, and raises :class:`NoTransition` when there are none;
* the usual events (one positional argument or none) go through
  :meth:`StatusEvent.run`, which calls the guards' checks and the effects
  directly: forwarding ``*args, **kwargs`` to each was the largest cost of
  an event; the entities hold their events and call ``run`` themselves;
* a candidate edge runs its guards in order; a guard answers None when it
  holds or the reason it does not; when every candidate is refused the event
  raises :class:`GuardRefused` with every reason.  A refusal is never a quiet
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
        self.checks: tuple[GuardCheck, ...] = tuple(guard.check for guard in self.guards)
        """The guards' checks, resolved once so the hot path reads no attribute per guard."""
        self.effects: tuple[Effect, ...] = tuple(effects)
        self.dest_value = dest_value


_NOTHING: Any = object()
"""No argument at all (None is an argument: ``fail(None)``)."""


class StatusEvent(Event):
    """An event that raises on refusal and dispatches without EventData."""

    def __init__(self, name: str, machine: Machine) -> None:
        super().__init__(name, machine)
        self.by_state: dict[ApiEnum, list[StatusTransition]] = {}
        self.state_field: str = machine.model_attribute
        """Read once: the machine's ``model_attribute`` never changes."""
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
        """Take the edge that ``model``'s state and guards allow; raise if none."""
        if len(args) <= 1 and not kwargs:
            return self.run(model, *args)
        transition = self.choose(model, args, kwargs)
        setattr(model, self.state_field, transition.dest_value)
        for effect in transition.effects:
            effect(model, *args, **kwargs)
        return True

    def run(self, model: object, argument: Any = _NOTHING) -> bool:
        """:meth:`trigger` for the usual event of one positional argument or none, on the hot path.

        One dict lookup for the candidates, the guards' checks called
        directly (forwarding ``*args, **kwargs`` to each cost more than the
        rest of the event), the destination set, the effects run.  No edge
        from the state raises at once; a guard's refusal goes through
        :meth:`choose`, which gathers every reason.
        """
        field = self.state_field
        state = getattr(model, field)
        candidates = self.by_state.get(state)
        if candidates is None:
            raise self._no_edge(model, state)
        one = argument is not _NOTHING
        for transition in candidates:
            for check in transition.checks:
                if (check(model, argument) if one else check(model)) is not None:
                    break
            else:
                setattr(model, field, transition.dest_value)
                for effect in transition.effects:
                    effect(model, argument) if one else effect(model)
                return True
        self.choose(model, (argument,) if one else (), {})  # raises, naming why
        raise AssertionError(f"{self.name}: choose() allowed what run() refused")  # pragma: no cover

    def choose(self, model: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> StatusTransition:
        """The edge :meth:`trigger` would take; raises if there is none.  Changes nothing."""
        state = getattr(model, self.state_field)
        candidates = self.by_state.get(state)
        if candidates is None:
            raise self._no_edge(model, state)
        refusals: list[tuple[str, str]] = []
        for transition in candidates:
            refusal = _first_refusal(transition.guards, model, args, kwargs)
            if refusal is None:
                return transition
            refusals.append(refusal)
        raise GuardRefused(_describe(model), spell(state), self.name, refusals)

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
        """Apply ``event`` to ``entity``; raise :class:`IllegalTransition` if refused.

        Not locked: the entities' own methods (``Analysis.finish``,
        ``Folder.submit``…) are the thread-safe entry points.
        """
        self._event(event).trigger(entity, *args, **kwargs)

    def check(self, entity: Entity, event: str, *args: Any, **kwargs: Any) -> None:
        """Raise what :meth:`fire` would raise, without changing anything."""
        self._event(event).choose(entity, args, kwargs)

    def allows(self, entity: Entity, event: str, *args: Any, **kwargs: Any) -> bool:
        """Whether ``event`` with these arguments would be taken now."""
        try:
            self._event(event).choose(entity, args, kwargs)
        except IllegalTransition:
            return False
        return True

    def event(self, name: str) -> StatusEvent:
        """The event called ``name``, for a caller that fires it often (``event.run(entity, argument)``)."""
        return self._event(name)

    def _event(self, name: str) -> StatusEvent:
        try:
            return self.status_events[name]
        except KeyError:
            known = ", ".join(self.status_events)
            raise ValueError(f"machine {self.definition.name!r} has no event {name!r} (it has {known})") from None


def _first_refusal(
    guards: tuple[Guard, ...], model: object, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[str, str] | None:
    for guard in guards:
        reason = guard.check(model, *args, **kwargs)
        if reason is not None:
            return guard.name, reason
    return None


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

