"""The package type-checks under ``mypy --strict`` and ships its marker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import statuses

PACKAGE = Path(statuses.__file__).parent


def test_py_typed_is_shipped() -> None:
    assert (PACKAGE / "py.typed").is_file()


def test_mypy_strict_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(PACKAGE)],
        capture_output=True, text=True, cwd=PACKAGE.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
