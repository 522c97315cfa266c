"""The status tables, generated from the enums and the machine definitions."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence

from .definition import MachineDefinition
from .enums import STATUS_COLUMNS, STATUS_ROWS, AnalysisState, AnalysisType, ApiEnum, FolderStatus, Resolution

NOT_HERE = "-"
"""A cell for a value that cannot occur in that column."""


def status_table() -> tuple[list[str], list[list[str]]]:
    """The API's status table: one row per status value, one column per field."""
    headers = ["status", *(column.field for column in STATUS_COLUMNS)]
    rows = []
    for value in STATUS_ROWS:
        row = [value]
        for column in STATUS_COLUMNS:
            member = next((m for m in column.values if m.value == value), None)
            meaning = column.meaning(member) if member is not None else None
            row.append(NOT_HERE if meaning is None else meaning)
        rows.append(row)
    return headers, rows


def legal_pairs_table(definition: MachineDefinition) -> tuple[list[str], list[list[str]]]:
    """The (state, result) pairs an entity of ``definition`` may be in."""
    headers = [definition.state_field, definition.result_field]
    by_state: dict[str, list[str]] = {}
    for state, result in definition.legal_pairs():
        by_state.setdefault(state.value, []).append(result.value)
    return headers, [[state, ", ".join(results)] for state, results in by_state.items()]


def all_legal_pairs(definitions: Sequence[MachineDefinition]) -> tuple[list[str], list[list[str]]]:
    """Every legal pair of every machine, one per row, for CSV and JSON."""
    headers = ["entity", "state_field", "state", "result_field", "result"]
    rows = [
        [d.entity, d.state_field, state.value, d.result_field, result.value]
        for d in definitions
        for state, result in d.legal_pairs()
    ]
    return headers, rows


VOCABULARIES: tuple[type[ApiEnum], ...] = (AnalysisType, AnalysisState, FolderStatus, Resolution)
"""The enums whose values the API's JSON carries, in the order of :mod:`statuses.enums`."""


def first_line(kind: type[object]) -> str:
    """The first line of a class's docstring, its ````code```` spans in Markdown's single backticks."""
    lines = (kind.__doc__ or "").strip().splitlines()
    return lines[0].replace("``", "`") if lines else ""


def spellings_table(vocabularies: Sequence[type[ApiEnum]] = VOCABULARIES) -> tuple[list[str], list[list[str]]]:
    """Each enum's values as written, and the other spellings its parser reads them from.

    Read off each enum's own spelling map (``ApiEnum.spellings``), which ``parse``
    consults after upper-casing the text it is given.
    """
    headers = ["enum", "what it holds", "values, as written", "other spellings read"]
    rows = []
    for kind in vocabularies:
        others = [f"`{spelling}` for `{member.value}`"
                  for spelling, member in kind.spellings().items() if spelling != member.value]
        rows.append([f"`{kind.__name__}`", first_line(kind), ", ".join(f"`{member.value}`" for member in kind),
                     ", ".join(others) or NOT_HERE])
    return headers, rows


def aliases_table(aliases: Mapping[str, str]) -> tuple[list[str], list[list[str]]]:
    """Keys a document may use instead of the API's own: the key, and the field it is read as."""
    return ["key in a document", "read as"], [[f"`{alias}`", f"`{field}`"] for alias, field in aliases.items()]


def ranking(results: Sequence[Resolution] = tuple(Resolution)) -> list[Resolution]:
    """The results from the worst to the best, as a group's result is taken (the worst of its analyses')."""
    return sorted(results, key=lambda result: result.rank)


def to_markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def to_csv(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue()


def to_json(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    records = [dict(zip(headers, row)) for row in rows]
    return json.dumps(records, indent=2) + "\n"


FORMATTERS = {"md": lambda h, r: to_markdown(h, r) + "\n", "csv": to_csv, "json": to_json}
