"""The folder's own checker of a record, and the folder's public ways of being built and caught up.

`consolidate` is the one place that says what a consistent folder record is:
`Folder.restore`, the JSON loader and the store all read through it.
"""

from __future__ import annotations

import pickle

import pytest

from statuses import (Analysis, AnalysisState, AnalysisType, Folder, FolderStatus, GuardRefused, IllegalTransition,
                      InvalidArgument, Resolution)
from statuses.errors import Inconsistency, InconsistentFolder
from statuses.folder import consolidate

FINISHED, FAILED, PROCESSING, INITIAL = (FolderStatus.FINISHED, FolderStatus.FAILED, FolderStatus.PROCESSING,
                                         FolderStatus.INITIAL)


def ended(analyse_id: str, result: str = "SUCCESS", when: float | None = 100.0) -> Analysis:
    state = "FAILED" if result == "FAILED" else "FINISHED"
    return Analysis.restore(analyse_id=analyse_id, type="biometry", state=state, resolution_status=result,
                            time_updated=when)


def running(analyse_id: str) -> Analysis:
    return Analysis.restore(analyse_id=analyse_id, type="biometry", state="PROCESSING",
                            resolution_status="PROCESSING")


def messages(checked: object) -> list[str]:
    return [str(problem) for problem in checked.problems]  # type: ignore[attr-defined]


def test_a_consistent_record_has_no_problem_and_its_order() -> None:
    checked = consolidate(FINISHED, Resolution.DECLINED,
                          [("g1", [ended("a1", when=100)]), ("g2", [ended("a2", "DECLINED", when=200)])])
    assert checked.problems == ()
    assert checked.finished_order == (1, 2)


@pytest.mark.parametrize(("status", "result", "groups", "expected"), [
    (FINISHED, Resolution.FAILED, [("g1", ["a1"])],
     "system_resolution: FINISHED folder cannot have system_resolution FAILED"),
    (INITIAL, Resolution.INITIAL, [("g1", ["a1"])], "resolution_status: INITIAL but the folder has 1 analyses"),
    (FINISHED, Resolution.SUCCESS, [], "resolution_status: FINISHED but the folder has no analyses"),
    (FINISHED, Resolution.SUCCESS, [("g1", ["a1", "r2"])],
     "resolution_status: FINISHED but 1 analysis is still PROCESSING: 'r2'"),
    (PROCESSING, Resolution.PROCESSING, [("g1", ["a1"])], "resolution_status: PROCESSING but no analysis is"),
    (FINISHED, Resolution.SUCCESS, [("g1", ["a1"]), ("g2", [])],
     "analyses: group 'g2': a group needs one analysis or more"),
])
def test_each_broken_rule_is_named_at_its_field(status: FolderStatus, result: Resolution,
                                                groups: list[tuple[str, list[str]]], expected: str) -> None:
    built = [(group_id, [running(a) if a.startswith("r") else ended(a) for a in ids]) for group_id, ids in groups]
    assert expected in messages(consolidate(status, result, built))


def test_the_last_finished_group_decides_by_time_or_by_the_recorded_order() -> None:
    groups = [("g1", [ended("a1", "DECLINED", when=200)]), ("g2", [ended("a2", when=100)])]
    by_time = consolidate(FINISHED, Resolution.SUCCESS, groups)
    assert messages(by_time) == ["system_resolution: SUCCESS but the last-finished group 'g1' has result DECLINED"]
    recorded = consolidate(FINISHED, Resolution.SUCCESS, groups, finished_order={"g1": 1, "g2": 2})
    assert recorded.problems == () and recorded.finished_order == (1, 2)


def test_a_tie_goes_to_the_group_that_agrees_with_the_folder() -> None:
    groups = [("g1", [ended("a1", when=100)]), ("g2", [ended("a2", "DECLINED", when=100)])]
    checked = consolidate(FINISHED, Resolution.SUCCESS, groups)
    assert checked.problems == () and checked.finished_order == (2, 1)


@pytest.mark.parametrize(("order", "expected"), [
    ({"g1": 1}, "finished_order: group 'g2' has finished but finished_order does not rank it"),
    ({"g1": 1, "g2": 2, "g3": 3}, "finished_order: ranks group 'g3' 3, but it is running"),
    ({"g1": 1, "g2": 3}, "finished_order: ranks the finished groups [1, 3], not 1 to 2"),
    ([1, 2], "finished_order: has 2 entries for 3 groups"),
])
def test_a_recorded_order_must_rank_exactly_the_finished_groups(order: object, expected: str) -> None:
    groups = [("g1", [ended("a1")]), ("g2", [ended("a2")]), ("g3", [running("r3")])]
    assert expected in messages(consolidate(PROCESSING, Resolution.PROCESSING, groups, finished_order=order))


def test_analyses_of_unknown_groups_are_modelled_as_the_rules_allow() -> None:
    unknown = [ended("a1", "DECLINED"), ended("a2")]
    one = consolidate(FINISHED, Resolution.DECLINED, [(None, unknown)])
    assert [[a.analyse_id for a in members] for _, members in one.groups] == [["a1", "a2"]]
    # A folder better than the worst of them: one of their groups decided it, so they were in two.
    two = consolidate(FINISHED, Resolution.SUCCESS, [(None, unknown)])
    assert two.problems == ()
    assert [[a.analyse_id for a in members] for _, members in two.groups] == [["a1"], ["a2"]]
    assert two.finished_order == (1, 2)


def test_restore_refuses_an_inconsistent_record_and_leaves_the_analyses_alone() -> None:
    analyses = [ended("a1"), running("r2")]
    with pytest.raises(InconsistentFolder) as raised:
        Folder.restore(folder_id="f1", resolution_status="FINISHED", system_resolution="SUCCESS",
                       groups=[("g1", analyses)])
    assert raised.value.entity == "Folder f1"
    assert raised.value.problems == (Inconsistency("resolution_status",
                                                   "FINISHED but 1 analysis is still PROCESSING: 'r2'"),)
    assert isinstance(raised.value, ValueError)
    assert all(analysis.group is None for analysis in analyses)
    again = pickle.loads(pickle.dumps(raised.value))
    assert (type(again), str(again), again.problems) == (InconsistentFolder, str(raised.value), raised.value.problems)


def test_submit_takes_the_apis_ids_and_refuses_a_taken_one() -> None:
    folder = Folder(folder_id="f1")
    group = folder.submit(["quality", "biometry"], group_id="g1", analysis_ids=["a1", "a2"])
    assert (group.group_id, [a.analyse_id for a in group.analyses]) == ("g1", ["a1", "a2"])
    with pytest.raises(GuardRefused, match=r"analysis_ids\[1\]: 'a1' is already an analysis of the folder"):
        folder.submit(["quality", "quality"], analysis_ids=["a3", "a1"])  # a conflict with the folder: 409
    with pytest.raises(ValueError, match=r"one analysis id per type: 1 types, 2 ids"):
        folder.submit(["quality"], analysis_ids=["a3", "a4"])
    with pytest.raises(ValueError, match=r"Folder.new_group\(\): group_id: expected a non-empty string"):
        folder.submit(["quality"], group_id="")
    assert len(folder.groups) == 1


def test_new_is_the_constructor_at_a_fraction_of_its_cost() -> None:
    fast = Analysis.new(AnalysisType.QUALITY, analyse_id="a1")
    slow = Analysis(type="quality", analyse_id="a1")
    assert [getattr(fast, name) for name in ("type", "state", "resolution_status", "analyse_id", "settings")] == \
        [getattr(slow, name) for name in ("type", "state", "resolution_status", "analyse_id", "settings")]
    assert fast.state is AnalysisState.PROCESSING and fast.group is None and fast.extra is None
    assert Analysis.new("liveness").type is AnalysisType.QUALITY  # a spelling goes through the constructor
    with pytest.raises(ValueError, match="Analysis\\(\\): analyse_id: expected a non-empty string"):
        Analysis.new(AnalysisType.QUALITY, analyse_id="")


def test_catch_up_takes_a_folder_from_anywhere() -> None:
    local = Folder(folder_id="f1")
    local.submit(["biometry"], group_id="g1", analysis_ids=["a1"])
    remote = Folder.restore(folder_id="f1", resolution_status="FINISHED", system_resolution="SUCCESS",
                            groups=[("g1", [ended("a1")])])
    applied = local.catch_up(remote)
    assert [(t.entity, t.event) for t in applied] == [("analysis", "finish"), ("folder", "settle")]
    assert (local.resolution_status, local.system_resolution) == (FINISHED, Resolution.SUCCESS)
    other = Folder.restore(folder_id="f2", resolution_status="INITIAL", system_resolution="INITIAL", groups=[])
    with pytest.raises(InconsistentFolder, match=r"folder_id: 'f2' is not Folder f1"):
        local.catch_up(other)
    back = Folder.restore(folder_id="f1", resolution_status="PROCESSING", system_resolution="PROCESSING",
                          groups=[("g1", [running("a1")])], time_updated=10**9)
    local.time_updated = 100.0
    with pytest.raises(IllegalTransition, match="cannot go back to PROCESSING"):
        local.catch_up(back)


def test_a_group_whose_analysis_ended_before_submit_is_refused_and_settle_needs_a_finished_group(unchanged) -> None:
    from statuses import FOLDER_MACHINE, GuardRefused

    folder = Folder(folder_id="f1")
    group = folder.new_group(["biometry"])
    group.analyses[0].finish("SUCCESS")
    with unchanged(folder), pytest.raises(GuardRefused, match=r"has ended \(FINISHED\)"):
        FOLDER_MACHINE.fire(folder, "submit", group)
    assert not FOLDER_MACHINE.allows(folder, "settle")  # INITIAL: no edge
    stuck = Folder.restore(folder_id="f2", resolution_status="PROCESSING", system_resolution="PROCESSING",
                           groups=[("g1", [running("r1")])])
    with pytest.raises(GuardRefused, match="no group has finished|analysis is still PROCESSING"):
        FOLDER_MACHINE.fire(stuck, "settle")


def test_ids_chosen_by_the_caller_are_checked_when_the_group_is_made_and_again_when_it_is_submitted(
        unchanged) -> None:
    from statuses import FOLDER_MACHINE, GuardRefused

    folder = Folder(folder_id="f1")
    folder.submit(["quality"], group_id="g1", analysis_ids=["a1"])
    with unchanged(folder), pytest.raises(GuardRefused, match=r"group_id: 'g1' is already a group"):
        folder.submit(["quality"], group_id="g1")
    early = folder.new_group(["quality"], analysis_ids=["a2"])   # made while a2 is free...
    folder.submit(["quality"], analysis_ids=["a2"])               # ...then taken
    with unchanged(folder), pytest.raises(GuardRefused, match=r"analysis_ids\[0\]: 'a2' is already an analysis"):
        FOLDER_MACHINE.fire(folder, "submit", early)
    with pytest.raises(InvalidArgument, match=r"submit\(analysis_ids\[1\]\): 'a3' is given twice"):
        folder.submit(["quality", "biometry"], analysis_ids=["a3", "a3"])
    with pytest.raises(InvalidArgument, match=r"submit\(analysis_ids\): a list of ids, one per type, not 'ab'"):
        folder.submit(["quality", "biometry"], analysis_ids="ab")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"submit\(\): analysis_ids\[0\]: expected a non-empty string"):
        folder.submit(["quality"], analysis_ids=[["x"]])  # type: ignore[list-item]


@pytest.mark.parametrize(("groups", "order", "expected"), [
    ([("g1", ["a1"]), ("g2", ["a1"])], None, "analyse_id: 'a1' is given twice"),
    ([("g1", ["a1"]), ("g1", ["a2"])], None, "group_id: 'g1' is given for two groups"),
    ([(123, ["a1"])], None, "group_id: 123 is not a group id"),
    ([("g1", ["a1"])], {"g1": 1, "g9": 2}, "finished_order: ranks 'g9', which is no group of the folder"),
    ([("g1", ["a1"])], {"g1": True}, "finished_order: ranks group 'g1' True, not a whole number"),
])
def test_restore_refuses_ids_and_ranks_that_do_not_fit(groups: list[tuple[object, list[str]]], order: object,
                                                      expected: str) -> None:
    built = [(group_id, [ended(a) for a in ids]) for group_id, ids in groups]
    with pytest.raises(InconsistentFolder) as raised:
        Folder.restore(folder_id="f1", resolution_status="FINISHED", system_resolution="SUCCESS",
                       groups=built, finished_order=order)  # type: ignore[arg-type]
    assert expected in [str(problem) for problem in raised.value.problems] or expected in str(raised.value)


def test_catch_up_takes_a_live_folder_and_shares_nothing_with_it() -> None:
    local = Folder(folder_id="f1")
    local.submit(["biometry"], group_id="g1", analysis_ids=["a1"])
    done = ended("a1")
    done.extra = {"results_data": {"score": 1}}
    remote = Folder.restore(folder_id="f1", resolution_status="FINISHED", system_resolution="SUCCESS",
                            groups=[("g1", [done])], extra={"source_media": []})
    local.catch_up(remote)
    [ours] = local.analyses
    assert ours.extra == done.extra and ours.extra is not done.extra
    assert local.extra == remote.extra and local.extra is not remote.extra
    with pytest.raises(InvalidArgument, match=r"catch_up\(remote\): takes a Folder, not \{'folder_id': 'f1'\}"):
        local.catch_up({"folder_id": "f1"})  # type: ignore[arg-type]
