"""A folder's or an analysis's picture in its current state: what it is, what it can do now, what it did.

The machine's own diagram (:mod:`.machines`) with an overlay: the current
state filled, each edge it can take now marked, each one refused now marked
with the guard that refuses (asked of the machine itself, so the picture
cannot disagree with it), the path a ``history`` of transitions took, and
for a folder its groups with their analyses, results and finished order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from typing import Literal, overload

import attrs

from ..analysis import ANALYSIS_MACHINE, Analysis
from ..definition import Edge, MachineDefinition
from ..engine import StatusMachine
from ..enums import VERDICTS, AnalysisType, ApiEnum
from ..errors import GuardRefused, IllegalTransition
from ..folder import FOLDER_MACHINE, Folder
from ..listeners import Transition
from .dot import Html, RenderUnavailable, run_dot, text
from .machines import ENABLED, REFUSED, TAKEN, Mark, Overlay, call, guard_numbers, machine_dot

Format = Literal["svg", "dot", "png"]
ID_SHOWN = 8
"""Characters of an id shown in a picture: enough to tell a folder's analyses apart, short enough to read."""


def short(identifier: str | None) -> str:
    """An id as a picture shows it: whole when short, else its first :data:`ID_SHOWN` characters; ``?`` unknown."""
    if identifier is None:
        return "?"
    return identifier if len(identifier) <= ID_SHOWN + 1 else identifier[:ID_SHOWN] + "…"


def arguments(subject: Folder | Analysis, definition: MachineDefinition, event: str) -> list[tuple[str, object]]:
    """What to ask the machine about an event: ``(as shown, argument)`` for each argument worth trying.

    A folder's event takes a group: a new one, of one analysis.  An
    analysis's required argument is a verdict: each is tried, as the guards
    answer differently for each.  An optional argument is left out.
    """
    spec = definition.event(event)
    if not spec.parameters or spec.optional:
        return [("", NO_ARGUMENT)]
    if isinstance(subject, Folder):
        return [("", subject.new_group([next(iter(AnalysisType))]))]
    return [(verdict.value, verdict) for verdict in VERDICTS]


NO_ARGUMENT = object()
"""Stands for "call the event without an argument"."""


@attrs.frozen
class Answer:
    """What the machine says of one event with one argument now: the edge it would take, or why not."""

    shown: str
    edge: int | None
    refusal: str


def answers(subject: Folder | Analysis, machine: StatusMachine) -> Iterator[tuple[str, Answer]]:
    """For each event and argument tried: the edge the machine would take now, or its refusal (nothing changes)."""
    definition = machine.definition
    numbers = guard_numbers([definition])
    for spec in definition.events:
        for shown, argument in arguments(subject, definition, spec.name):
            given = () if argument is NO_ARGUMENT else (argument,)
            event = machine.status_events[spec.name]
            try:
                taken = event.choose(subject, given)
            except GuardRefused as refused:
                why = "; ".join(f"[{numbers.get((definition.name, guard), '?')}] {guard}: {reason}"
                                for guard, reason in refused.refusals)
                yield spec.name, Answer(shown, None, why)
                continue
            except IllegalTransition as illegal:
                yield spec.name, Answer(shown, None, illegal.detail)
                continue
            index = next(i for i, edge in enumerate(definition.edges) if edge.event == spec.name
                         and edge.dest is taken.dest_value and getattr(subject, definition.state_field) in edge.sources)
            yield spec.name, Answer(shown, index, "")


def overlay(subject: Folder | Analysis, machine: StatusMachine, history: Sequence[Transition]) -> Overlay:
    """What ``subject``'s picture adds to its machine's diagram: its state, its edges now, its path, the legend's lines."""
    definition = machine.definition
    current: ApiEnum = getattr(subject, definition.state_field)
    marks: dict[tuple[int, ApiEnum], list[Mark]] = {}
    steps: dict[tuple[int, ApiEnum], list[int]] = {}
    path: list[str] = []
    mine = [t for t in history if t.entity == definition.name and t.id == identity(subject)]
    for number, transition in enumerate(mine, 1):
        index = edge_of(definition.edges, transition)
        if index is not None:
            steps.setdefault((index, transition.source), []).append(number)
        path.append(f"{number}. {call_of(definition, transition.event)}: "
                    f"{transition.source.value} -> {transition.dest.value}" + ("" if index is not None else " (no such edge)"))
    for key, numbers in steps.items():
        marks[key] = [Mark(TAKEN, "taken", f"taken: {', '.join(map(str, numbers))}")]
    now: list[str] = []
    by_event: dict[str, list[Answer]] = {}
    for event, answer in answers(subject, machine):
        by_event.setdefault(event, []).append(answer)
    for event, found in by_event.items():
        called = call_of(definition, event)
        for index, edge in enumerate(definition.edges):
            if edge.event != event or current not in edge.sources:
                continue
            taken = [answer.shown for answer in found if answer.edge == index]
            if taken:
                note = "now" + (f": {', '.join(taken)}" if any(taken) else "")
                marks.setdefault((index, current), []).append(Mark(ENABLED, "now", note))
            else:
                marks.setdefault((index, current), []).append(Mark(REFUSED, "refused", "not now", dashed=True))
        for answer in found:
            subject_text = called if not answer.shown else f"{event}({answer.shown})"
            now.append(f"{subject_text}: can be taken now" if answer.edge is not None
                       else f"{subject_text}: refused, {answer.refusal}")
    legend = [*now, *(["path taken:", *path] if path else [])]
    return Overlay(current, {key: tuple(value) for key, value in marks.items()}, tuple(legend),
                   f"now ({subject.describe()} is {current.value})")


def identity(subject: Folder | Analysis) -> str:
    """The id a :class:`Transition` names ``subject`` by."""
    return subject.folder_id if isinstance(subject, Folder) else subject.analyse_id


def call_of(definition: MachineDefinition, event: str) -> str:
    """An event as it is called, or with ``(?)`` if the definition has no such event (a log older than it)."""
    try:
        return call(definition, event)
    except KeyError:
        return f"{event}(?)"


def edge_of(edges: Sequence[Edge], transition: Transition) -> int | None:
    """The edge a logged transition took, or None if the definition has none such (an older log)."""
    return next((index for index, edge in enumerate(edges) if edge.event == transition.event
                 and transition.source in edge.sources and edge.dest is transition.dest), None)


def groups_table(folder: Folder) -> Html | None:
    """The folder's groups, shown under the legend: each analysis, each result, the order they finished in."""
    if not folder.groups:
        return None
    last = folder.last_finished_group
    rows = ["<tr>" + "".join(f"<td><b>{text(heading)}</b></td>" for heading in GROUP_COLUMNS) + "</tr>"]
    for group in folder.groups:
        order = "running" if group.finished_order is None else f"#{group.finished_order}"
        if group is last:
            order += " (last)"
        span = len(group.analyses)
        for position, analysis in enumerate(group.analyses):
            cells = [text(short(analysis.analyse_id)), text(analysis.type.value), text(analysis.state.value),
                     text(analysis.resolution_status.value)]
            head = [text(short(group.group_id)), text(order), text(group.result.value)] if position == 0 else []
            rows.append("<tr>" + "".join(f'<td rowspan="{span}">{cell}</td>' for cell in head)
                        + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return Html('<table border="0" cellborder="1" cellspacing="0" cellpadding="2">' + "".join(rows) + "</table>")


GROUP_COLUMNS = ("group", "finished", "result", "analysis", "type", "state", "resolution_status")


def live_dot(subject: Folder | Analysis, history: Sequence[Transition] = ()) -> str:
    """``subject`` drawn on its machine's diagram in its current state (see the module's docstring)."""
    machine = FOLDER_MACHINE if isinstance(subject, Folder) else ANALYSIS_MACHINE
    # Read under the folder's lock, so that the state, the edges open now and the groups are of one moment.
    lock = subject.lock if isinstance(subject, Folder) else subject.group.lock if subject.group else nullcontext()
    with lock:
        marked = overlay(subject, machine, history)
        if isinstance(subject, Folder):
            marked = attrs.evolve(marked, appendix=groups_table(subject), legend=marked.legend + ("groups:",)
                                  if subject.groups else marked.legend)
    return machine_dot(machine.definition, marked)


@overload
def render(subject: Folder | Analysis | MachineDefinition, format: Literal["svg", "dot"] = "svg",
           history: Sequence[Transition] = ()) -> str: ...
@overload
def render(subject: Folder | Analysis | MachineDefinition, format: Literal["png"],
           history: Sequence[Transition] = ()) -> bytes: ...
def render(subject: Folder | Analysis | MachineDefinition, format: Format = "svg",
           history: Sequence[Transition] = ()) -> str | bytes:
    """``subject`` as a picture: a folder or an analysis in its current state, or a machine's diagram.

    For a folder or an analysis: the current state highlighted, the edges it
    can take now marked (and the ones refused now, with the guard that
    refuses, in the legend), a folder's groups with their analyses, results
    and finished order, and, given the ``history`` of transitions (a store's
    ``history(folder_id)``), the path taken, step by step.  ``format``:
    ``svg`` or ``dot`` (text) or ``png`` (bytes); the images need Graphviz's
    ``dot`` (:class:`RenderUnavailable` without it).
    """
    source = machine_dot(subject) if isinstance(subject, MachineDefinition) else live_dot(subject, history)
    if format == "dot":
        return source
    image = run_dot(source, format)
    return image.decode("utf-8") if format == "svg" else image


def notebook_svg(model: object) -> str | None:
    """The notebook's picture of a folder, an analysis or a machine definition; None without Graphviz."""
    if not isinstance(model, (Folder, Analysis, MachineDefinition)):
        return None
    try:
        return render(model, "svg")
    except RenderUnavailable:
        return None
