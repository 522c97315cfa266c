"""What each of the store's queries costs as the tables grow from 1,000 to 1,000,000 analyses.

One database per engine (SQLite: a new file; PostgreSQL, given a URL: a new
schema, dropped after) is filled in steps to each size by inserting rows
directly, as the store lays them out and with ``statuses_counts`` kept
equal to them: folders of one group of two analyses (8 in 10 FINISHED, 1 in
10 PROCESSING, 1 in 10 FAILED) and one INITIAL folder without analyses per
hundred, ``stored_at`` rising with the folders.  After each step the tables
are analyzed (so the planner knows their size, as a live database's
autovacuum would tell it; SQLite's WAL is checkpointed, as its writers' commits
would have) and each query is timed through a
:class:`~statuses.store.Store`, one call at a time, the queries taking turns,
``repeats`` times each (at a place drawn anew each time: an analysis, a
folder's cursor, a window, each with a full page after it), and reported as the median µs per call.  Flat:
the largest size's median within 1.5× of the smallest's.

Run::

    python -m benchmarks.query_cost [--quick] [--postgres URL] [--json FILE]

(``--postgres`` defaults to ``$STATUSES_POSTGRES_URL``; without either, only
SQLite is measured; ``--quick``: 200 and 2,000 analyses, for the tests.)
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from statuses import AnalysisState, AnalysisType, FolderStatus, Resolution
from statuses.store import Store, schema
from statuses.store.queries import FolderSummary, cursor_of

from .store_throughput import command_line, own_schema, write_json

FULL_SIZES = (1_000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (200, 2_000)
REPEATS = 300
QUICK_REPEATS = 20
FLAT = 1.5
"""The most a query's cost at the largest size may be over its cost at the smallest."""
PAGE = 20
QUERIES = ("load_analysis", "folders(status=PROCESSING)", "folders()", "folders(updated window)", "counts()")

Row = dict[str, Any]
SETTINGS = {"operator_required": False}
START = 1_700_000_000.0


def _shape(index: int) -> tuple[FolderStatus, list[tuple[AnalysisState, Resolution]]]:
    """The status of folder ``index`` and its analyses' (state, result)."""
    if index % 100 == 99:
        return FolderStatus.INITIAL, []
    kind = index % 10
    if kind == 0:
        return FolderStatus.PROCESSING, [(AnalysisState.PROCESSING, Resolution.PROCESSING),
                                         (AnalysisState.FINISHED, Resolution.SUCCESS)]
    if kind == 1:
        return FolderStatus.FAILED, [(AnalysisState.FAILED, Resolution.FAILED),
                                     (AnalysisState.FINISHED, Resolution.SUCCESS)]
    return FolderStatus.FINISHED, [(AnalysisState.FINISHED, Resolution.SUCCESS)] * 2


def fill(url: str, start: int, folders: int) -> int:
    """Insert folders ``start`` to ``start + folders - 1`` and their rows, counts included; returns their analyses."""
    shards = {row["shard"]: row for row in schema.zero_counts()}
    folder_rows, group_rows, analysis_rows = [], [], []
    for index in range(start, start + folders):
        status, members = _shape(index)
        folder_id, group_id = f"f{index:09d}", f"g{index:09d}"
        stored_at = START + index
        shard = shards[schema.count_shard(folder_id)]
        shard[schema.FOLDER_COUNTERS[status]] += 1
        running = sum(state is AnalysisState.PROCESSING for state, _ in members)
        results = [result for state, result in members if state is not AnalysisState.PROCESSING]
        worst = Resolution.worst(results) if results else Resolution.SUCCESS
        ended = bool(members) and not running
        folder_rows.append({
            "folder_id": folder_id, "settings": SETTINGS, "resolution_status": status,
            "system_resolution": worst if ended else Resolution.PROCESSING if members else Resolution.INITIAL,
            "version": 1 + 2 * len(members), "time_created": stored_at, "time_updated": stored_at,
            "in_progress": running, "group_count": 1 if members else 0, "analysis_count": len(members),
            "last_group_id": group_id if ended else None, "last_finished_order": 1 if ended else None,
            "last_result": worst if ended else None, "extra": None, "stored_at": stored_at})
        if not members:
            continue
        group_rows.append({"group_id": group_id, "folder_id": folder_id, "position": 0,
                           "finished_order": 1 if ended else None, "in_progress": running, "worst_ended": worst})
        for position, (state, result) in enumerate(members):
            shard[schema.ANALYSIS_COUNTERS[state]] += 1
            analysis_rows.append({
                "analyse_id": f"a{index:09d}-{position}", "folder_id": folder_id, "group_id": group_id,
                "position": position, "type": [AnalysisType.QUALITY, AnalysisType.BIOMETRY][position],
                "state": state, "resolution_status": result,
                "failure_reason": "engine timeout" if state is AnalysisState.FAILED else None,
                "time_created": stored_at, "time_updated": stored_at, "extra": None, "spellings": None})
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for table, rows in ((schema.folders, folder_rows), (schema.groups, group_rows),
                                (schema.analyses, analysis_rows)):
                for at in range(0, len(rows), 20_000):
                    connection.execute(table.insert(), rows[at:at + 20_000])
            added = [{f"p_{name}": value for name, value in row.items()} for row in shards.values()]
            connection.execute(schema.counts.update().where(schema.counts.c.shard == sa.bindparam("p_shard"))
                               .values({column: column + sa.bindparam(f"p_{column.name}")
                                        for column in schema.counts.c if column.name != "shard"}), added)
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
            if connection.dialect.name == "sqlite":   # the bulk insert's WAL written back, as a live store's is
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    return len(analysis_rows)


def folders_for(analyses: int) -> int:
    """How many folders of :func:`_shape` hold ``analyses`` analyses (near enough: to the folder)."""
    return round(analyses / (2 * 99 / 100))


def _time_queries(store: Store, folders: int, repeats: int, chosen: random.Random) -> dict[str, float]:
    """The median µs per call of each query, the queries taking turns, at places drawn from ``folders``."""
    def some_folder() -> int:
        # Where a full page still follows, of every status and of PROCESSING (1 in 10): the same work at each size.
        return chosen.randrange(max(1, folders - 12 * PAGE))

    def analysis() -> object:
        index = some_folder()
        while index % 100 == 99:
            index = some_folder()
        return store.load_analysis(f"a{index:09d}-{index % 2}")

    def after(index: int) -> str:
        return cursor_of(FolderSummary(f"f{index:09d}", FolderStatus.INITIAL, Resolution.INITIAL, START + index))

    def window() -> object:
        since = START + some_folder()
        return store.folders(updated_after=since, updated_before=since + 3 * PAGE, limit=PAGE)

    calls: dict[str, Callable[[], object]] = {
        "load_analysis": analysis,
        "folders(status=PROCESSING)": lambda: store.folders(status=FolderStatus.PROCESSING, limit=PAGE,
                                                            after=after(some_folder())),
        "folders()": lambda: store.folders(limit=PAGE, after=after(some_folder())),
        "folders(updated window)": window,
        "counts()": store.counts,
    }
    times: dict[str, list[float]] = {name: [] for name in calls}
    for name, call in calls.items():   # one untimed call each: the statements compiled, the pool warm
        call()
    for _ in range(repeats):
        for name, call in calls.items():
            began = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - began) * 1e6)
    return {name: statistics.median(taken) for name, taken in times.items()}


@contextmanager
def _database(engine: str, server: str | None) -> Iterator[str]:
    with tempfile.TemporaryDirectory() if engine == "sqlite" else own_schema(server or "") as place:
        yield f"sqlite:///{Path(place, 'queries.db')}" if engine == "sqlite" else place


def measure(*, quick: bool, postgres_url: str | None, sizes: tuple[int, ...] | None = None) -> list[Row]:
    """One row per engine and query: ``engine, query, sizes`` (analyses), ``us`` (median µs per call, by size),
    ``growth`` (largest ÷ smallest), ``flat`` (growth within :data:`FLAT`)."""
    sizes = sizes or (QUICK_SIZES if quick else FULL_SIZES)
    repeats = QUICK_REPEATS if quick else REPEATS
    engines: list[tuple[str, str | None]] = [("sqlite", None)]
    if postgres_url:
        engines.append(("postgresql", postgres_url))
    rows: list[Row] = []
    for engine, server in engines:
        figures: dict[str, list[float]] = {name: [] for name in QUERIES}
        held = []
        with _database(engine, server) as url:
            Store(url).close()
            folders = analyses = 0
            for size in sizes:
                wanted = folders_for(size)
                began = time.perf_counter()
                analyses += fill(url, folders, wanted - folders)
                folders = wanted
                print(f"  {engine}: {analyses:,} analyses in {folders:,} folders "
                      f"(filled in {time.perf_counter() - began:.1f} s), timing...", file=sys.stderr, flush=True)
                held.append(analyses)
                with Store(url) as store:
                    timed = _time_queries(store, folders, repeats, random.Random(size))
                for name in QUERIES:
                    figures[name].append(timed[name])
        for name in QUERIES:
            growth = figures[name][-1] / figures[name][0]
            rows.append({"engine": engine, "query": name, "sizes": held, "us": figures[name], "growth": growth,
                         "flat": growth <= FLAT})
    return rows


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table: µs per call by size, and largest ÷ smallest."""
    sizes = rows[0]["sizes"]
    lines = ["| engine | query | " + " | ".join(f"{size:,} analyses" for size in sizes) + " | largest ÷ smallest |",
             "|---|---|" + "---:|" * len(sizes) + "---:|"]
    for row in rows:
        figures = " | ".join(f"{value:,.0f} µs" for value in row["us"])
        lines.append(f"| {row['engine']} | {row['query']} | {figures} | {row['growth']:.2f}× "
                     f"{'flat' if row['flat'] else 'NOT FLAT'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    arguments = command_line("python -m benchmarks.query_cost", __doc__, "200 and 2,000 analyses, a few seconds", argv)
    rows = measure(quick=arguments.quick, postgres_url=arguments.postgres)
    print(f"Median µs per call ({QUICK_REPEATS if arguments.quick else REPEATS} calls each, pages of {PAGE})\n")
    print(table(rows))
    write_json(arguments.json, rows)


if __name__ == "__main__":
    main()
