"""The six scenarios of the performance issue, each measured for every approach.

Each scenario returns :class:`Row` objects: a figure's median over several
repeats, each repeat on fresh objects built outside the timed part.  Timing
runs with the garbage collector off, as ``timeit`` does.
"""

from __future__ import annotations

import gc
import itertools
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from .approaches import Approach

TYPES = ("BIOMETRY", "QUALITY", "DOCUMENTS", "COLLECTION")


@attrs.frozen
class Sizes:
    """How much each scenario does; ``heavy`` approaches (the peers) get the smaller figures."""

    items: int
    heavy_items: int
    repeats: int
    group_sizes: tuple[int, ...]
    heavy_group_sizes: tuple[int, ...]
    bulk_analyses: int
    heavy_bulk_analyses: int


FULL = Sizes(items=20_000, heavy_items=1_000, repeats=7, group_sizes=(10, 1_000, 100_000),
             heavy_group_sizes=(10, 1_000, 10_000), bulk_analyses=1_000_000, heavy_bulk_analyses=10_000)
QUICK = Sizes(items=300, heavy_items=30, repeats=3, group_sizes=(10, 100, 1_000),
              heavy_group_sizes=(10, 30, 100), bulk_analyses=2_000, heavy_bulk_analyses=200)


@attrs.frozen
class Row:
    """One figure of one approach in one scenario."""

    scenario: str
    approach: str
    size: int
    unit: str
    median: float
    details: dict[str, float] = attrs.field(factory=dict)


def _median_per_item(repeats: int, prepare: Callable[[], list[Any]], act: Callable[[list[Any]], None]) -> float:
    """The median over ``repeats`` of (time of ``act(items)``) / len(items), in µs."""
    samples = []
    for _ in range(repeats):
        items = prepare()
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            act(items)
            elapsed = time.perf_counter() - start
        finally:
            gc.enable()
        samples.append(elapsed / len(items) * 1e6)
    return statistics.median(samples)


def _rows(count: int) -> list[tuple[str, str, str, str]]:
    return [(f"a{index}", TYPES[index % 2 * 2], "FINISHED", "SUCCESS") for index in range(count)]


def restore(approach: Approach, sizes: Sizes) -> Row:
    """1. Restore an analysis in FINISHED/SUCCESS from a stored row."""
    count = sizes.heavy_items if approach.heavy else sizes.items
    rows = _rows(count)
    act_restore = approach.restore

    def act(items: list[Any]) -> None:
        for row in items:
            act_restore(row)

    return Row("1 restore", approach.name, count, "µs/op", _median_per_item(sizes.repeats, lambda: rows, act))


def finish_in_folder(approach: Approach, sizes: Sizes) -> Row:
    """2. One finish on a PROCESSING analysis in a folder; every second one settles its folder."""
    count = sizes.heavy_items if approach.heavy else sizes.items

    def prepare() -> list[Any]:
        analyses = []
        for _ in range(count // 2):
            analyses.extend(approach.submit(approach.new_folder(), ["BIOMETRY", "DOCUMENTS"]).analyses)
        return analyses

    act_finish = approach.finish

    def act(items: list[Any]) -> None:
        for analysis in items:
            act_finish(analysis, "SUCCESS")

    return Row("2 finish in a folder", approach.name, count, "µs/op", _median_per_item(sizes.repeats, prepare, act))


def illegal_event(approach: Approach, sizes: Sizes) -> Row:
    """3. One illegal event, raised and caught: finish on a FINISHED analysis."""
    count = sizes.heavy_items if approach.heavy else sizes.items
    finished = approach.restore(("a0", "BIOMETRY", "FINISHED", "SUCCESS"))
    act_finish, illegal = approach.finish, approach.illegal

    def act(items: list[Any]) -> None:
        for analysis in items:
            try:
                act_finish(analysis, "SUCCESS")
            except illegal:
                pass
            else:
                raise AssertionError(f"{approach.name} took an illegal event")

    return Row("3 illegal event", approach.name, count, "µs/op",
               _median_per_item(sizes.repeats, lambda: [finished] * count, act))


def memory(approach: Approach, sizes: Sizes) -> Row:
    """4. Memory per analysis held, restored from rows (the rows themselves not counted)."""
    count = sizes.heavy_items if approach.heavy else sizes.items
    rows = _rows(count)
    held: list[Any] = [None] * count
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index, row in enumerate(rows):
            held[index] = approach.restore(row)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return Row("4 memory per analysis", approach.name, count, "B", (after - before) / count)


def group_sizes(approach: Approach, sizes: Sizes) -> list[Row]:
    """5. Create a folder, submit a group of N, finish them all: µs per analysis for each N."""
    rows = []
    for label, size in zip(("small", "medium", "large"),
                           sizes.heavy_group_sizes if approach.heavy else sizes.group_sizes):
        folders = max(1, (sizes.heavy_items if approach.heavy else sizes.items) // size)
        types = list(itertools.islice(itertools.cycle(TYPES[::2]), size))
        new_folder, submit, finish = approach.new_folder, approach.submit, approach.finish

        def act(items: list[Any]) -> None:
            for _ in items:
                group = submit(new_folder(), types)
                for analysis in group.analyses:
                    finish(analysis, "SUCCESS")

        per_folder = _median_per_item(max(3, sizes.repeats // 2) if size > 10_000 else sizes.repeats,
                                      lambda: [None] * folders, act)
        rows.append(Row(f"5 group of N ({label})", approach.name, size, "µs/analysis", per_folder / size))
    return rows


def folder_documents(analyses: int, per_folder: int = 10) -> Iterator[dict[str, Any]]:
    """API-shaped folders: ``per_folder`` analyses in three groups, ended, statuses consistent."""
    verdicts = ("SUCCESS", "DECLINED", "SUCCESS", "FAILED", "SUCCESS", "SUCCESS", "DECLINED")
    counter = itertools.count()
    for folder_index in range(max(1, analyses // per_folder)):
        folder_id = f"f{folder_index}"
        docs, worst_of_last = [], "SUCCESS"
        for position in range(per_folder):
            number = next(counter)
            group = min(position * 3 // per_folder, 2)
            verdict = verdicts[number % len(verdicts)]
            state = "FAILED" if verdict == "FAILED" else "FINISHED"
            if group == 2 and (verdict == "FAILED" or worst_of_last == "SUCCESS"):
                worst_of_last = verdict if verdict != "SUCCESS" else worst_of_last
            docs.append({"analyse_id": f"a{number}", "folder_id": folder_id, "type": TYPES[number % 4],
                         "state": state, "resolution_status": verdict, "group_id": f"{folder_id}g{group}",
                         "time_created": 1_700_000_000 + group, "time_updated": 1_700_000_100 + group,
                         "results_data": {}})
        yield {"folder_id": folder_id, "resolution_status": "FAILED" if worst_of_last == "FAILED" else "FINISHED",
               "system_resolution": worst_of_last, "time_created": 1_700_000_000,
               "time_updated": 1_700_000_200, "analyses": docs}


def bulk_load(approach: Approach, sizes: Sizes) -> Row:
    """6. Load analyses in folders from API-shaped dicts and read every folder's statuses."""
    count = sizes.heavy_bulk_analyses if approach.heavy else sizes.bulk_analyses
    documents = list(folder_documents(count))
    load, statuses_of = approach.load_folder, approach.statuses_of
    tally: dict[tuple[str, str], int] = {}

    def run() -> list[Any]:
        folders = [load(document) for document in documents]
        for folder in folders:
            key = statuses_of(folder)
            tally[key] = tally.get(key, 0) + 1
        return folders

    gc.collect()
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    gc.collect()
    tracemalloc.start()
    try:
        folders = run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del folders
    return Row("6 bulk load", approach.name, count, "µs/analysis", seconds / count * 1e6,
               {"seconds": seconds, "peak_mb": peak / 1e6, "folders": float(len(documents))})


SCENARIOS: tuple[Callable[[Approach, Sizes], Row | list[Row]], ...] = (
    restore, finish_in_folder, illegal_event, memory, group_sizes, bulk_load,
)
