"""Proof under load and faults: many workers, every event delivered twice, workers killed.

200 folders of 2 or 3 overlapping groups; every analysis is finished or
failed, in random order, by 8 worker processes on PostgreSQL and by 8 threads
on SQLite, each event delivered twice with its idempotency key.  Afterwards
:func:`check_consistent` recomputes every folder and replays its log, and the
outcomes show that every second delivery was a no-op.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from statuses import AnalysisState, AnalysisType, Resolution, Settings, Transition
from statuses.store import Store, schema
from tests.test_store import (STORES, check_consistent, everything, open_store, postgres_run,  # noqa: F401 (fixtures)
                              postgres_url, url)

FOLDERS = 200
WORKERS = 8
FORK = multiprocessing.get_context("fork")

Delivery = tuple[str, str, str, str]
"""(idempotency key, analysis id, event, verdict or reason)."""
Outcome = tuple[str, tuple[Transition, ...]]
"""(idempotency key, the transitions the call returned)."""


def populate(store: Store, rng: random.Random, folders: int = FOLDERS) -> tuple[list[Delivery], int]:
    """Folders of 2 or 3 groups of 1 to 3 analyses, all submitted; the event that ends each analysis."""
    deliveries: list[Delivery] = []
    submits = 0
    for _ in range(folders):
        settings = Settings(operator_required=rng.random() < 0.5)
        folder_id = store.create_folder(settings=settings)
        for _ in range(rng.choice((2, 3))):
            types = [rng.choice(list(AnalysisType)) for _ in range(rng.randint(1, 3))]
            submits += 1
            for analysis_id, kind in zip(store.submit(folder_id, types), types):
                deliveries.append(_ending(rng, analysis_id, kind, settings))
    return deliveries, submits


def _ending(rng: random.Random, analysis_id: str, kind: AnalysisType, settings: Settings) -> Delivery:
    if rng.random() < 0.2:
        return (f"{analysis_id}/fail", analysis_id, "fail", "engine timeout")
    verdicts = [Resolution.SUCCESS, Resolution.DECLINED]
    if settings.operator_required and kind is not AnalysisType.QUALITY:
        verdicts.append(Resolution.OPERATOR_REQUIRED)
    return (f"{analysis_id}/finish", analysis_id, "finish", rng.choice(verdicts).value)


def schedule(deliveries: Sequence[Delivery], rng: random.Random) -> list[list[Delivery]]:
    """Every delivery twice, shuffled, dealt to the workers: duplicates mostly race in two workers."""
    twice = [*deliveries, *deliveries]
    rng.shuffle(twice)
    return [twice[worker::WORKERS] for worker in range(WORKERS)]


def deliver(store: Store, deliveries: Sequence[Delivery]) -> list[Outcome]:
    outcomes = []
    for key, analysis_id, event, argument in deliveries:
        if event == "finish":
            entries = store.finish(analysis_id, argument, idempotency_key=key)
        else:
            entries = store.fail(analysis_id, reason=argument, idempotency_key=key)
        outcomes.append((key, tuple(entries)))
    return outcomes


def check_load(url: str, deliveries: Sequence[Delivery], submits: int, outcomes: Sequence[Outcome]) -> None:
    """The proof's checks after every delivery was made twice."""
    seen = check_consistent(url)   # statuses recomputed; one log row per end; settles exactly where owed
    assert seen["folders"] == FOLDERS and seen["analyses"] == len(deliveries)
    # Every folder settled once, after its last analysis: nothing more was logged.
    assert seen["log rows"] == submits + len(deliveries) + FOLDERS
    by_key: dict[str, list[tuple[Transition, ...]]] = defaultdict(list)
    for key, moves in outcomes:
        by_key[key].append(moves)
    assert len(by_key) == len(deliveries)
    for key, results in by_key.items():   # the second delivery was a no-op returning the first outcome
        assert len(results) == 2 and results[0] == results[1] and results[0], key
    # Each move returned by one key only: each analysis ended once, each folder settled once.
    assert len({move for results in by_key.values() for move in results[0]}) == len(deliveries) + FOLDERS
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        stored = {row.analyse_id: (row.state, row.resolution_status)
                  for row in connection.execute(sa.select(schema.analyses))}
    engine.dispose()
    for _, analysis_id, event, argument in deliveries:
        expected = ((AnalysisState.FAILED, Resolution.FAILED) if event == "fail"
                    else (AnalysisState.FINISHED, Resolution(argument)))
        assert stored[analysis_id] == expected, analysis_id


def test_eight_threads_on_sqlite(tmp_path: Any, open_store: Callable[..., Store]) -> None:
    """Store: 8 threads; AsyncStore: 8 threads' calls, each a task of its one event loop, run at once."""
    url = f"sqlite:///{tmp_path / 'load.db'}"
    rng = random.Random(7)
    with open_store(url) as store:
        deliveries, submits = populate(store, rng)
        with ThreadPoolExecutor(WORKERS) as pool:
            parts = list(pool.map(lambda part: deliver(store, part), schedule(deliveries, rng)))
    check_load(url, deliveries, submits, [outcome for part in parts for outcome in part])


# Processes


def _worker(kind: str, url: str, deliveries: list[Delivery], results: Any, freeze_at: int | None,
            frozen: Any) -> None:
    """A worker process: its own store of class ``kind``; with ``freeze_at``, it stops inside that transaction to be
    killed (an AsyncStore's whole event loop stops there)."""
    with STORES[kind](url) as store:
        if freeze_at is not None:
            _freeze_inside_transaction(store, freeze_at, frozen)
        results.put(deliver(store, deliveries))


def _freeze_inside_transaction(store: Store, transaction: int, frozen: Any) -> None:
    """In the n-th write, after the folder's and analysis's UPDATEs and before the log: signal, and hang."""
    writes = [0]

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def hang(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO statuses_transitions"):
            writes[0] += 1
            if writes[0] == transaction:
                frozen.set()
                time.sleep(120)


def _kill_when_frozen(process: Any, frozen: Any) -> None:
    assert frozen.wait(60), "the worker never reached the transaction it was to die in"
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    process.join(10)
    assert process.exitcode == -signal.SIGKILL


@pytest.mark.parametrize("kind", list(STORES))
def test_eight_processes_on_postgresql_one_killed_mid_transaction(postgres_url: str, kind: str) -> None:  # noqa: F811
    rng = random.Random(11)
    with Store(postgres_url) as store:
        deliveries, submits = populate(store, rng)
    parts = schedule(deliveries, rng)
    results, frozen = FORK.Queue(), FORK.Event()
    workers = [FORK.Process(target=_worker, args=(kind, postgres_url, part, results, 40 if n == 0 else None, frozen))
               for n, part in enumerate(parts)]
    for worker in workers:
        worker.start()
    _kill_when_frozen(workers[0], frozen)
    outcomes = [outcome for _ in workers[1:] for outcome in results.get(timeout=120)]
    for worker in workers[1:]:
        worker.join(30)
        assert worker.exitcode == 0
    check_consistent(postgres_url)   # consistent with the killed worker's transaction rolled back
    with STORES[kind](postgres_url) as store:   # at-least-once delivery: the dead worker's events are redelivered
        outcomes += deliver(store, parts[0])
    check_load(postgres_url, deliveries, submits, outcomes)


@pytest.mark.parametrize("kind", list(STORES))
def test_a_worker_killed_mid_transaction_leaves_nothing_and_holds_no_lock(url: str, kind: str) -> None:  # noqa: F811
    with Store(url) as store:
        folder_id = store.create_folder()
        quality, biometry = store.submit(folder_id, ["quality", "biometry"])
        store.finish(biometry, "SUCCESS")
    before = everything(url)
    frozen, results = FORK.Event(), FORK.Queue()
    worker = FORK.Process(target=_worker, args=(kind, url, [(f"{quality}/fail", quality, "fail", "oom")],
                                                results, 1, frozen))
    worker.start()
    _kill_when_frozen(worker, frozen)
    assert everything(url) == before
    with STORES[kind](url) as store:   # the lock died with the worker: the redelivery goes through at once
        applied = store.fail(quality, reason="oom", idempotency_key=f"{quality}/fail")
        assert [(t.entity, t.dest.value) for t in applied] == [("analysis", "FAILED"), ("folder", "FAILED")]
    check_consistent(url)
