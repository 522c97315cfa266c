"""The matrix and path functions, on a made-up machine worked out by hand and on the package's two."""

from __future__ import annotations

import pytest

from statuses import (
    ANALYSIS_DEFINITION,
    ANALYSIS_MACHINE,
    FOLDER_DEFINITION,
    AnalysisState,
    AnalysisType,
    Edge,
    EventSpec,
    FolderStatus,
    MachineDefinition,
    Resolution,
    StateSpec,
)
from statuses.enums import ApiEnum
from statuses.testing import edge_cover, shortest_paths, simple_paths, transition_matrix


class Door(ApiEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    LOCKED = "LOCKED"
    GONE = "GONE"


CLOSED, OPEN, LOCKED, GONE = Door.CLOSED, Door.OPEN, Door.LOCKED, Door.GONE

# CLOSED <-open/close-> OPEN, CLOSED <-lock/unlock-> LOCKED, OPEN and LOCKED -remove-> GONE (final).
DOOR = MachineDefinition(
    name="door",
    entity="Door",
    state_field="state",
    result_field="result",
    states=(
        StateSpec(CLOSED, (Resolution.INITIAL,), initial=True),
        StateSpec(OPEN, (Resolution.PROCESSING,)),
        StateSpec(LOCKED, (Resolution.PROCESSING,)),
        StateSpec(GONE, (Resolution.SUCCESS,), final=True),
    ),
    events=tuple(EventSpec(name, name) for name in ("open", "close", "lock", "unlock", "remove")),
    edges=(
        Edge("open", (CLOSED,), OPEN),
        Edge("close", (OPEN,), CLOSED),
        Edge("lock", (CLOSED,), LOCKED),
        Edge("unlock", (LOCKED,), CLOSED),
        Edge("remove", (OPEN, LOCKED), GONE),
    ),
    guards={},
    effects={},
)


def test_the_door_matrix_has_every_pair_and_six_legal_ones() -> None:
    rows = transition_matrix(DOOR)
    assert len(rows) == 4 * 5  # no pair has two edges
    legal = {(row.state, row.event): row.dest for row in rows if row.legal}
    assert legal == {(CLOSED, "open"): OPEN, (CLOSED, "lock"): LOCKED, (OPEN, "close"): CLOSED,
                     (OPEN, "remove"): GONE, (LOCKED, "unlock"): CLOSED, (LOCKED, "remove"): GONE}
    assert [row.id for row in rows if row.state is GONE] == [
        "door-GONE-open-illegal", "door-GONE-close-illegal", "door-GONE-lock-illegal",
        "door-GONE-unlock-illegal", "door-GONE-remove-illegal"]


def test_the_door_shortest_paths() -> None:
    paths = shortest_paths(DOOR)
    assert {state: path.events for state, path in paths.items()} == {
        CLOSED: (), OPEN: ("open",), LOCKED: ("lock",), GONE: ("open", "remove")}
    assert paths[GONE].id == "door-CLOSED-open-remove-GONE"
    assert str(paths[GONE]) == "door: CLOSED --open--> OPEN --remove--> GONE"


def test_the_door_simple_paths_to_gone_are_the_two_ways_round() -> None:
    assert [path.events for path in simple_paths(DOOR, to=GONE)] == [("open", "remove"), ("lock", "remove")]
    assert [path.events for path in simple_paths(DOOR, to=CLOSED)] == [()]
    assert [path.events for path in simple_paths(DOOR, to=OPEN)] == [("open",)]


def test_the_door_edge_cover_takes_all_six_edges_in_two_paths() -> None:
    cover = edge_cover(DOOR)
    assert [path.events for path in cover] == [
        ("open", "close", "lock", "unlock", "open", "remove"),
        ("lock", "remove"),
    ]
    taken = {(step.source, step.event, step.dest) for path in cover for step in path}
    assert taken == {(source, edge.event, edge.dest) for edge in DOOR.edges for source in edge.sources}


def test_arguments_given_for_an_edge_ride_on_its_steps() -> None:
    path = shortest_paths(DOOR, arguments={("open", OPEN): ("key",)})[GONE]
    assert [step.args for step in path] == [("key",), ()]
    assert str(path.steps[0]) == "CLOSED --open('key')--> OPEN"


def test_a_path_to_a_state_the_machine_lacks_names_it() -> None:
    with pytest.raises(KeyError, match="machine 'door' has no state"):
        simple_paths(DOOR, to=AnalysisState.FINISHED)


def test_a_machine_given_as_anything_else_is_refused() -> None:
    with pytest.raises(TypeError, match="expected a MachineDefinition or a StatusMachine, got str"):
        transition_matrix("analysis")  # type: ignore[arg-type]


# The package's machines: the answers, and that the matrix is the spec's tables.


def test_the_analysis_matrix_is_the_specs_table() -> None:
    # Typed by hand from the rules, independently of the definition.
    spec = {("PROCESSING", "finish"): "FINISHED", ("PROCESSING", "fail"): "FAILED"}
    rows = transition_matrix(ANALYSIS_MACHINE)  # a machine works as well as its definition
    assert {(row.state.value, row.event): row.dest.value for row in rows if row.dest is not None} == spec
    assert len([row for row in rows if not row.legal]) == 3 * 2 - len(spec)
    finish = next(row for row in rows if row.legal and row.event == "finish")
    assert finish.guards == ("verdict_is_final", "operator_review_not_for_liveness", "operator_review_enabled")
    assert finish.args == (Resolution.SUCCESS,)


def test_the_folder_matrix_is_the_specs_table() -> None:
    spec = {
        ("INITIAL", "submit", "PROCESSING"), ("PROCESSING", "submit", "PROCESSING"),
        ("FAILED", "submit", "PROCESSING"), ("FINISHED", "submit", "PROCESSING"),
        ("PROCESSING", "settle", "FAILED"), ("PROCESSING", "settle", "FINISHED"),
    }
    rows = transition_matrix(FOLDER_DEFINITION)
    assert {(row.state.value, row.event, row.dest.value) for row in rows if row.dest is not None} == spec
    assert [row.id for row in rows if not row.legal] == [
        "folder-INITIAL-settle-illegal", "folder-FAILED-settle-illegal", "folder-FINISHED-settle-illegal"]
    assert next(row for row in rows if row.legal).args == ((AnalysisType.BIOMETRY,),)


def test_the_package_machines_paths() -> None:
    analysis = shortest_paths(ANALYSIS_DEFINITION)
    assert {state.value: path.events for state, path in analysis.items()} == {
        "PROCESSING": (), "FINISHED": ("finish",), "FAILED": ("fail",)}
    folder = shortest_paths(FOLDER_DEFINITION)
    assert {state.value: path.events for state, path in folder.items()} == {
        "INITIAL": (), "PROCESSING": ("submit",), "FAILED": ("submit", "settle"), "FINISHED": ("submit", "settle")}
    assert [len(path) for path in edge_cover(ANALYSIS_DEFINITION)] == [1, 1]  # both ends are final
    assert [path.events for path in edge_cover(FOLDER_DEFINITION)] == [
        ("submit", "submit", "settle", "submit", "settle", "submit")]
    assert [p.events for p in simple_paths(FOLDER_DEFINITION, to=FolderStatus.FINISHED)] == [("submit", "settle")]
