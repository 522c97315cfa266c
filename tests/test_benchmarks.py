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
    "5 group of N (small)", "5 group of N (medium)", "5 group of N (large)", "6 bulk load",
]
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
    assert sorted(rows) == sorted((scenario, approach) for scenario in SCENARIOS for approach in APPROACHES)
    for (scenario, approach), row in rows.items():
        assert math.isfinite(row["median"]) and row["median"] > 0, (scenario, approach)
        assert row["ratio"] is not None and math.isfinite(row["ratio"]), (scenario, approach)
    assert set(figures["flatness"]) >= {"from", "to", "ratio", "met"}
    assert "| 1 restore | statuses |" in done.stdout  # the table is printed too
    if importlib.util.find_spec("benchmarks.store_throughput") is None:
        assert "store" not in figures and "store_throughput is not present" in done.stdout
    else:
        assert figures["store"] and "Store throughput" in done.stdout
