"""Every diagram format checked in a real renderer: Mermaid by the mermaid library, the HTML page by Chromium.

Each ``diagrams/*.mmd`` is rendered by mermaid (pinned by
``tests/browser/package-lock.json``) in headless Chromium, all in one page
load, and must render without error with every state of the machines it draws
labelled.  ``diagrams/index.html`` must open with no console error, no
uncaught exception and no request for anything outside itself, and its
screenshot must show each of its diagrams.  Planted faults show each check
bites.

Chromium is Debian's (``apt-get install chromium``); mermaid comes from the
npm registry: when ``tests/browser/node_modules`` is missing or is not what the
lock file pins, the tests run ``npm ci`` there themselves.  Without Chromium
(or npm) they skip and say so; ``.ci/run`` installs both and sets
``STATUSES_REQUIRE_BROWSER=1``, which turns every skip into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from statuses import ANALYSIS_DEFINITION, FOLDER_DEFINITION
from tests.browser.chromium import Browser, Tab, png_pixels

ROOT = Path(__file__).resolve().parent.parent
DIAGRAMS = ROOT / "diagrams"
INDEX = DIAGRAMS / "index.html"
HARNESS = ROOT / "tests" / "browser"
MERMAID_JS = HARNESS / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
REQUIRED = bool(os.environ.get("STATUSES_REQUIRE_BROWSER"))
NPM_TIMEOUT = 600

DRAWS = {
    "analysis": (ANALYSIS_DEFINITION,),
    "folder": (FOLDER_DEFINITION,),
    "overview": (ANALYSIS_DEFINITION, FOLDER_DEFINITION),
}
"""Which machines each diagram, by its file's stem, draws: all their states must show in it."""

MERMAID_FILES = sorted(DIAGRAMS.glob("*.mmd"))
SVG_FILES = sorted(DIAGRAMS.glob("*.svg"))
MIN_INK = 0.005
"""The least share of a diagram's box, in the screenshot, that is not its background colour."""


def every_state() -> list[str]:
    return [state.value.value for definition in DRAWS["overview"] for state in definition.states]


def unavailable(reason: str) -> NoReturn:
    """Skip, saying how to run these tests; on CI (``STATUSES_REQUIRE_BROWSER`` set), fail."""
    if REQUIRED:
        pytest.fail(f"{reason}, and STATUSES_REQUIRE_BROWSER is set", pytrace=False)
    pytest.skip(f"{reason}: `apt-get install chromium` (and npm) to run the browser tests; "
                ".ci/run installs both and sets STATUSES_REQUIRE_BROWSER=1")


# -- the harness ----------------------------------------------------------------------------------------


def _installed_mermaid() -> str | None:
    """The version of mermaid in node_modules, or None when it is missing or not what the lock file pins."""
    lock = json.loads((HARNESS / "package-lock.json").read_text())
    installed = HARNESS / "node_modules" / "mermaid" / "package.json"
    if not MERMAID_JS.is_file() or not installed.is_file():
        return None
    version = str(json.loads(installed.read_text())["version"])
    return version if version == lock["packages"]["node_modules/mermaid"]["version"] else None


@pytest.fixture(scope="session")
def chromium() -> str:
    executable = shutil.which("chromium")
    if executable is None:
        unavailable("Chromium is not on PATH")
    if _installed_mermaid() is None:
        npm = shutil.which("npm")
        if npm is None:
            unavailable("npm is not on PATH, and mermaid is not installed in tests/browser/node_modules")
        try:
            done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                                  cwd=HARNESS, capture_output=True, text=True, timeout=NPM_TIMEOUT)
        except subprocess.TimeoutExpired:
            unavailable(f"`npm ci` in tests/browser took more than {NPM_TIMEOUT} s")
        if done.returncode != 0 or _installed_mermaid() is None:
            unavailable(f"`npm ci` in tests/browser failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return executable


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    with Browser(chromium) as started:
        yield started


@pytest.fixture(scope="module")
def mermaid_page(browser: Browser) -> Tab:
    return browser.open((HARNESS / "mermaid.html").as_uri())


def render(tab: Tab, files: list[Path]) -> dict[str, dict[str, Any]]:
    """Each file rendered by mermaid in ``tab``, by its stem: ``error``, else the SVG's size and state labels."""
    diagrams = [{"name": path.stem, "source": path.read_text(encoding="utf-8")} for path in files]
    return {result["name"]: result for result in tab.evaluate(f"renderDiagrams({json.dumps(diagrams)})")}


@pytest.fixture(scope="module")
def rendered(mermaid_page: Tab) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Every committed .mmd rendered in one go, and what the page logged as errors while it rendered them."""
    results = render(mermaid_page, MERMAID_FILES)
    return results, mermaid_page.console_errors + mermaid_page.page_errors


def check_rendered(name: str, result: dict[str, Any]) -> None:
    """``diagrams/{name}.mmd`` rendered, with a size, and every state of the machines it draws is labelled."""
    assert name in DRAWS, (f"diagrams/{name}.mmd draws which machines? Add {name!r} to DRAWS in "
                           "tests/test_renderers.py so that its states are checked")
    assert result["error"] is None, f"mermaid could not render {name}.mmd: {result['error']}"
    assert result["width"] > 0 and result["height"] > 0, f"{name}.mmd rendered as an empty SVG: {result}"
    # A diagram of two machines draws a state of each, PROCESSING say, as two states of one title.
    states = Counter(state.value.value for definition in DRAWS[name] for state in definition.states)
    missing = list((states - Counter(result["labels"])).elements())
    assert not missing, f"{name}.mmd's rendering labels no state {missing}; its states' titles: {result['labels']}"


def visible_svgs(tab: Tab) -> list[dict[str, Any]]:
    """Each outermost ``<svg>`` of the page: its box in page coordinates and its text."""
    return list(tab.evaluate("""[...document.querySelectorAll("svg")].filter(svg => !svg.parentElement.closest("svg"))
        .map(svg => { const box = svg.getBoundingClientRect();
                      return { x: box.left + scrollX, y: box.top + scrollY, width: box.width, height: box.height,
                               text: svg.textContent }; })"""))


def ink(pixels: tuple[int, int, list[bytes]], box: dict[str, Any]) -> float:
    """The share of ``box``'s pixels in the screenshot that differ from the box's most common colour."""
    width, height, rows = pixels
    channels = len(rows[0]) // width
    left, right = max(0, int(box["x"])), min(width, int(box["x"] + box["width"]))
    top, bottom = max(0, int(box["y"])), min(height, int(box["y"] + box["height"]))
    colours = Counter(row[x * channels:(x + 1) * channels] for row in rows[top:bottom] for x in range(left, right))
    total = sum(colours.values())
    return 0.0 if not total else 1 - colours.most_common(1)[0][1] / total


def check_page(browser: Browser, page: Path, screenshot: Path) -> None:
    """The page opens cleanly and self-contained, and its screenshot shows every diagram with its states."""
    tab = browser.open(page.as_uri())
    svgs = visible_svgs(tab)
    pixels = png_pixels(tab.screenshot(screenshot).read_bytes())
    assert not tab.foreign_requests(), f"{page.name} is not self-contained: it requested {tab.foreign_requests()}"
    assert not tab.page_errors, f"{page.name} threw: {tab.page_errors}"
    assert not tab.console_errors, f"{page.name} logged console errors: {tab.console_errors}"
    shown = [svg for svg in svgs if svg["width"] > 0 and svg["height"] > 0]
    assert len(shown) >= len(SVG_FILES), (f"{page.name} shows {len(shown)} SVGs of a size; diagrams/ has "
                                          f"{len(SVG_FILES)}: {[path.name for path in SVG_FILES]}")
    text = " ".join(svg["text"] for svg in shown)
    assert not [state for state in every_state() if state not in text], f"{page.name}'s SVGs name no {every_state()}"
    inks = [(round(svg["width"]), round(svg["height"]), round(ink(pixels, svg), 4)) for svg in shown]
    blank = [box for box in inks if box[2] < MIN_INK]
    assert not blank, f"{page.name}'s screenshot {screenshot} shows nothing in the boxes (w, h, ink) {blank}"


def stand_in_page(directory: Path, extra: str = "") -> Path:
    """A self-contained page of the committed SVGs, inline, as ``diagrams/index.html`` is meant to be."""
    figures = "\n".join(f"<h2>{path.stem}</h2>\n" + path.read_text(encoding="utf-8").split("<svg", 1)[1].join(
        ["<svg", ""]) for path in SVG_FILES)
    page = directory / "stand-in.html"
    page.write_text(f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>diagrams</title></head>\n'
                    f"<body>\n{figures}\n{extra}\n</body></html>\n", encoding="utf-8")
    return page


# -- Mermaid ----------------------------------------------------------------------------------------------


def test_there_are_mermaid_files_to_check() -> None:
    assert MERMAID_FILES, f"no .mmd in {DIAGRAMS}"
    assert SVG_FILES, f"no .svg in {DIAGRAMS}"


@pytest.mark.parametrize("path", MERMAID_FILES, ids=lambda path: path.name)
def test_mermaid_renders_the_file_with_every_state(path: Path, rendered: tuple[dict[str, dict[str, Any]], list[str]]
                                                   ) -> None:
    results, _ = rendered
    check_rendered(path.stem, results[path.stem])


def test_rendering_the_mermaid_files_logs_no_error(rendered: tuple[dict[str, dict[str, Any]], list[str]]) -> None:
    results, errors = rendered
    assert set(results) == {path.stem for path in MERMAID_FILES}
    assert not errors, f"the page rendering the .mmd files logged errors: {errors}"


PLANTED = {
    "a syntax error": ("stateDiagram-v2\n", "stateDiagram-v2\n    FINISHED --> : an arrow to nowhere\n",
                       "could not render folder.mmd: Parse error"),
    "a state left out": ("INITIAL", "START", r"labels no state \['INITIAL'\]"),
}
"""How to plant each fault in folder.mmd (the first string, everywhere, becomes the second), and what the check says."""


@pytest.mark.parametrize("fault", PLANTED)
def test_a_planted_fault_in_a_mermaid_file_fails_the_check(fault: str, mermaid_page: Tab, tmp_path: Path) -> None:
    old, new, message = PLANTED[fault]
    source = (DIAGRAMS / "folder.mmd").read_text(encoding="utf-8")
    assert old in source
    planted = tmp_path / "folder.mmd"
    planted.write_text(source.replace(old, new), encoding="utf-8")
    with pytest.raises(AssertionError, match=message):
        check_rendered("folder", render(mermaid_page, [planted])["folder"])


def test_a_mermaid_file_of_an_unknown_diagram_fails_the_check(mermaid_page: Tab, tmp_path: Path) -> None:
    copy = tmp_path / "sketch.mmd"
    shutil.copy(DIAGRAMS / "folder.mmd", copy)
    with pytest.raises(AssertionError, match="sketch.mmd draws which machines"):
        check_rendered("sketch", render(mermaid_page, [copy])["sketch"])


# -- the HTML page --------------------------------------------------------------------------------------


def test_the_index_page_opens_cleanly_and_shows_every_diagram(browser: Browser, tmp_path: Path) -> None:
    if not INDEX.is_file():
        message = "diagrams/index.html is missing: `statuses diagrams` writes it (issue 14)"
        if REQUIRED:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    check_page(browser, INDEX, tmp_path / "index.png")


def test_the_page_check_passes_a_page_of_the_inline_svgs(browser: Browser, tmp_path: Path) -> None:
    check_page(browser, stand_in_page(tmp_path), tmp_path / "stand-in.png")


PLANTED_IN_PAGE = {
    "a console error": ('<script>console.error("planted")</script>', r"logged console errors: \['planted'\]"),
    "an exception": ('<script>throw new Error("planted")</script>', "threw: .*Error: planted"),
    "a request": ('<img src="https://statuses.invalid/planted.png" alt="">', "requested .*statuses.invalid/planted"),
    "a blank drawing": ("<style>svg { visibility: hidden }</style>", "shows nothing in the boxes"),
}


@pytest.mark.parametrize("fault", PLANTED_IN_PAGE)
def test_a_planted_fault_in_the_page_fails_the_check(fault: str, browser: Browser, tmp_path: Path) -> None:
    extra, message = PLANTED_IN_PAGE[fault]
    with pytest.raises(AssertionError, match=message):
        check_page(browser, stand_in_page(tmp_path, extra), tmp_path / "planted.png")
