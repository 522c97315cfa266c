"""observe: never drop or mis-apply a newer snapshot; refuse what no legal steps reach, changing nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from statuses import AnalysisType, Folder, IllegalTransition, Resolution, Settings
from statuses.payloads import PayloadError, dump_folder, load_analysis, load_folder, observe

from .test_payloads import analysis, folder



def Moved(entity: str, id: str, source: str, dest: str, event: str) -> tuple[str, str, str, str, str]:
    """What a test says of a transition; compared with :func:`moved` of the records."""
    return (entity, id, source, dest, event)


def moved(transitions: list) -> list[tuple[str, str, str, str, str]]:
    return [(t.entity, t.id, t.source.value, t.dest.value, t.event) for t in transitions]

def running(analyse_id: str, group_id: str, **fields: Any) -> dict[str, Any]:
    return analysis(analyse_id=analyse_id, group_id=group_id, state="PROCESSING", resolution_status="PROCESSING",
                    time_updated=100, **fields)


def done(analyse_id: str, group_id: str, verdict: str = "SUCCESS", **fields: Any) -> dict[str, Any]:
    state = "FAILED" if verdict == "FAILED" else "FINISHED"
    return analysis(analyse_id=analyse_id, group_id=group_id, state=state, resolution_status=verdict, **fields)


def snapshot(*analyses: dict[str, Any], time_updated: float = 100, **fields: Any) -> dict[str, Any]:
    if any(a["state"] == "PROCESSING" for a in analyses):
        fields = {"resolution_status": "PROCESSING", "system_resolution": "PROCESSING", **fields}
    return folder(*analyses, time_updated=time_updated, **fields)


def statuses(local: Folder) -> list[tuple[str, str, str]]:
    return [(local.folder_id, local.resolution_status.value, local.system_resolution.value),
            *[(a.analyse_id, a.state.value, a.resolution_status.value) for a in local.analyses]]


def test_a_same_second_snapshot_with_newer_content_is_applied() -> None:
    local = load_folder(snapshot(running("a1", "g1"), running("a2", "g1")))
    observe(local, snapshot(done("a1", "g1", time_updated=100), running("a2", "g1")))
    both = snapshot(done("a1", "g1", time_updated=100), done("a2", "g1", time_updated=100))
    assert moved(observe(local, both)) == [Moved("analysis", "a2", "PROCESSING", "FINISHED", "finish"),
                                   Moved("folder", "f1", "PROCESSING", "FINISHED", "settle")]
    assert dump_folder(local) == both


def test_a_same_second_snapshot_that_is_behind_is_ignored(unchanged: Any) -> None:
    local = load_folder(snapshot(done("a1", "g1", time_updated=100), running("a2", "g1")))
    with unchanged(local.groups[0].analyses[0]):
        assert observe(local, snapshot(running("a1", "g1"), running("a2", "g1"))) == []


def test_an_analysis_ended_at_the_epoch_ended_first_not_last() -> None:
    local = load_folder(snapshot(running("a1", "g1"), running("a2", "g2"), time_updated=0))
    newer = snapshot(done("a1", "g1", "FAILED", time_updated=0), done("a2", "g2", time_updated=10), time_updated=10,
                     resolution_status="FINISHED", system_resolution="SUCCESS")
    observe(local, newer)
    assert statuses(local)[0] == ("f1", "FINISHED", "SUCCESS")
    assert dump_folder(local) == newer


def test_a_snapshot_that_omits_an_analysis_is_refused_and_the_clock_stays(unchanged: Any) -> None:
    local = load_folder(snapshot(running("a1", "g1"), running("a2", "g2")))
    partial = snapshot(done("a1", "g1"), time_updated=150, resolution_status="FINISHED", system_resolution="SUCCESS")
    with unchanged(local.groups[0].analyses[0]), pytest.raises(PayloadError, match="does not list Analysis a2"):
        observe(local, partial)
    assert local.time_updated == 100
    full = snapshot(done("a1", "g1", time_updated=110), running("a2", "g2"), time_updated=110)
    assert [t.id for t in observe(local, full)] == ["a1"]
    assert local.time_updated == 110


def test_a_snapshot_that_regroups_analyses_is_refused(unchanged: Any) -> None:
    local = load_folder(snapshot(running("a1", "g1"), running("a2", "g2")))
    regrouped = snapshot(done("a1", "g2", "DECLINED", time_updated=110), done("a2", "g1", time_updated=120),
                         time_updated=120, resolution_status="FINISHED", system_resolution="SUCCESS")
    with unchanged(local.groups[0].analyses[0]), pytest.raises(PayloadError) as raised:
        observe(local, regrouped)
    assert [str(p) for p in raised.value.problems] == [
        "analyses[0].group_id: 'g2', but the folder has 'a1' in group 'g1'",
        "analyses[1].group_id: 'g1', but the folder has 'a2' in group 'g2'"]
    joining = snapshot(running("a1", "g1"), running("a2", "g2"), running("a3", "g1"), time_updated=120)
    with pytest.raises(PayloadError, match=r"analyses\[2\].group_id: 'g1' is a group the folder has already"):
        observe(local, joining)


def test_a_newer_snapshot_that_moves_backwards_is_refused(unchanged: Any) -> None:
    local = load_folder(snapshot(done("a1", "g1", time_updated=100), running("a2", "g1")))
    with unchanged(local.groups[0].analyses[0]), pytest.raises(IllegalTransition, match="cannot go back"):
        observe(local, snapshot(running("a1", "g1"), running("a2", "g1"), time_updated=130))


def test_one_analysis_forward_and_another_back_is_refused(unchanged: Any) -> None:
    local = load_folder(snapshot(done("a1", "g1", time_updated=100), running("a2", "g1")))
    mixed = snapshot(running("a1", "g1"), done("a2", "g1", time_updated=100))
    with unchanged(local.groups[0].analyses[0]), pytest.raises(IllegalTransition, match="cannot go back"):
        observe(local, mixed)


def test_statuses_the_legal_steps_cannot_reach_are_refused(unchanged: Any) -> None:
    # Here g2 finished while a1 ran; the snapshot says a1 ended before g2 did: no order of events gives both.
    local = load_folder(snapshot(running("a1", "g1"), done("a2", "g2", "DECLINED", time_updated=200),
                                 time_updated=200))
    newer = snapshot(done("a1", "g1", time_updated=150), done("a2", "g2", "DECLINED", time_updated=200),
                     time_updated=210, resolution_status="FINISHED", system_resolution="DECLINED")
    with unchanged(local.groups[0].analyses[0]), pytest.raises(IllegalTransition, match="FINISHED/SUCCESS, not"):
        observe(local, newer)
    assert local.time_updated == 200


# Random pairs of consistent snapshots of one folder, taken from a live run whose clock ticks in whole seconds.

steps = st.lists(st.tuples(st.sampled_from(["submit", "end", "end", "end"]), st.integers(0, 20),
                           st.sampled_from(list(AnalysisType)), st.sampled_from(["SUCCESS", "DECLINED", "FAILED"]),
                           st.booleans()),
                 min_size=1, max_size=20)


def snapshots_of_a_run(script: list[tuple[str, int, AnalysisType, str, bool]],
                       with_group_ids: bool, live: Folder | None = None) -> list[dict[str, Any]]:
    live = live if live is not None else Folder(folder_id="f1", time_created=0, time_updated=0)
    clock = int(live.time_updated or 0)
    taken = [dump_folder(live)]
    for action, index, kind, verdict, tick in script:
        clock += tick  # often the same second as the step before
        busy = [a for a in live.analyses if a.state == "PROCESSING"]
        if action == "submit" or not busy:
            for new in live.submit([kind, AnalysisType.BIOMETRY][: 1 + index % 2]).analyses:
                new.time_created = new.time_updated = clock
        else:
            target = busy[index % len(busy)]
            target.time_updated = clock
            target.fail("engine timeout") if verdict == "FAILED" else target.finish(verdict)
        live.time_updated = clock
        doc = dump_folder(live)
        if not with_group_ids:
            for item in doc["analyses"]:
                item.pop("group_id")
        taken.append(doc)
    return taken


def in_any_order(doc: dict[str, Any], with_group_ids: bool) -> dict[str, Any]:
    """Without group ids the folder groups the analyses by its model, and writes them group by group."""
    return doc if with_group_ids else {**doc, "analyses": sorted(doc["analyses"], key=lambda a: a["analyse_id"])}


@settings(max_examples=200, deadline=None)
@given(script=steps, with_group_ids=st.booleans(), data=st.data())
def test_observing_a_later_snapshot_of_a_run_reaches_it_and_an_earlier_one_changes_nothing(
        script: list[tuple[str, int, AnalysisType, str, bool]], with_group_ids: bool, data: st.DataObject) -> None:
    taken = snapshots_of_a_run(script, with_group_ids)
    first = data.draw(st.integers(0, len(taken) - 1), label="first")
    later = data.draw(st.integers(first, len(taken) - 1), label="later")
    local = load_folder(copy.deepcopy(taken[first]))
    if not with_group_ids:
        # Which analyses were sent together is unknown here: the folder's model of it may not reach the
        # snapshot's result.  Then the snapshot is refused and nothing changes; otherwise it is reached.
        before = dump_folder(local)
        try:
            observe(local, copy.deepcopy(taken[later]))
        except IllegalTransition as refused:
            assert "leads by legal steps to" in str(refused)
            assert dump_folder(local) == before
            return
    else:
        observe(local, copy.deepcopy(taken[later]))
    assert (local.resolution_status, local.system_resolution) == \
        (taken[later]["resolution_status"], taken[later]["system_resolution"])
    assert in_any_order(dump_folder(local), with_group_ids) == in_any_order(taken[later], with_group_ids)
    assert local.last_finished_group is None or local.last_finished_group.result == local.system_resolution \
        or local.resolution_status == "PROCESSING"
    before = dump_folder(local)
    assert observe(local, copy.deepcopy(taken[first])) == [] or first == later
    assert dump_folder(local) == before


def test_settings_of_the_folder_guard_the_snapshot() -> None:
    local = load_folder(snapshot(running("a1", "g1")), settings=Settings(operator_required=False))
    with pytest.raises(IllegalTransition, match="operator review"):
        observe(local, snapshot(done("a1", "g1", "OPERATOR_REQUIRED", time_updated=110), time_updated=110,
                               resolution_status="FINISHED", system_resolution="OPERATOR_REQUIRED"))
    assert local.groups[0].analyses[0].resolution_status is Resolution.PROCESSING


def test_the_same_analyses_with_other_folder_statuses_are_refused(unchanged: Any) -> None:
    both = [done("a1", "g1", "DECLINED", time_updated=100), done("a2", "g2", time_updated=100)]
    local = load_folder(snapshot(*both, system_resolution="SUCCESS"))
    with unchanged(local.groups[0].analyses[0]), pytest.raises(IllegalTransition, match="it says FINISHED/DECLINED"):
        observe(local, snapshot(*both, time_updated=200, system_resolution="DECLINED"))
    assert local.time_updated == 100


def test_the_rehearsal_runs_each_analysis_with_its_own_settings(unchanged: Any) -> None:
    strict = load_analysis(running("a2", "g1"))
    local = Folder.restore(folder_id="f1", resolution_status="PROCESSING", system_resolution="PROCESSING",
                           groups=[("g1", [load_analysis(running("a1", "g1")), strict])],
                           settings=Settings(operator_required=True), time_updated=100)
    newer = snapshot(done("a1", "g1", time_updated=110), done("a2", "g1", "OPERATOR_REQUIRED", time_updated=120),
                     time_updated=120, system_resolution="OPERATOR_REQUIRED")
    with unchanged(local.groups[0].analyses[0]), pytest.raises(IllegalTransition, match="operator review"):
        observe(local, newer)


def test_a_snapshot_without_times_never_takes_the_folders_clock_away() -> None:
    doc = snapshot(done("a1", "g1", time_updated=100))
    local = load_folder(copy.deepcopy(doc))
    timeless = copy.deepcopy(doc)
    del timeless["time_updated"], timeless["analyses"][0]["time_updated"]
    assert observe(local, timeless) == []
    assert (local.time_updated, local.groups[0].analyses[0].time_updated) == (100, 100)
    with pytest.raises(IllegalTransition, match="cannot go back"):  # newer than the clock it kept
        observe(local, snapshot(running("a1", "g1"), time_updated=999))


def test_a_snapshot_that_changes_an_analysis_type_is_refused() -> None:
    local = load_folder(snapshot(running("a1", "g1")))
    with pytest.raises(PayloadError, match=r"analyses\[0\].type: QUALITY, but the folder has 'a1' as BIOMETRY"):
        observe(local, snapshot(running("a1", "g1", type="QUALITY"), time_updated=110))


@settings(max_examples=200, deadline=None)
@given(prefix=steps, ours=steps, theirs=steps, with_group_ids=st.booleans(), data=st.data())
def test_a_snapshot_of_another_history_is_reached_exactly_or_refused_changing_nothing(
        prefix: list[tuple[str, int, AnalysisType, str, bool]], ours: list[tuple[str, int, AnalysisType, str, bool]],
        theirs: list[tuple[str, int, AnalysisType, str, bool]], with_group_ids: bool, data: st.DataObject) -> None:
    """Two runs forked from one folder: each other's snapshots contradict in every way a snapshot can."""
    start = Folder(folder_id="f1", time_created=0, time_updated=0)
    snapshots_of_a_run(prefix, True, start)
    mine = snapshots_of_a_run(ours, with_group_ids, copy.deepcopy(start))
    other = snapshots_of_a_run(theirs, with_group_ids, copy.deepcopy(start))
    local = load_folder(copy.deepcopy(data.draw(st.sampled_from(mine), label="ours")))
    snapshot_ = data.draw(st.sampled_from(other), label="theirs")
    before = dump_folder(local)
    try:
        applied = observe(local, copy.deepcopy(snapshot_))
    except (IllegalTransition, PayloadError) as refused:
        event(f"refused: {type(refused).__name__}")
        assert dump_folder(local) == before  # refused: nothing changed, the clock included
        return
    event("applied" if applied else "nothing to apply")
    after = dump_folder(local)
    if applied or after != before:
        assert (after["resolution_status"], after["system_resolution"]) == \
            (snapshot_["resolution_status"], snapshot_["system_resolution"])
    assert (local.time_updated or 0) >= (before.get("time_updated") or 0)
