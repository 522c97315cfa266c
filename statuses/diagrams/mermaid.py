"""The machines as Mermaid ``stateDiagram-v2`` text (GitHub renders it): short labels, one legend note.

The same reading as the Graphviz pictures: guards by number with their text
in a note, an edge from every state drawn once from an "any state" box, the
results a state allows inside its box, and in the overview the driving
machine nested in the state it runs in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..definition import MachineDefinition
from ..enums import ApiEnum
from .machines import (ANY_STATE, GuardNumbers, drive_label, edge_label, guard_numbers, legend_lines, legend_rows, nesting_state,
                       owner_rows, state_results)

INDENT = "    "


def note(target: str, rows: Sequence[str], indent: str = INDENT) -> list[str]:
    """A note right of ``target``, one row a line."""
    return [f"{indent}note right of {target}", *(f"{indent}{INDENT}{row}" for row in rows), f"{indent}end note"]


LEGEND = "legend"


def legend(definitions: Sequence[MachineDefinition], prefix: str = "") -> list[str]:
    """The legend as a box of its own, dashed: a state's description lines, which Mermaid does not wrap (a note's it
    wraps narrowly)."""
    name = f"{prefix}{LEGEND}"
    lines = [f'{INDENT}state "{LEGEND}" as {name}']
    for heading, line in legend_lines(legend_rows(definitions)):
        # Mermaid refuses a description that ends with a colon: a guard's row broken after its name.
        lines.append(f"{INDENT}{name}: " + (f"<b>{line}</b>" if heading else line.strip().rstrip(":")))
    return [*lines, f"{INDENT}classDef {LEGEND} fill:#ffffff,stroke-dasharray:4 4", f"{INDENT}class {name} {LEGEND}"]


def machine_lines(definition: MachineDefinition, numbers: GuardNumbers, ids: Callable[[ApiEnum], str],
                  indent: str = INDENT, start: str = "", skip: str = "",
                  composite: Mapping[str, list[str]] | None = None) -> list[str]:
    """A machine's states and edges; ``ids`` names each state, ``start`` labels the initial arrow.

    ``skip``: an event whose edges another part of the picture draws (the
    overview's driven one); ``composite``: a state's id -> the lines drawn
    inside it, declared before any edge names it.
    """
    lines = [f"{indent}[*] --> {ids(definition.initial.value)}" + (f": {start}" if start else "")]
    for state in definition.states:
        inside = (composite or {}).get(ids(state.value))
        lines.append(f'{indent}state "{state.value.value}" as {ids(state.value)}' + (" {" if inside else ""))
        if inside:
            lines += [*inside, f"{indent}}}"]
        results = state_results(definition, state)
        if results:
            lines.append(f"{indent}{ids(state.value)}: {', '.join(results)}")
    every = {state.value for state in definition.states}
    for index, edge in enumerate(definition.edges):
        if edge.event == skip:
            continue
        label = edge_label(definition, edge, numbers)
        if len(edge.sources) > 1 and set(edge.sources) == every:
            hub = f"{definition.name}_any_{index}"
            lines += [f'{indent}state "{ANY_STATE}" as {hub}', f"{indent}{hub} --> {ids(edge.dest)}: {label}"]
            continue
        lines += [f"{indent}{ids(source)} --> {ids(edge.dest)}: {label}" for source in edge.sources]
    lines += [f"{indent}{ids(state.value)} --> [*]" for state in definition.final_states]
    return lines


def to_mermaid(definition: MachineDefinition) -> str:
    """One machine, with its legend in a note on its initial state."""
    lines = ["stateDiagram-v2", f"{INDENT}direction LR"]
    lines += machine_lines(definition, guard_numbers([definition]), lambda value: value.value)
    lines += legend([definition])
    return "\n".join(lines) + "\n"


def overview_mermaid(definition: MachineDefinition) -> str:
    """The whole system: the driving machine as a composite state inside the state it runs in, then the drive."""
    drive = definition.drives[0]
    source = drive.source
    numbers = guard_numbers([source, definition])
    inner = nesting_state(definition, drive)

    def outer_id(value: ApiEnum) -> str:
        return f"{definition.name}_{value.value}"

    def inner_id(value: ApiEnum) -> str:
        return f"{source.name}_{value.value}"

    creator = next(event.name for event in definition.events if drive.through in event.parameters)
    lines = ["stateDiagram-v2", f"{INDENT}direction TB"]
    nested = machine_lines(source, numbers, inner_id, INDENT * 2, start=f"each {source.name} of a {creator}")
    lines += machine_lines(definition, numbers, outer_id, skip=drive.event, composite={outer_id(inner): nested})
    choice = f"{definition.name}_{drive.event}"
    lines.append(f"{INDENT}state {choice} <<choice>>")
    lines.append(f"{INDENT}{outer_id(inner)} --> {choice}: {' '.join(drive_label(definition, drive, 80))}")
    for edge in (edge for edge in definition.edges if edge.event == drive.event):
        guards = ", ".join(str(numbers[(definition.name, guard)]) for guard in edge.guards)
        lines.append(f"{INDENT}{choice} --> {outer_id(edge.dest)}: [{guards}]")
    lines += note(outer_id(inner), owner_rows(definition, drive, 60))
    lines += legend([source, definition], f"{definition.name}_")
    return "\n".join(lines) + "\n"

