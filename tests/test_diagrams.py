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
from statuses.cli import DEFINITIONS, text_sources
from statuses.diagrams import edge_label, render, to_dot, to_mermaid

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


def expected_edges(definition) -> set[tuple[str, str, str]]:
    return {(source.value, edge.dest.value, "\n".join(edge_label(definition, edge)))
            for edge in definition.edges for source in edge.sources}


@needs_dot
@BOTH
def test_dot_parses_and_holds_every_state_edge_and_guard(definition) -> None:
    graph = parse_dot(to_dot(definition))
    names = {node["_gvid"]: node["name"] for node in graph["objects"]}
    states = {name for name in names.values() if name != "__start__"}
    assert states == {state.value.value for state in definition.states}
    edges = {(names[e["tail"]], names[e["head"]], e["label"]) for e in graph["edges"]}
    assert edges - {("__start__", definition.initial.value.value, "created")} == expected_edges(definition)
    for edge in definition.edges:
        for guard in edge.guards:
            assert any(definition.guards[guard].requirement in label for *_, label in edges)
    finals = {node["name"] for node in graph["objects"] if node.get("peripheries") == "2"}
    assert finals == {state.value.value for state in definition.final_states}


@BOTH
def test_mermaid_holds_every_edge_and_marks_initial_and_final(definition) -> None:
    text = to_mermaid(definition)
    assert text.startswith("stateDiagram-v2\n")
    for source, dest, label in expected_edges(definition):
        assert f"    {source} --> {dest}: {label.replace(chr(10), ' ')}\n" in text
    assert f"[*] --> {definition.initial.value.value}" in text
    for state in definition.final_states:
        assert f"    {state.value.value} --> [*]\n" in text


def test_the_verdicts_are_visible() -> None:
    for text in (to_dot(ANALYSIS_DEFINITION), to_mermaid(ANALYSIS_DEFINITION),
                 to_dot(FOLDER_DEFINITION), to_mermaid(FOLDER_DEFINITION)):
        assert "SUCCESS, DECLINED or OPERATOR_REQUIRED" in text


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
              Edge("fail", (Stage.REVIEW,), Stage.FAILED))
    extended = attrs.evolve(base, states=states, edges=edges,
                            events=base.events + (EventSpec("escalate", "sent to a person", ("verdict",)),))
    dot, mermaid = to_dot(extended), to_mermaid(extended)
    assert "REVIEW" not in to_dot(base)
    assert re.search(r"\tREVIEW \[label=", dot)
    assert "PROCESSING -> REVIEW [label=\"escalate(verdict)\n[verdict is one of" in dot
    assert "REVIEW -> FAILED" in dot
    assert "PROCESSING --> REVIEW: escalate(verdict) [verdict is one of" in mermaid


def test_output_is_deterministic() -> None:
    assert text_sources(("dot", "mmd", "md")) == text_sources(("dot", "mmd", "md"))


@pytest.mark.parametrize("name", sorted(text_sources(("dot", "mmd", "md"))))
def test_committed_diagrams_are_what_the_code_generates(name: str) -> None:
    generated = text_sources(("dot", "svg", "mmd", "md"))[name]
    assert (DIAGRAMS / name).read_text(encoding="utf-8") == generated, f"run `statuses diagrams`: {name} is stale"


@BOTH
def test_readmes_diagrams_are_what_the_code_generates(definition) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(rf"<!-- diagram: {definition.name} -->\n```mermaid\n(.*?)```\n<!-- /diagram: {definition.name} -->",
                      readme, re.S)
    assert block is not None, f"README has no {definition.name} diagram block"
    assert block.group(1) == to_mermaid(definition)
    assert f"(diagrams/{definition.name}.svg)" in readme


@needs_dot
@BOTH
def test_svg_is_valid_xml(definition) -> None:
    root = ElementTree.fromstring(render(to_dot(definition), "svg"))
    assert root.tag.endswith("svg")
    texts = "".join(root.itertext())
    assert all(state.value.value in texts for state in definition.states)
