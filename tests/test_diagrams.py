"""Diagrams are drawn from the definitions, completely, and the committed copies match."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import attrs
import pytest

from statuses import ANALYSIS_DEFINITION, FOLDER_DEFINITION, AnalysisState, Edge, EventSpec, StateSpec
from statuses.cli import DEFINITIONS, dot_sources, text_sources
from statuses.diagrams import machine_dot, overview_dot, overview_mermaid, run_dot, to_mermaid
from statuses.diagrams.machines import ANY_STATE, edge_label, guard_numbers

ROOT = Path(__file__).resolve().parent.parent
DIAGRAMS = ROOT / "diagrams"
BOTH = pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.name)

# CI sets this so that a missing `dot` fails the run instead of skipping the SVG path.
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None and not os.environ.get("STATUSES_REQUIRE_DOT"),
    reason="Graphviz's dot is not on PATH (CI installs it and sets STATUSES_REQUIRE_DOT=1)",
)


def parse_dot(dot_text: str) -> dict:
    """The graph as Graphviz itself parses it (``dot -Tjson``)."""
    result = subprocess.run(["dot", "-Tjson"], input=dot_text, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def drawn_edges(graph: dict) -> set[tuple[str, str, str]]:
    """``(tail, head, label)`` of each edge, an edge through a junction (several sources) once per source."""
    names = {node["_gvid"]: node["name"] for node in graph["objects"] if "nodes" not in node}
    edges = [(names[e["tail"]], names[e["head"]], e.get("label", "")) for e in graph["edges"]]
    hubs = {head for tail, head, label in edges if not label and head.count(".") == 2}
    found = {(tail, head, label) for tail, head, label in edges if tail not in hubs and head not in hubs}
    for hub in hubs:
        heads = [(head, label) for tail, head, label in edges if tail == hub]
        found |= {(tail, head, label) for tail, h, _ in edges if h == hub for head, label in heads}
    return found


def expected_edges(definition) -> set[tuple[str, str, str]]:
    numbers = guard_numbers([definition])
    return {(source.value, edge.dest.value, edge_label(definition, edge, numbers))
            for edge in definition.edges for source in edge.sources}


@needs_dot
@BOTH
def test_dot_parses_and_holds_every_state_edge_and_guard_once(definition) -> None:
    source = machine_dot(definition)
    graph = parse_dot(source)
    states = {node["name"] for node in graph["objects"] if "." not in node["name"] and "nodes" not in node}
    assert states == {state.value.value for state in definition.states}
    edges = {edge for edge in drawn_edges(graph) if not edge[0].endswith(".start")}
    assert edges == expected_edges(definition)
    for name, guard in definition.guards.items():
        assert source.count(guard.requirement) == 1, f"{name}'s text is written once, in the legend"
    labels = [e.get("label", "") for e in graph["edges"] if e.get("label")]
    assert len(labels) == len(definition.edges), "an edge shared by several states is labelled once"
    finals = {node["name"] for node in graph["objects"] if node.get("peripheries") == "2"}
    assert finals == {state.value.value for state in definition.final_states}


def test_the_folder_submit_edge_is_drawn_once() -> None:
    submit = next(edge for edge in FOLDER_DEFINITION.edges if len(edge.sources) > 1)
    label = edge_label(FOLDER_DEFINITION, submit, guard_numbers([FOLDER_DEFINITION]))
    assert machine_dot(FOLDER_DEFINITION).count(label) == 1
    assert to_mermaid(FOLDER_DEFINITION).count(label) == 1
    assert overview_mermaid(FOLDER_DEFINITION).count(label[:label.index("[")]) == 1


def test_a_guard_has_the_same_number_in_every_picture() -> None:
    for (machine, guard), number in guard_numbers([FOLDER_DEFINITION]).items():
        text = f"[{number}] {guard}"
        for picture in (overview_dot(FOLDER_DEFINITION), overview_mermaid(FOLDER_DEFINITION)):
            assert text in picture
        own = FOLDER_DEFINITION if machine == FOLDER_DEFINITION.name else ANALYSIS_DEFINITION
        assert text in machine_dot(own) and text in to_mermaid(own)


@BOTH
def test_mermaid_holds_every_edge_and_marks_initial_and_final(definition) -> None:
    text = to_mermaid(definition)
    assert text.startswith("stateDiagram-v2\n")
    every = {state.value for state in definition.states}
    numbers = guard_numbers([definition])
    for index, edge in enumerate(definition.edges):
        label = edge_label(definition, edge, numbers)
        if set(edge.sources) == every:
            hub = f"{definition.name}_any_{index}"
            assert f'    state "{ANY_STATE}" as {hub}\n    {hub} --> {edge.dest.value}: {label}\n' in text
        else:
            for source in edge.sources:
                assert f"    {source.value} --> {edge.dest.value}: {label}\n" in text
    assert f"[*] --> {definition.initial.value.value}" in text
    for state in definition.final_states:
        assert f"    {state.value.value} --> [*]\n" in text
    for guard in definition.guards.values():
        assert text.count(guard.requirement) == 1


def test_the_verdicts_are_inside_the_finished_boxes() -> None:
    for text in (machine_dot(ANALYSIS_DEFINITION), machine_dot(FOLDER_DEFINITION)):
        assert re.search(r'"FINISHED" \[label=<<b>FINISHED</b><br/><font point-size="9">SUCCESS</font>'
                         r'<br/><font point-size="9">DECLINED</font><br/><font point-size="9">OPERATOR_REQUIRED', text)
    for text in (to_mermaid(ANALYSIS_DEFINITION), to_mermaid(FOLDER_DEFINITION)):
        assert "    FINISHED: SUCCESS, DECLINED, OPERATOR_REQUIRED\n" in text


def test_the_overview_nests_the_analysis_in_processing_and_draws_the_drive() -> None:
    drive = FOLDER_DEFINITION.drives[0]
    dot, mermaid = overview_dot(FOLDER_DEFINITION), overview_mermaid(FOLDER_DEFINITION)
    graph = parse_dot(dot) if shutil.which("dot") else None
    nested = 'subgraph "cluster_folder.PROCESSING" {'
    assert nested in dot and dot.index(nested) < dot.index('"analysis.FINISHED" [')
    assert re.search(r'state "PROCESSING" as folder_PROCESSING \{\n(        .*\n)*        analysis_PROCESSING --> '
                     r"analysis_FINISHED", mermaid)
    assert drive.note.split()[0] in dot and drive.when in mermaid
    # the drive: each ending edge of the analysis leads to the group's note, the note to the settle choice
    assert '"analysis.FINISHED" -> "folder.group"' in dot and '"analysis.FAILED" -> "folder.group"' in dot
    assert '"folder.group" -> "folder.settle"' in dot
    assert '"folder.settle" -> "folder.FAILED"' in dot and '"folder.settle" -> "folder.FINISHED"' in dot
    assert "state folder_settle <<choice>>" in mermaid and "folder_settle --> folder_FAILED: [7, 8]" in mermaid
    assert "results from the worst: INITIAL, PROCESSING, FAILED," in mermaid
    if graph is not None:
        assert any(o["name"] == "cluster_folder.PROCESSING" for o in graph["objects"])


def test_a_new_state_and_edge_in_a_copied_definition_appear() -> None:
    """The diagrams read the definition: nothing is kept by hand beside it."""
    from statuses.enums import ApiEnum

    class Stage(ApiEnum):
        PROCESSING = "PROCESSING"
        REVIEW = "REVIEW"
        FAILED = "FAILED"
        FINISHED = "FINISHED"

    mapping = {AnalysisState.PROCESSING: Stage.PROCESSING, AnalysisState.FAILED: Stage.FAILED,
               AnalysisState.FINISHED: Stage.FINISHED}
    base = ANALYSIS_DEFINITION
    states = tuple(attrs.evolve(s, value=mapping[s.value]) for s in base.states)
    states += (StateSpec(Stage.REVIEW, base.state(AnalysisState.FINISHED).results),)
    edges = tuple(attrs.evolve(e, sources=tuple(mapping[s] for s in e.sources), dest=mapping[e.dest])
                  for e in base.edges)
    edges += (Edge("escalate", (Stage.PROCESSING,), Stage.REVIEW, guards=("verdict_is_final",)),
              Edge("fail", (Stage.REVIEW, Stage.PROCESSING), Stage.FAILED))
    extended = attrs.evolve(base, states=states, edges=edges[:1] + edges[2:],
                            events=base.events + (EventSpec("escalate", "sent to a person", ("verdict",)),))
    dot, mermaid = machine_dot(extended), to_mermaid(extended)
    assert "REVIEW" not in machine_dot(base)
    assert re.search(r'\t\t"REVIEW" \[label=<<b>REVIEW</b>', dot)
    assert '"PROCESSING" -> "REVIEW" [label="escalate(verdict) [1]"]' in dot
    assert '"REVIEW" -> "analysis.fail.2" [arrowhead="none"]' in dot  # two sources meet, then one edge
    assert '"analysis.fail.2" -> "FAILED" [label="fail(reason)"]' in dot
    assert "PROCESSING --> REVIEW: escalate(verdict) [1]" in mermaid and "REVIEW --> FAILED: fail(reason)" in mermaid


def test_output_is_deterministic() -> None:
    assert text_sources(("dot", "mmd", "md")) == text_sources(("dot", "mmd", "md"))


@pytest.mark.parametrize("name", sorted(text_sources(("dot", "mmd", "md"))))
def test_committed_diagrams_are_what_the_code_generates(name: str) -> None:
    generated = text_sources(("dot", "svg", "mmd", "md"))[name]
    assert (DIAGRAMS / name).read_text(encoding="utf-8") == generated, f"run `statuses diagrams`: {name} is stale"


def readme_block(name: str) -> tuple[int, str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(rf"<!-- diagram: {name} -->\n```mermaid\n(.*?)```\n<!-- /diagram: {name} -->", readme, re.S)
    assert block is not None, f"README has no {name} diagram block"
    assert f"(diagrams/{name}.svg)" in readme
    return block.start(), block.group(1)


@pytest.mark.parametrize("name", ["overview", *(d.name for d in DEFINITIONS)])
def test_readmes_diagrams_are_what_the_code_generates(name: str) -> None:
    expected = overview_mermaid(FOLDER_DEFINITION) if name == "overview" else \
        to_mermaid(next(d for d in DEFINITIONS if d.name == name))
    assert readme_block(name)[1] == expected


def test_readme_shows_the_overview_first() -> None:
    assert readme_block("overview")[0] < min(readme_block(d.name)[0] for d in DEFINITIONS)


@needs_dot
@pytest.mark.parametrize("name", ["overview", *(d.name for d in DEFINITIONS)])
def test_svg_is_valid_xml(name: str) -> None:
    root = ElementTree.fromstring(run_dot(dot_sources()[name], "svg"))
    assert root.tag.endswith("svg")
    texts = "".join(root.itertext())
    assert all(state.value.value in texts for definition in DEFINITIONS for state in definition.states
               if name in ("overview", definition.name))
