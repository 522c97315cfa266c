"""Events per second through :class:`statuses.store.Store`, on SQLite and PostgreSQL, with 1, 4 and 8 workers.

Each worker is a process with its own Store, as a service runs them.  The
folders (2 groups of 2 analyses each) are stored first, untimed; then the
workers finish or fail every analysis, each event once, with an idempotency
key, dealt out in random order, and the time from the start signal to the
last worker's end is measured.  Run alone::

    python benchmarks/store_throughput.py [--quick] [--postgres URL]

(``--postgres`` defaults to ``$STATUSES_POSTGRES_URL``; without either, only
SQLite is measured.)  PostgreSQL runs in a schema of its own, dropped after.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from statuses import AnalysisType
from statuses.store import Store

WORKER_COUNTS = (1, 4, 8)
FORK = multiprocessing.get_context("fork")

Event = tuple[str, str]
"""(analysis id, ``"finish"`` or ``"fail"``)."""


def measure(*, quick: bool, postgres_url: str | None) -> list[dict[str, object]]:
    """One row per (engine, workers): ``engine, workers, events, seconds, events_per_second``."""
    folders = 25 if quick else 250
    rows = []
    for workers in WORKER_COUNTS:
        with tempfile.TemporaryDirectory() as scratch:
            rows.append(_row("sqlite", f"sqlite:///{Path(scratch, 'bench.db')}", folders, workers))
    if postgres_url is not None:
        for workers in WORKER_COUNTS:
            with _own_schema(postgres_url) as url:
                rows.append(_row("postgresql", url, folders, workers))
    return rows


def _row(engine: str, url: str, folders: int, workers: int) -> dict[str, object]:
    events = _populate(url, folders)
    seconds = _run(url, events, workers)
    return {"engine": engine, "workers": workers, "events": len(events), "seconds": round(seconds, 4),
            "events_per_second": round(len(events) / seconds, 1)}


def _populate(url: str, folders: int) -> list[Event]:
    rng = random.Random(folders)
    events: list[Event] = []
    with Store(url) as store:
        for _ in range(folders):
            folder_id = store.create_folder()
            for _ in range(2):
                for analysis_id in store.submit(folder_id, [AnalysisType.QUALITY, AnalysisType.BIOMETRY]):
                    events.append((analysis_id, "fail" if rng.random() < 0.2 else "finish"))
    rng.shuffle(events)
    return events


def _run(url: str, events: list[Event], workers: int) -> float:
    """Seconds from the start signal until every worker has applied its share."""
    ready, start, done = FORK.Barrier(workers + 1), FORK.Event(), FORK.Queue()
    processes = [FORK.Process(target=_worker, args=(url, events[n::workers], ready, start, done))
                 for n in range(workers)]
    for process in processes:
        process.start()
    ready.wait(60)   # every worker has connected
    began = time.perf_counter()
    start.set()
    failures = [done.get(timeout=600) for _ in processes]
    elapsed = time.perf_counter() - began
    for process in processes:
        process.join(60)
    problems = [failure for failure in failures if failure]
    if problems:
        raise RuntimeError(f"a benchmark worker failed: {problems[0]}")
    return elapsed


def _worker(url: str, events: list[Event], ready: Any, start: Any, done: Any) -> None:
    try:
        with Store(url) as store:
            store.engine.connect().close()
            ready.wait(60)
            start.wait(60)
            for analysis_id, event in events:
                key = f"{analysis_id}/{event}"
                if event == "finish":
                    store.finish(analysis_id, "SUCCESS", idempotency_key=key)
                else:
                    store.fail(analysis_id, reason="benchmark", idempotency_key=key)
    except Exception as error:  # reported to the parent, which raises it
        done.put(repr(error))
        return
    done.put("")


@contextmanager
def _own_schema(postgres_url: str) -> Iterator[str]:
    """A URL on ``postgres_url``'s database whose connections use a new schema, dropped afterwards."""
    name = f"statuses_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        url = sa.make_url(postgres_url).update_query_dict({"options": f"-csearch_path={name}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run, a few seconds")
    parser.add_argument("--postgres", default=os.environ.get("STATUSES_POSTGRES_URL"),
                        help="PostgreSQL URL (default: $STATUSES_POSTGRES_URL); SQLite only without it")
    arguments = parser.parse_args()
    print(f"{'engine':<11} {'workers':>7} {'events':>7} {'seconds':>8} {'events/s':>9}")
    for row in measure(quick=arguments.quick, postgres_url=arguments.postgres):
        print(f"{row['engine']:<11} {row['workers']:>7} {row['events']:>7} {row['seconds']:>8} "
              f"{row['events_per_second']:>9}")


if __name__ == "__main__":
    main()
