"""``python -m benchmarks``: every scenario for every approach in one run, side by side.

Prints one table (each figure's median and its ratio to the hand-written
baseline of the same scenario, with the issue's target for ``statuses``), then
the store's two tables when :mod:`benchmarks.store_throughput` is present
(its events/s against the hand-written raw store's, and its cost per event by
folder size).  ``--json FILE`` writes the same figures; ``--quick`` runs tiny
sizes in seconds (the test suite runs it).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import attrs

from . import scenarios
from .approaches import ALL, BASELINE, STATUSES, Approach, load_copy, package_approach

TARGETS: dict[str, float] = {
    "1 restore": 1.5,
    "2 finish in a folder": 3.0,
    "3 illegal event": 2.0,
    "4 memory per analysis": 1.0,
    "6 bulk load": 3.0,
    "7 new analysis": 2.0,
}
"""The issue's ceilings for statuses' ratio to the baseline; scenario 5 is judged on flatness."""

FLATNESS_TARGET = 1.5
"""Scenario 5: statuses' cost per analysis at the largest N over the smallest."""


def run_scenarios(sizes: scenarios.Sizes, approaches: Sequence[Approach] = ALL,
                  chosen: Sequence[Any] = scenarios.SCENARIOS) -> list[dict[str, Any]]:
    """Every scenario (or the ``chosen`` ones) for every approach, as JSON-ready rows with ratios to the baseline."""
    rows: list[scenarios.Row] = []
    for scenario in chosen:
        print(f"  {scenario.__name__}...", file=sys.stderr, flush=True)
        rows.extend(scenario(approaches, sizes))
    baseline = {row.scenario: row.median for row in rows if row.approach == BASELINE.name}
    out = []
    for row in rows:
        record = attrs.asdict(row)
        record["ratio"] = row.median / baseline[row.scenario] if baseline.get(row.scenario) else None
        target = TARGETS.get(row.scenario) if row.approach == STATUSES.name else None
        record["target"] = target
        record["met"] = None if target is None or record["ratio"] is None else record["ratio"] <= target
        out.append(record)
    return out


def flatness(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Scenario 5 for statuses: the largest N's cost per analysis over the smallest N's."""
    ours = [row for row in rows if row["approach"] == STATUSES.name and row["scenario"].startswith("5 ")]
    small, large = min(ours, key=lambda row: row["size"]), max(ours, key=lambda row: row["size"])
    ratio = large["median"] / small["median"]
    return {"from": small["size"], "to": large["size"], "ratio": ratio, "target": FLATNESS_TARGET,
            "met": ratio <= FLATNESS_TARGET}


def _figure(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}" if value < 10 else f"{value:,.1f}"


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = ["| scenario | approach | size | median | unit | × baseline | target |",
             "|---|---|---:|---:|---|---:|---|"]
    for row in rows:
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}×"
        target = "" if row["target"] is None else f"≤ {row['target']}× {'met' if row['met'] else 'MISSED'}"
        details = row["details"]
        median = _figure(row["median"])
        if details:
            median += f" ({details['seconds']:.2f} s, peak {details['peak_mb']:,.0f} MB)"
        lines.append(f"| {row['scenario']} | {row['approach']} | {row['size']:,} | {median} | {row['unit']} "
                     f"| {ratio} | {target} |")
    return "\n".join(lines)


def _micros(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.3g}"


def store_table(rows: Sequence[dict[str, Any]]) -> str:
    """The store's rows (see :func:`benchmarks.store_throughput.measure`) as two Markdown tables.

    Throughput: events/s of ``Store`` and of the raw store, and Store ÷ raw
    against its target; the size sweep: µs per ``finish`` by folder size and
    its ratio to the smallest folder's.
    """
    lines: list[str] = []
    throughput = [row for row in rows if row["kind"] == "throughput"]
    if throughput:
        lines += ["| engine | workers | keys | events | Store events/s | raw events/s | Store ÷ raw | target |",
                  "|---|---:|---|---:|---:|---:|---:|---|"]
        for row in throughput:
            lines.append(f"| {row['engine']} | {row['workers']} | {'with' if row['keys'] else 'without'} "
                         f"| {row['events']:,} | {row['store_events_per_second']:,.0f} "
                         f"| {row['raw_events_per_second']:,.0f} | {row['ratio']:.2f}× "
                         f"| ≥ {row['target']}× {'met' if row['met'] else 'MISSED'} |")
        repeats = "/".join(str(count) for count in sorted({row["repeats"] for row in throughput}))
        lines += ["", f"events/s: the median of {repeats} run(s) of each; Store ÷ raw: the median of the runs' "
                  "ratios, each of a Store run and a raw run made back to back"]
    sweep = [row for row in rows if row["kind"] == "sweep"]
    if sweep:
        smallest = min(row["analyses"] for row in sweep)
        lines += ["", f"Cost of one finish by folder size (× at {smallest:,}: over the {smallest:,}-analysis folder's)",
                  "", f"| engine | analyses | events | Store µs/event | × at {smallest:,} | raw µs/event "
                  f"| × at {smallest:,} | Store ÷ raw | target |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for row in sweep:
            target = "" if row["target"] is None else f"≤ {row['target']}× {'met' if row['met'] else 'MISSED'}"
            lines.append(f"| {row['engine']} | {row['analyses']:,} | {row['events']:,} "
                         f"| {_micros(row['store_us_per_event'])} | {row['store_growth']:.2f}× "
                         f"| {_micros(row['raw_us_per_event'])} | {row['raw_growth']:.2f}× "
                         f"| {row['ratio']:.2f}× | {target} |")
    return "\n".join(lines).strip("\n")


def store_rows(quick: bool) -> list[dict[str, Any]] | None:
    """The store throughput rows, or None when :mod:`benchmarks.store_throughput` is absent."""
    try:
        module = importlib.import_module("benchmarks.store_throughput")
    except ModuleNotFoundError as error:
        if error.name != "benchmarks.store_throughput":
            raise
        return None
    rows: list[dict[str, Any]] = module.measure(quick=quick, postgres_url=os.environ.get("STATUSES_POSTGRES_URL"))
    return rows


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"python": platform.python_version(), "cpu": cpu, "cores": os.cpu_count()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: runs in seconds, figures are noisy")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE as JSON")
    parser.add_argument("--before", metavar="DIR", type=Path,
                        help="also measure the statuses package of another checkout (an earlier commit), "
                             "as 'statuses (before)', in the same run")
    parser.add_argument("--only", metavar="NAME", action="append", default=[],
                        help="run only the scenarios whose function is NAME (restore, finish_in_folder, "
                             "illegal_event, memory, group_sizes, bulk_load, new_analysis, finish_heard); "
                             "repeatable")
    parser.add_argument("--no-store", action="store_true", help="leave out the store throughput table")
    parser.add_argument("--no-peers", action="store_true",
                        help="leave out transitions and python-statemachine (for a before/after comparison)")
    args = parser.parse_args(argv)
    sizes = scenarios.QUICK if args.quick else scenarios.FULL
    approaches: list[Approach] = [approach for approach in ALL if not (args.no_peers and approach.heavy)]
    if args.before is not None:
        approaches.insert(2, package_approach("statuses (before)", *load_copy(args.before)))
    if args.only:
        unknown = set(args.only) - {scenario.__name__ for scenario in scenarios.SCENARIOS}
        if unknown:
            parser.error(f"no scenario {', '.join(sorted(unknown))}")
    where = machine()
    print(f"Python {where['python']}, {where['cpu']}, {where['cores']} cores"
          f"{' (--quick: tiny sizes)' if args.quick else ''}")
    chosen = [scenario for scenario in scenarios.SCENARIOS if not args.only or scenario.__name__ in args.only]
    rows = run_scenarios(sizes, approaches, chosen)
    print(table(rows))
    flat = flatness(rows) if any(row["scenario"].startswith("5 ") for row in rows) else None
    if flat is not None:
        print(f"\nScenario 5, statuses: cost per analysis at N = {flat['to']:,} is {flat['ratio']:.2f}× that at "
              f"N = {flat['from']:,} (target ≤ {FLATNESS_TARGET}×: {'met' if flat['met'] else 'MISSED'})")
    store = None if args.no_store else store_rows(args.quick)
    if args.no_store:
        pass
    elif store is None:
        print("\nStore throughput: benchmarks.store_throughput is not present; skipped.")
    else:
        print("\nStore throughput\n\n" + store_table(store))
    if args.json:
        document = {"machine": where, "quick": args.quick, "rows": rows, "flatness": flat}
        if store is not None:
            document["store"] = store
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
