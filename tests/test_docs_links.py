"""The project's pages link only files of the repository, and the status page lists what the code defines.

README.md, RULES.md and diagrams/STATUSES.md are read as a user's browser
would follow them: every Markdown link and image, every reference
definition, every autolink, every ``href``/``src`` of HTML, and every bare
URL anywhere in the text (code included).  A target must be a relative path
to a file tracked by git (or present, without git), and must not leave the
repository.
"""

from __future__ import annotations

import ast
import posixpath
import re
import subprocess
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

from statuses import (ANALYSIS_DEFINITION, AnalysisType, Folder, GuardRefused, InvalidArgument, NoTransition, Resolution,
                      Settings)
from statuses.cli import DEFINITIONS
from statuses.payloads import ALIASES, load_folder
from statuses.tables import VOCABULARIES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "RULES.md", "CHANGELOG.md", "diagrams/STATUSES.md")

FORBIDDEN = ("../" + "shared", "spec" + ".md", "statuses-" + "in-api", "/work/")
"""Private working material the pages must never point to or name (compared in lower case)."""

_FENCE = re.compile(r"^ {0,3}(```+|~~~+).*?^ {0,3}\1[ \t]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_INLINE = re.compile(r"!?\[(?:[^\[\]\\]|\\.|\[[^\[\]]*\])*\]\(\s*(<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
                     r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]\n]+\]:[ \t]*(<[^>\n]*>|\S+)", re.M)
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*)>")
_TAG = re.compile(r"<[A-Za-z][^<>]*>")
_ATTRIBUTE = re.compile(r"\b(?:href|src|srcset|poster|action|data|cite|background)\s*=\s*"
                        r"(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+))", re.I)
_BARE_URL = re.compile(r"\b(?:https?|ftp|file)://\S*|\bwww\.[A-Za-z0-9-]+\.\S*", re.I)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@cache
def tracked_files() -> frozenset[str]:
    """The repository's files as paths from its root: git's index, or the files on disk without git."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        skipped = {".git", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".hypothesis"}
        return frozenset(path.relative_to(ROOT).as_posix() for path in ROOT.rglob("*")
                         if path.is_file() and not skipped.intersection(path.relative_to(ROOT).parts))
    return frozenset(name for name in listed.decode("utf-8", "surrogateescape").split("\0") if name)


def _blank(match: re.Match[str]) -> str:
    """The matched text as spaces, its line breaks kept, so that offsets and line numbers stay put."""
    return re.sub(r"[^\n]", " ", match.group(0))


def without_code(text: str) -> str:
    """``text`` with fenced blocks and code spans blanked: a link inside code is not a link."""
    return _CODE_SPAN.sub(_blank, _FENCE.sub(_blank, text))


def targets(text: str) -> list[tuple[int, str, str]]:
    """``(offset, kind, target)`` of every link, image, reference, autolink, HTML href/src and bare URL."""
    prose = without_code(text)
    found = [(m.start(), "link", m.group(1)) for m in _INLINE.finditer(prose)]
    found += [(m.start(), "reference", m.group(1)) for m in _REFERENCE.finditer(prose)]
    found += [(m.start(), "autolink", m.group(1)) for m in _AUTOLINK.finditer(prose)]
    for tag in _TAG.finditer(prose):
        for attribute in _ATTRIBUTE.finditer(tag.group(0)):
            value = next(group for group in attribute.groups() if group is not None)
            found.append((tag.start() + attribute.start(), "html", value))
    found += [(m.start(), "bare URL", m.group(0)) for m in _BARE_URL.finditer(text)]  # in code too
    return sorted(found)


def _anchors(path: str) -> set[str]:
    """The heading anchors of a tracked Markdown file, as GitHub makes them."""
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", without_code((ROOT / path).read_text("utf-8")), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchor, number = slug, 0
        while anchor in anchors:
            number += 1
            anchor = f"{slug}-{number}"
        anchors.add(anchor)
    return anchors


def target_problem(page: str, target: str) -> str | None:
    """Why ``target``, linked from ``page`` (a path from the root), is not a file of the repository."""
    target = target.strip().removeprefix("<").removesuffix(">")
    if _BARE_URL.fullmatch(target) or _SCHEME.match(target) or target.startswith("//"):
        return "leads outside the repository (a URL)"
    path, _, fragment = unquote(target).partition("#")
    path = path.partition("?")[0]
    if not path:
        if not fragment:
            return "is empty"
        path = page
    elif path.startswith(("/", "\\")):
        return "is an absolute path, not one relative to the page"
    else:
        path = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
        if path == ".." or path.startswith("../"):
            return "leaves the repository"
    if path not in tracked_files():
        return f"is not a file tracked in the repository ({path})"
    if fragment and path.endswith(".md") and fragment not in _anchors(path):
        return f"names no heading of {path} (#{fragment})"
    return None


def link_problems(page: str, text: str) -> list[str]:
    """Every link of ``text``, read as the page ``page``, that does not lead to a file of the repository."""
    problems = []
    for offset, kind, target in targets(text):
        why = target_problem(page, target)
        if why is not None:
            problems.append(f"{page}:{text.count(chr(10), 0, offset) + 1}: {kind} {target!r} {why}")
    return problems


def mention_problems(page: str, text: str) -> list[str]:
    lowered = text.lower()
    return [f"{page}: mentions {word!r}" for word in FORBIDDEN if word in lowered]


@pytest.mark.parametrize("page", DOCS)
def test_every_link_leads_to_a_file_of_the_repository(page: str) -> None:
    assert page in tracked_files(), f"{page} is not tracked in the repository"
    text = (ROOT / page).read_text(encoding="utf-8")
    assert targets(text), f"{page}: no link found at all; is the reader broken?"
    assert link_problems(page, text) == []


@pytest.mark.parametrize("page", DOCS)
def test_no_page_points_to_private_working_material(page: str) -> None:
    assert mention_problems(page, (ROOT / page).read_text(encoding="utf-8")) == []


PLANTED = [
    ("README.md", "built on [transitions](https://github.com/pytransitions/transitions)."),
    ("README.md", "![logo](http://example.com/logo.png)"),
    ("README.md", "see https://example.com for more"),
    ("README.md", "in code too: `curl https://example.com`"),
    ("README.md", "```sh\npip install --index-url https://example.com/simple x\n```"),
    ("README.md", "see www.example.com"),
    ("README.md", "<https://example.com>"),
    ("README.md", "<mailto:someone@example.com>"),
    ("README.md", '<a href="https://example.com">home</a>'),
    ("README.md", "<img src='../outside.png'>"),
    ("README.md", "[the rules]: https://example.com/rules"),
    ("README.md", "[up](../main/README.md)"),
    ("README.md", "[root](/etc/passwd)"),
    ("README.md", "[host](//example.com/x)"),
    ("README.md", "[mail](mailto:someone@example.com)"),
    ("README.md", "[gone](NOT_A_FILE.md)"),
    ("README.md", "[folder](diagrams/)"),
    ("README.md", "[anchor](RULES.md#no-such-heading)"),
    ("README.md", "[escaped](diagrams/../../README.md)"),
    ("diagrams/STATUSES.md", "[beside it, wrongly](RULES.md)"),
    ("diagrams/STATUSES.md", "[svg](%2E%2E/%2E%2E/x.svg)"),
]
"""Bad links of every kind the reader knows, each on the page it is planted in."""

GOOD = [
    ("README.md", "[rules](RULES.md) and [page](diagrams/STATUSES.md#statuses)"),
    ("README.md", "![folder](diagrams/folder.svg) [here](#statuses)"),
    ("README.md", '<img src="diagrams/analysis.svg" alt="analysis">'),
    ("README.md", "a link in code is no link: `[x](missing.md)`, nor is `postgresql+psycopg://host/db`"),
    ("diagrams/STATUSES.md", "[svg](analysis.svg), [rules](../RULES.md#rules)"),
]


@pytest.mark.parametrize(("page", "text"), PLANTED, ids=[text for _, text in PLANTED])
def test_a_planted_bad_link_is_caught(page: str, text: str) -> None:
    assert link_problems(page, f"Some prose.\n\n{text}\n") != []


@pytest.mark.parametrize(("page", "text"), GOOD, ids=[text for _, text in GOOD])
def test_links_inside_the_repository_pass(page: str, text: str) -> None:
    assert link_problems(page, f"Some prose.\n\n{text}\n") == []


def test_a_planted_mention_is_caught() -> None:
    for text in (f"see {FORBIDDEN[0]}/notes", f"as {FORBIDDEN[1].upper()} says", f"from {FORBIDDEN[2]}.txt"):
        assert mention_problems("RULES.md", text) != []


# The status page lists what the code defines.


def status_page() -> str:
    return (ROOT / "diagrams" / "STATUSES.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.name)
def test_the_status_page_lists_every_event_guard_and_effect(definition) -> None:
    page = status_page()
    section = page[page.index(f"## The {definition.name} machine"):]
    for event in definition.events:
        assert f"`{event.name}({', '.join(event.parameters)})` | {event.description} |" in section
    for name, guard in definition.guards.items():
        assert f"`{name}`: {guard.requirement}" in section
    for effect in definition.effects:
        assert f"`{effect}`" in section
    for state in definition.states:
        results = ", ".join(f"`{result.value}`" for result in state.results)
        assert f"| `{state.value.value}` | {results} |" in section


def test_the_status_page_lists_the_key_aliases_and_every_spelling() -> None:
    page = status_page()
    assert ALIASES
    for alias, field in ALIASES.items():
        assert f"| `{alias}` | `{field}` |" in page
    for kind in VOCABULARIES:
        for spelling, member in kind.spellings().items():
            assert f"`{spelling}`" in page
            if spelling != member.value:
                assert f"`{spelling}` for `{member.value}`" in page
                assert kind.parse(spelling.lower()) is member  # the page says: any letter case
        for member in kind:
            assert kind.parse(member.value.lower()) is kind.parse(member.value.title()) is member


def test_the_page_generators_do_not_import_the_json_layer() -> None:
    """diagrams and tables sit below payloads: the CLI hands them the aliases."""
    modules = sorted((ROOT / "statuses" / "diagrams").glob("*.py")) + [ROOT / "statuses" / "tables.py"]
    assert len(modules) > 2
    for path in modules:
        name = path.name
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        assert not [module for module in imported if module.split(".")[-1] == "payloads"], name


# What RULES.md says the code does, where a change of behaviour would make it wrong.


def test_rules_refused_moves_and_bad_input() -> None:
    folder = Folder()
    with pytest.raises(InvalidArgument, match=r"submit\(group\): a group needs one analysis or more"):
        folder.submit([])
    assert folder.may_submit([]) is False
    with pytest.raises(InvalidArgument, match=r"submit\(types\[0\]\)"):
        folder.submit(["selfie"])
    assert folder.may_submit(["selfie"]) is False
    with pytest.raises(TypeError):  # InvalidArgument is a TypeError too
        folder.submit("quality")
    analysis = folder.submit(["documents"]).analyses[0]
    for verdict in ("maybe", Resolution.FAILED):
        assert analysis.may_finish(verdict) is False
        with pytest.raises(InvalidArgument):
            analysis.finish(verdict)
    assert analysis.may_finish(Resolution.OPERATOR_REQUIRED) is False
    with pytest.raises(GuardRefused, match="operator_review_enabled"):
        analysis.finish(Resolution.OPERATOR_REQUIRED)
    with pytest.raises(InvalidArgument, match=r"fail\(reason\)"):
        analysis.fail(5)  # type: ignore[arg-type]
    analysis.finish(Resolution.SUCCESS)
    with pytest.raises(InvalidArgument):  # wrong in any state, even one finish cannot leave
        analysis.finish("maybe")
    with pytest.raises(NoTransition):
        analysis.finish(Resolution.DECLINED)
    assert (folder.resolution_status.value, folder.system_resolution.value) == ("FINISHED", "SUCCESS")


def test_rules_operator_review_and_liveness() -> None:
    reviewed = Folder(settings=Settings(operator_required=True))
    quality, collection = reviewed.submit(["liveness", "COLLECTION"]).analyses
    assert quality.type is AnalysisType.QUALITY
    assert not quality.may_finish("operator_required")
    assert collection.may_finish("operator_required")
    document = {"folder_id": "f", "resolution_status": "FINISHED", "system_resolution": "OPERATOR_REQUIRED",
                "analyses": [{"analyse_id": "a", "type": "biometry", "state": "finished",
                              "resolution_status": "operator_required", "group_id": "g"}]}
    assert load_folder(document).system_resolution is Resolution.OPERATOR_REQUIRED  # default settings
    assert ANALYSIS_DEFINITION.state(quality.state).initial


def test_rules_a_finished_folder_takes_new_groups_and_the_last_to_complete_decides() -> None:
    folder = Folder()
    first = folder.submit(["biometry"]).analyses[0]
    second = folder.submit(["biometry"]).analyses[0]
    second.fail("timeout")
    first.finish("success")  # submitted first, completed last: it decides
    assert (folder.resolution_status.value, folder.system_resolution.value) == ("FINISHED", "SUCCESS")
    folder.submit(["quality"])
    assert (folder.resolution_status.value, folder.system_resolution.value) == ("PROCESSING", "PROCESSING")
    assert first.resolution_status is Resolution.SUCCESS
