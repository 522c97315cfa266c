"""The ``statuses`` command, run as a user runs it: in a subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

import statuses

from .test_diagrams import DIAGRAMS, needs_dot

# The seed document's status table, typed once: the one place such literals belong.
SEED_TABLE = [
    ["INITIAL", "-", "-", "starting state", "starting state"],
    ["PROCESSING", "starting state", "starting state", "analyses in progress", "analyses in progress"],
    ["FAILED", "system error", "system error", "system error", "system error"],
    ["FINISHED", "finished successfully", "-", "finished successfully", "-"],
    ["DECLINED", "-", "check failed", "-", "check failed"],
    ["OPERATOR_REQUIRED", "-", "additional check is needed", "-", "additional check is needed"],
    ["SUCCESS", "-", "check succeeded", "-", "check succeeded"],
]
SEED_COLUMNS = ["analyse.state", "analyse.resolution_status", "folder.resolution_status", "system_resolution"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "statuses", *args], capture_output=True, text=True, env=env)


def test_table_reproduces_the_seed_cell_by_cell() -> None:
    result = run("table", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["status", *SEED_COLUMNS]
    assert rows[1:] == SEED_TABLE


def test_table_as_markdown_and_json() -> None:
    markdown = run("table").stdout.splitlines()
    assert markdown[0] == "| status | " + " | ".join(SEED_COLUMNS) + " |"
    assert markdown[2:] == ["| " + " | ".join(row) + " |" for row in SEED_TABLE]
    records = json.loads(run("table", "--format", "json").stdout)
    assert [[r["status"], *(r[c] for c in SEED_COLUMNS)] for r in records] == SEED_TABLE


def test_legal_pairs_tables() -> None:
    records = json.loads(run("table", "--pairs", "--format", "json").stdout)
    pairs = {(r["entity"], r["state"], r["result"]) for r in records}
    assert pairs == {
        ("Analysis", "PROCESSING", "PROCESSING"), ("Analysis", "FAILED", "FAILED"),
        ("Analysis", "FINISHED", "SUCCESS"), ("Analysis", "FINISHED", "DECLINED"),
        ("Analysis", "FINISHED", "OPERATOR_REQUIRED"),
        ("Folder", "INITIAL", "INITIAL"), ("Folder", "PROCESSING", "PROCESSING"), ("Folder", "FAILED", "FAILED"),
        ("Folder", "FINISHED", "SUCCESS"), ("Folder", "FINISHED", "DECLINED"),
        ("Folder", "FINISHED", "OPERATOR_REQUIRED"),
    }
    markdown = run("table", "--pairs").stdout
    assert "Analysis:" in markdown and "| FINISHED | SUCCESS, DECLINED, OPERATOR_REQUIRED |" in markdown


def test_check_passes_on_the_committed_diagrams() -> None:
    result = run("diagrams", "--check", "--out", str(DIAGRAMS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


@pytest.mark.parametrize("victim", ["folder.dot", "analysis.mmd", "STATUSES.md"])
def test_check_names_a_stale_or_missing_file(tmp_path: Path, victim: str) -> None:
    copy = tmp_path / "diagrams"
    shutil.copytree(DIAGRAMS, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    with (copy / victim).open("a", encoding="utf-8") as file:
        file.write("// edited by hand\n")
    result = run("diagrams", "--check", "--out", str(copy))
    assert result.returncode == 1
    assert result.stdout.strip() == f"stale: {copy / victim}"
    (copy / victim).unlink()
    result = run("diagrams", "--check", "--out", str(copy))
    assert (result.returncode, result.stdout.strip()) == (1, f"missing: {copy / victim}")
    assert {p.name for p in copy.iterdir()} == set(before) - {victim}  # --check wrote nothing


MACHINES = ("overview", "analysis", "folder")


@needs_dot
def test_diagrams_writes_every_file_and_valid_svg(tmp_path: Path) -> None:
    result = run("diagrams", "--out", str(tmp_path / "out"), "--format", "dot,svg,mmd,md,png,html")
    assert result.returncode == 0, result.stderr
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert written == {f"{m}.{ext}" for m in MACHINES for ext in ("dot", "svg", "mmd", "png")} | {
        "STATUSES.md", "index.html"}
    for machine in MACHINES:
        assert ElementTree.parse(tmp_path / "out" / f"{machine}.svg").getroot().tag.endswith("svg")
        assert (tmp_path / "out" / f"{machine}.png").read_bytes().startswith(b"\x89PNG")
    assert run("diagrams", "--check", "--out", str(tmp_path / "out")).returncode == 0


def no_dot_env() -> dict[str, str]:
    python_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": python_dir}  # nothing else: no dot
    assert shutil.which("dot", path=env["PATH"]) is None
    return env


def test_without_dot_the_text_files_are_written_with_one_notice(tmp_path: Path) -> None:
    result = run("diagrams", "--out", str(tmp_path), env=no_dot_env())
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["STATUSES.md", *(f"{m}.{ext}" for m in MACHINES for ext in ("dot", "mmd"))])
    notice = result.stderr.strip().splitlines()
    assert len(notice) == 1 and "SVG/HTML skipped" in notice[0]
    assert "apt-get install graphviz" in notice[0] and "brew install graphviz" in notice[0]
    assert "winget" in notice[0] and "Traceback" not in result.stderr
    assert ".svg" not in (tmp_path / "STATUSES.md").read_text(encoding="utf-8"), "it links no SVG it did not write"


@pytest.mark.parametrize("fmt", ["png", "svg", "html", "dot,svg"])
def test_without_dot_a_picture_asked_for_fails_with_the_hint(tmp_path: Path, fmt: str) -> None:
    result = run("diagrams", "--out", str(tmp_path / "out"), "--format", fmt, env=no_dot_env())
    assert result.returncode == 1
    assert "apt-get install graphviz" in result.stderr and "Traceback" not in result.stderr
    assert "wrote" not in result.stdout and not (tmp_path / "out").exists()


def test_md_alone_links_no_svg_it_did_not_write(tmp_path: Path) -> None:
    result = run("diagrams", "--out", str(tmp_path), "--format", "md")
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["STATUSES.md"]
    page = (tmp_path / "STATUSES.md").read_text(encoding="utf-8")
    assert ".svg" not in page
    committed = (DIAGRAMS / "STATUSES.md").read_text(encoding="utf-8")
    assert all(f"({m}.svg)" in committed for m in MACHINES), "with the SVGs written beside it, it links them"
    assert run("diagrams", "--check", "--format", "md", "--out", str(tmp_path)).returncode == 0
    # --check compares with what the same command writes: an md-only run would not link the pictures
    checked = run("diagrams", "--check", "--format", "md", "--out", str(DIAGRAMS))
    assert checked.returncode == 1 and checked.stdout.startswith(f"stale: {DIAGRAMS / 'STATUSES.md'}")
    # the reviewer's case: pictures written, then the page alone rewritten, then checked alone
    both = tmp_path / "both"
    assert run("diagrams", "--out", str(both)).returncode == 0
    assert run("diagrams", "--out", str(both), "--format", "md").returncode == 0
    assert run("diagrams", "--check", "--format", "md", "--out", str(both)).returncode == 0


@pytest.mark.parametrize("victim", ["folder.svg", "overview.svg", "index.html"])
def test_check_catches_a_corrupted_or_stale_picture(tmp_path: Path, victim: str) -> None:
    copy = tmp_path / "diagrams"
    shutil.copytree(DIAGRAMS, copy)
    original = (copy / victim).read_text(encoding="utf-8")
    (copy / victim).write_text(original[: len(original) // 2], encoding="utf-8")  # cut short
    result = run("diagrams", "--check", "--out", str(copy))
    assert result.returncode == 1 and result.stdout.startswith(f"stale: {copy / victim}"), result.stdout
    # made by "another" Graphviz, so checked by its labels: one label taken out is caught, the rest passes
    other = original.replace("Generated by graphviz version ", "Generated by graphviz version 0.0.0-other ", 1)
    (copy / victim).write_text(other, encoding="utf-8")
    assert run("diagrams", "--check", "--out", str(copy)).returncode == 0
    (copy / victim).write_text(other.replace(">submit(group) [5, 6]<", "><"), encoding="utf-8")
    result = run("diagrams", "--check", "--out", str(copy))
    assert result.returncode == 1 and "lacks 1 label" in result.stdout and "submit(group) [5, 6]" in result.stdout


@needs_dot
def test_check_byte_compares_a_picture_made_by_the_installed_graphviz(tmp_path: Path) -> None:
    copy = tmp_path / "diagrams"
    shutil.copytree(DIAGRAMS, copy)
    svg = (copy / "folder.svg").read_text(encoding="utf-8")
    (copy / "folder.svg").write_text(svg.replace('font-size="10.00"', 'font-size="10.01"', 1), encoding="utf-8")
    result = run("diagrams", "--check", "--out", str(copy))
    assert (result.returncode, result.stdout.strip()) == (
        1, f"stale: {copy / 'folder.svg'}: differs from what the definitions draw now")


def test_check_without_dot_checks_the_pictures_by_their_labels() -> None:
    result = run("diagrams", "--check", "--out", str(DIAGRAMS), env=no_dot_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "and no Graphviz is here: the pictures are checked for parsing and for every label" in result.stderr


def test_an_unwritable_out_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run("diagrams", "--out", str(blocker / "sub"), "--format", "dot")
    assert result.returncode == 2
    assert result.stderr.startswith("statuses: cannot write to") and "Traceback" not in result.stderr


def test_help_and_version() -> None:
    top = run("--help")
    assert top.returncode == 0 and "diagrams" in top.stdout and "table" in top.stdout
    for command in ("diagrams", "table"):
        sub = run(command, "--help")
        assert sub.returncode == 0 and "--format" in sub.stdout
    assert "--check" in run("diagrams", "--help").stdout
    assert run("--version").stdout.strip() == f"statuses {statuses.__version__}"
    bad = run("diagrams", "--format", "gif")
    assert bad.returncode == 2 and "unknown format gif" in bad.stderr


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "statuses"
    assert script.is_file(), "pip install should have created the `statuses` console script"
    assert subprocess.run([str(script), "--version"], capture_output=True, text=True).returncode == 0
