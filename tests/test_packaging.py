"""What a user installs: the built wheel and sdist, the extras, and what the README tells them to type.

The slow test builds the distributions once (``python -m build``, whose
isolated environment fetches the build backend from PyPI), checks them with
``twine check``, installs the wheel into a fresh venv (its dependencies come
from PyPI too) and uses it there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import textwrap

import pytest
import tomllib
import zipfile
from pathlib import Path

import statuses

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
README = (ROOT / "README.md").read_text()
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
DISTRIBUTION = "oz-statuses"
STORE_HINT = "pip install 'oz-statuses[store]'"
POSTGRES_HINT = "pip install 'oz-statuses[postgres]'"
TIMEOUT = 600


def run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd)
    assert done.returncode == 0, f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def pip_targets(text: str) -> list[str]:
    """Every requirement a ``pip install`` command of ``text`` names, quotes removed, options left out."""
    targets = []
    for command in re.findall(r"pip install ([^`\n&;|]+)", text):
        targets += [word.strip("'\"") for word in command.split() if not word.startswith("-")]
    return targets


# -- fast: the metadata and the README agree -------------------------------------------------------------


def test_distribution_name_and_extras() -> None:
    project = PYPROJECT["project"]
    assert project["name"] == DISTRIBUTION
    assert set(EXTRAS) == {"store", "postgres", "async", "testing", "dev"}
    assert project["scripts"] == {"statuses": "statuses.cli:main"}
    assert project["entry-points"]["pytest11"] == {"statuses": "statuses.testing.plugin"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_dev_extra_brings_everything_the_others_do() -> None:
    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower() for requirement in requirements}

    assert names(EXTRAS["store"]) | names(EXTRAS["postgres"]) | names(EXTRAS["async"]) | names(EXTRAS["testing"]) <= (
        names(EXTRAS["dev"]))


def test_readme_installs_by_the_distribution_name_and_existing_extras() -> None:
    assert STORE_HINT in README and POSTGRES_HINT in README
    targets = pip_targets(README)
    assert targets, "the README names no pip install command"
    for target in targets:
        assert not target.startswith("statuses["), f"README: pip install {target!r}; the distribution is {DISTRIBUTION}"
        extras = re.fullmatch(r"(?:oz-statuses|\.)\[([^\]]*)\]", target)
        if extras:
            for extra in extras.group(1).split(","):
                assert extra.strip() in EXTRAS, f"README: pip install {target!r}, but pyproject has no extra {extra!r}"
    assert ".[dev]" in targets  # the suite's command


def test_pip_targets_are_read_as_meant() -> None:
    text = "Run `pip install 'oz-statuses[store]'`; or\n.venv/bin/pip install -q -e '.[dev]' && pytest"
    assert pip_targets(text) == ["oz-statuses[store]", ".[dev]"]


# -- fast: the store without its extra says what to install -----------------------------------------------


def run_without(module: str, code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a new interpreter in which importing ``module`` fails as if it were not installed."""
    prelude = f"import sys; sys.modules[{module!r}] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=60)


def test_store_without_sqlalchemy_names_the_extra() -> None:
    done = run_without("sqlalchemy", textwrap.dedent("""
        from statuses.store import StoreError   # the errors need no SQLAlchemy: an `except` can name them
        try:
            from statuses.store import Store
        except ImportError as error:
            print(type(error).__name__, error)
        else:
            print("imported")
        import statuses  # the rest of the package does not need it
        print(StoreError.__name__, type(statuses.Folder()).__name__)
    """))
    assert done.returncode == 0, done.stderr
    assert "ModuleNotFoundError" in done.stdout and STORE_HINT in done.stdout and POSTGRES_HINT in done.stdout
    assert done.stdout.splitlines()[-1] == "StoreError Folder"


def test_importing_the_store_loads_sqlalchemy_only_when_a_name_needs_it() -> None:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import sys
        import statuses.store
        from statuses.store import NotFound, StoreError
        print("sqlalchemy" in sys.modules, "statuses.store.store" in sys.modules)
        from statuses.store import Store
        print("sqlalchemy" in sys.modules, Store.__module__)
        print("sqlalchemy.dialects.postgresql" in sys.modules)   # only a PostgreSQL store loads its dialect
    """)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "True", "statuses.store.store", "False"]


def test_postgres_without_psycopg_names_the_extra() -> None:
    done = run_without("psycopg", textwrap.dedent("""
        from statuses.store import Store
        try:
            Store("postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
        except ModuleNotFoundError as error:
            print(error)
    """))
    assert done.returncode == 0, done.stderr
    assert POSTGRES_HINT in done.stdout and "secret" not in done.stdout


@pytest.mark.parametrize("module", ["aiosqlite", "greenlet"])
def test_async_store_without_its_drivers_names_the_extra(module: str) -> None:
    done = run_without(module, textwrap.dedent("""
        from statuses.store import AsyncStore
        try:
            AsyncStore("sqlite:////tmp/never-made.db")
        except ModuleNotFoundError as error:
            print(error)
    """))
    assert done.returncode == 0, done.stderr
    assert f"needs {module}" in done.stdout and "pip install 'oz-statuses[async]'" in done.stdout, done.stdout


# -- slow: build, check, install into a fresh venv, use -------------------------------------------------


SMOKE = textwrap.dedent("""
    import importlib.metadata, pathlib, sys
    import statuses
    from statuses import Folder, FolderStatus
    assert pathlib.Path(sys.prefix) in pathlib.Path(statuses.__file__).parents, statuses.__file__
    assert importlib.metadata.version("oz-statuses") == statuses.__version__
    folder = Folder()
    [quality] = folder.submit(["QUALITY"]).analyses
    quality.finish("SUCCESS")
    assert folder.resolution_status is FolderStatus.FINISHED, folder.resolution_status
    try:
        from statuses.store import Store
    except ImportError as error:
        print(error)
    else:
        raise AssertionError("statuses.store.Store imported without SQLAlchemy")
""")


def test_built_wheel_installs_into_a_fresh_venv_and_works(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, ROOT)  # the sdist, then the wheel from it
    [wheel] = dist.glob("*.whl")
    [sdist] = dist.glob("*.tar.gz")
    run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [metadata] = [name for name in names if name.endswith(".dist-info/METADATA")]
        fields = archive.read(metadata).decode()
    assert "statuses/py.typed" in names and "statuses/store/__init__.py" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), names
    assert {name.split("/")[0] for name in names} == {"statuses", metadata.split("/")[0]}  # nothing else
    assert re.search(r"^Name: oz-statuses$", fields, re.M) and re.search(r"^License-Expression: MIT$", fields, re.M)

    with tarfile.open(sdist) as archive:
        top = {Path(member.name).parts[1] for member in archive.getmembers() if len(Path(member.name).parts) > 1}
    # Every page README links is in it too (tests/test_docs_links.py runs from an sdist as well).
    assert {"statuses", "tests", "diagrams", "README.md", "RULES.md", "CHANGELOG.md", "LICENSE", "pyproject.toml",
            "PKG-INFO"} <= top
    # hatchling always adds the .gitignore it selected files with.
    assert top <= {"statuses", "tests", "benchmarks", "diagrams", "README.md", "RULES.md", "CHANGELOG.md", "LICENSE",
                   "pyproject.toml", "PKG-INFO", ".gitignore"}

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)  # no system site packages
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    run(bin_dir / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel)
    smoke = run(bin_dir / "python", "-c", SMOKE, cwd=tmp_path)  # not the repository's root: its statuses/ is not on the path
    assert STORE_HINT in smoke.stdout
    version = run(bin_dir / "statuses", "--version", cwd=tmp_path)
    assert version.stdout.strip() == f"statuses {statuses.__version__}"


def test_the_import_time_benchmark_measures_each_statement_beside_the_bare_interpreter() -> None:
    from benchmarks import import_time
    figures = import_time.measure([sys.executable], runs=1)
    assert list(figures) == list(import_time.STATEMENTS)
    assert all(isinstance(row[sys.executable], float) for row in figures.values())
