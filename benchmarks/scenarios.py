"""The six scenarios of the performance issue, each measured for every approach.

Each scenario returns :class:`Row` objects: a figure's median over several
repeats, each repeat on fresh objects built outside the timed part, the
approaches taking turns.  Times are the process's CPU time
(``time.process_time``), so other work on the machine weighs less on them;
scenarios 1 to 5 run with the garbage collector off, as ``timeit`` does.
"""

from __future__ import annotations

import gc
import itertools
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
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
    bulk_repeats: int

    def count(self, approach: Approach) -> int:
        """How many items a repeat of scenarios 1 to 5 handles for ``approach``."""
        return self.heavy_items if approach.heavy else self.items


FULL = Sizes(items=20_000, heavy_items=1_000, repeats=7, group_sizes=(10, 1_000, 100_000),
             heavy_group_sizes=(10, 1_000, 10_000), bulk_analyses=1_000_000, heavy_bulk_analyses=10_000,
             bulk_repeats=3)
QUICK = Sizes(items=300, heavy_items=30, repeats=3, group_sizes=(10, 100, 1_000),
              heavy_group_sizes=(10, 30, 100), bulk_analyses=2_000, heavy_bulk_analyses=200,
              bulk_repeats=1)


@attrs.frozen
class Row:
    """One figure of one approach in one scenario."""

    scenario: str
    approach: str
    size: int
    unit: str
    median: float
    details: dict[str, float] = attrs.field(factory=dict)


Timed = tuple[int, Callable[[], list[Any]], Callable[[list[Any]], None]]
"""What one approach times in a scenario: its size, how to make fresh items, what to do with them."""


def _interleaved(scenario: str, unit: str, approaches: Sequence[Approach], repeats: int,
                 plan: Callable[[Approach], Timed]) -> list[Row]:
    """Time every approach ``repeats`` times, the approaches taking turns within each repeat.

    Taking turns means a slow patch of the machine (another process) weighs
    on every approach alike, so the ratios hold better than the figures.
    """
    plans = [plan(approach) for approach in approaches]
    samples: list[list[float]] = [[] for _ in approaches]
    for _ in range(repeats):
        for (count, prepare, act), taken in zip(plans, samples):
            items = prepare()
            gc.collect()
            gc.disable()
            try:
                start = time.process_time()
                act(items)
                elapsed = time.process_time() - start
            finally:
                gc.enable()
            taken.append(elapsed / len(items) * 1e6)
    return [Row(scenario, approach.name, count, unit, statistics.median(taken))
            for approach, (count, _, _), taken in zip(approaches, plans, samples)]


def _rows(count: int) -> list[tuple[str, str, str, str]]:
    return [(f"a{index}", TYPES[index % 2 * 2], "FINISHED", "SUCCESS") for index in range(count)]


def restore(approaches: Sequence[Approach], sizes: Sizes) -> list[Row]:
    """1. Restore an analysis in FINISHED/SUCCESS from a stored row."""
    def plan(approach: Approach) -> Timed:
        rows = _rows(sizes.count(approach))
        act_restore = approach.restore

        def act(items: list[Any]) -> None:
            for row in items:
                act_restore(row)

        return len(rows), lambda: rows, act

    return _interleaved("1 restore", "µs/op", approaches, sizes.repeats, plan)


def finish_in_folder(approaches: Sequence[Approach], sizes: Sizes) -> list[Row]:
    """2. One finish on a PROCESSING analysis in a folder; every second one settles its folder."""
    def plan(approach: Approach) -> Timed:
        count, new_folder, submit, act_finish = sizes.count(approach), approach.new_folder, approach.submit, \
            approach.finish

        def prepare() -> list[Any]:
            analyses = []
            for _ in range(count // 2):
                analyses.extend(submit(new_folder(), ["BIOMETRY", "DOCUMENTS"]).analyses)
            return analyses

        def act(items: list[Any]) -> None:
            for analysis in items:
                act_finish(analysis, "SUCCESS")

        return count, prepare, act

    return _interleaved("2 finish in a folder", "µs/op", approaches, sizes.repeats, plan)


def illegal_event(approaches: Sequence[Approach], sizes: Sizes) -> list[Row]:
    """3. One illegal event, raised and caught: finish on a FINISHED analysis."""
    def plan(approach: Approach) -> Timed:
        count = sizes.count(approach)
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

        return count, lambda: [finished] * count, act

    return _interleaved("3 illegal event", "µs/op", approaches, sizes.repeats, plan)


def memory(approaches: Sequence[Approach], sizes: Sizes) -> list[Row]:
    """4. Memory per analysis held, restored from rows (the rows themselves not counted)."""
    rows = []
    for approach in approaches:
        count = sizes.count(approach)
        stored = _rows(count)
        held: list[Any] = [None] * count
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for index, row in enumerate(stored):
                held[index] = approach.restore(row)
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        rows.append(Row("4 memory per analysis", approach.name, count, "B", (after - before) / count))
    return rows


def group_sizes(approaches: Sequence[Approach], sizes: Sizes) -> list[Row]:
    """5. Create a folder, submit a group of N, finish them all: µs per analysis for each N."""
    rows = []
    for index, label in enumerate(("small", "medium", "large")):
        def plan(approach: Approach) -> Timed:
            size = (sizes.heavy_group_sizes if approach.heavy else sizes.group_sizes)[index]
            folders = max(1, sizes.count(approach) // size)
            types = list(itertools.islice(itertools.cycle(TYPES[::2]), size))
            new_folder, submit, finish = approach.new_folder, approach.submit, approach.finish

            def act(items: list[Any]) -> None:
                for _ in items:
                    group = submit(new_folder(), types)
                    for analysis in group.analyses:
                        finish(analysis, "SUCCESS")

            return size, lambda: [None] * folders, act

        measured = _interleaved(f"5 group of N ({label})", "µs/analysis", approaches, sizes.repeats, plan)
        rows += [attrs.evolve(row, median=row.median / row.size) for row in measured]
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


def bulk_load(approaches: Sequence[Approach], sizes: Sizes) -> list[Row]:
    """6. Load analyses in folders from API-shaped dicts and read every folder's statuses.

    Timed ``bulk_repeats`` times, the approaches taking turns; then once more
    under tracemalloc for the peak memory (tracemalloc slows allocation, so
    that run is not timed).
    """
    documents = {heavy: list(folder_documents(sizes.heavy_bulk_analyses if heavy else sizes.bulk_analyses))
                 for heavy in {approach.heavy for approach in approaches}}
    seconds: list[list[float]] = [[] for _ in approaches]
    for _ in range(sizes.bulk_repeats):
        for approach, taken in zip(approaches, seconds):
            gc.collect()
            start = time.process_time()
            _load_all(approach, documents[approach.heavy])
            taken.append(time.process_time() - start)
    rows = []
    for approach, taken in zip(approaches, seconds):
        gc.collect()
        tracemalloc.start()
        try:
            _load_all(approach, documents[approach.heavy])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        count = sum(len(document["analyses"]) for document in documents[approach.heavy])
        median = statistics.median(taken)
        rows.append(Row("6 bulk load", approach.name, count, "µs/analysis", median / count * 1e6,
                        {"seconds": median, "peak_mb": peak / 1e6,
                         "folders": float(len(documents[approach.heavy]))}))
    return rows


def _load_all(approach: Approach, documents: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Load every folder, then count the folders by their statuses (which reads each one)."""
    folders = [approach.load_folder(document) for document in documents]
    tally: dict[tuple[str, str], int] = {}
    for folder in folders:
        key = approach.statuses_of(folder)
        tally[key] = tally.get(key, 0) + 1
    return tally


def new_analysis(approaches: Sequence[Approach], sizes: Sizes) -> list[Row]:
    """7. A new analysis of a given type, PROCESSING, with a fresh id (both make one: ids cost the same)."""
    def plan(approach: Approach) -> Timed:
        count, make = sizes.count(approach), approach.new_analysis

        def act(items: list[Any]) -> None:
            for kind in items:
                make(kind)

        return count, lambda: [TYPES[index % 4] for index in range(count)], act

    return _interleaved("7 new analysis", "µs/op", approaches, sizes.repeats, plan)


def finish_heard(approaches: Sequence[Approach], sizes: Sizes) -> list[Row]:
    """8. Scenario 2 with a listener subscribed that does nothing: what being heard costs.

    No listener costs nothing: with no subscription the events run the take
    generated without reporting (``tests/test_listeners.py`` checks it is that one).
    """
    baseline = [approach for approach in approaches if approach.subscribe is None][:1]
    rows: list[Row] = []
    for approach in approaches:
        if approach.subscribe is None:
            continue
        with approach.subscribe(lambda transition: None):
            measured = finish_in_folder([*baseline, approach], sizes)
        rows += [attrs.evolve(row, scenario="8 finish, a listener subscribed") for row in measured
                 if row.approach == approach.name or not rows]
    return rows


SCENARIOS: tuple[Callable[[Sequence[Approach], Sizes], list[Row]], ...] = (
    restore, finish_in_folder, illegal_event, memory, group_sizes, bulk_load, new_analysis, finish_heard,
)
