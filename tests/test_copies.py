"""Copies of folders and analyses are independent: events on one never show on the other.

``copy.copy`` of a folder copies its groups and analyses and gives it a lock
of its own, as ``copy.deepcopy`` does; only the values inside ``extra`` dicts
stay shared.  An analysis or a group inside a folder is not copied alone:
it would leave its copy outside any folder, or inside the original's.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from statuses import Analysis, AnalysisState, Folder, FolderStatus, Resolution, Settings

ENABLED = Settings(operator_required=True)

COPIES: dict[str, Callable[[Any], Any]] = {
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
    "pickle": lambda entity: pickle.loads(pickle.dumps(entity)),
}


def busy_folder() -> Folder:
    """A folder with a finished group, a failed one and two running ones, and fields not modelled."""
    folder = Folder(settings=ENABLED, folder_id="f1", time_created=100.0, extra={"media": [{"id": "m1"}]})
    first = folder.submit(["quality", "biometry"])
    first.analyses[0].finish("SUCCESS")
    first.analyses[1].finish("OPERATOR_REQUIRED")
    folder.submit(["documents"]).analyses[0].fail("engine timeout")
    running = folder.submit(["biometry", "collection"])
    running.analyses[0].finish("DECLINED")
    folder.submit(["quality"])
    for number, analysis in enumerate(folder.analyses):
        analysis.extra = {"results_data": {"n": number}}
    assert folder.resolution_status is FolderStatus.PROCESSING and folder.analyses_in_progress == 2
    return folder


def assert_consistent(folder: Folder) -> None:
    """The folder's counts, links and statuses agree with its analyses, as if recomputed."""
    running = 0
    for group in folder.groups:
        assert group.folder is folder
        assert all(analysis.group is group for analysis in group.analyses)
        in_progress = [a for a in group.analyses if a.state is AnalysisState.PROCESSING]
        running += len(in_progress)
        assert group.finished is not in_progress
        expected = Resolution.PROCESSING if in_progress else Resolution.worst(
            a.resolution_status for a in group.analyses)
        assert group.result is expected
    assert folder.analyses_in_progress == running
    if running:
        assert (folder.resolution_status, folder.system_resolution) == ("PROCESSING", "PROCESSING")
    elif folder.groups:
        last = folder.last_finished_group
        assert last is not None and folder.system_resolution is last.result
        assert folder.resolution_status is (FolderStatus.FAILED if last.result is Resolution.FAILED
                                            else FolderStatus.FINISHED)


def end_all(folder: Folder) -> None:
    for analysis in list(folder.analyses):
        if analysis.state is AnalysisState.PROCESSING:
            analysis.finish("SUCCESS")


def assert_share_no_entity(one: Folder, two: Folder) -> None:
    assert one.lock is not two.lock
    assert not {id(g) for g in one.groups} & {id(g) for g in two.groups}
    assert not {id(a) for a in one.analyses} & {id(a) for a in two.analyses}
    assert one.extra is not two.extra
    assert not {id(a.extra) for a in one.analyses} & {id(a.extra) for a in two.analyses}


@pytest.mark.parametrize("copy_of", COPIES.values(), ids=COPIES.keys())
def test_events_on_a_copied_folder_leave_the_original_as_it_was(copy_of: Callable[[Any], Any], unchanged) -> None:
    folder = busy_folder()
    copied = copy_of(folder)
    assert type(copied) is Folder and copied is not folder
    assert_share_no_entity(folder, copied)
    assert_consistent(copied)
    with unchanged(folder):
        end_all(copied)
        copied.submit(["documents"])
        copied.extra["note"] = "only in the copy"
        next(copied.analyses).extra["seen"] = True
    assert_consistent(copied)
    assert_consistent(folder)
    assert copied.resolution_status is FolderStatus.PROCESSING and len(copied.groups) == len(folder.groups) + 1


@pytest.mark.parametrize("copy_of", COPIES.values(), ids=COPIES.keys())
def test_events_on_the_original_leave_the_copy_as_it_was(copy_of: Callable[[Any], Any], unchanged) -> None:
    folder = busy_folder()
    copied = copy_of(folder)
    with unchanged(copied):
        end_all(folder)
    assert_consistent(folder)
    assert_consistent(copied)
    assert (folder.resolution_status, folder.system_resolution) == ("FINISHED", "SUCCESS")
    assert copied.analyses_in_progress == 2
    end_all(copied)
    assert (copied.resolution_status, copied.system_resolution) == \
        (folder.resolution_status, folder.system_resolution)


def test_a_shallow_copy_of_a_folder_shares_only_the_values_inside_extra() -> None:
    folder = busy_folder()
    copied, deep = copy.copy(folder), copy.deepcopy(folder)
    assert copied.extra == folder.extra and copied.extra is not folder.extra
    assert copied.extra["media"] is folder.extra["media"]  # type: ignore[index]
    assert deep.extra["media"] == folder.extra["media"] and deep.extra["media"] is not folder.extra["media"]  # type: ignore[index]
    assert copied.settings is folder.settings
    for mine, theirs in zip(folder.analyses, copied.analyses):
        assert (mine.analyse_id, mine.state, mine.resolution_status) == \
            (theirs.analyse_id, theirs.state, theirs.resolution_status)
        assert theirs.extra == mine.extra and theirs.extra is not mine.extra
    assert [g.group_id for g in copied.groups] == [g.group_id for g in folder.groups]
    assert copied.last_finished_group.group_id == folder.last_finished_group.group_id  # type: ignore[union-attr]
    assert copied.last_finished_group in copied.groups


def test_a_copy_of_a_standalone_analysis_is_independent(unchanged) -> None:
    analysis = Analysis(type="biometry", settings=ENABLED, analyse_id="a1", time_updated=5.0,
                        extra={"results_data": {"score": 0.9}})
    copied = copy.copy(analysis)
    assert copied is not analysis and copied.group is None
    assert (copied.analyse_id, copied.type, copied.settings, copied.time_updated) == \
        ("a1", analysis.type, ENABLED, 5.0)
    assert copied.extra == analysis.extra and copied.extra is not analysis.extra
    with unchanged(analysis):
        copied.finish("OPERATOR_REQUIRED")
        copied.extra["seen"] = True  # type: ignore[index]
    assert analysis.state is AnalysisState.PROCESSING
    with unchanged(copied):
        analysis.fail("engine timeout")
    assert (copied.state, analysis.state) == (AnalysisState.FINISHED, AnalysisState.FAILED)


def test_an_analysis_in_a_folder_is_not_copied_alone(unchanged) -> None:
    folder = busy_folder()
    analysis = next(a for a in folder.analyses if a.state is AnalysisState.PROCESSING)
    with unchanged(folder), pytest.raises(TypeError, match=r"copy\.deepcopy\(folder\)") as raised:
        copy.copy(analysis)
    assert analysis.describe() in str(raised.value) and "Folder f1" in str(raised.value)


def test_a_group_is_not_copied_alone(unchanged) -> None:
    folder = busy_folder()
    with unchanged(folder), pytest.raises(TypeError, match=r"copy\.deepcopy\(folder\)") as raised:
        copy.copy(folder.groups[-1])
    assert folder.groups[-1].describe() in str(raised.value)


def test_a_deep_copy_of_an_analysis_in_a_folder_copies_its_folder(unchanged) -> None:
    """What the refusal above points to: deepcopy takes the whole folder along, consistently."""
    folder = busy_folder()
    analysis = next(a for a in folder.analyses if a.state is AnalysisState.PROCESSING)
    copied = copy.deepcopy(analysis)
    assert copied.group is not None and copied.group.folder is not folder
    with unchanged(folder):
        copied.finish("SUCCESS")
    assert_consistent(copied.group.folder)
