"""A folder's or an analysis's picture in its current state: ``render``, the notebook's reprs, ``--folder``/``--store``."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from statuses import (ANALYSIS_DEFINITION, FOLDER_DEFINITION, Analysis, AnalysisState, AnalysisType, Folder,
                      FolderStatus, Resolution, Settings)
from statuses.diagrams import live_dot, render
from statuses.listeners import Transition

from .test_cli import run
from .test_diagrams import needs_dot

SVG = "{http://www.w3.org/2000/svg}"


def elements(svg: str) -> dict[str, tuple[str, str]]:
    """Each node's and edge's title (its DOT name) -> (its class, all its text)."""
    found = {}
    for group in ElementTree.fromstring(svg).iter(f"{SVG}g"):
        title = group.find(f"{SVG}title")
        if title is not None and group.get("class", "").split()[0] in ("node", "edge"):
            texts = " ".join(t.text or "" for t in group.iter(f"{SVG}text"))
            found[title.text or ""] = (group.get("class", ""), texts)
    return found


def shown(svg: str) -> str:
    """All the picture's text, its lines joined by a space: the legend's wrapped lines read whole."""
    return " ".join(" ".join((t.text or "").split()) for t in ElementTree.fromstring(svg).iter(f"{SVG}text"))


def a_folder() -> tuple[Folder, list[Transition]]:
    folder = Folder(folder_id="f-1", settings=Settings(operator_required=True))
    history: list[Transition] = []
    first = folder.submit([AnalysisType.QUALITY, AnalysisType.BIOMETRY], group_id="g-1", analysis_ids=["a-1", "a-2"])
    history.append(Transition("folder", "f-1", "f-1", "g-1", "submit", FolderStatus.INITIAL, FolderStatus.PROCESSING,
                              Resolution.PROCESSING))
    first.analyses[0].finish(Resolution.SUCCESS)
    first.analyses[1].fail("engine timeout")
    history.append(Transition("folder", "f-1", "f-1", "g-1", "settle", FolderStatus.PROCESSING, FolderStatus.FAILED,
                              Resolution.FAILED))
    folder.submit([AnalysisType.BIOMETRY], group_id="g-2", analysis_ids=["a-3"])
    history.append(Transition("folder", "f-1", "f-1", "g-2", "submit", FolderStatus.FAILED, FolderStatus.PROCESSING,
                              Resolution.PROCESSING))
    return folder, history


@needs_dot
def test_a_processing_folder_shows_its_state_what_it_can_do_and_its_groups() -> None:
    folder, _ = a_folder()
    found = elements(render(folder))
    assert found["PROCESSING"][0] == "node current"
    assert [name for name, (kind, _) in found.items() if "current" in kind] == ["PROCESSING"]
    assert found["folder.submit.0->PROCESSING"] == ("edge now", "submit(group) [5, 6] now")
    assert found["PROCESSING->folder.submit.0"][0] == "edge now"  # the part from the current state
    assert found["FINISHED->folder.submit.0"][0] == "edge"
    assert found["PROCESSING->FAILED"] == ("edge refused", "settle() [7, 8] not now")
    assert found["PROCESSING->FINISHED"] == ("edge refused", "settle() [7, 9] not now")
    assert "settle(): refused, [7] none_in_progress: 1 analysis is still PROCESSING" in shown(render(folder))
    table = shown(render(folder)).split("groups: ", 1)[1]  # under the legend
    assert table.startswith("group finished result analysis type state resolution_status "
                     "g-1 #1 (last) FAILED a-1 QUALITY FINISHED SUCCESS a-2 BIOMETRY FAILED FAILED "
                     "g-2 running PROCESSING a-3 BIOMETRY PROCESSING PROCESSING")


@needs_dot
def test_a_stored_folders_history_marks_the_path_taken() -> None:
    folder, history = a_folder()
    svg = render(folder, history=history)
    found = elements(svg)
    assert found["INITIAL->folder.submit.0"][0] == "edge taken"
    assert found["FAILED->folder.submit.0"][0] == "edge taken"
    assert found["PROCESSING->FAILED"][0] == "edge refused taken"  # what it can do now is told first
    assert "taken: 2" in found["PROCESSING->FAILED"][1]
    assert found["folder.submit.0->PROCESSING"] == ("edge now taken", "submit(group) [5, 6] now taken: 1, 3")
    assert ("path taken: 1. submit(group): INITIAL -> PROCESSING 2. settle(): PROCESSING -> FAILED "
            "3. submit(group): FAILED -> PROCESSING") in shown(svg)


@needs_dot
def test_an_analysis_shows_each_verdict_it_may_take_and_why_not_the_others() -> None:
    liveness = Analysis(type=AnalysisType.QUALITY, analyse_id="a-9")
    found = elements(render(liveness))
    assert found["PROCESSING"][0] == "node current"
    assert found["PROCESSING->FINISHED"] == ("edge now", "finish(verdict) [1, 2, 3] now: SUCCESS, DECLINED")
    assert found["PROCESSING->FAILED"] == ("edge now", "fail(reason) [4] now")
    assert ("finish(OPERATOR_REQUIRED): refused, [2] operator_review_not_for_liveness: OPERATOR_REQUIRED is never the "
            "verdict of a QUALITY (liveness) analysis") in shown(render(liveness))
    liveness.finish(Resolution.DECLINED)
    found = elements(render(liveness))
    assert found["FINISHED"][0] == "node current"
    assert not [kind for kind, _ in found.values() if "now" in kind.split() or "refused" in kind.split()]
    assert "fail(reason): refused, has no edge from FINISHED (it leaves only PROCESSING)" in shown(render(liveness))


def test_rendering_changes_nothing_and_the_text_is_the_same_every_time() -> None:
    folder, history = a_folder()
    before = (folder.resolution_status, folder.system_resolution, len(folder.groups),
              [a.state for a in folder.analyses])
    assert live_dot(folder, history) == live_dot(folder, history)
    assert before == (folder.resolution_status, folder.system_resolution, len(folder.groups),
                      [a.state for a in folder.analyses])


@needs_dot
def test_the_notebook_shows_the_picture_and_the_repr() -> None:
    folder, _ = a_folder()
    bundle = folder._repr_mimebundle_()
    assert bundle["text/plain"] == repr(folder)
    assert 'class="node current"' in bundle["image/svg+xml"] and folder._repr_svg_() == bundle["image/svg+xml"]
    analysis = next(folder.analyses)
    assert 'class="node current"' in (analysis._repr_svg_() or "")
    for definition in (ANALYSIS_DEFINITION, FOLDER_DEFINITION):
        picture = definition._repr_mimebundle_()["image/svg+xml"]
        assert "current" not in picture and "[1] verdict_is_final" in ANALYSIS_DEFINITION._repr_svg_()


def test_without_graphviz_the_notebook_shows_the_repr_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    folder, _ = a_folder()
    assert folder._repr_svg_() is None
    assert folder._repr_mimebundle_() == {"text/plain": repr(folder)}
    assert FOLDER_DEFINITION._repr_svg_() is None


def test_import_registers_the_renderer_in_a_fresh_interpreter() -> None:
    code = ("import statuses, sys; from statuses import display; "
            "print(bool(display._renderers), 'statuses.diagrams.live' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"], "registered, and the drawing code not imported until asked"


# The command line: statuses diagrams --folder FILE / --store URL --folder-id ID


def write_folder(tmp_path: Path) -> Path:
    from statuses.payloads import dump_folder

    folder, _ = a_folder()
    path = tmp_path / "folder.json"
    path.write_text(json.dumps(dump_folder(folder)), encoding="utf-8")
    return path


@needs_dot
def test_cli_draws_a_folder_from_the_apis_json(tmp_path: Path) -> None:
    path = write_folder(tmp_path)
    result = run("diagrams", "--folder", str(path), "--out", str(tmp_path / "out"), "--format", "svg,dot")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["folder-f-1.dot", "folder-f-1.svg"]
    assert elements((tmp_path / "out" / "folder-f-1.svg").read_text(encoding="utf-8"))["PROCESSING"][0] == \
        "node current"


@pytest.mark.parametrize(("content", "problem"), [
    ("{not json", "not JSON: Expecting property name"),
    ('{"folder_id": "f1", "resolution_status": "FINISHED", "system_resolution": "PROCESSING", "analyses": []}',
     "not a consistent folder: "),
])
def test_cli_names_the_file_and_the_problem_in_one_line(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    result = run("diagrams", "--folder", str(path), "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"statuses: {path}: {problem}") and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == [path]


def test_cli_refuses_mixed_or_incomplete_sources(tmp_path: Path) -> None:
    for args in (["--store", "sqlite://"], ["--folder-id", "f1"], ["--folder", "x.json", "--check"],
                 ["--folder", "x.json", "--store", "sqlite://", "--folder-id", "f"]):
        result = run("diagrams", *args)
        assert result.returncode == 2 and "Traceback" not in result.stderr, args
    result = run("diagrams", "--folder", str(write_folder(tmp_path)), "--format", "mmd")
    assert result.returncode == 2 and "a folder is drawn as svg, dot, png" in result.stderr


@needs_dot
def test_cli_draws_a_stored_folder_with_its_path(tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy")
    from statuses.store import Store

    url = f"sqlite:///{tmp_path / 'statuses.db'}"
    store = Store(url)
    folder_id = store.create_folder()
    quality, = store.submit(folder_id, [AnalysisType.QUALITY])
    store.finish(quality, Resolution.DECLINED)
    store.close()
    result = run("diagrams", "--store", url, "--folder-id", folder_id, "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    svg = (tmp_path / "out" / f"folder-{folder_id}.svg").read_text(encoding="utf-8")
    found = elements(svg)
    assert found["FINISHED"][0] == "node current"
    assert found["PROCESSING->FINISHED"][0] == "edge taken" and "taken: 2" in found["PROCESSING->FINISHED"][1]
    assert found["INITIAL->folder.submit.0"][0] == "edge taken"
    result = run("diagrams", "--store", url, "--folder-id", "nope", "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "nope" in result.stderr
    typo = tmp_path / "statuses-typo.db"
    result = run("diagrams", "--store", f"sqlite:///{typo}", "--folder-id", folder_id, "--out", str(tmp_path))
    assert result.returncode == 2 and "no SQLite database at" in result.stderr and not typo.exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    result = run("diagrams", "--store", f"sqlite:///{empty}", "--folder-id", folder_id, "--out", str(tmp_path))
    assert result.returncode == 2 and "holds no statuses store" in result.stderr
    import sqlite3

    with sqlite3.connect(empty) as database:  # nothing was created in it
        assert database.execute("select count(*) from sqlite_master").fetchone() == (0,)


def test_cli_without_the_store_extra_names_it(tmp_path: Path) -> None:
    blocker = tmp_path / "sqlalchemy"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('No module named sqlalchemy', name='sqlalchemy')\n")
    import os

    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = run("diagrams", "--store", "sqlite://", "--folder-id", "f1", env=env)
    assert result.returncode == 2
    assert "pip install 'oz-statuses[store]'" in result.stderr and result.stderr.count("\n") == 1
    assert AnalysisState.PROCESSING  # the enums, not strings, name states above
