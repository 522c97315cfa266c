"""Diagrams of the machines, drawn from their definitions and nothing else.

Every state, edge, guard and legal result in a diagram comes from a
:class:`~statuses.definition.MachineDefinition`, so a diagram cannot say
anything the running machine does not do.  The text sources (DOT, Mermaid,
Markdown) need no system software and are byte-identical on every run;
only SVG/PNG rendering needs Graphviz's ``dot``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import graphviz

from .definition import Edge, MachineDefinition, StateSpec
from .enums import Resolution
from .tables import (NOT_HERE, aliases_table, legal_pairs_table, ranking, spellings_table, status_table,
                     to_markdown)

_START = "__start__"
_FONT = "Helvetica"


def edge_label(definition: MachineDefinition, edge: Edge) -> list[str]:
    """The lines labelling an edge: the event with its parameters, then each guard."""
    event = definition.event(edge.event)
    lines = [f"{event.name}({', '.join(event.parameters)})"]
    lines.extend(f"[{definition.guards[name].requirement}]" for name in edge.guards)
    return lines


def state_results(definition: MachineDefinition, state: StateSpec) -> str | None:
    """The results an entity may carry in ``state``, when they say more than its name."""
    if [result.value for result in state.results] == [state.value.value]:
        return None
    *others, last = [result.value for result in state.results]
    return f"{definition.result_field} is {', '.join(others)} or {last}" if others else f"{definition.result_field} is {last}"


def to_dot(definition: MachineDefinition) -> str:
    """The machine as Graphviz DOT: a start point, final states double-bordered."""
    graph = graphviz.Digraph(
        definition.name,
        graph_attr={"rankdir": "LR", "fontname": _FONT, "label": f"{definition.entity}.{definition.state_field}",
                    "labelloc": "t"},
        node_attr={"shape": "box", "style": "rounded", "fontname": _FONT},
        edge_attr={"fontname": _FONT, "fontsize": "10"},
    )
    graph.node(_START, label="", shape="point", width="0.2")
    for state in definition.states:
        results = state_results(definition, state)
        label = state.value.value if results is None else f"{state.value.value}\n{results}"
        attributes = {"peripheries": "2", "style": "rounded,bold"} if state.final else {}
        graph.node(state.value.value, label=label, **attributes)
    graph.edge(_START, definition.initial.value.value, label="created")
    for edge in definition.edges:
        label = "\n".join(edge_label(definition, edge))
        for source in edge.sources:
            graph.edge(source.value, edge.dest.value, label=label)
    dot_text: str = graph.source
    return dot_text


def to_mermaid(definition: MachineDefinition) -> str:
    """The machine as a Mermaid ``stateDiagram-v2`` (GitHub renders it)."""
    lines = ["stateDiagram-v2", "    direction LR", f"    [*] --> {definition.initial.value.value}: created"]
    for edge in definition.edges:
        label = " ".join(edge_label(definition, edge))
        for source in edge.sources:
            lines.append(f"    {source.value} --> {edge.dest.value}: {label}")
    for state in definition.final_states:
        lines.append(f"    {state.value.value} --> [*]")
    for state in definition.states:
        results = state_results(definition, state)
        if results is not None:
            lines += [f"    note right of {state.value.value}", f"        {results}", "    end note"]
    return "\n".join(lines) + "\n"


def machine_section(definition: MachineDefinition, svg_link: str | None = None) -> str:
    """One machine's part of the status page: its diagram, states, events, edges and guards."""
    entity, state_field, result_field = definition.entity, definition.state_field, definition.result_field
    parts = [f"## The {definition.name} machine", ""]
    parts += ["```mermaid", to_mermaid(definition).rstrip("\n"), "```", ""]
    if svg_link is not None:
        parts += [f"Rendered by Graphviz: [{svg_link}]({svg_link}).", ""]
    states = [
        [f"`{s.value.value}`", ", ".join(f"`{r.value}`" for r in s.results),
         "initial" if s.initial else ("final" if s.final else "")]
        for s in definition.states
    ]
    parts += ["### States", ""]
    ending = "; a final state has no way out" if definition.final_states else ", and no state is final"
    parts += [f"`{entity}.{state_field}`, and the values `{entity}.{result_field}` may hold in each state.  "
              f"A new `{entity}` starts in the initial state{ending}.", ""]
    parts += [to_markdown(["state", f"legal `{result_field}`", "kind"], states), ""]
    events = [[f"`{event.name}({', '.join(event.parameters)})`", event.description] for event in definition.events]
    parts += ["### Events", "", to_markdown(["event", "what it stands for"], events), ""]
    edges = [
        [f"`{edge.event}`", ", ".join(f"`{s.value}`" for s in edge.sources), f"`{edge.dest.value}`",
         "<br>".join(f"`{g}`: {definition.guards[g].requirement}" for g in edge.guards) or NOT_HERE,
         ", ".join(f"`{e}`" for e in edge.effects) or NOT_HERE]
        for edge in definition.edges
    ]
    parts += ["### Edges", ""]
    parts += [f"An event moves the `{entity}` along an edge that leaves its current state and whose guards "
              "all hold; then the edge's effects run, in order.  An event with no edge from the current "
              "state is refused, and so is one whose every edge from there has a guard that does not hold: "
              "either way nothing changes.", ""]
    parts += [to_markdown(["event", "from", "to", "guards (each must hold)", "effects"], edges), ""]
    if definition.drives:
        parts += ["### Driven by another machine", ""]
        for drive in definition.drives:
            names = " or ".join(f"`{event}`" for event in drive.events)
            parts += [f"When an entity of the {drive.source.name} machine takes {names}, its {drive.through} "
                      f"{drive.note}; when {drive.when}, the `{entity}` takes `{drive.event}`, in the same step.  "
                      f"Nobody calls `{drive.event}` directly.", ""]
    unused = [guard for name, guard in definition.guards.items()
              if not any(name in edge.guards for edge in definition.edges)]
    if unused:
        guards = [[f"`{guard.name}`", guard.requirement] for guard in unused]
        parts += ["Guards defined but on no edge:", "", to_markdown(["guard", "requires"], guards), ""]
    return "\n".join(parts)


def status_page(definitions: Sequence[MachineDefinition], svg_links: bool = True,
                key_aliases: Mapping[str, str] | None = None, rules_link: str | None = None) -> str:
    """``STATUSES.md``: both machines, the results' ranking, the status tables and the JSON spellings.

    ``key_aliases`` (another spelling of an analysis's key -> the API's own)
    and ``rules_link`` (a link to the page of decisions) come from the
    caller: the JSON layer and the repository sit above this module.
    """
    parts = [
        "# Statuses",
        "",
        "<!-- Generated by `statuses diagrams` from the machine definitions; do not edit. -->",
        "",
        "Everything on this page is generated from the machine definitions and the enums that the "
        "package runs on, so it says exactly what the code does.",
    ]
    if rules_link is not None:
        parts[-1] += (f"  Why the rules are what they are, where the Oz API's documentation leaves "
                      f"a question open, is in [{rules_link.rsplit('/', 1)[-1]}]({rules_link}).")
    parts.append("")
    for definition in definitions:
        parts.append(machine_section(definition, f"{definition.name}.svg" if svg_links else None))
    order = " < ".join(f"`{result.value}`" for result in ranking())
    parts += ["## Results, from the worst to the best", "",
              f"{order}", "",
              "A group (the analyses submitted together) has the worst result of its analyses: "
              f"`{Resolution.PROCESSING.value}` while any of them runs.", ""]
    headers, rows = status_table()
    parts += ["## What each status means, field by field", "",
              f"`{NOT_HERE}`: the value cannot occur in that field.", "", to_markdown(headers, rows), ""]
    parts += ["## Legal pairs", ""]
    for definition in definitions:
        headers, rows = legal_pairs_table(definition)
        parts += [f"`{definition.entity}`:", "", to_markdown(headers, rows), ""]
    headers, rows = spellings_table()
    parts += ["## Spellings the package reads", "",
              "Values are read in any letter case (`success`, `Success`), in a document and in a call such as "
              "`folder.submit([\"quality\"])`, and written in upper case, as the third column spells them.", "",
              to_markdown(headers, rows), ""]
    if key_aliases:
        headers, rows = aliases_table(key_aliases)
        parts += ["Keys of an analysis that a document may spell another way:", "", to_markdown(headers, rows), ""]
    return "\n".join(parts)


class RenderUnavailable(Exception):
    """Graphviz's ``dot`` is not installed, so SVG/PNG cannot be rendered."""


INSTALL_GRAPHVIZ = (
    "install Graphviz to get them: `apt-get install graphviz` (Debian/Ubuntu), "
    "`brew install graphviz` (macOS), `winget install graphviz` or `choco install graphviz` (Windows)"
)


def render(dot_source: str, fmt: str) -> bytes:
    """DOT rendered by Graphviz's ``dot``; :class:`RenderUnavailable` without it."""
    try:
        image: bytes = graphviz.Source(dot_source).pipe(format=fmt)
        return image
    except graphviz.ExecutableNotFound as missing:
        raise RenderUnavailable(INSTALL_GRAPHVIZ) from missing
