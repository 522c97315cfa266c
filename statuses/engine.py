"""The transitions ``Machine`` that runs a :class:`MachineDefinition`.

Theory of operation
-------------------
One :class:`StatusMachine` is built per definition, once, at import; no
entity is ever added to it as a model.  An event is fired one way:
``machine.fire(entity, event, argument)``, or the entity's own method
(``analysis.finish(verdict)``).  Both end in the event's ``take``: ``fire``
through transitions' own entry point, :meth:`StatusEvent.trigger`, which
checks the arguments first, and the entity's method directly, as it passes
exactly one.  transitions allows triggering an event for an object that was
never added, so holding a million entities costs the machine nothing.

The classes below narrow transitions' general machinery to what a status
machine needs, which keeps the per-event path short:

* an event takes one argument or none (a definition says so), so the guards'
  checks and the effects are called with exactly that, never with
  ``*args, **kwargs`` forwarded: forwarding was the largest cost of an event;
* each event's ``take`` is generated from the definition's edges when the
  machine is built, as attrs generates ``__init__`` from a field list: one
  branch per group of source states, the guards of each candidate edge
  called in order (a guard shared by two edges from one state is called
  once: guards only read), then the move and the effects.  A guard answers
  None when it holds or the reason it does not;
* every refusal raises: :class:`NoTransition` without an edge from the
  state, :class:`GuardRefused` with each candidate edge's first refusing
  guard, and :class:`InvalidArgument` when the argument is wrong whatever the
  state (a guard marked ``on_argument`` refused it on every edge of the event);
* a second ``take`` is generated that also reports each move to the
  entity's :class:`~statuses.listeners.Hub`; an event uses it only while
  something listens (:func:`statuses.listeners.when_armed`), so with no
  listener a move costs nothing more.

transitions' callback hooks (``on_enter_<state>``, ``add_callback``,
``after_state_change``…) would never run on that path, so they are refused
when registered, naming ``statuses.subscribe``; so are models and edges
added after the machine is built.  The edges are still ordinary transitions
``Transition`` objects with their guards as conditions, so the stock
transitions tooling (diagrams, ``get_transitions``, ``get_triggers``) sees
exactly what runs.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from transitions import Event, EventData, Machine, State, Transition
from transitions.core import Condition, listify

from .definition import Edge, Effect, Guard, GuardCheck, MachineDefinition
from .enums import ApiEnum, spell
from .errors import GuardRefused, IllegalTransition, InvalidArgument, NoTransition
from .listeners import Hub, Transition as Record, when_armed
from .values import short_repr

HOOKS_REFUSED = ("statuses' machines run no transitions callbacks: one machine serves every entity on a fast "
                 "path that would never call them.  To react to transitions, use statuses.subscribe(callback) "
                 "or folder.subscribe(callback)")
"""Why a transitions callback hook is refused when registered."""

FIXED = "the machine is built from its MachineDefinition, which the diagrams and tables read too"


class Entity(Protocol):
    """What a machine needs of the objects it drives."""

    def describe(self) -> str:
        """The entity's kind, id and type, for error messages."""


class Reporter(Protocol):
    """How a machine reports its entities' moves: the entity module's side of the listeners."""

    def hub(self, model: Any) -> Hub | None:
        """The hub a move of ``model`` is recorded in; None when nothing needs to hear of it."""

    def record(self, model: Any, event: str, source: Any, dest: Any, argument: Any) -> Record:
        """The record of a move just completed (its effects run)."""


Take = Callable[..., "StatusTransition"]
"""``take(model, argument=NO_ARGUMENT, apply=True)``: see :attr:`StatusEvent.take`."""


class _RefusedHooks(list[Any]):
    """A transitions callback list that refuses additions, naming ``subscribe``."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(HOOKS_REFUSED)

    append = extend = insert = __setitem__ = __iadd__ = _refuse


class _HookList:
    """A transitions callback-list attribute that takes nothing: read, it is a list that refuses additions;
    set, it refuses anything but what the machine itself put there (transitions' own constructors set it empty)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.slot = name, f"_refused_{name}"

    def __get__(self, entity: Any, owner: type | None = None) -> Any:
        return self if entity is None else entity.__dict__.get(self.slot) or _RefusedHooks()

    def __set__(self, entity: Any, value: Any) -> None:
        if value and not isinstance(value, _RefusedHooks):
            raise TypeError(f"{self.name}: {HOOKS_REFUSED}")
        entity.__dict__[self.slot] = value if isinstance(value, _RefusedHooks) else _RefusedHooks()


class _FixedEdges(dict[str, tuple[Any, ...]]):
    """An event's edges by source, for transitions' tooling to read: a missing source has none, and nothing can be
    added (the generated take would never run it)."""

    def __missing__(self, source: str) -> tuple[Any, ...]:
        return ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"an edge is added to the MachineDefinition, not to the machine: {FIXED}")

    __setitem__ = __delitem__ = setdefault = update = pop = popitem = clear = _refuse


class StatusState(State):
    """A state; its enter and exit callbacks are refused (see :data:`HOOKS_REFUSED`)."""

    on_enter = _HookList()
    on_exit = _HookList()

    def add_callback(self, trigger: str, func: Any) -> None:
        raise TypeError(f"on_{trigger} of state {self.name}: {HOOKS_REFUSED}")


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
        dest_value: ApiEnum | None = None,
    ) -> None:
        if dest_value is None or before or after or prepare:
            raise TypeError(f"an edge is added to the MachineDefinition, not to the machine: {FIXED}")
        super().__init__(source, dest)
        # The guards as transitions conditions, for the stock tooling; fixed, as the generated take reads the guards.
        self.conditions = _RefusedHooks(Condition(check) for check in listify(conditions))
        self.guards: tuple[Guard, ...] = tuple(guards)
        self.effects: tuple[Effect, ...] = tuple(effects)
        self.dest_value = dest_value

    before = _HookList()
    after = _HookList()
    prepare = _HookList()
    conditions = _HookList()

    def add_callback(self, trigger: str, func: Any) -> None:
        raise TypeError(f"{trigger} callback on an edge: {HOOKS_REFUSED}")


NO_ARGUMENT: Any = object()
"""An event given no argument at all (None is an argument: ``fail(None)``)."""

_UNSET: Any = object()
"""A shared guard not called yet, in a generated ``take``."""


class StatusEvent(Event):
    """An event that raises on refusal and dispatches without EventData."""

    def __init__(self, name: str, machine: Machine) -> None:
        super().__init__(name, machine)
        self.by_state: dict[ApiEnum, list[StatusTransition]] = {}
        self.parameter: str | None = None
        """The name of the event's one parameter, if it takes one (set from its :class:`EventSpec`)."""
        self.arity = 0
        """How many positional arguments it takes at most: 1 with a parameter, else 0."""
        self.required = 0
        """How many it needs: 1 with a parameter that is not optional, else 0."""
        self.sources: tuple[str, ...] = ()
        """The states the event leaves from, spelled, for refusal messages."""
        self.plain_take: Take = _not_built
        self.reporting_take: Take = _not_built
        self.take: Take = _not_built
        """Take the edge that the model's state and guards allow, and return it; raise if there is none.

        ``take(model, argument=NO_ARGUMENT, apply=True)``: with ``apply``
        False nothing changes and the edge is only returned.  The argument
        is passed as it is: :meth:`trigger` checks it first; an entity's
        method, which calls this directly, passes one.  Generated by
        :meth:`build`: :attr:`plain_take`, or :attr:`reporting_take` while
        something listens."""

    def add_transition(self, transition: Transition) -> None:
        if self.take is not _not_built:
            raise TypeError(f"event {self.name!r} gains no edge once built: {FIXED}")
        super().add_transition(transition)
        assert isinstance(transition, StatusTransition)
        source = self.machine.get_state(transition.source).value
        assert isinstance(source, ApiEnum)  # StatusMachine's states are enum members
        self.by_state.setdefault(source, []).append(transition)
        self.sources = tuple(spell(value) for value in self.by_state)

    def add_callback(self, trigger: str, func: Any) -> None:
        raise TypeError(f"{trigger} callback on event {self.name!r}: {HOOKS_REFUSED}")

    def build(self, definition: MachineDefinition, state_attribute: str, reporter: Reporter | None) -> None:
        """Generate :attr:`plain_take` and :attr:`reporting_take` from the edges added; done once."""
        self.argument_guards: tuple[tuple[GuardCheck, ...], ...] = tuple(
            tuple(definition.guards[name].check for name in edge.guards if definition.guards[name].on_argument)
            for edge in definition.edges if edge.event == self.name)
        """For each edge of the event, its guards that read the argument alone."""
        self.spelled: dict[object, str] = {state.value: spell(state.value) for state in self.machine.states.values()}
        """Every state of the machine, spelled once rather than on each refusal."""
        # transitions types it a defaultdict of lists; read-only here, as its tooling only reads it.
        self.transitions = _FixedEdges(  # type: ignore[assignment]
            {source: tuple(edges) for source, edges in self.transitions.items()})
        self.plain_take = _generate_take(self, state_attribute, None)
        self.reporting_take = self.plain_take if reporter is None else _generate_take(self, state_attribute, reporter)
        self.take = self.plain_take

    def trigger(self, model: object, *args: Any, **kwargs: Any) -> bool:
        """Take the edge that ``model``'s state and guards allow; raise :class:`IllegalTransition` if none.

        ``args``: the event's one argument, or none; by keyword under the
        parameter's name (``verdict=...``) if the caller prefers.  This is
        transitions' own entry point, and :meth:`StatusMachine.fire`'s.
        """
        if kwargs or not self.required <= len(args) <= self.arity:
            args = self.arguments(model, args, kwargs)
        self.take(model, *args)
        return True

    def choose(self, model: object, args: tuple[Any, ...]) -> StatusTransition:
        """The edge :meth:`trigger` would take with ``args`` (one argument or none); raises if none.  Changes nothing."""
        return self.take(model, args[0] if args else NO_ARGUMENT, False)

    def arguments(self, model: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """``args`` and ``kwargs`` as the event's one positional argument or none; :class:`InvalidArgument` otherwise."""
        if kwargs:
            if args or self.parameter is None or set(kwargs) != {self.parameter}:
                takes = f"its one argument, {self.parameter!r}" if self.parameter else "no argument"
                raise InvalidArgument(_describe(model), f"{self.name}()",
                                      f"takes {takes}; got {len(args)} positional and "
                                      f"{', '.join(map(repr, kwargs))} by keyword")
            return (kwargs[self.parameter],)
        if not self.required <= len(args) <= self.arity:
            takes = "no argument" if not self.parameter else \
                f"{'an optional' if not self.required else 'one'} argument ({self.parameter})"
            raise InvalidArgument(_describe(model), f"{self.name}()", f"takes {takes}; got {len(args)}")
        return args

    def wrong_argument(self, model: object, argument: Any) -> InvalidArgument | None:
        """The refusal of ``argument`` when it is wrong whatever the state: every edge has a guard on it that says no."""
        problem = self.argument_problem(model, argument)
        return None if problem is None else InvalidArgument(_describe(model), f"{self.name}({self.parameter})", problem)

    def argument_problem(self, model: object, argument: Any) -> str | None:
        """Why ``argument`` is wrong for this event in any state (its argument guards' reasons); None if it is not.

        The guards marked ``on_argument`` read the argument alone, so ``model`` may be None.
        """
        if argument is NO_ARGUMENT:
            return None
        reasons: list[str] = []
        for checks in self.argument_guards:  # a loop, not generators: this runs on every refusal
            for check in checks:
                reason = check(model, argument)
                if reason is not None:
                    reasons.append(reason)
                    break
            else:
                return None  # this edge takes the argument
        return "; ".join(dict.fromkeys(reasons)) if reasons else None

    def refuse(self, model: object, state: Any, argument: Any, refusals: tuple[tuple[str, str], ...]) -> Exception:
        """What to raise when every candidate edge from ``state`` was refused by a guard."""
        return self.wrong_argument(model, argument) or GuardRefused(
            _describe(model), self.spelled.get(state) or spell(state), self.name, refusals)

    def no_edge(self, model: object, state: Any, argument: Any) -> Exception:
        """What to raise for this event from ``state``, which it has no edge from."""
        return self.wrong_argument(model, argument) or NoTransition(
            _describe(model), self.spelled.get(state) or spell(state), self.name, self.sources)


def _not_built(*args: Any, **kwargs: Any) -> StatusTransition:
    raise RuntimeError("the event's take is generated when its machine is built")


def _generate_take(event: StatusEvent, state_attribute: str, reporter: Reporter | None) -> Take:
    """``take`` for ``event``, generated from its edges (see the module's theory of operation).

    Generated rather than looped: a loop over edges and guards, with its
    tuple unpacking and argument tests, cost as much as the guards themselves.
    """
    one = event.arity == 1
    args = "model, argument" if one else "model"
    namespace: dict[str, Any] = {"NO_ARGUMENT": NO_ARGUMENT, "UNSET": _UNSET, "event": event,
                                 "reporter": reporter, "BaseException": BaseException}
    blocks: dict[tuple[int, ...], list[ApiEnum]] = {}
    for state, transitions in event.by_state.items():
        blocks.setdefault(tuple(id(t) for t in transitions), []).append(state)
    lines = [f"def take(model, argument=NO_ARGUMENT, apply=True):", f"    state = model.{state_attribute}"]
    if one and not event.required:
        lines.append("    if argument is NO_ARGUMENT: argument = None")
    lines.append("    block = BLOCKS.get(state)")
    block_of: dict[Any, int] = {}
    guard_names: dict[str, str] = {}
    for number, states in enumerate(blocks.values()):
        for state in states:
            block_of[state] = number
        transitions = event.by_state[states[0]]
        lines.append(f"    {'if' if number == 0 else 'elif'} block == {number}:")
        counts: dict[str, int] = {}
        for transition in transitions:
            for guard in transition.guards:
                counts[guard.name] = counts.get(guard.name, 0) + 1
        for guard_name, count in counts.items():
            if count > 1:
                lines.append(f"        {_local(guard_names, guard_name, namespace, transitions)} = UNSET")
        for index, transition in enumerate(transitions):
            namespace[f"T{number}_{index}"] = transition
            namespace[f"D{number}_{index}"] = transition.dest_value
            indent = "        "
            for guard in transition.guards:
                local = _local(guard_names, guard.name, namespace, transitions)
                call = f"{local} = G_{local}({args})"
                lines.append(f"{indent}if {local} is UNSET: {call}" if counts[guard.name] > 1 else f"{indent}{call}")
                lines.append(f"{indent}if {local} is not None: refused{index} = ({guard.name!r}, {local})")
                lines.append(f"{indent}else:")
                indent += "    "
            lines += _apply(indent, number, index, transition, args, state_attribute, event.name, one, reporter,
                            namespace)
        if all(transition.guards for transition in transitions):
            refused = ", ".join(f"refused{index}" for index in range(len(transitions)))
            lines.append(f"        raise event.refuse(model, state, argument, ({refused},))")
    lines.append("    raise event.no_edge(model, state, argument)")
    namespace["BLOCKS"] = block_of
    source = "\n".join(lines) + "\n"
    filename = f"<statuses {event.machine.name} {event.name} take{' reporting' if reporter else ''}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # tracebacks show it
    exec(compile(source, filename, "exec"), namespace)
    take: Take = namespace["take"]
    return take


def _local(names: dict[str, str], guard: str, namespace: dict[str, Any], transitions: list[StatusTransition]) -> str:
    """The generated code's variable for a guard's answer, its check bound as ``G_<variable>``."""
    if guard not in names:
        names[guard] = f"r{len(names)}"
        namespace[f"G_{names[guard]}"] = next(g.check for t in transitions for g in t.guards if g.name == guard)
    return names[guard]


def _apply(indent: str, number: int, index: int, transition: StatusTransition, args: str, state_attribute: str,
           event: str, one: bool, reporter: Reporter | None, namespace: dict[str, Any]) -> list[str]:
    """The lines that take one edge: the move, the effects (reported when ``reporter``), the edge returned."""
    effects = []
    for position, effect in enumerate(transition.effects):
        namespace[f"E{number}_{index}_{position}"] = effect
        effects.append(f"E{number}_{index}_{position}({args})")
    body = [f"{indent}if apply:", f"{indent}    model.{state_attribute} = D{number}_{index}"]
    if reporter is None:
        body += [f"{indent}    {effect}" for effect in effects]
    else:
        inner = indent + "        "
        body += [f"{indent}    hub = reporter.hub(model)",
                 f"{indent}    if hub is None:", *[f"{inner}{effect}" for effect in effects], f"{inner}pass",
                 f"{indent}    else:",
                 f"{inner}place = hub.begin()",
                 f"{inner}try:", *[f"{inner}    {effect}" for effect in effects], f"{inner}    pass",
                 f"{inner}except BaseException:", f"{inner}    hub.abandon(place)", f"{inner}    raise",
                 f"{inner}hub.end(place, reporter.record(model, {event!r}, state, D{number}_{index}, "
                 f"{'argument' if one else 'None'}))"]
    return body + [f"{indent}return T{number}_{index}"]


class StatusMachine(Machine):
    """The transitions ``Machine`` of one definition; shared by all its entities.

    ``state_attribute``: the attribute the machine reads and writes the state
    through, when it is not the definition's ``state_field``: an entity whose
    public field refuses assignment gives its slot.  ``reporter``: how the
    entities' moves reach their listeners (see :mod:`statuses.listeners`).
    """

    transition_cls = StatusTransition
    event_cls = StatusEvent
    state_cls = StatusState

    def __init__(self, definition: MachineDefinition, *, state_attribute: str | None = None,
                 reporter: Reporter | None = None) -> None:
        self.definition = definition
        self._built = False
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
            event.build(definition, state_attribute or definition.state_field, reporter)
        self._built = True
        if reporter is not None:
            when_armed(self._report)

    def _report(self, on: bool) -> None:
        """Switch every event to its reporting ``take`` while something listens, and back."""
        for event in self.status_events.values():
            event.take = event.reporting_take if on else event.plain_take

    def _add_edge(self, edge: Edge) -> None:
        guards = [self.definition.guards[name] for name in edge.guards]
        self.add_transition(
            edge.event,
            list(edge.sources),
            edge.dest,
            # The stock transitions path (EventData, conditions) sees the same guards as the generated take.
            conditions=[_as_condition(guard) for guard in guards],
            guards=guards,
            effects=[self.definition.effects[name] for name in edge.effects],
            dest_value=edge.dest,
        )

    def fire(self, entity: Entity, event: str, *args: Any, **kwargs: Any) -> None:
        """Apply ``event`` (with its one argument, if it takes one) to ``entity``; raise if refused.

        Refused means :class:`IllegalTransition` (:class:`NoTransition` when
        the event has no edge from the entity's state, :class:`GuardRefused`
        when a guard said no) or :class:`InvalidArgument` when the argument is
        wrong in any state.  Not locked: the entities' own methods
        (``Analysis.finish``, ``Folder.submit``…) are the thread-safe entry points.
        """
        self._event(event).trigger(entity, *args, **kwargs)

    def check(self, entity: Entity, event: str, *args: Any, **kwargs: Any) -> None:
        """Raise what :meth:`fire` would raise, without changing anything."""
        found = self._event(event)
        found.choose(entity, found.arguments(entity, args, kwargs))

    def check_argument(self, caller: str, event: str, argument: Any) -> None:
        """Raise :class:`InvalidArgument`, naming ``caller``, for an argument ``event`` refuses in any state.

        For code that must refuse bad input before it has the entity: the
        store, before any SQL.
        """
        found = self._event(event)
        problem = found.argument_problem(None, argument)
        if problem is not None:
            raise InvalidArgument(caller, f"{event}({found.parameter})", problem)

    def allows(self, entity: Entity, event: str, *args: Any, **kwargs: Any) -> bool:
        """Whether ``event`` with these arguments would be taken now; False for a refusal and for a wrong argument."""
        try:
            self.check(entity, event, *args, **kwargs)
        except (IllegalTransition, InvalidArgument):
            return False
        return True

    def _event(self, name: str) -> StatusEvent:
        try:
            return self.status_events[name]
        except KeyError:
            known = ", ".join(self.status_events)
            raise ValueError(f"machine {self.definition.name!r} has no event {name!r} (it has {known})") from None

    # transitions' registration API: refused once built, as nothing registered would ever run.

    def add_model(self, model: Any, initial: Any = None) -> None:
        if model is None or model == []:  # transitions' own constructor, adding no model
            return
        raise TypeError(f"statuses' machines hold no models: fire events with the entity's own methods "
                        f"(analysis.finish(...)) or machine.fire(entity, event, ...); {HOOKS_REFUSED}")

    def add_transition(self, trigger: str, source: Any, dest: Any = None, conditions: Any = None,
                       unless: Any = None, before: Any = None, after: Any = None, prepare: Any = None,
                       **kwargs: Any) -> None:
        if self._built:
            raise TypeError(f"add_transition({trigger!r}): {FIXED}; add an Edge to the definition instead")
        super().add_transition(trigger, source, dest, conditions, unless, before, after, prepare, **kwargs)

    def add_transitions(self, transitions: Any) -> None:
        raise TypeError(f"add_transitions(): {FIXED}; add Edges to the definition instead")

    def add_ordered_transitions(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"add_ordered_transitions(): {FIXED}")

    def remove_transition(self, trigger: str, source: str = "*", dest: str = "*") -> None:
        raise TypeError(f"remove_transition({trigger!r}): {FIXED}")

    def add_states(self, states: Any, *args: Any, **kwargs: Any) -> None:
        if self._built:
            raise TypeError(f"add_states(): {FIXED}; add a StateSpec to the definition instead")
        super().add_states(states, *args, **kwargs)

    # transitions' machine-wide callback lists, refused as the states' and edges' are.
    before_state_change = _HookList()
    after_state_change = _HookList()
    prepare_event = _HookList()
    finalize_event = _HookList()
    on_exception = _HookList()
    on_final = _HookList()


def _as_condition(guard: Guard) -> Any:
    def condition(event_data: EventData) -> bool:
        return guard.check(event_data.model, *event_data.args, **event_data.kwargs) is None

    condition.__name__ = guard.name
    return condition


def _describe(model: object) -> str:
    describe = getattr(model, "describe", None)  # an Entity's own words; anything else is named by its repr
    if describe is None:
        return short_repr(model)
    text: str = describe()
    return text
