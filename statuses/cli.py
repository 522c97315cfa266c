"""The ``statuses`` command: diagrams and status tables from the definitions."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .analysis import ANALYSIS_DEFINITION
from .definition import MachineDefinition
from .diagrams import (INSTALL_GRAPHVIZ, RenderUnavailable, graphviz_version, index_page, machine_dot, overview_dot,
                       overview_mermaid, picture_problem, render, run_dot, status_page, svg_version,
                       to_mermaid)
from .folder import FOLDER_DEFINITION, Folder
from .listeners import Transition
from .tables import FORMATTERS, all_legal_pairs, legal_pairs_table, status_table
from .values import read_json_int, short_repr

DEFINITIONS: tuple[MachineDefinition, ...] = (ANALYSIS_DEFINITION, FOLDER_DEFINITION)
SYSTEM = FOLDER_DEFINITION
"""The definition the overview draws, with the machines that drive it nested in it."""
OVERVIEW = "overview"
PAGE = "STATUSES.md"
HTML_PAGE = "index.html"
RULES_LINK = "../RULES.md"
"""The page of decisions, from the status page: ``RULES.md`` at the root of the repository."""
TEXT_FORMATS = ("dot", "mmd", "md")
RENDERED_FORMATS = ("svg", "png")
ALL_FORMATS = TEXT_FORMATS + RENDERED_FORMATS + ("html",)
DEFAULT_FORMATS = ("dot", "svg", "mmd", "md", "html")
LIVE_FORMATS = ("svg", "dot", "png")


def default_out() -> Path:
    """``diagrams/`` at the project root when run from a checkout, else in the current folder."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file():
        return root / "diagrams"
    return Path.cwd() / "diagrams"


def dot_sources() -> dict[str, str]:
    """Each diagram's name -> its DOT: the overview first, then each machine."""
    return {OVERVIEW: overview_dot(SYSTEM), **{d.name: machine_dot(d) for d in DEFINITIONS}}


def text_sources(formats: Sequence[str], svg_links: bool | None = None) -> dict[str, str]:
    """File name -> content of every text file the formats ask for, in a fixed order.

    ``svg_links``: whether ``STATUSES.md`` links the SVGs; by default, when SVGs are among the formats.
    """
    files: dict[str, str] = {}
    mermaid = {OVERVIEW: overview_mermaid(SYSTEM), **{d.name: to_mermaid(d) for d in DEFINITIONS}}
    for name, source in dot_sources().items():
        if "dot" in formats:
            files[f"{name}.dot"] = source
        if "mmd" in formats:
            files[f"{name}.mmd"] = mermaid[name]
    if "md" in formats:
        from .payloads import ALIASES  # here: the other formats need not import cattrs

        links = "svg" in formats if svg_links is None else svg_links
        files[PAGE] = status_page(DEFINITIONS, SYSTEM, svg_links=links, key_aliases=ALIASES, rules_link=RULES_LINK)
    return files


def svg_sources() -> dict[str, str]:
    """Each diagram's name -> its SVG, rendered now: :class:`RenderUnavailable` without Graphviz."""
    return {name: run_dot(source, "svg").decode("utf-8") for name, source in dot_sources().items()}


def _formats(raw: str) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(part.strip().lower() for part in raw.split(",") if part.strip()))
    unknown = [fmt for fmt in formats if fmt not in ALL_FORMATS]
    if unknown or not formats:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(unknown) or '(none given)'}; choose from {','.join(ALL_FORMATS)}"
        )
    return formats


def _pictures(formats: Sequence[str]) -> list[str]:
    """What among ``formats`` needs Graphviz, as a notice names it."""
    return [fmt.upper() for fmt in formats if fmt in RENDERED_FORMATS] + (["HTML"] if "html" in formats else [])


def run_diagrams(out: Path, formats: Sequence[str] | None, check: bool) -> int:
    """Write (or with ``check``, compare) the diagrams; ``formats`` None means the default set, pictures optional.

    Pictures asked for by name need Graphviz: without it nothing is written
    and the exit code is 1.  In the default set they are skipped with one
    notice, and ``STATUSES.md`` then links no SVG.
    """
    chosen = DEFAULT_FORMATS if formats is None else formats
    if check:
        return _check(out, chosen)
    pictures = _pictures(chosen)
    svgs: dict[str, str] = {}
    if pictures:
        try:
            svgs = svg_sources()
        except RenderUnavailable:
            if formats is not None:
                print(f"statuses: {'/'.join(pictures)} need Graphviz's `dot`, which is not on PATH; "
                      f"{INSTALL_GRAPHVIZ}", file=sys.stderr)
                return 1
            print(f"statuses: {'/'.join(pictures)} skipped: Graphviz's `dot` is not on PATH; {INSTALL_GRAPHVIZ}",
                  file=sys.stderr)
    files: dict[str, str | bytes] = dict(text_sources(chosen, svg_links="svg" in chosen and bool(svgs)))
    if svgs:
        for name, source in dot_sources().items():
            if "svg" in chosen:
                files[f"{name}.svg"] = svgs[name]
            if "png" in chosen:
                files[f"{name}.png"] = run_dot(source, "png")
        if "html" in chosen:
            files[HTML_PAGE] = index_page(DEFINITIONS, SYSTEM, svgs)
    return _write_files(out, files)


def _check(out: Path, formats: Sequence[str]) -> int:
    """Compare what is in ``out`` with what the code makes now; 1 naming each file that differs or is missing.

    Text files are compared byte for byte.  SVGs and the HTML page too when
    the installed Graphviz made them; otherwise (another version, or none)
    each must parse and hold every label the definitions draw now.  PNGs
    are not checked.
    """
    problems = []
    # As the same command without --check writes it: the page links the SVGs only when they are made with it
    # (asked for, and Graphviz here to make them, or made already beside it).
    links = "svg" in formats and (graphviz_version() is not None
                                  or all((out / f"{name}.svg").is_file() for name in dot_sources()))
    expected: dict[str, str | None] = dict(text_sources(formats, svg_links=links))
    pictures = {f"{name}.svg": [source] for name, source in dot_sources().items()} if "svg" in formats else {}
    if "html" in formats:
        pictures[HTML_PAGE] = list(dot_sources().values())
    expected.update(dict.fromkeys(pictures))
    installed = graphviz_version()
    fresh: dict[str, str] = {}
    by_labels: list[str] = []

    def rendered(name: str) -> str:
        if not fresh:
            svgs = svg_sources()
            fresh.update({f"{key}.svg": value for key, value in svgs.items()})
            fresh[HTML_PAGE] = index_page(DEFINITIONS, SYSTEM, svgs)
        return fresh[name]

    for name, content in expected.items():
        path = out / name
        try:
            actual = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            problems.append(f"missing: {path}")
            continue
        except (OSError, UnicodeDecodeError) as error:
            problems.append(f"unreadable: {path}: {getattr(error, 'strerror', None) or error}")
            continue
        if content is not None:
            if actual != content:
                problems.append(f"stale: {path}")
            continue
        problem = picture_problem(actual, pictures[name], installed, lambda: rendered(name), name == HTML_PAGE)
        made_by = svg_version(actual)
        if made_by != installed and not by_labels:
            by_labels.append(f"note: {name} was made by Graphviz {made_by or '(unknown)'}, and "
                             f"{'Graphviz ' + installed if installed else 'no Graphviz'} is here: the pictures are "
                             "checked for parsing and for every label of the definitions, not byte for byte")
        if problem is not None:
            problems.append(f"stale: {path}: {problem}")
    for note in by_labels:
        _complain(note + "\n")
    for problem in problems:
        print(problem)
    if problems:
        print("run `statuses diagrams` to regenerate them", file=sys.stderr)
        return 1
    print(f"diagrams in {out} are up to date ({', '.join(expected)})")
    return 0


def run_live(out: Path, formats: Sequence[str] | None, folder_file: str | None, store_url: str | None,
             folder_id: str | None) -> int:
    """Draw one folder in its current state, read from the API's JSON or from a store (with its history)."""
    chosen = ("svg",) if formats is None else formats
    wrong = [fmt for fmt in chosen if fmt not in LIVE_FORMATS]
    if wrong:
        _complain(f"statuses: a folder is drawn as {', '.join(LIVE_FORMATS)}, not {', '.join(wrong)}\n")
        return 2
    try:
        folder, history = _load_live(folder_file, store_url, folder_id)
    except _Unreadable as error:
        _complain(f"statuses: {error}\n")
        return 2
    files: dict[str, str | bytes] = {}
    name = "folder-" + re.sub(r"[^A-Za-z0-9._-]", "_", folder.folder_id)
    try:
        for fmt in chosen:
            files[f"{name}.{fmt}"] = render(folder, "png", history) if fmt == "png" else \
                render(folder, "svg" if fmt == "svg" else "dot", history)
    except RenderUnavailable:
        _complain(f"statuses: {'/'.join(f.upper() for f in chosen if f != 'dot')} need Graphviz's `dot`, "
                  f"which is not on PATH; {INSTALL_GRAPHVIZ}\n")
        return 1
    return _write_files(out, files)


def _write_files(out: Path, files: dict[str, str | bytes]) -> int:
    """Write each file into ``out`` (text as UTF-8 with ``\\n`` line ends) and say so; 2 if it cannot."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            if isinstance(content, bytes):
                (out / name).write_bytes(content)
            else:
                (out / name).write_text(content, encoding="utf-8", newline="\n")
    except OSError as error:
        _complain(f"statuses: cannot write to {out}: {error.strerror or error}\n")
        return 2
    print(f"wrote {', '.join(files)} to {out}")
    return 0


def _load_live(folder_file: str | None, store_url: str | None,
               folder_id: str | None) -> tuple[Folder, list[Transition]]:
    """The folder to draw and its history (none from a file); :class:`_Unreadable` says why not, in one line."""
    if folder_file is not None:
        from .payloads import PayloadError, load_folder  # here: the other commands need not import cattrs

        label = STDIN if folder_file == "-" else _shown(folder_file)
        try:
            document = _read_json(folder_file)
        except _Unreadable as error:
            raise _Unreadable(f"{label}: {error}") from None
        try:
            return load_folder(document), []
        except PayloadError as error:
            more = f" (and {len(error.problems) - 1} more problems)" if len(error.problems) > 1 else ""
            raise _Unreadable(f"{label}: not a consistent folder: {error.problems[0]}{more}") from None
    try:
        from .store import Store, StoreError
    except ImportError as missing:
        raise _Unreadable(f"--store needs the store extra ({missing.name} is not installed): "
                          "pip install 'oz-statuses[store]'") from None
    assert store_url is not None and folder_id is not None  # the parser asks for both
    try:
        store = Store(store_url, create=False)  # drawing reads: it never makes a database
        try:
            return store.load(folder_id), store.history(folder_id)
        finally:
            store.close()
    except (StoreError, ValueError) as error:
        raise _Unreadable(f"{short_repr(store_url)}: {error}") from None


def run_table(fmt: str, pairs: bool) -> int:
    formatter = FORMATTERS[fmt]
    if not pairs:
        _write(formatter(*status_table()))
    elif fmt == "md":
        tables = [f"{d.entity}:\n\n" + formatter(*legal_pairs_table(d)) for d in DEFINITIONS]
        _write("\n".join(tables))
    else:
        _write(formatter(*all_legal_pairs(DEFINITIONS)))
    return 0


def run_validate(files: Sequence[str], as_json: bool) -> int:
    """Check every file, report every problem; 2 if a file could not be read, else 1 for problems, else 0."""
    from .payloads import document_problems  # here: the other commands need not import cattrs

    report: list[dict[str, str]] = []
    unreadable = 0
    for name in files:
        label = STDIN if name == "-" else _shown(name)
        try:
            document = _read_json(name)
        except _Unreadable as error:
            _complain(f"statuses: {label}: {error}\n")
            unreadable += 1
            continue
        report += [{"file": label, "path": p.path, "problem": p.message} for p in document_problems(document)]
    if as_json:
        _write(json.dumps({"consistent": not report and not unreadable, "unreadable": unreadable,
                           "problems": report}, indent=2) + "\n")
    else:
        _write("".join(f"{item['file']}: {item['path'] + ': ' if item['path'] else ''}{item['problem']}\n"
                       for item in report))
    return 2 if unreadable else 1 if report else 0


STDIN = "<stdin>"
"""How messages name standard input (``-`` on the command line)."""


class _Unreadable(Exception):
    """A file that cannot be read as JSON; the message says why, in one line."""


def _read_json(name: str) -> object:
    try:
        if name == "-":
            if sys.stdin is None or sys.stdin.closed:
                raise _Unreadable("cannot read: standard input is closed")
            data = sys.stdin.buffer.read()
        else:
            data = Path(name).read_bytes()
    except OSError as error:
        raise _Unreadable(f"cannot read: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _Unreadable(f"cannot read: not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start})") from None
    limit = sys.getrecursionlimit()
    # JSON's reader counts nesting against the recursion limit: lift it so a document nested some
    # thousands deep is read (a few hundred bytes of C stack a level) rather than called unreadable.
    sys.setrecursionlimit(max(limit, _JSON_DEPTH))
    try:
        return json.loads(text, parse_int=read_json_int)
    except json.JSONDecodeError as error:
        raise _Unreadable(f"not JSON: {error}") from None
    except RecursionError:
        raise _Unreadable(f"cannot read: nested deeper than about {_JSON_DEPTH:,} levels") from None
    finally:
        sys.setrecursionlimit(limit)


_JSON_DEPTH = 10_000
"""How deep ``validate`` reads nested JSON."""


def _shown(name: str) -> str:
    """A file name as given, with bytes that are not UTF-8 shown as escapes rather than failing to print."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="statuses",
        description="The Oz API's folder and analysis statuses as state machines: "
        "draw their diagrams and print their status tables.",
    )
    main.add_argument("--version", action="version", version=f"statuses {__version__}")
    commands = main.add_subparsers(dest="command", metavar="COMMAND", required=True)

    diagrams = commands.add_parser(
        "diagrams",
        help="write the machines' diagrams and the status page",
        description="Write analysis.* and folder.* (DOT, Mermaid, SVG/PNG) and STATUSES.md, all drawn from "
        "the machine definitions.  SVG/PNG need Graphviz's `dot`; without it they are skipped with a notice.",
    )
    diagrams.add_argument("--out", type=Path, default=None, metavar="DIR",
                          help="where to write (default: diagrams/ at the project root)")
    diagrams.add_argument("--format", type=_formats, default=None, metavar="LIST",
                          help=f"comma-separated, from {','.join(ALL_FORMATS)} (default: {','.join(DEFAULT_FORMATS)}; "
                          f"with --folder: svg, and one of {','.join(LIVE_FORMATS)})")
    diagrams.add_argument("--check", action="store_true",
                          help="write nothing; exit 1 naming each file in DIR that is missing or differs from what "
                          "the code generates now.  Text files are compared byte for byte, and so are the SVGs and "
                          "index.html when the installed Graphviz made them; otherwise each must parse and hold every "
                          "label of the current definitions.  PNGs are not checked")
    live = diagrams.add_argument_group(
        "a folder in its current state",
        "draw one folder: its current state, the edges it can take now, its groups; from a store, the path "
        "taken too.  Writes folder-ID.svg (or --format dot,png) into --out (default: the current folder)")
    source = live.add_mutually_exclusive_group()
    source.add_argument("--folder", metavar="FILE", help="a folder in the API's JSON (- reads standard input)")
    source.add_argument("--store", metavar="URL", help="a store's database URL (needs oz-statuses[store])")
    live.add_argument("--folder-id", metavar="ID", help="the folder to draw from --store")

    table = commands.add_parser(
        "table",
        help="print the status table",
        description="Print what each status value means in each field (analyse.state, "
        "analyse.resolution_status, folder.resolution_status, system_resolution), or with --pairs "
        "the legal (state, result) pairs of each machine.",
    )
    table.add_argument("--format", choices=sorted(FORMATTERS), default="md", help="output format (default: md)")
    table.add_argument("--pairs", action="store_true", help="print the legal-pairs tables instead")
    validate = commands.add_parser(
        "validate",
        help="check folders in the API's JSON for consistency",
        description="Check JSON files holding one folder (GET /api/folders/{id}/?with_analyses=true), a list "
        "of folders, or {\"items\": [...]}, or Web SDK result bodies ({\"state\": ...}).  Every file is checked; "
        "one line per problem, with its JSON path.  Exit 0 when all is consistent, 1 when problems were found, "
        "2 when a file could not be read or is not JSON.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="a JSON file; - reads standard input")
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    return main


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):  # None when started closed  # a terminal or pipe that cannot encode a character gets an escape
            stream.reconfigure(errors="backslashreplace")
    arguments = parser().parse_args(argv)
    if arguments.command == "diagrams":
        if arguments.folder is not None or arguments.store is not None:
            if arguments.check or (arguments.store is not None) != (arguments.folder_id is not None):
                parser().error("--folder FILE, or --store URL with --folder-id ID, draws one folder; not with --check")
            return run_live(arguments.out or Path.cwd(), arguments.format, arguments.folder, arguments.store,
                            arguments.folder_id)
        if arguments.folder_id is not None:
            parser().error("--folder-id needs --store URL")
        return run_diagrams(arguments.out or default_out(), arguments.format, arguments.check)
    if arguments.command == "validate":
        return run_validate(arguments.files, arguments.json)
    return run_table(arguments.format, arguments.pairs)


def _complain(text: str) -> None:
    """Write to standard error, if anyone reads it: a closed one must not turn a report into a crash."""
    try:
        if sys.stderr is not None:
            sys.stderr.write(text)
            sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # a reader gone, or a stream closed
        pass


def _write(text: str) -> None:
    """Write to standard output; if its reader has gone (``statuses validate … | head -1``), drop the rest."""
    if sys.stdout is None:  # started with it closed (>&-): the exit code is the answer
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null so that flush has nowhere to fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
