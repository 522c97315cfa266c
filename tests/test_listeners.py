"""Listeners hear exactly the transitions taken, in order, once each; cancelled ones hear nothing."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import statuses
from statuses import (AnalysisState, Folder, FolderStatus, ListenerError, Resolution, Settings, Subscription,
                      Transition)
from statuses.payloads import dump_folder, load_folder, observe

from .conftest import world

ANALYSIS_EVENTS = [event.name for event in statuses.ANALYSIS_DEFINITION.events]
FOLDER_EVENTS = [event.name for event in statuses.FOLDER_DEFINITION.events]
P, FIN, FAIL = AnalysisState.PROCESSING, AnalysisState.FINISHED, AnalysisState.FAILED


def moves(heard: list[Transition]) -> list[tuple[Any, ...]]:
    return [(t.entity, t.id, t.event, t.source.value, t.dest.value, t.result.value) for t in heard]


def test_a_folder_listener_hears_its_analyses_then_the_settle_they_caused() -> None:
    folder = Folder(folder_id="f1")
    heard: list[Transition] = []
    with folder.subscribe(heard.append) as subscription:
        group = folder.submit(["quality", "biometry"], group_id="g1", analysis_ids=["a1", "a2"])
        group.analyses[0].finish("SUCCESS")
        group.analyses[1].finish("DECLINED")
    assert isinstance(subscription, Subscription) and not subscription.active
    assert moves(heard) == [
        ("folder", "f1", "submit", "INITIAL", "PROCESSING", "PROCESSING"),
        ("analysis", "a1", "finish", "PROCESSING", "FINISHED", "SUCCESS"),
        ("analysis", "a2", "finish", "PROCESSING", "FINISHED", "DECLINED"),
        ("folder", "f1", "settle", "PROCESSING", "FINISHED", "DECLINED"),
    ]
    assert [t.group_id for t in heard] == ["g1", "g1", "g1", "g1"]
    assert [t.folder_id for t in heard] == ["f1"] * 4
    assert [t.argument for t in heard] == [None, Resolution.SUCCESS, Resolution.DECLINED, None]
    assert all(t.event in (ANALYSIS_EVENTS if t.entity == "analysis" else FOLDER_EVENTS) for t in heard)


def test_the_record_is_frozen_and_typed() -> None:
    folder = Folder()
    heard: list[Transition] = []
    with folder.subscribe(heard.append):
        folder.submit(["documents"]).analyses[0].fail("camera broke")
    failed = heard[1]
    assert (failed.source, failed.dest, failed.result, failed.argument) == (P, FAIL, Resolution.FAILED, "camera broke")
    assert type(failed.source) is AnalysisState and type(heard[2].dest) is FolderStatus
    with pytest.raises(AttributeError):
        failed.dest = FIN  # type: ignore[misc]


def test_overlapping_groups_settle_by_the_last_finished_group() -> None:
    folder = Folder(folder_id="f1", settings=Settings(operator_required=True))
    first = folder.submit(["biometry", "documents"], group_id="g1", analysis_ids=["a1", "a2"])
    second = folder.submit(["collection"], group_id="g2", analysis_ids=["b1"])
    heard: list[Transition] = []
    with statuses.subscribe(heard.append):
        first.analyses[0].fail()
        second.analyses[0].finish("OPERATOR_REQUIRED")
        first.analyses[1].finish("SUCCESS")  # g1 finishes last: FAILED decides
    assert moves(heard) == [
        ("analysis", "a1", "fail", "PROCESSING", "FAILED", "FAILED"),
        ("analysis", "b1", "finish", "PROCESSING", "FINISHED", "OPERATOR_REQUIRED"),
        ("analysis", "a2", "finish", "PROCESSING", "FINISHED", "SUCCESS"),
        ("folder", "f1", "settle", "PROCESSING", "FAILED", "FAILED"),
    ]
    assert heard[-1].group_id == "g1"


def test_a_process_listener_hears_every_folder_and_standalone_analyses() -> None:
    heard: list[Transition] = []
    with statuses.subscribe(heard.append):
        one, two = Folder(folder_id="f1"), Folder(folder_id="f2")
        one.submit(["quality"], analysis_ids=["a1"])
        two.submit(["quality"], analysis_ids=["a2"])
        alone = statuses.Analysis(type="quality", analyse_id="a3", folder_id="f9")
        alone.finish("DECLINED")
    assert [(t.entity, t.id, t.folder_id, t.group_id) for t in heard] == [
        ("folder", "f1", "f1", heard[0].group_id), ("folder", "f2", "f2", heard[1].group_id),
        ("analysis", "a3", "f9", None)]


def test_a_cancelled_subscription_hears_nothing_and_cancelling_twice_is_harmless() -> None:
    folder = Folder()
    heard: list[Transition] = []
    everything: list[Transition] = []
    subscription = folder.subscribe(heard.append)
    process = statuses.subscribe(everything.append)
    subscription.cancel()
    process.cancel()
    process.cancel()
    folder.submit(["quality"]).analyses[0].finish("SUCCESS")
    assert heard == [] and everything == []
    assert "cancelled" in repr(subscription)


def test_with_no_listener_the_events_take_the_plain_path() -> None:
    """No subscription anywhere: every event's take is the one generated without reporting, so a listener
    that is not there costs nothing (the benchmark shows the cost of one that is)."""
    events = [*statuses.ANALYSIS_MACHINE.status_events.values(), *statuses.FOLDER_MACHINE.status_events.values()]
    assert all(event.take is event.plain_take for event in events)
    with statuses.subscribe(lambda transition: None):
        assert all(event.take is event.reporting_take for event in events)
    assert all(event.take is event.plain_take for event in events)
    folder = Folder()
    with folder.subscribe(lambda transition: None):
        assert all(event.take is event.reporting_take for event in events)
    assert all(event.take is event.plain_take for event in events)


def test_a_raising_listener_leaves_the_move_whole_and_the_others_hear_it_all() -> None:
    folder = Folder(folder_id="f1")
    group = folder.submit(["quality"], analysis_ids=["a1"])
    heard: list[Transition] = []

    def broken(transition: Transition) -> None:
        raise RuntimeError(f"broker down at {transition.event}")

    with folder.subscribe(broken), folder.subscribe(heard.append):
        with pytest.raises(ListenerError) as raised:
            group.analyses[0].finish("SUCCESS")
    assert moves(heard) == [("analysis", "a1", "finish", "PROCESSING", "FINISHED", "SUCCESS"),
                            ("folder", "f1", "settle", "PROCESSING", "FINISHED", "SUCCESS")]
    assert (folder.resolution_status, folder.system_resolution) == (FolderStatus.FINISHED, Resolution.SUCCESS)
    assert [t.event for t in raised.value.transitions] == ["finish", "settle"]
    assert [str(e) for e in raised.value.errors] == ["broker down at finish", "broker down at settle"]
    assert isinstance(raised.value.__cause__, RuntimeError)
    assert "the move stands" not in str(raised.value) and "after a move that stands" in str(raised.value)
    with folder.subscribe(heard.append):  # nothing was left half-done: the next move is heard alone
        folder.submit(["quality"])
    assert [t.event for t in heard[2:]] == ["submit"]


def test_a_listener_runs_under_the_folders_lock_and_sees_the_whole_move() -> None:
    folder = Folder()
    group = folder.submit(["quality", "biometry"])
    seen: list[tuple[bool, str, str]] = []

    def look(transition: Transition) -> None:
        owned = folder.lock._is_owned()  # type: ignore[attr-defined]
        seen.append((owned, folder.resolution_status.value, transition.event))

    with folder.subscribe(look):
        group.analyses[0].finish("SUCCESS")
        group.analyses[1].finish("SUCCESS")
    # The analysis's record arrives once the folder has settled too: the move is complete when heard.
    assert seen == [(True, "PROCESSING", "finish"), (True, "FINISHED", "finish"), (True, "FINISHED", "settle")]


def test_threads_each_hear_their_own_moves_and_none_is_lost() -> None:
    folder = Folder()
    groups = [folder.submit(["quality"] * 50) for _ in range(4)]
    heard: list[Transition] = []
    with folder.subscribe(heard.append):
        threads = [threading.Thread(target=lambda g=g: [a.finish("SUCCESS") for a in g.analyses]) for g in groups]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len([t for t in heard if t.entity == "analysis"]) == 200
    assert [t.event for t in heard if t.entity == "folder"] == ["settle"]
    assert heard[-1].event == "settle"


def test_refused_events_are_not_heard() -> None:
    folder = Folder()
    analysis = folder.submit(["quality"]).analyses[0]
    analysis.finish("SUCCESS")
    heard: list[Transition] = []
    with statuses.subscribe(heard.append):
        for call in (lambda: analysis.finish("DECLINED"), lambda: analysis.finish("maybe"), lambda: folder.submit([])):
            with pytest.raises(statuses.errors.REFUSALS):
                call()
    assert heard == []


def test_observe_reports_what_listeners_hear_once_the_whole_catch_up_is_done() -> None:
    folder = load_folder({"folder_id": "f1", "resolution_status": "PROCESSING", "system_resolution": "PROCESSING",
                          "analyses": [{"analyse_id": "a1", "group_id": "g1", "type": "QUALITY",
                                        "state": "PROCESSING", "resolution_status": "PROCESSING"},
                                       {"analyse_id": "a2", "group_id": "g1", "type": "BIOMETRY",
                                        "state": "PROCESSING", "resolution_status": "PROCESSING"}]})
    newer = dump_folder(folder)
    for analysis, verdict in zip(newer["analyses"], ("SUCCESS", "DECLINED")):
        analysis.update(state="FINISHED", resolution_status=verdict)
    newer.update(resolution_status="FINISHED", system_resolution="DECLINED")
    heard: list[tuple[str, int]] = []
    with folder.subscribe(lambda t: heard.append((t.event, len(heard)))):
        taken = observe(folder, newer)
    assert moves(taken) == [("analysis", "a1", "finish", "PROCESSING", "FINISHED", "SUCCESS"),
                            ("analysis", "a2", "finish", "PROCESSING", "FINISHED", "DECLINED"),
                            ("folder", "f1", "settle", "PROCESSING", "FINISHED", "DECLINED")]
    assert heard == [("finish", 0), ("finish", 1), ("settle", 2)]


def test_a_refused_catch_up_is_not_heard_and_its_rehearsal_never_is() -> None:
    folder = Folder(folder_id="f1")
    folder.submit(["quality"], analysis_ids=["a1"]).analyses[0].finish("SUCCESS")
    stale = dump_folder(folder)
    heard: list[Transition] = []
    with statuses.subscribe(heard.append):
        changed = dump_folder(folder)
        changed["analyses"][0]["resolution_status"] = "DECLINED"
        changed["system_resolution"] = "DECLINED"
        with pytest.raises(statuses.IllegalTransition):
            observe(folder, changed)
        assert observe(folder, stale) == []
    assert heard == []


def test_copies_and_pickles_do_not_carry_subscriptions() -> None:
    import copy
    import pickle

    folder = Folder()
    heard: list[Transition] = []
    with folder.subscribe(heard.append):
        twin = copy.deepcopy(folder)
        again = pickle.loads(pickle.dumps(folder))
        twin.submit(["quality"])
        again.submit(["quality"])
        assert heard == []
        assert world(twin) != world(folder)


def test_subscribe_refuses_what_cannot_be_called() -> None:
    with pytest.raises(statuses.InvalidArgument, match="subscribe\\(callback\\): takes a callable, not 'nope'"):
        statuses.subscribe("nope")  # type: ignore[arg-type]


def test_a_dropped_folder_with_a_subscription_never_cancelled_stops_the_reporting() -> None:
    import gc

    events = [*statuses.ANALYSIS_MACHINE.status_events.values(), *statuses.FOLDER_MACHINE.status_events.values()]
    folder = Folder()
    folder.subscribe(lambda transition: None)  # the Subscription is dropped at once, never cancelled
    assert all(event.take is event.reporting_take for event in events)
    del folder
    gc.collect()
    assert all(event.take is event.plain_take for event in events)


def test_a_listener_that_moves_the_folder_keeps_every_listener_in_the_same_order() -> None:
    folder = Folder(folder_id="f1")
    group = folder.submit(["quality", "biometry"])
    log: list[tuple[str, str]] = []
    moved: list[bool] = []

    def mover(transition: Transition) -> None:
        log.append(("mover", transition.event))
        if transition.event == "settle" and not moved:
            moved.append(True)
            folder.submit(["quality"])  # returns at once: its record waits for the settle to reach everyone

    with folder.subscribe(mover), folder.subscribe(lambda t: log.append(("other", t.event))):
        group.analyses[0].finish("SUCCESS")
        group.analyses[1].finish("SUCCESS")
    order = [event for who, event in log if who == "mover"]
    assert order == [event for who, event in log if who == "other"] == ["finish", "finish", "settle", "submit"]


def test_a_subscription_made_during_a_move_hears_none_of_it_rather_than_half(monkeypatch: Any) -> None:
    """Another thread subscribes between an analysis's end and the settle it causes: the settle, whose cause
    was not recorded, is not reported alone."""
    import statuses.folder as folder_module

    ended = folder_module.Group.analysis_ended
    subscriptions: list[Subscription] = []
    heard: list[Transition] = []

    def subscribe_then_end(group: Any, analysis: Any) -> None:
        if not subscriptions:
            subscriptions.append(statuses.subscribe(heard.append))
        ended(group, analysis)

    monkeypatch.setattr(folder_module.Group, "analysis_ended", subscribe_then_end)
    folder = Folder()
    folder.submit(["quality"]).analyses[0].finish("SUCCESS")
    assert folder.resolution_status is FolderStatus.FINISHED
    assert heard == []
    folder.submit(["quality"]).analyses[0].finish("DECLINED")  # the next move is heard whole
    assert [(t.entity, t.event) for t in heard] == [("folder", "submit"), ("analysis", "finish"), ("folder", "settle")]
    subscriptions[0].cancel()


def test_a_raising_listener_still_hands_the_caller_what_the_call_made() -> None:
    folder = Folder()

    def broken(transition: Transition) -> None:
        raise RuntimeError("broker down")

    with folder.subscribe(broken), pytest.raises(ListenerError) as raised:
        folder.submit(["quality"], group_id="g-1")
    assert raised.value.outcome is folder.groups[0] and raised.value.outcome.group_id == "g-1"
