"""What a worker or a CLI pays at start-up to import the package and its store.

Each statement runs in a new interpreter, many times, alternating with the
others so that a busy machine weighs on all alike; the figure is the best
run's wall time, less that of an interpreter that imports nothing.  Run::

    python -m benchmarks.import_time [--runs N] [--python PATH ...]

``--python`` names other interpreters to measure beside this one (say, a
venv holding an earlier release), each reported in a column of its own.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

STATEMENTS = {
    "import statuses": "import statuses",
    "import statuses.store": "import statuses.store",
    "from statuses.store import Store": "from statuses.store import Store",
}
"""What is measured, by its label."""


def best_seconds(python: str, code: str, runs: int) -> float:
    """The fastest of ``runs`` wall times of ``python -c code``, each in a new interpreter."""
    best = float("inf")
    for _ in range(runs):
        began = time.perf_counter()
        # -P: not the working directory's package, but the one the interpreter has installed.
        subprocess.run([python, "-P", "-c", code], check=True)
        best = min(best, time.perf_counter() - began)
    return best


def measure(pythons: list[str], runs: int) -> dict[str, dict[str, float]]:
    """Milliseconds per statement and interpreter, the bare interpreter's start subtracted."""
    best: dict[tuple[str, str], float] = {}
    for _ in range(runs):  # rounds: each interpreter and statement once per round
        for python in pythons:
            for label, code in [("", "pass"), *STATEMENTS.items()]:
                seconds = best_seconds(python, code, 1)
                best[python, label] = min(best.get((python, label), float("inf")), seconds)
    return {label: {python: round((best[python, label] - best[python, ""]) * 1000, 1) for python in pythons}
            for label in STATEMENTS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds; each figure is the best of them")
    parser.add_argument("--python", action="append", default=[], help="another interpreter to measure beside")
    arguments = parser.parse_args()
    pythons = [sys.executable, *arguments.python]
    figures = measure(pythons, arguments.runs)
    print("| statement | " + " | ".join(pythons) + " |")
    print("|---|" + "---:|" * len(pythons))
    for label, row in figures.items():
        print(f"| `{label}` | " + " | ".join(f"{row[python]:.0f} ms" for python in pythons) + " |")


if __name__ == "__main__":
    main()
