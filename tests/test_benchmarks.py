"""``python -m benchmarks --quick`` runs to the end and reports every row; no figure is judged here."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

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
        assert figures["store"] and "Store throughput" in done.stdout


def test_store_throughput_rows_are_printed_and_kept(monkeypatch, capsys, tmp_path: Path) -> None:
    """When benchmarks.store_throughput is there, its measure() is called as agreed and its rows shown."""
    import types

    from benchmarks import __main__ as command

    calls = []

    def measure(*, quick: bool, postgres_url: str | None) -> list[dict[str, object]]:
        calls.append((quick, postgres_url))
        return [{"engine": "sqlite", "workers": 4, "events": 1200, "seconds": 0.5, "events_per_second": 2400.0}]

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
    assert "| sqlite | 4 | 1,200 | 0.50 | 2,400 |" in command.store_table(measure(quick=True, postgres_url=None))
    assert json.loads(out.read_text())["store"][0]["events_per_second"] == 2400.0


def test_an_earlier_checkout_is_measured_beside_this_one(tmp_path: Path) -> None:
    """``--before DIR`` loads that checkout's package under another name and times it in the same run."""
    out = tmp_path / "figures.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--no-peers", "--before", str(ROOT),
                           "--only", "restore", "--only", "finish_in_folder", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = {(row["scenario"], row["approach"]) for row in json.loads(out.read_text())["rows"]}
    assert rows == {(scenario, approach) for scenario in ("1 restore", "2 finish in a folder")
                    for approach in ("hand-written", "statuses", "statuses (before)")}
    assert "| 1 restore | statuses (before) |" in done.stdout
