"""The store's events per second against a hand-written raw store, side by side, and its cost by folder size.

Two measurements, each of :class:`statuses.store.Store` and of the baseline
:class:`benchmarks.raw_store.RawStore` (SQL straight on the drivers, doing
what a correct store must) in the same run, on SQLite and, given a URL,
PostgreSQL.

**Throughput.**  For 1 and 4 worker processes, without and with an
idempotency key per event: the folders (2 groups of 2 analyses each) are
stored first, untimed; then forked workers, each with its own store and
connection as a service runs them, finish (80%) or fail (20%) every
analysis, each event once, dealt out in random order; the time from the
start signal to the last worker's end is measured.  Both stores get the
same folders shape and the same event mix, each on a fresh database (SQLite:
a new file; PostgreSQL: a new schema, dropped after).  Each cell is run
``repeats`` times (3; 1 with ``--quick``), the Store and the raw store back
to back, taking turns at going first; a cell reports the median events/s of
each and, as its ratio, the **median of the per-repeat ratios** Store ÷ raw:
each ratio compares two runs made seconds apart, so a slow patch of the
shared machine weighs on both sides of it.  The targets are Store ≥ 0.33× raw
on SQLite and ≥ 0.5× on PostgreSQL.

**Size sweep.**  The cost of one ``finish`` on a folder of 2, 20, 200 and
2,000 analyses (groups of 2), in one process: 300 analyses per size (10 with
``--quick``, which also stops at 20 analyses), both analyses of each group,
the groups spread evenly over the folder(s), in shuffled order.  Every
size's folders live in the same database, so only the folder's size differs
between the rows.  The sizes and the two stores take turns event by event,
each event timed alone, so a slow patch of the machine weighs on all of them
alike.  A figure is the mean of two medians: that of the events that end the
first analysis of their group, and that of those that end the second, which
ends the group and, in a 2-analysis folder, settles the folder too.  Medians,
because a few commits each pay for a SQLite WAL checkpoint or lose the CPU
to other work, which would decide a mean of a few hundred events; two of
them, because the two kinds cost differently and a median of both mixed
would land anywhere between.  Reported: µs per event, its ratio to the
2-analysis folder's (target ≤ 1.5× at 2,000 analyses) and Store ÷ raw.

Run alone::

    python -m benchmarks.store_throughput [--quick] [--postgres URL] [--json FILE]

(``--postgres`` defaults to ``$STATUSES_POSTGRES_URL``; without either, only
SQLite is measured.)  ``python -m benchmarks`` prints the same tables.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

from statuses import AnalysisType
from statuses.store import Store

from .raw_store import RawStore

WORKER_COUNTS = (1, 4)
KEY_MODES = (False, True)
"""Without, then with, an idempotency key on every event."""
TARGETS = {"sqlite": 0.33, "postgresql": 0.5}
"""The least Store ÷ raw events/s the issue asks for, by engine."""
SWEEP_TARGET = 1.5
"""The most the Store's cost per event at :data:`SWEEP_TARGET_SIZE` analyses may be, over its cost at 2."""
SWEEP_TARGET_SIZE = 2_000
"""The folder size the issue judges (the full sweep's largest; ``--quick`` does not reach it)."""
IMPLEMENTATIONS = ("store", "raw")
TYPES = [AnalysisType.QUALITY, AnalysisType.BIOMETRY]
FORK = multiprocessing.get_context("fork")

Event = tuple[str, str]
"""(analysis id, ``"finish"`` or ``"fail"``)."""
Row = dict[str, Any]


@attrs.frozen
class Plan:
    """How much one run measures."""

    folders: int
    """Folders per throughput run (4 events each)."""
    repeats: int
    sweep_sizes: tuple[int, ...]
    sweep_events: int
    """Analyses finished per folder size in the sweep (even: whole groups)."""


FULL = Plan(folders=250, repeats=3, sweep_sizes=(2, 20, 200, 2_000), sweep_events=300)
QUICK = Plan(folders=10, repeats=1, sweep_sizes=(2, 20), sweep_events=10)


def measure(*, quick: bool, postgres_url: str | None) -> list[Row]:
    """The throughput rows (``kind: "throughput"``), then the size sweep's (``kind: "sweep"``), JSON-ready.

    A throughput row: ``engine, workers, keys, events, repeats, store_events_per_second,
    raw_events_per_second, ratio`` (Store ÷ raw), ``target, met, runs`` (each repeat's
    ``[store, raw]`` events/s).  A sweep row: ``engine, analyses, events,
    store_us_per_event, raw_us_per_event, store_growth, raw_growth`` (÷ the smallest
    folder's), ``ratio`` (Store ÷ raw, as events/s), ``target, met`` (None but at 2,000 analyses).
    """
    plan = QUICK if quick else FULL
    engines: list[tuple[str, str | None]] = [("sqlite", None)]
    if postgres_url:
        engines.append(("postgresql", postgres_url))
    rows = [_throughput(engine, server, plan, workers, keys)
            for engine, server in engines for workers in WORKER_COUNTS for keys in KEY_MODES]
    for engine, server in engines:
        rows.extend(_sweep(engine, server, plan))
    return rows


# Both stores behind one face


@attrs.frozen
class Client:
    """One store, as the benchmark drives it."""

    finish: Callable[[str, str | None], object]
    """``finish(analysis_id, key)``, with the verdict SUCCESS."""
    fail: Callable[[str, str | None], object]
    create_folder: Callable[[], str]
    submit: Callable[[str], list[str]]
    """``submit(folder_id)``: a group of a QUALITY and a BIOMETRY analysis; their ids."""
    close: Callable[[], None]


def _open(implementation: str, url: str) -> Client:
    if implementation == "store":
        store = Store(url)
        store.engine.connect().close()  # connected before the clock starts, as the raw store is
        return Client(finish=lambda analysis_id, key: store.finish(analysis_id, "SUCCESS", idempotency_key=key),
                      fail=lambda analysis_id, key: store.fail(analysis_id, reason="benchmark", idempotency_key=key),
                      create_folder=store.create_folder, submit=lambda folder_id: store.submit(folder_id, TYPES),
                      close=store.close)
    raw = RawStore(url)
    return Client(finish=lambda analysis_id, key: raw.finish(analysis_id, "SUCCESS", key),
                  fail=lambda analysis_id, key: raw.fail(analysis_id, "benchmark", key),
                  create_folder=raw.create_folder, submit=lambda folder_id: raw.submit(folder_id, TYPES),
                  close=raw.close)


@contextmanager
def _client(implementation: str, url: str) -> Iterator[Client]:
    client = _open(implementation, url)
    try:
        yield client
    finally:
        client.close()


@contextmanager
def _database(implementation: str, engine: str, server: str | None) -> Iterator[str]:
    """A URL of a fresh database with ``implementation``'s tables: a new SQLite file, or a new PostgreSQL schema."""
    with tempfile.TemporaryDirectory() if engine == "sqlite" else own_schema(server or "") as place:
        url = f"sqlite:///{Path(place, 'bench.db')}" if engine == "sqlite" else place
        if implementation == "raw":
            with RawStore(url) as raw:
                raw.create_tables()
        else:
            Store(url).close()
        yield url


@contextmanager
def own_schema(postgres_url: str) -> Iterator[str]:
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


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


# Throughput


def _throughput(engine: str, server: str | None, plan: Plan, workers: int, keys: bool) -> Row:
    """One cell: ``plan.repeats`` runs of each store, back to back, taking turns at going first."""
    _progress(f"throughput: {engine}, {workers} worker(s), {'with' if keys else 'without'} keys...")
    runs: list[dict[str, float]] = []
    events = 0
    for repeat in range(plan.repeats):
        figures: dict[str, float] = {}
        for implementation in (IMPLEMENTATIONS if repeat % 2 == 0 else IMPLEMENTATIONS[::-1]):
            with _database(implementation, engine, server) as url:
                dealt = _populate(implementation, url, plan.folders)
                figures[implementation] = len(dealt) / _run(implementation, url, dealt, workers, keys)
                events = len(dealt)
        runs.append(figures)
    ratio = statistics.median(run["store"] / run["raw"] for run in runs)
    target = TARGETS[engine]
    return {"kind": "throughput", "engine": engine, "workers": workers, "keys": keys, "events": events,
            "repeats": plan.repeats,
            "store_events_per_second": round(statistics.median(run["store"] for run in runs), 1),
            "raw_events_per_second": round(statistics.median(run["raw"] for run in runs), 1),
            "ratio": round(ratio, 4), "target": target, "met": ratio >= target,
            "runs": [[round(run["store"], 1), round(run["raw"], 1)] for run in runs]}


def _populate(implementation: str, url: str, folders: int) -> list[Event]:
    """``folders`` folders of 2 groups of 2 analyses; their events, the same mix for either store, shuffled."""
    rng = random.Random(folders)
    events: list[Event] = []
    with _client(implementation, url) as client:
        for _ in range(folders):
            folder_id = client.create_folder()
            for _ in range(2):
                for analysis_id in client.submit(folder_id):
                    events.append((analysis_id, "fail" if rng.random() < 0.2 else "finish"))
    rng.shuffle(events)
    return events


def _run(implementation: str, url: str, events: list[Event], workers: int, keys: bool) -> float:
    """Seconds from the start signal until every worker has applied its share."""
    ready, start, done = FORK.Barrier(workers + 1), FORK.Event(), FORK.Queue()
    processes = [FORK.Process(target=_worker, args=(implementation, url, events[n::workers], keys, ready, start,
                                                    done))
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
        raise RuntimeError(f"a benchmark worker ({implementation}) failed: {problems[0]}")
    return elapsed


def _worker(implementation: str, url: str, events: list[Event], keys: bool, ready: Any, start: Any,
            done: Any) -> None:
    try:
        with _client(implementation, url) as client:
            ready.wait(60)
            start.wait(60)
            for analysis_id, event in events:
                key = f"{analysis_id}/{event}" if keys else None
                if event == "finish":
                    client.finish(analysis_id, key)
                else:
                    client.fail(analysis_id, key)
    except Exception as error:  # reported to the parent, which raises it
        done.put(repr(error))
        return
    done.put("")


# Size sweep


def _sweep(engine: str, server: str | None, plan: Plan) -> list[Row]:
    """µs per ``finish`` by folder size, for both stores, in one process, taking turns event by event."""
    with _database("store", engine, server) as store_url, _database("raw", engine, server) as raw_url:
        urls = {"store": store_url, "raw": raw_url}
        chosen: dict[tuple[str, int], list[tuple[str, bool]]] = {}
        for implementation in IMPLEMENTATIONS:
            with _client(implementation, urls[implementation]) as client:
                for size in plan.sweep_sizes:
                    _progress(f"sweep: {engine}, storing folders of {size:,} analyses ({implementation})...")
                    chosen[implementation, size] = _sweep_events(client, size, plan.sweep_events)
        _progress(f"sweep: {engine}, timing...")
        # seconds[implementation, size, ends_group]: each event's time, by whether it ended its group
        seconds: dict[tuple[str, int, bool], list[float]] = {}
        with _client("store", store_url) as store, _client("raw", raw_url) as raw:
            clients = {"store": store, "raw": raw}
            for n in range(plan.sweep_events):
                for size in plan.sweep_sizes:
                    for implementation in (IMPLEMENTATIONS if n % 2 == 0 else IMPLEMENTATIONS[::-1]):
                        analysis_id, ends_group = chosen[implementation, size][n]
                        began = time.perf_counter()
                        clients[implementation].finish(analysis_id, None)
                        taken = time.perf_counter() - began
                        seconds.setdefault((implementation, size, ends_group), []).append(taken)
    per_event = {(implementation, size): 1e6 * statistics.mean(
                     statistics.median(seconds[implementation, size, ends_group]) for ends_group in (False, True))
                 for implementation in IMPLEMENTATIONS for size in plan.sweep_sizes}
    smallest = plan.sweep_sizes[0]
    rows = []
    for size in plan.sweep_sizes:
        store_us, raw_us = per_event["store", size], per_event["raw", size]
        growth = store_us / per_event["store", smallest]
        target = SWEEP_TARGET if size == SWEEP_TARGET_SIZE else None
        rows.append({"kind": "sweep", "engine": engine, "analyses": size, "events": plan.sweep_events,
                     "store_us_per_event": round(store_us, 1), "raw_us_per_event": round(raw_us, 1),
                     "store_growth": round(growth, 4), "raw_growth": round(raw_us / per_event["raw", smallest], 4),
                     "ratio": round(raw_us / store_us, 4), "target": target,
                     "met": None if target is None else growth <= target})
    return rows


def _sweep_events(client: Client, size: int, events: int) -> list[tuple[str, bool]]:
    """Store folders of ``size`` analyses (groups of 2); the ``events`` analyses to finish, shuffled.

    Whole groups, ``events / 2`` of them, spread evenly over the folders'
    groups; each analysis with whether finishing it ends its group (its
    partner came first).
    """
    folders = max(1, math.ceil(events / size))
    groups: list[list[str]] = []
    for _ in range(folders):
        folder_id = client.create_folder()
        groups.extend(client.submit(folder_id) for _ in range(size // 2))
    picked = [groups[n * len(groups) // (events // 2)] for n in range(events // 2)]
    partner = {first: second for first, second in picked} | {second: first for first, second in picked}
    order = list(partner)
    random.Random(size).shuffle(order)
    done: set[str] = set()
    chosen = []
    for analysis_id in order:
        chosen.append((analysis_id, partner[analysis_id] in done))
        done.add(analysis_id)
    return chosen


def command_line(prog: str, doc: str | None, quick: str, argv: list[str] | None) -> argparse.Namespace:
    """The store benchmarks' options: ``--quick`` (``quick`` says what it runs), ``--postgres URL``, ``--json FILE``."""
    parser = argparse.ArgumentParser(prog=prog, description=(doc or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--postgres", default=os.environ.get("STATUSES_POSTGRES_URL"),
                        help="PostgreSQL URL (default: $STATUSES_POSTGRES_URL); SQLite only without it")
    parser.add_argument("--json", metavar="FILE", help="also write the rows to FILE as JSON")
    return parser.parse_args(argv)


def write_json(path: str | None, rows: list[Row]) -> None:
    """The rows to ``path`` as JSON, if given."""
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(rows, out, indent=2)


def main(argv: list[str] | None = None) -> None:
    arguments = command_line("python -m benchmarks.store_throughput", __doc__, "a small run, a few seconds", argv)
    from .__main__ import store_table  # the one formatting of these rows, shared with python -m benchmarks

    rows = measure(quick=arguments.quick, postgres_url=arguments.postgres)
    print("Store throughput\n\n" + store_table(rows))
    write_json(arguments.json, rows)


if __name__ == "__main__":
    main()
