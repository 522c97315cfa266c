"""transitions' own hooks refuse at registration; statuses move only through the machines; one exception per kind
of refusal over the whole (state, event, argument) matrix."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest

import statuses
from statuses import (ANALYSIS_MACHINE, FOLDER_MACHINE, AnalysisState, AnalysisType, Folder, IllegalTransition,
                      InvalidArgument, Resolution, Settings)
from statuses.testing import make_analysis, make_folder

MACHINES = pytest.mark.parametrize("machine", [ANALYSIS_MACHINE, FOLDER_MACHINE], ids=lambda m: m.name)


def hooks(machine: Any) -> dict[str, Callable[[], object]]:
    """Every way transitions offers to register a callback or change the machine, on this machine."""
    state = machine.definition.states[0].value.value
    event = machine.definition.events[0].name
    callback = lambda *args: None  # noqa: E731
    found: dict[str, Callable[[], object]] = {
        f"on_enter_{state}": lambda: getattr(machine, f"on_enter_{state}")(callback),
        f"on_exit_{state}": lambda: getattr(machine, f"on_exit_{state}")(callback),
        "state.add_callback": lambda: machine.get_state(state).add_callback("enter", callback),
        "state.on_enter.append": lambda: machine.get_state(state).on_enter.append(callback),
        "event.add_callback": lambda: machine.events[event].add_callback("after", callback),
        f"before_{event}": lambda: getattr(machine, f"before_{event}")(callback),
        f"after_{event}": lambda: getattr(machine, f"after_{event}")(callback),
        f"prepare_{event}": lambda: getattr(machine, f"prepare_{event}")(callback),
        "transition.add_callback": lambda: next(iter(machine.events[event].transitions.values()))[0]
        .add_callback("after", callback),
        "transition.after.append": lambda: next(iter(machine.events[event].transitions.values()))[0]
        .after.append(callback),
        "transition.after =": lambda: setattr(next(iter(machine.events[event].transitions.values()))[0], "after",
                                              [callback]),
        "transition.conditions.append": lambda: next(iter(machine.events[event].transitions.values()))[0]
        .conditions.append(callback),
        "state.on_exit =": lambda: setattr(machine.get_state(state), "on_exit", [callback]),
        "event.transitions[source] =": lambda: machine.events[event].transitions.__setitem__(state, []),
        "add_transition": lambda: machine.add_transition(event, state, state),
        "add_transitions": lambda: machine.add_transitions([]),
        "remove_transition": lambda: machine.remove_transition(event),
        "add_states": lambda: machine.add_states(["EXTRA"]),
        "add_model": lambda: machine.add_model(object()),
    }
    for name in ("before_state_change", "after_state_change", "prepare_event", "finalize_event", "on_exception",
                 "on_final"):
        found[f"{name} ="] = lambda name=name: setattr(machine, name, [callback])
        found[f"{name}.append"] = lambda name=name: getattr(machine, name).append(callback)
    return found


@MACHINES
def test_every_transitions_hook_refuses_at_registration_naming_subscribe(machine: Any) -> None:
    for name, register in hooks(machine).items():
        with pytest.raises(TypeError) as raised:
            register()
        message = str(raised.value)
        assert "subscribe" in message or "MachineDefinition" in message, (name, message)
    # ...and nothing registered: the machine still runs as before.
    analysis = statuses.Analysis(type="quality")
    analysis.finish("SUCCESS")
    assert analysis.state is AnalysisState.FINISHED


PROTECTED = [
    (lambda: make_analysis(), "state", AnalysisState.FINISHED, "finish() and fail()"),
    (lambda: make_analysis(), "resolution_status", Resolution.SUCCESS, "finish() and fail()"),
    (lambda: make_folder("PROCESSING"), "resolution_status", statuses.FolderStatus.FINISHED, "submit()"),
    (lambda: make_folder("PROCESSING"), "system_resolution", Resolution.SUCCESS, "submit()"),
    (lambda: make_folder("FINISHED").groups[0], "result", Resolution.DECLINED, "finish() and fail()"),
    (lambda: make_folder("FINISHED").groups[0], "finished_order", 2, "finish() and fail()"),
]


@pytest.mark.parametrize("make, field, value, movers", PROTECTED, ids=[f"{i}-{p[1]}" for i, p in enumerate(PROTECTED)])
def test_every_protected_field_refuses_assignment_naming_what_moves_it(make: Any, field: str, value: object,
                                                                       movers: str, unchanged: Any) -> None:
    entity = make()
    owner = entity.folder if isinstance(entity, statuses.Group) else entity
    with unchanged(owner), pytest.raises(AttributeError, match=rf"{field} cannot be assigned: .*{re.escape(movers)}"):
        setattr(entity, field, value)
    with unchanged(owner), pytest.raises(AttributeError):
        setattr(entity, field, "garbage")


def test_restoring_still_sets_what_assignment_cannot() -> None:
    analysis = statuses.Analysis.restore(analyse_id="a1", type="biometry", state="FINISHED",
                                         resolution_status="DECLINED")
    folder = Folder.restore(folder_id="f1", resolution_status="FINISHED", system_resolution="DECLINED",
                            groups=[("g1", [analysis])])
    assert (analysis.state, folder.system_resolution, folder.groups[0].finished_order) == \
        (AnalysisState.FINISHED, Resolution.DECLINED, 1)
    assert "state=<AnalysisState.FINISHED" in repr(analysis) and "_state" not in repr(analysis)


# The matrix: every state of each machine, every event, every kind of argument.

VERDICTS = [*Resolution, "success", "maybe", None, 7, b"SUCCESS"]
REASONS = [None, "camera broke", 5, b"x", ["x"]]
TYPES = [["quality"], ["quality", "biometry"], [], ["selfie"], "quality", None, [7]]


def _expected_for_analysis(kind: AnalysisType, state: AnalysisState, operator: bool, event: str,
                           argument: object) -> type[Exception] | None:
    if event == "finish":
        try:
            verdict = Resolution.parse(argument)
        except ValueError:
            return InvalidArgument
        if verdict not in statuses.VERDICTS:
            return InvalidArgument
    elif argument is not None and not isinstance(argument, str):
        return InvalidArgument
    if state is not AnalysisState.PROCESSING:
        return IllegalTransition
    if event == "finish" and verdict is Resolution.OPERATOR_REQUIRED:
        return IllegalTransition if kind is AnalysisType.QUALITY or not operator else None
    return None


@pytest.mark.parametrize("state", list(AnalysisState))
@pytest.mark.parametrize("operator", [False, True])
def test_the_analysis_matrix_raises_one_kind_per_mistake(state: AnalysisState, operator: bool, unchanged: Any) -> None:
    for kind, (event, argument) in itertools.product(
            AnalysisType, [*(("finish", v) for v in VERDICTS), *(("fail", r) for r in REASONS)]):
        analysis = make_analysis(state.value, type=kind, settings=Settings(operator_required=operator),
                                 in_folder=True)
        expected = _expected_for_analysis(kind, state, operator, event, argument)
        allowed = getattr(analysis, f"may_{event}")(*((argument,) if event == "finish" else ()))
        if event == "fail":
            allowed = allowed and expected is None
        case = f"{kind.value} {state.value} {event}({argument!r})"
        if expected is None:
            getattr(analysis, event)(argument)
            assert analysis.state is not AnalysisState.PROCESSING, case
            assert allowed, case
            continue
        assert not allowed, case
        with unchanged(analysis), pytest.raises(expected) as raised:
            getattr(analysis, event)(argument)
        assert isinstance(raised.value, InvalidArgument) is (expected is InvalidArgument), case


@pytest.mark.parametrize("state", list(statuses.FolderStatus))
def test_the_folder_matrix_raises_one_kind_per_mistake(state: statuses.FolderStatus, unchanged: Any) -> None:
    for types in TYPES:
        folder = make_folder(state.value)
        good = isinstance(types, list) and bool(types) and all(t in ("quality", "biometry") for t in types)
        assert folder.may_submit(types) is good, (state, types)  # type: ignore[arg-type]
        if good:
            folder.submit(types)  # type: ignore[arg-type]
            assert folder.resolution_status is statuses.FolderStatus.PROCESSING
            continue
        with unchanged(folder), pytest.raises(InvalidArgument):
            folder.submit(types)  # type: ignore[arg-type]
    folder = make_folder(state.value)
    with unchanged(folder), pytest.raises(InvalidArgument, match=r"settle\(\): takes no argument"):
        FOLDER_MACHINE.fire(folder, "settle", "SUCCESS")
    with unchanged(folder), pytest.raises(InvalidArgument, match=r"expected a Group"):
        FOLDER_MACHINE.fire(folder, "submit", ["quality"])
    if state is not statuses.FolderStatus.PROCESSING or folder.analyses_in_progress:
        with unchanged(folder), pytest.raises(IllegalTransition):
            FOLDER_MACHINE.fire(folder, "settle")


def test_what_decides_an_analysis_cannot_be_swapped_under_it(unchanged: Any) -> None:
    folder = make_folder("PROCESSING")
    analysis = next(a for a in folder.analyses if a.state is AnalysisState.PROCESSING)
    other = make_folder("PROCESSING").groups[0]
    for field, value in (("type", "QUALITY"), ("type", AnalysisType.QUALITY)):
        with unchanged(folder), pytest.raises(AttributeError, match=r"Analysis\.type cannot be assigned"):
            setattr(analysis, field, value)
    for value in (None, other):  # cleared or swapped, its end would never reach its folder
        with unchanged(folder), pytest.raises(AttributeError, match=r"Analysis\.group is set once"):
            analysis.group = value  # type: ignore[assignment]
    with unchanged(folder), pytest.raises(AttributeError, match=r"Group\.analyses cannot be assigned"):
        folder.groups[0].analyses = ()  # type: ignore[misc]
    analysis.finish("SUCCESS")  # and the folder still hears it
    assert folder.analyses_in_progress == sum(a.state is AnalysisState.PROCESSING for a in folder.analyses)
