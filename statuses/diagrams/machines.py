"""The machines drawn in Graphviz DOT, from their definitions: each machine alone, and both in one overview.

Readable by construction: an edge that several states share (same event,
guards and destination) is drawn once, from a junction its sources meet at;
a guard is a number on the edge and its text is written once, in the
legend; the results a state allows are listed small inside its box.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import attrs

from ..definition import Drive, Edge, MachineDefinition, StateSpec
from ..enums import ApiEnum
from ..tables import ranking
from .dot import FONT, Dot, Html, table, text

GuardNumbers = Mapping[tuple[str, str], int]
"""``(machine name, guard name) -> its number in a diagram's legend``."""

ENABLED, REFUSED, TAKEN, CURRENT = "#1a7f37", "#cf222e", "#0969da", "#fff8c5"
"""The live picture's colours: an edge it can take now, one refused now, the path taken, the current state's fill."""


@attrs.frozen
class Mark:
    """How a live picture marks one edge from one source: its colour, its class in the SVG, what it adds to the label."""

    color: str
    kind: str
    """The edge's class in the SVG (``now``, ``refused``, ``taken``): for a page's style, and for tests."""
    note: str
    dashed: bool = False


@attrs.frozen
class Overlay:
    """What a live picture adds to a machine's diagram: its current state, marked edges, legend lines, more nodes."""

    current: ApiEnum | None = None
    marks: Mapping[tuple[int, ApiEnum], Sequence[Mark]] = attrs.field(factory=dict)
    """``(edge index, source) -> marks``: an edge the entity can take now, one refused now, one taken before."""
    legend: tuple[str, ...] = ()
    """Rows added to the legend, under a heading of their own."""
    heading: str = ""
    appendix: Html | None = None
    """An HTML-like table shown under the legend (a folder's groups)."""


def guard_numbers(definitions: Sequence[MachineDefinition]) -> dict[tuple[str, str], int]:
    """Each guard on an edge, numbered in the order the edges first name them, machine after machine.

    A machine that drives one of ``definitions`` is numbered first, though not
    drawn, so that a guard has the same number in every picture and page.
    """
    numbers: dict[tuple[str, str], int] = {}
    chain: list[MachineDefinition] = []
    for definition in definitions:
        for machine in (*(drive.source for drive in definition.drives), definition):
            if machine not in chain:
                chain.append(machine)
    for definition in chain:
        for edge in definition.edges:
            for guard in edge.guards:
                numbers.setdefault((definition.name, guard), len(numbers) + 1)
    return numbers


def call(definition: MachineDefinition, event: str) -> str:
    """An event as it is called: ``finish(verdict)``."""
    return f"{event}({', '.join(definition.event(event).parameters)})"


def edge_label(definition: MachineDefinition, edge: Edge, numbers: GuardNumbers) -> str:
    """An edge's short label: the event with its parameter, and its guards' numbers (``submit(group) [1, 2]``)."""
    guards = ", ".join(str(numbers[(definition.name, guard)]) for guard in edge.guards)
    return call(definition, edge.event) + (f" [{guards}]" if guards else "")


def guard_rows(definitions: Sequence[MachineDefinition], numbers: GuardNumbers) -> list[str]:
    """The legend's lines for the guards of ``definitions``, numbered: ``[4] group_not_empty: the group is not empty``."""
    by_name = {(d.name, name): guard for d in definitions for name, guard in d.guards.items()}
    return [f"[{number}] {key[1]}: {by_name[key].requirement}" for key, number in numbers.items() if key in by_name]


def drive_row(definition: MachineDefinition, drive: Drive) -> str:
    """A driven event in words, from the declared coupling."""
    events = " or ".join(drive.events)
    return (f"{drive.event}(): taken by the {definition.entity} itself when {drive.when} "
            f"(an {drive.source.entity}'s {events}, through its {drive.through})")


def results_row(definitions: Sequence[MachineDefinition]) -> str | None:
    """What the small values inside a state's box are, when any state lists some."""
    fields = [d.result_field for d in definitions if any(state_results(d, s) for s in d.states)]
    return f"small, in a box: the values of {' / '.join(fields)} legal in that state" if fields else None


def legend_rows(definitions: Sequence[MachineDefinition]) -> list[tuple[str, list[str]]]:
    """The legend of a diagram of ``definitions``, as ``(heading, rows)`` sections."""
    numbers = guard_numbers(definitions)
    sections = [("guards (each must hold)", guard_rows(definitions, numbers))]
    drives = [drive_row(d, drive) for d in definitions for drive in d.drives]
    if drives:
        sections.append(("driven", drives))
    results = results_row(definitions)
    if results is not None:
        sections.append(("results", [results]))
    return [(heading, rows) for heading, rows in sections if rows]


def state_results(definition: MachineDefinition, state: StateSpec) -> list[str]:
    """The results an entity may carry in ``state``, when they say more than its name."""
    values = [result.value for result in state.results]
    return [] if values == [state.value.value] else values


LEGEND_WIDTH = 72
"""Characters in a legend line at most: a longer one is wrapped, so the legend never sets the picture's width."""


def legend_lines(sections: Sequence[tuple[str, Sequence[str]]]) -> list[tuple[bool, str]]:
    """``(is a heading, line)`` of a legend, each row wrapped to :data:`LEGEND_WIDTH`, continued lines indented."""
    lines: list[tuple[bool, str]] = []
    for heading, rows in sections:
        lines.append((True, heading))
        for row in rows:
            # A guard's row breaks after its name, so that its requirement stays whole, as errors quote it.
            head, colon, tail = row.partition(": ")
            first, *rest = [head + colon.rstrip(), tail] if len(row) > LEGEND_WIDTH and colon and \
                len(tail) <= LEGEND_WIDTH - 4 else wrap(row, LEGEND_WIDTH)
            lines += [(False, first), *((False, f"    {more}") for more in rest)]
    return lines


def legend_label(sections: Sequence[tuple[str, Sequence[str]]], appendix: Html | None = None) -> Html:
    """The legend as the graph's label, headings in bold, ``appendix`` (a table) under it."""
    rows = [f"<b>{text(line)}</b>" if heading else text(line) for heading, line in legend_lines(sections)]
    return table(rows + ([appendix] if appendix is not None else []))


def depths(definition: MachineDefinition) -> dict[ApiEnum, int]:
    """Each state's distance from the initial one, in edges: what decides which edges set the layout's ranks."""
    found = {definition.initial.value: 0}
    frontier = [definition.initial.value]
    while frontier:
        current = frontier.pop(0)
        for edge in definition.edges_from(current):
            found.setdefault(edge.dest, found[current] + 1)
            if found[edge.dest] == found[current] + 1 and edge.dest not in frontier:
                frontier.append(edge.dest)
    return found


def backwards(depth: Mapping[ApiEnum, int], source: ApiEnum, dest: ApiEnum) -> dict[str, str]:
    """An edge that goes back towards the start does not rank its ends, so the picture reads from the start on."""
    return {"constraint": "false"} if depth[source] >= depth[dest] else {}


def state_label(definition: MachineDefinition, state: StateSpec) -> Html:
    """The state's name, and under it, small, the results it allows."""
    values = "".join(f'<br/><font point-size="9">{text(value)}</font>' for value in state_results(definition, state))
    return Html(f"<b>{text(state.value.value)}</b>{values}")


def state_node(dot: Dot, definition: MachineDefinition, state: StateSpec, name: str, current: bool = False) -> None:
    """A state's box: double-bordered when final, filled when it is a live picture's current state."""
    style = {"peripheries": "2"} if state.final else {}
    if current:
        style |= {"style": "rounded,filled,bold", "fillcolor": CURRENT, "penwidth": "2.5", "class": "current"}
    dot.node(name, label=state_label(definition, state), **style)


ANY_STATE = "any state"


def shared_sources(dot: Dot, definition: MachineDefinition, edge: Edge, hub: str,
                   ids: Callable[[ApiEnum], str], any_state: bool = False) -> dict[str, ApiEnum]:
    """Draw where an edge's several sources meet, so that the edge and its label are drawn once.

    With ``any_state``, an edge from every state leaves one box, "any
    state", and no line is drawn from each state (in the overview they would
    all cross the nested machine); else the sources' lines meet at a point.  Returns the node of each source that
    still needs its line to the meeting point.
    """
    if any_state and set(edge.sources) == {state.value for state in definition.states}:
        dot.node(hub, label=Html(f"<i>{ANY_STATE}</i>"), style="dashed,rounded", fontsize="11")
        return {}
    dot.node(hub, label="", shape="point", width="0.09")
    return {ids(source): source for source in edge.sources}


PRIORITY = ("now", "refused", "taken")
"""The order a live picture's marks are told in, and which one colours an edge: what it can do now comes first."""


def styled(label: str, marks: Sequence[Mark]) -> dict[str, str]:
    """An edge's attributes with a live picture's marks: the first kind's colour, each kind's notes in one line.

    Notes of one kind that share a prefix are merged: ``taken: 1`` and ``taken: 3`` read ``taken: 1, 3``.
    """
    if not marks:
        return {"label": label} if label else {}
    kinds = sorted(dict.fromkeys(mark.kind for mark in marks), key=PRIORITY.index)
    notes = []
    for kind in kinds:
        heads: dict[str, list[str]] = {}
        for mark in marks:
            if mark.kind == kind and mark.note:
                head, colon, rest = mark.note.partition(": ")
                heads.setdefault(head, []).extend(rest.split(", ") if colon else [])
        notes += [head + (": " + ", ".join(sorted(set(rest), key=lambda r: (len(r), r))) if rest else "")
                  for head, rest in heads.items()]
    first = next(mark for mark in marks if mark.kind == kinds[0])
    values = {"color": first.color, "fontcolor": first.color, "penwidth": "2", "class": " ".join(kinds)}
    full = "\n".join([label, *notes]) if label else "\n".join(notes)
    if full:
        values["label"] = full
    if all(mark.dashed for mark in marks):
        values["style"] = "dashed"
    return values


def draw_machine(dot: Dot, definition: MachineDefinition, numbers: GuardNumbers, ids: Callable[[ApiEnum], str],
                 overlay: Overlay, start: bool = True) -> None:
    """The states and edges of one machine into ``dot``; ``ids`` names each state's node."""
    prefix = ids(definition.initial.value)
    if start:  # UML's initial pseudo-state: the dot an entity is created at
        dot.node(f"{prefix}.start", label="", shape="point", width="0.15")
        dot.edge(f"{prefix}.start", ids(definition.initial.value))
    for state in definition.states:
        state_node(dot, definition, state, ids(state.value), state.value is overlay.current)
    for index, edge in enumerate(definition.edges):
        label = edge_label(definition, edge, numbers)
        if len(edge.sources) == 1:
            marks = overlay.marks.get((index, edge.sources[0]), ())
            dot.edge(ids(edge.sources[0]), ids(edge.dest), **styled(label, marks))
            continue
        hub = f"{definition.name}.{edge.event}.{index}"
        every = [mark for source in edge.sources for mark in overlay.marks.get((index, source), ())]
        for name, source in shared_sources(dot, definition, edge, hub, ids).items():
            dot.edge(name, hub, arrowhead="none", **styled("", [attrs.evolve(m, note="") for m in
                                                                 overlay.marks.get((index, source), ())]))
        # The shared part carries the label once, with every source's marks.
        dot.edge(hub, ids(edge.dest), **styled(label, every))


def new_graph(name: str, sections: Sequence[tuple[str, Sequence[str]]], rankdir: str,
              appendix: Html | None = None) -> Dot:
    """An empty graph in the house style, its legend below it."""
    return Dot(
        name,
        graph={"rankdir": rankdir, "fontname": FONT, "fontsize": "10", "label": legend_label(sections, appendix),
               "labelloc": "b", "labeljust": "l", "nodesep": "0.3", "ranksep": "0.3", "compound": "true"},
        node={"shape": "box", "style": "rounded", "fontname": FONT, "fontsize": "12", "margin": "0.12,0.05"},
        edge={"fontname": FONT, "fontsize": "10", "arrowsize": "0.7"},
    )


def machine_dot(definition: MachineDefinition, overlay: Overlay = Overlay()) -> str:
    """One machine as Graphviz DOT: states, edges drawn once each, guards by number, the legend below."""
    numbers = guard_numbers([definition])
    sections = legend_rows([definition])
    if overlay.legend:
        sections.append((overlay.heading, list(overlay.legend)))
    dot = new_graph(definition.name, sections, "LR", overlay.appendix)
    with dot.subgraph("cluster_title", label=f"{definition.entity}.{definition.state_field}", peripheries="0",
                      fontsize="13", margin="4", labelloc="t"):
        draw_machine(dot, definition, numbers, lambda value: value.value, overlay)
    return dot.source()


def owner_rows(definition: MachineDefinition, drive: Drive, width: int = 44) -> list[str]:
    """The note on the owner that relays a drive: its name, its rule, and the ranking its worst-of rule uses."""
    creator = next(event.name for event in definition.events if drive.through in event.parameters)
    order = ", ".join(result.value for result in ranking())
    return [f"each {drive.through} (one {creator})", *wrap(drive.note, width),
            *wrap(f"results from the worst: {order}", width)]


def drive_label(definition: MachineDefinition, drive: Drive, width: int = 24) -> list[str]:
    """The driven event and when the owner fires it."""
    return [f"{call(definition, drive.event)} when", *wrap(drive.when, width)]


def nesting_state(definition: MachineDefinition, drive: Drive) -> ApiEnum:
    """The state the driving machine runs in: the one the driven event leaves from."""
    sources = {source for edge in definition.edges if edge.event == drive.event for source in edge.sources}
    if len(sources) != 1:
        raise ValueError(f"{definition.name}: {drive.event!r} leaves from {len(sources)} states, not one")
    return sources.pop()


def overview_dot(definition: MachineDefinition) -> str:
    """The whole system: ``definition`` (the folder) with each driving machine nested in the state it runs in.

    The drive is drawn from the definition's declared coupling: the driving
    machine's edges of the drive's events lead, through its owner (a note
    with the owner's rule), to the driven event, a choice between its edges.
    """
    drive = definition.drives[0]
    source = drive.source
    machines = [source, definition]
    numbers = guard_numbers(machines)
    dot = new_graph("overview", legend_rows(machines), "TB")
    inner = nesting_state(definition, drive)

    def outer_id(value: ApiEnum) -> str:
        return f"{definition.name}.{value.value}"

    def inner_id(value: ApiEnum) -> str:
        return f"{source.name}.{value.value}"

    start = f"{outer_id(definition.initial.value)}.start"
    dot.node(start, label="", shape="point", width="0.15")
    dot.edge(start, outer_id(definition.initial.value))
    outer_edges = [(index, edge) for index, edge in enumerate(definition.edges) if edge.event != drive.event]
    cluster = f"cluster_{outer_id(inner)}"
    with dot.subgraph(cluster, label=Html(f"<b>{text(inner.value)}</b>"), style="rounded", fontsize="12",
                      margin="10", labelloc="t"):
        with dot.subgraph(f"cluster_{source.name}", label=f"each {source.entity}.{source.state_field}",
                          style="dashed,rounded", fontsize="10", margin="8", labelloc="t"):
            draw_machine(dot, source, numbers, inner_id, Overlay(), start=False)
        owner = f"{definition.name}.{drive.through}"
        heading, *lines = owner_rows(definition, drive)
        # Room to spare on the right: a browser may draw the SVG's text in a wider font than Graphviz measured.
        dot.node(owner, shape="note", fontsize="10", margin="0.25,0.06",
                 label=table([f"<b>{text(heading)}</b>", *(text(line) for line in lines)]))
        choice = f"{definition.name}.{drive.event}"
        dot.node(choice, label="", shape="diamond", width="0.25", height="0.25")
    ended = [edge for edge in source.edges if edge.event in drive.events]
    shared = [name for name in ended[0].effects if all(name in edge.effects for edge in ended)]
    for edge in ended:
        dot.edge(inner_id(edge.dest), owner, style="dashed", label=f"/ {', '.join(shared)}" if edge is ended[0] else "")
    dot.edge(owner, choice, style="dashed", label="\n".join(drive_label(definition, drive)))
    for index, edge in enumerate(definition.edges):
        if edge.event != drive.event:
            continue
        guards = ", ".join(str(numbers[(definition.name, g)]) for g in edge.guards)
        dot.edge(choice, outer_id(edge.dest), label=f"[{guards}]" if guards else "")
    for state in definition.states:
        if state.value is not inner:
            state_node(dot, definition, state, outer_id(state.value))
    for index, edge in outer_edges:
        label = edge_label(definition, edge, numbers)
        # An edge into or out of the nested state ends at its cluster's border (compound=true).
        head = {"lhead": cluster} if edge.dest is inner else {}
        head_id = inner_id(source.initial.value) if edge.dest is inner else outer_id(edge.dest)

        def tail(value: ApiEnum) -> tuple[str, dict[str, str]]:
            return (owner, {"ltail": cluster}) if value is inner else (outer_id(value), {})

        if len(edge.sources) == 1:
            name, extra = tail(edge.sources[0])
            dot.edge(name, head_id, label=label, **extra, **head)
            continue
        hub = f"{definition.name}.{edge.event}.{index}"
        separate = shared_sources(dot, definition, edge, hub, outer_id, any_state=True)
        for value in separate.values():
            name, extra = tail(value)
            dot.edge(name, hub, arrowhead="none", **extra)
        if not separate:  # "any state" beside the initial state, which has no line of its own out
            dot.same_rank(outer_id(definition.initial.value), hub)
        dot.edge(hub, head_id, label=label, **head)
    return dot.source()


def wrap(words: str, width: int) -> list[str]:
    """``words`` in lines of about ``width`` characters, broken between words."""
    lines: list[str] = []
    for word in words.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines
