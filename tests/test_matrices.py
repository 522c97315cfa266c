"""Every (state, event) pair and every path of both machines, from the testing toolkit.

The package tests itself with :mod:`statuses.testing`, as a service would:
the matrix and the paths are read off the definitions, and each row is run
on a real entity.  That the matrices equal the spec's tables, typed by hand,
is checked in ``test_testing_paths.py``.
"""

from __future__ import annotations

import pytest

from statuses import (
    ANALYSIS_DEFINITION,
    FOLDER_DEFINITION,
    AnalysisState,
    AnalysisType,
    MachineDefinition,
    NoTransition,
    Resolution,
)
from statuses.testing import (
    Expectation,
    Path,
    assert_expectation,
    assert_illegal,
    assert_reaches,
    edge_cover,
    make_analysis,
    make_entity,
    make_folder,
    parametrize_matrix,
    shortest_paths,
    simple_paths,
)


@parametrize_matrix(ANALYSIS_DEFINITION)
@pytest.mark.parametrize("in_folder", [False, True], ids=["standalone", "in-folder"])
def test_analysis_matrix(transition: Expectation, in_folder: bool) -> None:
    """Every (state, event) pair of the toolkit's matrix, taken or refused with nothing changed."""
    analysis = make_analysis(transition.state, type=AnalysisType.COLLECTION, in_folder=in_folder)
    assert analysis.may_finish(Resolution.SUCCESS) == (transition.state is AnalysisState.PROCESSING)
    assert_expectation(analysis, transition)
    if not transition.legal:
        refused = assert_illegal(analysis, transition.event, *transition.args)
        assert isinstance(refused, NoTransition)
        message = str(refused)
        assert analysis.analyse_id in message and transition.state.value in message
        assert repr(transition.event) in message
        assert (refused.state, refused.event) == (transition.state.value, transition.event)


@parametrize_matrix(FOLDER_DEFINITION)
def test_folder_matrix(transition: Expectation) -> None:
    folder = make_entity(transition)
    assert_expectation(folder, transition)
    assert folder.resolution_status is (transition.dest or transition.state)


def _every_path(definition: MachineDefinition) -> list[Path]:
    paths = [*shortest_paths(definition).values(), *edge_cover(definition)]
    for state in definition.states:
        paths.extend(simple_paths(definition, to=state.value))
    return paths


@pytest.mark.parametrize("path", _every_path(ANALYSIS_DEFINITION), ids=lambda path: path.id)
@pytest.mark.parametrize("in_folder", [False, True], ids=["standalone", "in-folder"])
def test_every_analysis_path_leads_where_it_says(path: Path, in_folder: bool) -> None:
    analysis = make_analysis(in_folder=in_folder)
    assert_reaches(analysis, path, path.dest)


@pytest.mark.parametrize("path", _every_path(FOLDER_DEFINITION), ids=lambda path: path.id)
def test_every_folder_path_leads_where_it_says(path: Path) -> None:
    folder = make_folder()
    assert_reaches(folder, path, path.dest)
