"""The store's moves reach ``statuses.subscribe``'s listeners: the machines' records, once, after the commit.

Exactly the transitions taken, in order, once per applied event; never for
an idempotent replay, a refused event, or an attempt that rolled back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import statuses
from statuses import (AnalysisState, FolderStatus, IllegalTransition, InvalidArgument, ListenerError, Resolution,
                      Settings, Transition)
from statuses.store import ConcurrentUpdate, IdempotencyConflict, NotFound, Store
from tests.test_store import (bump_version_behind_the_stores_back, check_consistent, everything,  # noqa: F401
                              open_store, postgres_run, postgres_url, released, store, url)


@pytest.fixture
def heard() -> Iterator[list[Transition]]:
    """Every transition heard in the process while the test runs."""
    records: list[Transition] = []
    with statuses.subscribe(records.append):
        yield records


def test_listeners_hear_exactly_the_moves_taken_in_order_once_committed(url: str, heard: list[Transition],
                                                                        open_store: Callable[..., Store]) -> None:
    # One connection and no overflow: a listener can read the store only if the move's connection is back.
    with open_store(url, pool_size=1, max_overflow=0, pool_timeout=5) as store:
        seen: list[tuple[str, object, object]] = []
        checked_out: list[int] = []

        def look(record: Transition) -> None:   # what a new load shows while the listener runs
            # An AsyncStore's listener, on its loop, reads through a Store: that the move's connection is back
            # in the pool is then asked of the pool itself.
            checked_out.append(store.engine.pool.checkedout())  # type: ignore[attr-defined]
            folder = store.load(record.folder_id or "")
            state = (next(a.state for a in folder.analyses if a.analyse_id == record.id)
                     if record.entity == "analysis" else folder.resolution_status)
            seen.append((record.event, state, len(store.history(folder.folder_id))))

        folder_id = store.create_folder(settings=Settings(operator_required=True))
        with statuses.subscribe(look):
            quality, biometry = store.submit(folder_id, ["quality", "biometry"])
            submitted = list(heard)
            finished = store.finish(quality, "SUCCESS")
            failed = store.fail(biometry, reason="engine timeout")
        assert [(t.entity, t.event) for t in submitted] == [("folder", "submit")]
        assert [(t.entity, t.id, t.event, t.source, t.dest, t.result, t.argument) for t in finished] == [
            ("analysis", quality, "finish", AnalysisState.PROCESSING, AnalysisState.FINISHED, Resolution.SUCCESS,
             Resolution.SUCCESS)]
        assert [(t.entity, t.event, t.dest, t.result, t.argument) for t in failed] == [
            ("analysis", "fail", AnalysisState.FAILED, Resolution.FAILED, "engine timeout"),
            ("folder", "settle", FolderStatus.FAILED, Resolution.FAILED, None)]
        assert heard == [*submitted, *finished, *failed]   # each once, in the order taken
        assert store.history(folder_id) == heard
        # During each delivery the move was committed: a new load and the history showed it.
        assert seen == [("submit", FolderStatus.PROCESSING, 1), ("finish", AnalysisState.FINISHED, 2),
                        ("fail", AnalysisState.FAILED, 4), ("settle", FolderStatus.FAILED, 4)]
        assert checked_out == [0, 0, 0, 0]
        assert [entry.transition for entry in released(store, 4)] == heard


def test_an_idempotent_replay_returns_the_first_records_and_delivers_nothing(
        store: Store, heard: list[Transition]) -> None:
    folder_id = store.create_folder()
    ids = store.submit(folder_id, ["quality", "biometry"], idempotency_key="submit-1")
    first = store.finish(ids[0], "SUCCESS", idempotency_key="w-1")
    settled = store.fail(ids[1], idempotency_key="w-2")
    applied = list(heard)
    assert len(applied) == 4
    assert store.submit(folder_id, ["quality", "biometry"], idempotency_key="submit-1") == ids
    assert store.finish(ids[0], "SUCCESS", idempotency_key="w-1") == first
    assert store.fail(ids[1], idempotency_key="w-2") == settled
    assert heard == applied   # nothing more


def test_a_refused_event_delivers_nothing_and_writes_nothing(store: Store, url: str,
                                                             heard: list[Transition]) -> None:
    folder_id = store.create_folder()
    [quality, biometry] = store.submit(folder_id, ["quality", "biometry"])
    store.finish(quality, "SUCCESS", idempotency_key="k")
    before, applied = everything(url), list(heard)
    refusals: list[tuple[type[Exception], Callable[[], object]]] = [
        (IllegalTransition, lambda: store.finish(quality, "DECLINED")),
        (IllegalTransition, lambda: store.finish(biometry, "OPERATOR_REQUIRED")),   # a guard
        (InvalidArgument, lambda: store.finish(biometry, "SUCCES")),
        (InvalidArgument, lambda: store.submit(folder_id, [])),
        (InvalidArgument, lambda: store.fail(biometry, reason=3)),  # type: ignore[arg-type]
        (NotFound, lambda: store.fail("nope")),
        (IdempotencyConflict, lambda: store.fail(biometry, idempotency_key="k")),
    ]
    for refusal, call in refusals:
        with pytest.raises(refusal):
            call()
    assert heard == applied
    assert everything(url) == before


def test_a_retried_attempt_is_heard_once_and_a_race_lost_every_time_not_at_all(
        url: str, heard: list[Transition], open_store: Callable[..., Store]) -> None:
    with open_store(url, retries=2) as store:
        folder_id = store.create_folder()
        [quality, biometry] = store.submit(folder_id, ["quality", "biometry"])
        del heard[:]
        bumped = bump_version_behind_the_stores_back(store, folder_id, times=2)
        finished = store.finish(quality, "SUCCESS")   # two attempts rolled back after the machine moved
        assert len(bumped) == 2
        assert heard == finished and len(finished) == 1
        bumped = bump_version_behind_the_stores_back(store, folder_id, times=100)
        with pytest.raises(ConcurrentUpdate):
            store.finish(biometry, "SUCCESS")
        assert heard == finished
    check_consistent(url)


def test_a_listener_that_raises_reaches_the_caller_with_the_move_stored(
        store: Store, heard: list[Transition]) -> None:
    folder_id = store.create_folder()
    [quality] = store.submit(folder_id, ["quality"])
    del heard[:]

    def broken(record: Transition) -> None:
        raise RuntimeError(f"cannot publish {record.event}")

    with statuses.subscribe(broken), pytest.raises(ListenerError, match="2 listener.s. raised") as raised:
        store.finish(quality, "DECLINED", idempotency_key="w-1")
    assert isinstance(raised.value.__cause__, RuntimeError)
    assert list(raised.value.transitions) == heard   # the other listener heard every record
    assert [t.event for t in heard] == ["finish", "settle"]
    assert store.load(folder_id).system_resolution is Resolution.DECLINED   # stored
    assert store.finish(quality, "DECLINED", idempotency_key="w-1") == heard   # the redelivery: a replay
    assert len(heard) == 2
    assert raised.value.outcome == heard    # what finish returns, on the error too
    with statuses.subscribe(broken), pytest.raises(ListenerError) as raised:
        store.submit(folder_id, ["biometry"])
    [biometry] = raised.value.outcome      # the ids a submit returns: the caller can go on with them
    store.finish(biometry, "SUCCESS")
    assert store.load(folder_id).resolution_status is FolderStatus.FINISHED


def test_a_folders_own_listeners_of_a_loaded_copy_hear_nothing_of_the_store(
        store: Store, heard: list[Transition]) -> None:
    """``load`` returns a copy: subscribing to it hears the copy's moves, not the store's."""
    folder_id = store.create_folder()
    [quality] = store.submit(folder_id, ["quality"])
    copy = store.load(folder_id)
    of_the_copy: list[Any] = []
    copy.subscribe(of_the_copy.append)
    store.finish(quality, "SUCCESS")
    assert of_the_copy == []
    assert [t.event for t in heard] == ["submit", "finish", "settle"]


def test_a_bad_verdict_is_refused_before_any_sql(store: Store) -> None:
    """The verdict is wrong whatever the analysis: InvalidArgument, even for an analysis the store lacks."""
    with pytest.raises(InvalidArgument, match=r"Store\.finish\(\): finish\(verdict\): 'bogus' is not a verdict"):
        store.finish("no-such-analysis", "bogus")
