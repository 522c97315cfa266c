"""The folder machine, groups and their results, overlapping groups."""

from __future__ import annotations

import copy
import itertools
import pickle
from typing import Any

import pytest

from statuses import (
    FOLDER_MACHINE,
    Analysis,
    AnalysisType,
    Folder,
    FolderStatus,
    Group,
    GuardRefused,
    InvalidArgument,
    NoTransition,
    Resolution,
    Settings,
)

Q, B, D, C = AnalysisType.QUALITY, AnalysisType.BIOMETRY, AnalysisType.DOCUMENTS, AnalysisType.COLLECTION
ENABLED = Settings(operator_required=True)


def folder_in(state: str) -> Folder:
    """A folder driven into ``state`` by real submits, finishes and fails."""
    folder = Folder(settings=ENABLED)
    if state != "INITIAL":
        (analysis,) = folder.submit([B]).analyses
        if state == "FINISHED":
            analysis.finish(Resolution.SUCCESS)
        elif state == "FAILED":
            analysis.fail()
    assert folder.resolution_status == state
    return folder


@pytest.mark.parametrize("state", ["INITIAL", "PROCESSING", "FAILED", "FINISHED"])
def test_submit_from_every_state_goes_to_processing(state: str) -> None:
    folder = folder_in(state)
    before = folder.groups
    assert folder.may_submit([Q])
    group = folder.submit([Q, D])
    assert folder.resolution_status is FolderStatus.PROCESSING
    assert folder.system_resolution is Resolution.PROCESSING
    assert folder.groups == (*before, group) and group.folder is folder
    assert [a.type for a in group.analyses] == [Q, D]
    assert all(a.group is group and a.settings is ENABLED for a in group.analyses)


@pytest.mark.parametrize("state", ["INITIAL", "PROCESSING", "FAILED", "FINISHED"])
def test_an_empty_group_is_refused_in_every_state(state: str, unchanged) -> None:
    folder = folder_in(state)
    assert not folder.may_submit([])
    with unchanged(folder), pytest.raises(InvalidArgument) as raised:
        folder.submit([])
    assert raised.value.call == "submit(group)"
    assert folder.folder_id in str(raised.value) and "a group needs one analysis or more" in str(raised.value)


@pytest.mark.parametrize("state", ["INITIAL", "FAILED", "FINISHED"])
def test_settle_has_no_edge_outside_processing(state: str, unchanged) -> None:
    folder = folder_in(state)
    assert not FOLDER_MACHINE.allows(folder, "settle")
    with unchanged(folder), pytest.raises(NoTransition, match=f"is {state}: event 'settle' has no edge"):
        FOLDER_MACHINE.fire(folder, "settle")


def test_settle_is_refused_while_an_analysis_runs(unchanged) -> None:
    folder = folder_in("PROCESSING")
    with unchanged(folder), pytest.raises(GuardRefused, match="1 analysis is still PROCESSING") as raised:
        FOLDER_MACHINE.fire(folder, "settle")
    assert raised.value.guard == "none_in_progress"


@pytest.mark.parametrize(
    "bad, error, message",
    [
        ("QUALITY", TypeError, r"submit\(types\): expected a list of analysis types, not 'QUALITY'"),
        (None, TypeError, r"submit\(types\): expected a list of analysis types, not None"),
        (["quality", "selfie"], ValueError, r"submit\(types\[1\]\): 'selfie' is not one of"),
        ([Q, 7], ValueError, r"submit\(types\[1\]\): 7 is not one of"),
    ],
)
def test_bad_types_name_what_and_where(bad: object, error: type[Exception], message: str, unchanged) -> None:
    folder = folder_in("FINISHED")
    with unchanged(folder), pytest.raises(error, match=message):
        folder.submit(bad)  # type: ignore[arg-type]


def test_types_in_the_apis_spellings() -> None:
    group = Folder().submit(["quality", "liveness", "Biometry", "documents", "COLLECTION"])
    assert [a.type for a in group.analyses] == [Q, Q, B, D, C]


@pytest.mark.parametrize("results", list(itertools.product(["SUCCESS", "DECLINED", "OPERATOR_REQUIRED", "FAILED"],
                                                           repeat=2)))
def test_group_result_is_the_worst_and_decides_the_folder(results: tuple[str, str]) -> None:
    folder = Folder(settings=ENABLED)
    group = folder.submit([B, D])
    for analysis, result in zip(group.analyses, results):
        assert group.result is Resolution.PROCESSING and not group.finished
        analysis.fail() if result == "FAILED" else analysis.finish(result)
    worst = Resolution.worst(Resolution(r) for r in results)
    assert group.finished and group.result is worst
    assert folder.system_resolution is worst
    assert folder.resolution_status is (FolderStatus.FAILED if worst is Resolution.FAILED else FolderStatus.FINISHED)


def test_overlap_the_group_that_finishes_last_decides() -> None:
    folder = Folder()
    a = folder.submit([B])          # A starts
    b = folder.submit([D])          # B starts
    b.analyses[0].fail()            # B finishes first: the folder still runs A
    assert (folder.resolution_status, folder.system_resolution) == ("PROCESSING", "PROCESSING")
    assert b.finished and b.result is Resolution.FAILED
    a.analyses[0].finish("SUCCESS")  # A finishes last and decides
    assert folder.last_finished_group is a
    assert (folder.resolution_status, folder.system_resolution) == ("FINISHED", "SUCCESS")
    assert (b.finished_order, a.finished_order) == (1, 2)


def test_overlap_the_reverse_order() -> None:
    folder = Folder()
    a = folder.submit([B])
    b = folder.submit([D])
    a.analyses[0].finish("DECLINED")
    assert folder.resolution_status is FolderStatus.PROCESSING
    b.analyses[0].fail("boom")
    assert folder.last_finished_group is b
    assert (folder.resolution_status, folder.system_resolution) == ("FAILED", "FAILED")


@pytest.mark.parametrize("first, then", [("FINISHED", "FAILED"), ("FAILED", "FINISHED"), ("FINISHED", "FINISHED")])
def test_a_new_group_after_the_folder_ended_is_decided_again(first: str, then: str) -> None:
    folder = folder_in(first)
    (analysis,) = folder.submit([C]).analyses
    assert (folder.resolution_status, folder.system_resolution) == ("PROCESSING", "PROCESSING")
    analysis.fail() if then == "FAILED" else analysis.finish("DECLINED")
    assert folder.resolution_status == then
    assert folder.system_resolution == ("FAILED" if then == "FAILED" else "DECLINED")


def test_the_example_of_the_issue() -> None:
    folder = Folder(settings=Settings(operator_required=True))
    group = folder.submit([Q, B])
    quality, biometry = group.analyses
    quality.finish(Resolution.SUCCESS)
    assert folder.resolution_status is FolderStatus.PROCESSING
    biometry.fail("engine timeout")
    assert (folder.resolution_status, folder.system_resolution, group.result) == ("FAILED", "FAILED", "FAILED")
    assert list(folder.analyses) == [quality, biometry] and folder.analyses_in_progress == 0


def test_default_settings_refuse_operator_review_in_a_folder(unchanged) -> None:
    (analysis,) = Folder().submit([B]).analyses
    with unchanged(analysis), pytest.raises(GuardRefused, match="operator_review_enabled"):
        analysis.finish(Resolution.OPERATOR_REQUIRED)


def test_a_group_is_submitted_once_and_only_to_its_folder(unchanged) -> None:
    first, second = Folder(), Folder()
    group = first.submit([B])
    with unchanged(first), pytest.raises(GuardRefused, match="was submitted already") as raised:
        FOLDER_MACHINE.fire(first, "submit", group)
    assert raised.value.guard == "group_is_new"
    with unchanged(second), pytest.raises(GuardRefused, match="was made for Folder"):
        FOLDER_MACHINE.fire(second, "submit", group)


def _two_finished_groups() -> list[tuple[str, list[Analysis]]]:
    """Group g1 looks newer by its times, but g2 finished last."""
    return [
        ("g1", [Analysis.restore(analyse_id="a1", type=B, state="FINISHED", resolution_status="DECLINED",
                                 time_updated=200.0)]),
        ("g2", [Analysis.restore(analyse_id="a2", type=B, state="FAILED", resolution_status="FAILED",
                                 time_updated=100.0)]),
    ]


def test_restore_ranks_finished_groups_by_a_recorded_finish_order_over_times() -> None:
    by_times = Folder.restore(folder_id="f", resolution_status=FolderStatus.FINISHED,
                              system_resolution=Resolution.DECLINED, groups=_two_finished_groups())
    assert by_times.last_finished_group.group_id == "g1"  # type: ignore[union-attr]
    recorded = Folder.restore(folder_id="f", resolution_status=FolderStatus.FAILED,
                              system_resolution=Resolution.FAILED, groups=_two_finished_groups(),
                              finished_order={"g1": 1, "g2": 2})
    assert recorded.last_finished_group.group_id == "g2"  # type: ignore[union-attr]
    assert [group.finished_order for group in recorded.groups] == [1, 2]


def test_restore_names_a_finished_group_the_recorded_order_misses() -> None:
    with pytest.raises(ValueError, match="finished_order: group .g2. has finished but finished_order does not rank it"):
        Folder.restore(folder_id="f", resolution_status=FolderStatus.FAILED, system_resolution=Resolution.FAILED,
                       groups=_two_finished_groups(), finished_order={"g1": 1})


def test_a_restored_group_is_submitted_already(unchanged) -> None:
    folder = Folder.restore(folder_id="f", resolution_status=FolderStatus.FINISHED,
                            system_resolution=Resolution.DECLINED, groups=_two_finished_groups()[:1])
    with unchanged(folder), pytest.raises(GuardRefused, match="group g1 was submitted already"):
        FOLDER_MACHINE.fire(folder, "submit", folder.groups[0])


@pytest.mark.parametrize("copy_of", [copy.deepcopy, lambda folder: pickle.loads(pickle.dumps(folder))],
                         ids=["deepcopy", "pickle"])
def test_a_folder_copies_and_pickles_with_a_lock_of_its_own(copy_of: Any) -> None:
    folder = Folder(settings=ENABLED)
    folder.submit([Q, B])
    copied = copy_of(folder)
    assert copied.lock is not folder.lock and copied.settings == folder.settings
    quality, biometry = copied.groups[0].analyses
    quality.finish(Resolution.SUCCESS)
    biometry.finish(Resolution.OPERATOR_REQUIRED)
    assert (copied.resolution_status, copied.system_resolution) == ("FINISHED", "OPERATOR_REQUIRED")
    assert folder.resolution_status is FolderStatus.PROCESSING and folder.analyses_in_progress == 2
    with copied.lock:  # a working re-entrant lock
        with copied.lock:
            pass


def _attached(group: Group) -> Group:
    """``group`` with its analyses pointing back to it, as a caller building one by hand would do."""
    for analysis in group.analyses:
        analysis.group = group
    return group


def _hand_built(folder: Folder, case: str) -> tuple[Group, Analysis, str]:
    """A group built by hand that cannot run in ``folder``, its stray analysis, and the reason's words."""
    if case == "ended":
        done = Analysis.restore(analyse_id="a1", type=B, state="FINISHED", resolution_status="DECLINED")
        return _attached(Group(folder=folder, analyses=(Analysis(type=Q, analyse_id="a0"), done))), done, \
            "has ended (FINISHED)"
    if case == "failed":
        failed = Analysis(type=D, analyse_id="a1")
        failed.fail("engine timeout")
        return _attached(Group(folder=folder, analyses=(failed,))), failed, "has ended (FAILED)"
    if case == "another folder's":
        elsewhere = Folder(folder_id="f2").submit([B])
        (stray,) = elsewhere.analyses
        return Group(folder=folder, analyses=(stray,)), stray, f"belongs to Group {elsewhere.group_id} of Folder f2"
    if case == "not pointing back":
        loose = Analysis(type=C, analyse_id="a1")
        return Group(folder=folder, analyses=(loose,)), loose, "does not point back to it (its group is None)"
    if case == "twice":
        twice = Analysis(type=B, analyse_id="a1")
        return _attached(Group(folder=folder, analyses=(twice, twice))), twice, "is in it twice"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["ended", "failed", "another folder's", "not pointing back", "twice"])
@pytest.mark.parametrize("state", ["INITIAL", "FINISHED"])
def test_a_hand_built_group_that_could_never_finish_is_refused(case: str, state: str, unchanged) -> None:
    """Accepted, each of these left the folder PROCESSING for good, waiting on an analysis that never reports."""
    folder = folder_in(state)
    group, stray, words = _hand_built(folder, case)
    assert not FOLDER_MACHINE.allows(folder, "submit", group)
    others = stray.group.folder if stray.group is not None and stray.group is not group else folder
    with unchanged(folder), unchanged(others), pytest.raises(GuardRefused) as raised:
        FOLDER_MACHINE.fire(folder, "submit", group)
    assert raised.value.guard == "group_is_new"
    assert raised.value.reason == f"group {group.group_id}: {stray.describe()} {words}"
    assert stray.describe() in str(raised.value) and state in str(raised.value)


def test_a_hand_built_group_of_new_analyses_runs_as_a_submitted_one() -> None:
    folder = folder_in("FINISHED")
    group = _attached(Group(folder=folder, analyses=(Analysis(type=Q), Analysis(type=B, settings=ENABLED))))
    FOLDER_MACHINE.fire(folder, "submit", group)
    assert folder.groups[-1] is group and folder.analyses_in_progress == 2
    quality, biometry = group.analyses
    quality.finish("SUCCESS")
    biometry.finish("DECLINED")
    assert (folder.resolution_status, folder.system_resolution) == ("FINISHED", "DECLINED")
    assert folder.last_finished_group is group and group.finished_order == 2


FOLDER_BAD_VALUES = [
    ("folder_id", 123, "expected a non-empty string, got int 123"),
    ("folder_id", "", "expected a non-empty string"),
    ("time_created", "yesterday", "'yesterday' is not an ISO 8601 timestamp"),
    ("time_updated", -5.0, "-5.0 is not between 1970-01-01 and 9999-12-31 (times are Unix seconds, never before 1970)"),
    ("extra", "k=1", "expected a dict (a JSON object) or None, got a string"),
]


@pytest.mark.parametrize("field, value, why", FOLDER_BAD_VALUES, ids=[f"{f}={v!r}" for f, v, _ in FOLDER_BAD_VALUES])
def test_the_folder_constructor_and_restore_refuse_what_the_loader_refuses(field: str, value: object,
                                                                         why: str) -> None:
    with pytest.raises(ValueError) as raised:
        Folder(**{field: value})  # type: ignore[arg-type]
    assert str(raised.value) == f"Folder(): {field}: {why}"
    recorded: dict[str, Any] = {"folder_id": "f1", "resolution_status": FolderStatus.INITIAL,
                                "system_resolution": Resolution.INITIAL, "groups": []}
    with pytest.raises(ValueError) as restored:
        Folder.restore(**{**recorded, field: value})
    assert str(restored.value) == str(raised.value)
    with pytest.raises(TypeError, match=r"^Folder\(\): settings: expected a Settings, got NoneType None$"):
        Folder(settings=None)  # type: ignore[arg-type]


def test_what_the_constructors_accept_the_loader_reads_back() -> None:
    from statuses.payloads import dump_folder, load_folder

    folder = Folder(folder_id="f1", time_created="2024-11-26T13:20:00Z", extra={"media": []})
    group = folder.submit([B])
    group.analyses[0].time_updated = 1_732_627_260.0
    group.analyses[0].finish("SUCCESS")
    folder.time_updated = 1_732_627_260
    document = dump_folder(folder)
    assert document["time_created"] == 1_732_627_200
    assert dump_folder(load_folder(document)) == document


def test_restore_refuses_analyses_in_a_group_already_and_touches_none(unchanged) -> None:
    """Taken, an analysis of another folder would never report to that folder again."""
    other = Folder(folder_id="f2")
    (claimed,) = other.submit([B]).analyses
    fresh = Analysis(type=D, analyse_id="a0")
    with unchanged(other), pytest.raises(ValueError) as raised:
        Folder.restore(folder_id="f", resolution_status=FolderStatus.PROCESSING,
                       system_resolution=Resolution.PROCESSING, groups=[("g1", [fresh]), ("g2", [claimed])])
    assert str(raised.value) == (f"Folder.restore(): groups[1]: {claimed.describe()} "
                                 f"belongs to Group {claimed.group.group_id} of Folder f2 already")  # type: ignore[union-attr]
    assert fresh.group is None  # the caller's analyses are left as they were
    with pytest.raises(ValueError, match=r"groups\[1\]: Analysis a0 \(DOCUMENTS\) is given twice"):
        Folder.restore(folder_id="f", resolution_status=FolderStatus.PROCESSING,
                       system_resolution=Resolution.PROCESSING, groups=[("g1", [fresh]), ("g2", [fresh])])
    assert fresh.group is None


def test_restore_that_fails_on_the_finish_order_touches_no_analysis() -> None:
    groups = _two_finished_groups()
    with pytest.raises(ValueError, match="finished_order does not rank it"):
        Folder.restore(folder_id="f", resolution_status=FolderStatus.FAILED, system_resolution=Resolution.FAILED,
                       groups=groups, finished_order={"g1": 1})
    assert [analysis.group for _, analyses in groups for analysis in analyses] == [None, None]


def test_an_analysis_of_a_group_not_yet_submitted_ends_without_touching_the_folder(unchanged) -> None:
    """Ending it once reached the folder's count: a later group then left the folder PROCESSING forever."""
    folder = folder_in("INITIAL")
    group = _attached(Group(folder=folder, analyses=(Analysis(type=Q, analyse_id="early"),)))
    with unchanged(folder):
        group.analyses[0].finish("SUCCESS")
    assert group.finished and not FOLDER_MACHINE.allows(folder, "submit", group)
    folder.submit([Q]).analyses[0].finish("SUCCESS")
    assert (folder.resolution_status, folder.system_resolution, folder.analyses_in_progress) == \
        ("FINISHED", "SUCCESS", 0)
