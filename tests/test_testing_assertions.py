"""The toolkit's assertions and factories, and the package's machines walked along their paths."""

from __future__ import annotations

import pytest

from .conftest import force
from statuses import (
    ANALYSIS_DEFINITION,
    FOLDER_DEFINITION,
    FOLDER_MACHINE,
    AnalysisState,
    AnalysisType,
    FolderStatus,
    GuardRefused,
    Resolution,
    Settings,
)
from statuses.testing import (
    Expectation,
    Step,
    assert_illegal,
    assert_reaches,
    make_analysis,
    make_entity,
    make_folder,
    shortest_paths,
    snapshot,
)

# assert_illegal


def test_assert_illegal_returns_the_refusal() -> None:
    analysis = make_analysis(type=AnalysisType.QUALITY, settings=Settings(operator_required=True))
    refused = assert_illegal(analysis, "finish", "operator_required")
    assert isinstance(refused, GuardRefused) and refused.guard == "operator_review_not_for_liveness"


def test_assert_illegal_fails_on_a_legal_move_and_says_what_moved() -> None:
    analysis = make_analysis(in_folder=True)
    with pytest.raises(AssertionError) as failed:
        assert_illegal(analysis, "finish", Resolution.DECLINED)
    message = str(failed.value)
    assert message.startswith(f"expected {analysis.describe()} in PROCESSING/PROCESSING to refuse "
                              "finish(DECLINED), but it was accepted: ")
    assert f"{analysis.describe()}.state: PROCESSING -> FINISHED" in message
    assert f"{analysis.group.folder.describe()}.resolution_status: PROCESSING -> FINISHED" in message  # type: ignore[union-attr]


def test_assert_illegal_fails_when_a_refusal_changed_something() -> None:
    folder = make_folder("PROCESSING")

    def sloppy_handler() -> None:  # changes the folder, then refuses
        force(folder, system_resolution=Resolution.DECLINED)
        FOLDER_MACHINE.fire(folder, "settle")

    with pytest.raises(AssertionError, match=r"sloppy_handler\(\) was refused but changed .*"
                                             r"system_resolution: PROCESSING -> DECLINED"):
        assert_illegal(folder, sloppy_handler)


def test_assert_illegal_takes_any_callable_and_its_arguments() -> None:
    analysis = make_analysis("FAILED")
    assert_illegal(analysis, analysis.finish, "success")


def test_assert_illegal_lets_bad_input_through() -> None:
    with pytest.raises(ValueError, match="machine 'folder' has no event 'finish'"):
        assert_illegal(make_folder(), "finish")


# assert_reaches


def test_assert_reaches_names_the_step_that_went_wrong() -> None:
    path = shortest_paths(ANALYSIS_DEFINITION)[AnalysisState.FINISHED]
    with pytest.raises(AssertionError, match=r"step 1 \(PROCESSING --finish\(SUCCESS\)--> FINISHED\): "
                                             r"Analysis .* is FAILED, not PROCESSING"):
        assert_reaches(make_analysis("FAILED"), path, AnalysisState.FINISHED)
    with pytest.raises(AssertionError, match=r"step 1 .* was refused: .* finish\(verdict\): 'maybe' is not a verdict"):
        not_a_verdict = Step("finish", AnalysisState.PROCESSING, AnalysisState.FINISHED, args=("maybe",))
        assert_reaches(make_analysis(), [not_a_verdict], AnalysisState.FINISHED)
    with pytest.raises(AssertionError, match="ended in FINISHED, not FAILED"):
        assert_reaches(make_analysis(), path, AnalysisState.FAILED)


# Factories


@pytest.mark.parametrize("state, result", [(s.value, r) for s in ANALYSIS_DEFINITION.states for r in s.results])
@pytest.mark.parametrize("in_folder", [False, True])
def test_make_analysis_reaches_every_legal_pair(state: AnalysisState, result: Resolution, in_folder: bool) -> None:
    analysis = make_analysis(state, result, in_folder=in_folder)
    assert (analysis.state, analysis.resolution_status) == (state, result)
    assert (analysis.group is not None) == in_folder


@pytest.mark.parametrize("state, result", [(s.value, r) for s in FOLDER_DEFINITION.states for r in s.results])
def test_make_folder_reaches_every_legal_pair(state: FolderStatus, result: Resolution) -> None:
    folder = make_folder(state.value.lower(), result.value)
    assert (folder.resolution_status, folder.system_resolution) == (state, result)


def test_make_folder_takes_the_types_of_its_group() -> None:
    folder = make_folder("FINISHED", "DECLINED", types=["quality", AnalysisType.DOCUMENTS])
    (group,) = folder.groups
    assert [a.type for a in group.analyses] == [AnalysisType.QUALITY, AnalysisType.DOCUMENTS]
    assert [a.resolution_status for a in group.analyses] == [Resolution.DECLINED, Resolution.DECLINED]


def test_factories_refuse_what_cannot_be_made() -> None:
    with pytest.raises(ValueError, match=r"Folder in FINISHED cannot have system_resolution FAILED "
                                         r"\(it can have SUCCESS, DECLINED, OPERATOR_REQUIRED\)"):
        make_folder("FINISHED", "FAILED")
    with pytest.raises(ValueError, match="cannot make Analysis .*OPERATOR_REQUIRED is never the verdict"):
        make_analysis("FINISHED", "OPERATOR_REQUIRED", type="quality")
    with pytest.raises(ValueError, match="'DONE' is not one of"):
        make_analysis("DONE")
    with pytest.raises(ValueError, match="no factory for machine 'door'"):
        make_entity(Expectation("door", AnalysisState.FAILED, "open", None))


def test_snapshot_sees_the_whole_folder_from_one_analysis() -> None:
    folder = make_folder("PROCESSING", types=["quality", "biometry"])
    first, second = folder.groups[0].analyses
    before = snapshot(first)
    second.fail()
    after = snapshot(first)
    assert before != after
    assert after[f"{second.describe()}.state"] is AnalysisState.FAILED
