"""Assertions about moves: refused and changing nothing, or taken to where they lead."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from ..analysis import Analysis
from ..enums import spell
from ..errors import REFUSALS, Refusal
from ..folder import Folder, Group
from .drivers import driver_for
from .paths import Expectation, Step, show_argument

Entity = Analysis | Group | Folder


def snapshot(entity: Entity) -> dict[str, Any]:
    """Every field of the entity, its group, its folder and all the folder's groups and analyses.

    Keys name the object and the field (``"Analysis 3f0c… (QUALITY).state"``);
    private bookkeeping is included, so a half-made change shows too.
    """
    parts: list[Entity] = [entity]
    owner = entity.group if isinstance(entity, Analysis) else entity
    group = owner if isinstance(owner, Group) else None
    folder = entity if isinstance(entity, Folder) else group.folder if group is not None else None
    if group is not None:
        parts.append(group)
    if folder is not None:
        parts.append(folder)
        for member in folder.groups:
            parts.append(member)
            parts.extend(member.analyses)
    return {f"{part.describe()}.{name}": value for part in parts for name, value in fields_of(part)}


def fields_of(entity: Entity) -> tuple[tuple[str, Any], ...]:
    """Every attrs field of one object under its public name (``state`` for the slot ``_state``), in declaration
    order, lists copied so later changes show."""
    taken = []
    for field in attrs.fields(type(entity)):
        if not field.eq:  # no part of its value: a folder's listeners' hub, made on first use
            continue
        value = getattr(entity, field.name)
        taken.append((field.alias, list(value) if isinstance(value, list) else value))
    return tuple(taken)


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What differs between two snapshots, one line per field."""
    lines = []
    for key in dict.fromkeys([*before, *after]):
        old, new = before.get(key, _MISSING), after.get(key, _MISSING)
        if old != new:  # entities compare by identity
            lines.append(f"{key}: {_show(old)} -> {_show(new)}")
    return lines


_MISSING = object()


def _show(value: object) -> str:
    if value is _MISSING:
        return "(absent)"
    if isinstance(value, (Analysis, Group, Folder)):
        return value.describe()
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    return show_argument(value)


def _call_text(event: str | Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    name = event if isinstance(event, str) else getattr(event, "__qualname__", repr(event))
    shown = [show_argument(arg) for arg in args] + [f"{key}={show_argument(value)}" for key, value in kwargs.items()]
    return f"{name}({', '.join(shown)})"


def _where(entity: Entity) -> str:
    if isinstance(entity, Group):
        return entity.describe()
    driver = driver_for(entity)
    return f"{entity.describe()} in {spell(driver.state_of(entity))}/{spell(driver.result_of(entity))}"


def assert_illegal(entity: Entity, event: str | Callable[..., object], *args: Any, **kwargs: Any) -> Refusal:
    """Assert that ``event`` is refused (:class:`IllegalTransition`, or :class:`InvalidArgument` for bad input)
    and changes nothing.

    ``event`` is an event's name, triggered as a caller would (``"finish"``
    calls ``analysis.finish(*args)``), or any callable, such as your service's
    handler, called with ``args``.  Nothing may change: not the entity, its
    group, its folder, nor any other analysis of the folder.  Returns the
    exception, for further checks.
    """
    before = snapshot(entity)
    where = _where(entity)
    call = _call_text(event, args, kwargs)
    try:
        if isinstance(event, str):
            driver_for(entity).call(entity, event, *args, **kwargs)
        else:
            event(*args, **kwargs)
    except REFUSALS as refused:
        changed = changes(before, snapshot(entity))
        if changed:
            raise AssertionError(f"{where}: {call} was refused but changed " + "; ".join(changed)) from refused
        return refused
    moved = changes(before, snapshot(entity))
    detail = ": " + "; ".join(moved) if moved else " (and changed nothing)"
    raise AssertionError(f"expected {where} to refuse {call}, but it was accepted{detail}")


def assert_reaches(entity: Analysis | Folder, path: Iterable[Step], state: object) -> None:
    """Take every step of ``path`` and assert that each lands where it says, and the last on ``state``."""
    driver = driver_for(entity)
    for index, step in enumerate(path, 1):
        current = driver.state_of(entity)
        if current != step.source:
            raise AssertionError(f"step {index} ({step}): {entity.describe()} is {spell(current)}, "
                                 f"not {spell(step.source)}")
        try:
            driver.take(entity, step)
        except REFUSALS as refused:
            raise AssertionError(f"step {index} ({step}) was refused: {refused}") from refused
        if driver.state_of(entity) != step.dest:
            raise AssertionError(f"step {index} ({step}) left {entity.describe()} in "
                                 f"{spell(driver.state_of(entity))}")
    if driver.state_of(entity) != state:
        raise AssertionError(f"{entity.describe()} ended in {spell(driver.state_of(entity))}, not {spell(state)}")


def assert_expectation(entity: Analysis | Folder, expectation: Expectation) -> None:
    """Assert that ``entity``, in the expectation's state, does what the matrix says.

    A legal row is taken with its arguments and must land on its ``dest``; an
    illegal row must be refused and change nothing.  An event that the entity
    fires by itself (the folder's ``settle``) is fired bare on the machine.
    """
    driver = driver_for(entity)
    if driver.state_of(entity) != expectation.state:
        raise AssertionError(f"{expectation.id}: {entity.describe()} is {spell(driver.state_of(entity))}, "
                             f"not {spell(expectation.state)}")
    if expectation.legal:
        assert_reaches(entity, [expectation.step], expectation.dest)
    elif expectation.event in driver.automatic:
        assert_illegal(entity, expectation.event)
    else:
        assert_illegal(entity, expectation.event, *expectation.args)
