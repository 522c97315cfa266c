"""Definitions check themselves when they are made, so a broken one fails at import."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import attrs
import pytest

from statuses import (
    ANALYSIS_DEFINITION,
    ANALYSIS_MACHINE,
    FOLDER_DEFINITION,
    FOLDER_MACHINE,
    AnalysisState,
    Edge,
    EventSpec,
    FolderStatus,
    Guard,
    InvalidDefinition,
)

PROCESSING, FAILED, FINISHED = AnalysisState.PROCESSING, AnalysisState.FAILED, AnalysisState.FINISHED


def broken(**changes: object) -> str:
    """The message of the InvalidDefinition raised by the analysis definition with ``changes``."""
    with pytest.raises(InvalidDefinition) as raised:
        attrs.evolve(ANALYSIS_DEFINITION, **changes)
    assert raised.value.machine == "analysis"
    return str(raised.value)


def test_the_shipped_definitions_are_valid() -> None:
    assert attrs.evolve(ANALYSIS_DEFINITION) == ANALYSIS_DEFINITION
    assert attrs.evolve(FOLDER_DEFINITION) == FOLDER_DEFINITION


def test_dest_that_is_not_a_state() -> None:
    edges = (*ANALYSIS_DEFINITION.edges, Edge("fail", (PROCESSING,), FolderStatus.INITIAL))
    assert "is not a AnalysisState" in broken(edges=edges)


def test_unknown_guard_and_effect() -> None:
    edges = (Edge("finish", (PROCESSING,), FINISHED, guards=("no_such_guard",), effects=("no_such_effect",)),
             ANALYSIS_DEFINITION.edges[1])
    message = broken(edges=edges)
    assert "guard 'no_such_guard' is not defined" in message
    assert "effect 'no_such_effect' is not defined" in message


def test_unreachable_state() -> None:
    edges = tuple(edge for edge in ANALYSIS_DEFINITION.edges if edge.event != "fail")
    events = tuple(event for event in ANALYSIS_DEFINITION.events if event.name != "fail")
    assert "state FAILED cannot be reached from PROCESSING" in broken(edges=edges, events=events)


def test_final_state_with_an_exit() -> None:
    edges = (*ANALYSIS_DEFINITION.edges, Edge("fail", (FINISHED,), FAILED))
    assert "final state FINISHED has exits (fail)" in broken(edges=edges)


def test_dead_end_that_is_not_final() -> None:
    states = tuple(attrs.evolve(s, final=False) if s.value is FAILED else s for s in ANALYSIS_DEFINITION.states)
    assert "state FAILED has no exit but is not marked final" in broken(states=states)


def test_initial_state_count() -> None:
    states = tuple(attrs.evolve(s, initial=False) for s in ANALYSIS_DEFINITION.states)
    assert "exactly one state must be initial, found 0" in broken(states=states)


def test_event_without_edge_and_edge_without_event() -> None:
    events = (*ANALYSIS_DEFINITION.events, EventSpec("retry", "never wired"))
    assert "event 'retry' has no edge" in broken(events=events)
    edges = (*ANALYSIS_DEFINITION.edges, Edge("restart", (PROCESSING,), FAILED))
    assert "event 'restart' is not declared" in broken(edges=edges)


def test_two_unguarded_edges_for_one_event() -> None:
    edges = (*ANALYSIS_DEFINITION.edges, Edge("fail", (PROCESSING,), FINISHED))
    assert "unguarded edge beside another edge" in broken(edges=edges)


def test_guard_registered_under_another_name() -> None:
    guards = {**ANALYSIS_DEFINITION.guards, "verdict_is_final": Guard("other", "x", lambda *a: None)}
    assert "registered under another name" in broken(guards=guards)


def test_state_without_results() -> None:
    states = tuple(attrs.evolve(s, results=()) if s.value is FAILED else s for s in ANALYSIS_DEFINITION.states)
    assert "state FAILED allows no value of resolution_status" in broken(states=states)


def test_all_problems_are_reported_together() -> None:
    edges = (Edge("finish", (PROCESSING,), FINISHED, guards=("nope",)),)
    message = broken(edges=edges)
    assert "guard 'nope' is not defined" in message and "event 'fail' has no edge" in message


def test_a_module_with_a_broken_definition_fails_at_import(tmp_path: Path) -> None:
    module = tmp_path / "broken_machine.py"
    module.write_text(textwrap.dedent("""
        from statuses import ANALYSIS_DEFINITION, Edge, AnalysisState
        import attrs
        BROKEN = attrs.evolve(
            ANALYSIS_DEFINITION,
            edges=ANALYSIS_DEFINITION.edges + (Edge("fail", (AnalysisState.FAILED,), AnalysisState.PROCESSING),),
        )
    """))
    spec = importlib.util.spec_from_file_location("broken_machine", module)
    assert spec is not None and spec.loader is not None
    with pytest.raises(InvalidDefinition, match="final state FAILED has exits"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    sys.modules.pop("broken_machine", None)


@pytest.mark.parametrize("definition, machine", [(ANALYSIS_DEFINITION, ANALYSIS_MACHINE),
                                                 (FOLDER_DEFINITION, FOLDER_MACHINE)])
def test_the_transitions_machine_holds_exactly_the_definition(definition, machine) -> None:
    """The transitions Machine is built from the definition and nothing else."""
    assert list(machine.states) == [state.value.name for state in definition.states]
    assert machine.initial == definition.initial.value.name
    expected = sorted((edge.event, source.name, edge.dest.name) for edge in definition.edges for source in edge.sources)
    actual = sorted((t_name, source, t.dest) for t_name, event in machine.events.items()
                    for source, ts in event.transitions.items() for t in ts)
    assert actual == expected
    assert not machine.models  # no entity is ever added as a model


def test_the_legal_pairs_are_the_specs() -> None:
    spec_analysis = {("PROCESSING", "PROCESSING"), ("FAILED", "FAILED"), ("FINISHED", "SUCCESS"),
                     ("FINISHED", "DECLINED"), ("FINISHED", "OPERATOR_REQUIRED")}
    spec_folder = {("INITIAL", "INITIAL"), ("PROCESSING", "PROCESSING"), ("FAILED", "FAILED"),
                   ("FINISHED", "SUCCESS"), ("FINISHED", "DECLINED"), ("FINISHED", "OPERATOR_REQUIRED")}
    assert {(s.value, r.value) for s, r in ANALYSIS_DEFINITION.legal_pairs()} == spec_analysis
    assert {(s.value, r.value) for s, r in FOLDER_DEFINITION.legal_pairs()} == spec_folder


def test_lookup_errors_name_the_machine() -> None:
    with pytest.raises(KeyError, match="machine 'analysis' has no event 'restart'"):
        ANALYSIS_DEFINITION.event("restart")
    with pytest.raises(ValueError, match="machine 'folder' has no event 'finish' \\(it has submit, settle\\)"):
        FOLDER_MACHINE.allows(object(), "finish")  # type: ignore[arg-type]


def test_an_event_takes_one_argument_or_none() -> None:
    events = (EventSpec("finish", "ends", ("verdict", "why")), ANALYSIS_DEFINITION.events[1])
    assert "event 'finish' takes 2 parameters; an event takes one or none" in broken(events=events)


def test_a_drive_names_events_its_machines_have() -> None:
    [drive] = FOLDER_DEFINITION.drives
    with pytest.raises(InvalidDefinition) as raised:
        attrs.evolve(FOLDER_DEFINITION, drives=(attrs.evolve(drive, events=("finish", "vanish"), event="wake"),))
    assert "drive from analysis: event 'wake' is not declared" in str(raised.value)
    assert "drive from analysis: analysis has no event 'vanish'" in str(raised.value)


def test_the_folder_declares_what_drives_it_and_the_analyses_report_it() -> None:
    """The coupling is data: the analyses' ends drive the folder's settle through their group."""
    [drive] = FOLDER_DEFINITION.drives
    assert (drive.source, drive.events, drive.through, drive.event) == (ANALYSIS_DEFINITION, ("finish", "fail"),
                                                                       "group", "settle")
    for edge in ANALYSIS_DEFINITION.edges:
        assert ("report_to_group" in edge.effects) == (edge.event in drive.events), edge


@pytest.mark.parametrize("last_event", ["finish", "fail"])
def test_the_declared_drive_is_what_runs(last_event: str) -> None:
    """Each of the drive's events, ending the last analysis in progress, makes the folder take the drive's event."""
    from statuses import Folder

    [drive] = FOLDER_DEFINITION.drives
    folder = Folder()
    first, last = folder.submit(["quality", "biometry"]).analyses
    first.finish("SUCCESS")
    assert folder.resolution_status is FolderStatus.PROCESSING  # the drive's condition does not hold yet
    getattr(last, last_event)(*(("SUCCESS",) if last_event == "finish" else ()))
    taken = [edge for edge in FOLDER_DEFINITION.edges
             if edge.event == drive.event and edge.dest is folder.resolution_status]
    assert taken and folder.resolution_status is not FolderStatus.PROCESSING
