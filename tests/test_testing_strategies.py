"""The hypothesis strategies: what they yield is valid, and they reach the cases that matter."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from statuses import (Analysis, AnalysisState, AnalysisType, Folder, FolderStatus, IllegalTransition, InvalidArgument,
                      Resolution)
from statuses.payloads import document_problems, dump_folder, folder_problems, load_folder
from statuses.testing import analyses, api_folders, assert_illegal, events, folders

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REACH = settings(max_examples=2000, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
                 suppress_health_check=[HealthCheck.too_slow])
"""For ``find``: the same search on every run, so a case found once is found always; no shrinking."""


@PROPERTY
@given(folders())
def test_folders_are_consistent(folder: Folder) -> None:
    assert folder_problems(dump_folder(folder)) == []
    running = [a for a in folder.analyses if a.state is AnalysisState.PROCESSING]
    assert folder.analyses_in_progress == len(running)
    assert (folder.resolution_status is FolderStatus.PROCESSING) == bool(running)


@PROPERTY
@given(analyses())
def test_analyses_are_in_a_legal_state(analysis: Analysis) -> None:
    assert (analysis.state, analysis.resolution_status) in {
        (AnalysisState.PROCESSING, Resolution.PROCESSING), (AnalysisState.FAILED, Resolution.FAILED),
        (AnalysisState.FINISHED, Resolution.SUCCESS), (AnalysisState.FINISHED, Resolution.DECLINED),
        (AnalysisState.FINISHED, Resolution.OPERATOR_REQUIRED)}
    if analysis.resolution_status is Resolution.OPERATOR_REQUIRED:
        assert analysis.type is not AnalysisType.QUALITY and analysis.settings.operator_required
    if analysis.group is not None:
        assert analysis in analysis.group.analyses and analysis.group in analysis.group.folder.groups


@PROPERTY
@given(analyses(type=AnalysisType.DOCUMENTS, state=AnalysisState.FAILED, in_folder=True, restored=True))
def test_analyses_take_what_they_are_told(analysis: Analysis) -> None:
    assert (analysis.type, analysis.state, analysis.group is not None) == (
        AnalysisType.DOCUMENTS, AnalysisState.FAILED, True)


@PROPERTY
@given(st.data())
def test_events_are_allowed_exactly_when_the_machine_takes_them(data: st.DataObject) -> None:
    entity: Analysis | Folder = data.draw(st.one_of(analyses(), folders()))
    call = data.draw(events(entity))
    if call.allowed(entity):
        call.apply(entity)
    else:
        assert_illegal(entity, call.event, *call.args)


@PROPERTY
@given(api_folders())
def test_api_folders_are_valid_and_read_back(document: dict[str, Any]) -> None:
    assert document_problems(document) == []
    folder = load_folder(document)
    assert len(list(folder.analyses)) == len(document["analyses"])


# Each strategy reaches the cases a test needs; found by search, not assumed.


def test_folders_reach_overlapping_groups_decided_by_the_last_to_finish() -> None:
    def overlapping(folder: Folder) -> bool:
        """Settled, and a group sent earlier finished after one sent later."""
        order = [g.finished_order for g in folder.groups]
        return folder.analyses_in_progress == 0 and any(
            a is not None and b is not None and a > b for i, a in enumerate(order) for b in order[i + 1:])

    folder = find(folders(restored=True), overlapping, settings=REACH)
    last = folder.last_finished_group
    assert last is not None and last.finished_order == len(folder.groups)
    assert folder.system_resolution is last.result


def test_folders_reach_a_failed_folder_with_a_successful_group() -> None:
    def failed_after_success(folder: Folder) -> bool:
        return folder.resolution_status is FolderStatus.FAILED and any(
            g.result is Resolution.SUCCESS for g in folder.groups)

    find(folders(), failed_after_success, settings=REACH)


@pytest.mark.parametrize("spelling", ["analysis_id", "resolution", '"liveness"', '"success"', "T00:", "results_data"])
def test_api_folders_reach_every_spelling_seen_in_the_wild(spelling: str) -> None:
    import json

    find(api_folders(), lambda document: spelling in json.dumps(document), settings=REACH)


def test_api_folders_reach_documents_without_group_ids() -> None:
    find(api_folders(), lambda d: bool(d["analyses"]) and all("group_id" not in a for a in d["analyses"]),
         settings=REACH)


def test_events_reach_refused_and_accepted_moves() -> None:
    folder = Folder()
    folder.submit(["quality"])
    assert find(events(folder), lambda call: not call.allowed(folder), settings=REACH).event in ("submit", "settle")
    analysis = Analysis(type="biometry")
    with pytest.raises((IllegalTransition, InvalidArgument)):
        find(events(analysis), lambda call: call.event == "finish" and not call.allowed(analysis),
             settings=REACH).apply(analysis)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="min_groups=3 is more than max_groups=2"):
        find(folders(min_groups=3, max_groups=2), lambda folder: True)
    with pytest.raises(TypeError, match="events\\(\\) takes an Analysis or a Folder, got str"):
        events("folder")  # type: ignore[arg-type]
