"""``python -m benchmarks --quick`` runs to the end and reports every row; no figure is judged here."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCENARIOS = [
    "1 restore", "2 finish in a folder", "3 illegal event", "4 memory per analysis",
    "5 group of N (small)", "5 group of N (medium)", "5 group of N (large)", "6 bulk load", "7 new analysis",
]
HEARD = "8 finish, a listener subscribed"
"""Measured for statuses, which can be listened to, beside the baseline."""
APPROACHES = [
    "hand-written", "statuses", "transitions (Machine per object)", "python-statemachine (instance per object)",
]


def test_quick_run_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    rows = {(row["scenario"], row["approach"]): row for row in figures["rows"]}
    assert sorted(rows) == sorted([*((scenario, approach) for scenario in SCENARIOS for approach in APPROACHES),
                                   (HEARD, "hand-written"), (HEARD, "statuses")])
    for (scenario, approach), row in rows.items():
        assert math.isfinite(row["median"]) and row["median"] > 0, (scenario, approach)
        assert row["ratio"] is not None and math.isfinite(row["ratio"]), (scenario, approach)
    assert set(figures["flatness"]) >= {"from", "to", "ratio", "met"}
    assert "| 1 restore | statuses |" in done.stdout  # the table is printed too
    if importlib.util.find_spec("benchmarks.store_throughput") is None:
        assert "store" not in figures and "store_throughput is not present" in done.stdout
    else:
        assert "Store throughput" in done.stdout and "| Store ÷ raw |" in done.stdout
        check_store_rows(figures["store"], postgres=bool(os.environ.get("STATUSES_POSTGRES_URL")))


def check_store_rows(rows: list[dict], postgres: bool) -> None:
    """The store's rows have the agreed shape: every cell with both figures and a ratio; the sweep from 2 up."""
    engines = ["sqlite", "postgresql"] if postgres else ["sqlite"]
    throughput = [row for row in rows if row["kind"] == "throughput"]
    assert sorted((row["engine"], row["workers"], row["keys"]) for row in throughput) == sorted(
        (engine, workers, keys) for engine in engines for workers in (1, 4) for keys in (False, True))
    for row in throughput:
        for name in ("store_events_per_second", "raw_events_per_second", "ratio"):
            assert math.isfinite(row[name]) and row[name] > 0, (row, name)
        assert row["target"] == {"sqlite": 0.33, "postgresql": 0.5}[row["engine"]]
        assert row["met"] == (row["ratio"] >= row["target"]) and row["events"] > 0
        assert len(row["runs"]) == row["repeats"] >= 1
    sweep = [row for row in rows if row["kind"] == "sweep"]
    assert {row["engine"] for row in sweep} == set(engines)
    for engine in engines:
        ours = [row for row in sweep if row["engine"] == engine]
        sizes = [row["analyses"] for row in ours]
        assert sizes == sorted(sizes) and sizes[0] == 2 and len(sizes) >= 2, sizes
        assert ours[0]["store_growth"] == 1.0 and ours[0]["raw_growth"] == 1.0
        for row in ours:
            for name in ("store_us_per_event", "raw_us_per_event", "store_growth", "raw_growth", "ratio"):
                assert math.isfinite(row[name]) and row[name] > 0, (row, name)
        for row in ours:  # judged at 2,000 analyses only, which --quick does not reach
            assert row["target"] == (1.5 if row["analyses"] == 2000 else None)
            assert row["met"] == (None if row["target"] is None else row["store_growth"] <= 1.5)
    assert len(rows) == len(throughput) + len(sweep)


def test_store_throughput_rows_are_printed_and_kept(monkeypatch, capsys, tmp_path: Path) -> None:
    """When benchmarks.store_throughput is there, its measure() is called as agreed and its rows shown."""
    import types

    from benchmarks import __main__ as command

    calls = []

    def measure(*, quick: bool, postgres_url: str | None) -> list[dict[str, object]]:
        calls.append((quick, postgres_url))
        return [{"kind": "throughput", "engine": "sqlite", "workers": 4, "keys": True, "events": 1200, "repeats": 3,
                 "store_events_per_second": 480.0, "raw_events_per_second": 2400.0, "ratio": 0.2, "target": 0.33,
                 "met": False, "runs": [[480.0, 2400.0]] * 3},
                {"kind": "sweep", "engine": "sqlite", "analyses": 2, "events": 100,
                 "store_us_per_event": 2000.0, "raw_us_per_event": 300.0, "store_growth": 1.0, "raw_growth": 1.0,
                 "ratio": 0.15, "target": None, "met": None},
                {"kind": "sweep", "engine": "sqlite", "analyses": 2000, "events": 100,
                 "store_us_per_event": 2600.0, "raw_us_per_event": 310.0, "store_growth": 1.3, "raw_growth": 1.03,
                 "ratio": 0.12, "target": 1.5, "met": True}]

    fake = types.ModuleType("benchmarks.store_throughput")
    fake.measure = measure  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "benchmarks.store_throughput", fake)
    monkeypatch.setenv("STATUSES_POSTGRES_URL", "postgresql+psycopg://somewhere/test")
    monkeypatch.setattr(command, "run_scenarios", lambda *args: [])  # only the store part is under test here
    monkeypatch.setattr(command, "flatness", lambda rows: {"from": 10, "to": 100, "ratio": 1.0, "met": True})
    out = tmp_path / "figures.json"
    assert command.main(["--quick", "--json", str(out)]) == 0
    assert calls == [(True, "postgresql+psycopg://somewhere/test")]
    assert "Store throughput" in capsys.readouterr().out
    printed = command.store_table(measure(quick=True, postgres_url=None))
    assert "| sqlite | 4 | with | 1,200 | 480 | 2,400 | 0.20× | ≥ 0.33× MISSED |" in printed
    assert "| sqlite | 2 | 100 | 2,000 | 1.00× | 300 | 1.00× | 0.15× |  |" in printed
    assert "| sqlite | 2,000 | 100 | 2,600 | 1.30× | 310 | 1.03× | 0.12× | ≤ 1.5× met |" in printed
    assert json.loads(out.read_text())["store"][0]["raw_events_per_second"] == 2400.0


def test_an_earlier_checkout_is_measured_beside_this_one(tmp_path: Path) -> None:
    """``--before DIR`` loads that checkout's package under another name and times it in the same run."""
    out = tmp_path / "figures.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--no-peers", "--no-store",
                           "--before", str(ROOT), "--only", "restore", "--only", "finish_in_folder",
                           "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = {(row["scenario"], row["approach"]) for row in json.loads(out.read_text())["rows"]}
    assert rows == {(scenario, approach) for scenario in ("1 restore", "2 finish in a folder")
                    for approach in ("hand-written", "statuses", "statuses (before)")}
    assert "| 1 restore | statuses (before) |" in done.stdout


@pytest.fixture(params=["sqlite", "postgresql"])
def raw_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database with the raw store's tables: a SQLite file, or a PostgreSQL schema when one is given."""
    from benchmarks.raw_store import RawStore
    from benchmarks.store_throughput import own_schema

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'raw.db'}"
        with RawStore(url) as raw:
            raw.create_tables()
        yield url
        return
    server = os.environ.get("STATUSES_POSTGRES_URL")
    if not server:
        pytest.skip("STATUSES_POSTGRES_URL is not set")
    with own_schema(server) as url:
        with RawStore(url) as raw:
            raw.create_tables()
        yield url


def test_the_raw_baseline_does_what_a_store_must(raw_url: str) -> None:
    """The raw store ends each analysis once, settles the folder on its last-finished group, and replays keys."""
    from benchmarks.raw_store import RawStore, Refused

    with RawStore(raw_url) as raw:
        folder_id = raw.create_folder()
        first, second = raw.submit(folder_id, ["QUALITY", "BIOMETRY"]), raw.submit(folder_id, ["QUALITY", "BIOMETRY"])
        assert raw.fail(first[0], "boom", key="a") == [("analysis", first[0], "fail", "PROCESSING", "FAILED", "FAILED")]
        assert raw.fail(first[0], "boom", key="a") == [("analysis", first[0], "fail", "PROCESSING", "FAILED", "FAILED")]
        with pytest.raises(Refused):
            raw.finish(first[0], "SUCCESS", key="b")        # ended already: refused, and key b not taken
        with pytest.raises(Refused):
            raw.finish(first[1], "SUCCESS", key="a")        # a key is for one event
        raw.finish(second[0], "DECLINED", key="b")
        raw.finish(second[1], "SUCCESS")                    # the second group ends first: it scores 1
        assert raw.finish(first[1], "SUCCESS") == [         # the first group ends last (FAILED): the folder FAILS
            ("analysis", first[1], "finish", "PROCESSING", "FINISHED", "SUCCESS"),
            ("folder", folder_id, "settle", "PROCESSING", "FAILED", "FAILED")]
        read = raw._execute  # the tables, as they are
        assert read("SELECT status, result, in_progress, groups_finished, last_group_order, last_group_result, "
                    "version FROM raw_folders", ()).fetchall() == [("FAILED", "FAILED", 0, 2, 2, "FAILED", 7)]
        assert read("SELECT position, in_progress, worst, finished_order FROM raw_groups ORDER BY position",
                    ()).fetchall() == [(0, 0, "FAILED", 2), (1, 0, "DECLINED", 1)]
        assert [row[0] for row in read("SELECT event FROM raw_log ORDER BY seq", ()).fetchall()] == [
            "submit", "submit", "fail", "finish", "finish", "finish", "settle"]
        assert read("SELECT count(*) FROM raw_keys", ()).fetchone() == (2,)


def test_the_query_cost_benchmark_times_every_query_at_each_size() -> None:
    """``benchmarks.query_cost`` at tiny sizes: a row per engine and query, a figure per size, and the table."""
    from benchmarks import query_cost

    postgres = os.environ.get("STATUSES_POSTGRES_URL")
    rows = query_cost.measure(quick=True, postgres_url=postgres, sizes=(40, 200))
    engines = ["sqlite", "postgresql"] if postgres else ["sqlite"]
    assert [(row["engine"], row["query"]) for row in rows] == [
        (engine, query) for engine in engines for query in query_cost.QUERIES]
    for row in rows:
        assert row["sizes"] == [40, 200] and len(row["us"]) == 2
        assert all(math.isfinite(value) and value > 0 for value in row["us"])
        assert row["growth"] == row["us"][-1] / row["us"][0] and row["flat"] == (row["growth"] <= 1.5)
    printed = query_cost.table(rows)
    assert "| engine | query | 40 analyses | 200 analyses | largest ÷ smallest |" in printed
    assert "| sqlite | counts() |" in printed


def test_the_query_cost_benchmark_fills_a_store_its_rules_and_counts_accept(tmp_path: Path) -> None:
    """The rows it inserts are a store's: every folder loads, and counts() equals them recounted."""
    from benchmarks import query_cost
    from statuses import FolderStatus
    from statuses.store import Store
    from tests.test_store_queries import recount

    url = f"sqlite:///{tmp_path / 'filled.db'}"
    Store(url).close()
    analyses = query_cost.fill(url, 0, 150) + query_cost.fill(url, 150, 100)
    with Store(url) as store:
        counts = store.counts()
        assert counts == recount(store, url)
        assert sum(counts.analyses.values()) == analyses == 2 * (250 - 2)
        assert all(counts.folders[status] > 0 for status in FolderStatus)
