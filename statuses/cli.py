"""The ``statuses`` command: diagrams and status tables from the definitions."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .analysis import ANALYSIS_DEFINITION
from .definition import MachineDefinition
from .diagrams import RenderUnavailable, render, status_page, to_dot, to_mermaid
from .folder import FOLDER_DEFINITION
from .tables import FORMATTERS, all_legal_pairs, legal_pairs_table, status_table
from .values import read_json_int

DEFINITIONS: tuple[MachineDefinition, ...] = (ANALYSIS_DEFINITION, FOLDER_DEFINITION)
PAGE = "STATUSES.md"
RULES_LINK = "../RULES.md"
"""The page of decisions, from the status page: ``RULES.md`` at the root of the repository."""
TEXT_FORMATS = ("dot", "mmd", "md")
RENDERED_FORMATS = ("svg", "png")
ALL_FORMATS = TEXT_FORMATS + RENDERED_FORMATS
DEFAULT_FORMATS = ("dot", "svg", "mmd", "md")


def default_out() -> Path:
    """``diagrams/`` at the project root when run from a checkout, else in the current folder."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file():
        return root / "diagrams"
    return Path.cwd() / "diagrams"


def text_sources(formats: Sequence[str], definitions: Sequence[MachineDefinition] = DEFINITIONS) -> dict[str, str]:
    """File name -> content of every text file the formats ask for, in a fixed order."""
    files: dict[str, str] = {}
    for definition in definitions:
        if "dot" in formats:
            files[f"{definition.name}.dot"] = to_dot(definition)
        if "mmd" in formats:
            files[f"{definition.name}.mmd"] = to_mermaid(definition)
    if "md" in formats:
        from .payloads import ALIASES  # here: the other formats need not import cattrs

        files[PAGE] = status_page(definitions, key_aliases=ALIASES, rules_link=RULES_LINK)
    return files


def _formats(raw: str) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(part.strip().lower() for part in raw.split(",") if part.strip()))
    unknown = [fmt for fmt in formats if fmt not in ALL_FORMATS]
    if unknown or not formats:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(unknown) or '(none given)'}; choose from {','.join(ALL_FORMATS)}"
        )
    return formats


def run_diagrams(out: Path, formats: Sequence[str], check: bool) -> int:
    files = text_sources(formats)
    if check:
        return _check(out, files)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (out / name).write_text(content, encoding="utf-8", newline="\n")
        written = list(files)
        rendered = [fmt for fmt in formats if fmt in RENDERED_FORMATS]
        if rendered:
            try:
                for definition in DEFINITIONS:
                    source = to_dot(definition)
                    for fmt in rendered:
                        (out / f"{definition.name}.{fmt}").write_bytes(render(source, fmt))
                        written.append(f"{definition.name}.{fmt}")
            except RenderUnavailable as missing:
                print(f"statuses: {'/'.join(f.upper() for f in rendered)} skipped: Graphviz's `dot` is not on PATH; "
                      f"{missing}", file=sys.stderr)
    except OSError as error:
        print(f"statuses: cannot write to {out}: {error.strerror or error}", file=sys.stderr)
        return 2
    print(f"wrote {', '.join(written)} to {out}")
    return 0


def _check(out: Path, files: dict[str, str]) -> int:
    problems = []
    for name, expected in files.items():
        path = out / name
        try:
            actual = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            problems.append(f"missing: {path}")
            continue
        except OSError as error:
            problems.append(f"unreadable: {path}: {error.strerror or error}")
            continue
        if actual != expected:
            problems.append(f"stale: {path}")
    for problem in problems:
        print(problem)
    if problems:
        print("run `statuses diagrams` to regenerate them", file=sys.stderr)
        return 1
    print(f"diagrams in {out} are up to date ({', '.join(files)})")
    return 0


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
    diagrams.add_argument("--format", type=_formats, default=DEFAULT_FORMATS, metavar="LIST",
                          help=f"comma-separated, from {','.join(ALL_FORMATS)} (default: {','.join(DEFAULT_FORMATS)})")
    diagrams.add_argument("--check", action="store_true",
                          help="write nothing; exit 1 naming each text file (DOT, Mermaid, Markdown) in DIR "
                          "that is missing or differs from what the code generates now")

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
