"""Every committed Graphviz diagram, laid out by Graphviz itself, is readable: no label collides, and it fits a page.

``dot -Tjson`` gives where each label's text, each node, each edge's curve and
arrowhead ends up.  A label (an edge's, a cluster's, the legend) must not
overlap another label, any node, or an edge that is not its own; a node's
label must not be crossed by an edge; and the picture must be at most
:data:`WIDTH` points wide.  The previous folder diagram, kept below, fails
on both counts: that is what shows the check bites.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from .test_diagrams import DIAGRAMS, needs_dot

WIDTH = 600.0
"""Points (1/72 inch): 800 CSS pixels, a docs page's text column (GitHub's is about 830), so a diagram is shown at
full size, never scaled down."""

SLACK = 0.5
"""Points two boxes may share before they count as overlapping: Graphviz rounds positions to 1/100 point."""


@attrs.frozen
class Box:
    left: float
    bottom: float
    right: float
    top: float

    def overlaps(self, other: Box) -> bool:
        return (min(self.right, other.right) - max(self.left, other.left) > SLACK
                and min(self.top, other.top) - max(self.bottom, other.bottom) > SLACK)

    def holds(self, x: float, y: float) -> bool:
        return self.left + SLACK < x < self.right - SLACK and self.bottom + SLACK < y < self.top - SLACK


@attrs.frozen
class Label:
    owner: str
    """What the label belongs to: ``edge 3``, ``node PROCESSING``, ``cluster …``, ``graph``."""
    text: str
    box: Box


def text_boxes(ops: list[dict]) -> Iterator[tuple[str, Box]]:
    """Each text drawn by ``_ldraw_`` ops, with the box it takes: its width, and its font's size above the baseline."""
    size = 14.0
    for op in ops:
        if op["op"] == "F":
            size = op["size"]
        elif op["op"] == "T":
            (x, y), width = op["pt"], op["width"]
            left = {"l": x, "c": x - width / 2, "r": x - width}[op["align"]]
            yield op["text"], Box(left, y - 0.2 * size, left + width, y + 0.8 * size)


def union(boxes: list[Box]) -> Box:
    return Box(min(b.left for b in boxes), min(b.bottom for b in boxes),
               max(b.right for b in boxes), max(b.top for b in boxes))


def bezier(points: list[list[float]], steps: int = 24) -> Iterator[tuple[float, float]]:
    """Points along a B-spline as ``dot`` draws it: cubic Bézier pieces sharing their ends."""
    for start in range(0, len(points) - 3, 3):
        p0, p1, p2, p3 = points[start:start + 4]
        for step in range(steps + 1):
            t = step / steps
            a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
            yield (a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0], a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1])


def edge_points(edge: dict) -> list[tuple[float, float]]:
    """Where an edge's line and arrowheads run."""
    found: list[tuple[float, float]] = []
    for key in ("_draw_", "_hdraw_", "_tdraw_"):
        for op in edge.get(key, []):
            if op["op"] in ("b", "B"):
                found += bezier(op["points"])
            elif op["op"] in ("p", "P", "L"):
                found += [tuple(point) for point in op["points"]]
    return found


def node_box(node: dict) -> Box:
    x, y = map(float, node["pos"].split(","))
    half_width, half_height = float(node["width"]) * 36, float(node["height"]) * 36
    return Box(x - half_width, y - half_height, x + half_width, y + half_height)


def problems(layout: dict) -> list[str]:
    """Every collision in a ``dot -Tjson`` layout, and its width if over :data:`WIDTH`."""
    objects = layout.get("objects", [])
    nodes = {o["_gvid"]: o for o in objects if "pos" in o}
    labels: list[Label] = []

    def add(owner: str, ops: list[dict], whole: bool) -> None:
        boxes = list(text_boxes(ops))
        if whole and boxes:  # the legend is one table: its lines are one label
            labels.append(Label(owner, boxes[0][0], union([box for _, box in boxes])))
        else:
            labels.extend(Label(owner, text, box) for text, box in boxes)

    add("graph", layout.get("_ldraw_", []), whole=True)
    for o in objects:
        kind = "node" if "pos" in o else "cluster"
        add(f"{kind} {o['name']}", o.get("_ldraw_", []), whole=False)
    for index, edge in enumerate(layout.get("edges", [])):
        add(f"edge {index}", edge.get("_ldraw_", []), whole=True)
    found = []
    for i, first in enumerate(labels):
        for second in labels[i + 1:]:
            if first.owner != second.owner and first.box.overlaps(second.box):
                found.append(f"label {first.text!r} ({first.owner}) overlaps label {second.text!r} ({second.owner})")
    for label in labels:
        for gvid, node in nodes.items():
            if label.owner != f"node {node['name']}" and label.box.overlaps(node_box(node)):
                found.append(f"label {label.text!r} ({label.owner}) overlaps node {node['name']}")
        for index, edge in enumerate(layout.get("edges", [])):
            if label.owner != f"edge {index}" and any(label.box.holds(x, y) for x, y in edge_points(edge)):
                ends = f"{nodes[edge['tail']]['name']} -> {nodes[edge['head']]['name']}"
                found.append(f"label {label.text!r} ({label.owner}) is crossed by edge {index} ({ends})")
    left, _, right, _ = map(float, layout["bb"].split(","))
    if right - left > WIDTH:
        found.append(f"{right - left:.0f} pt wide, more than {WIDTH:.0f}")
    return found


def layout(dot_text: str) -> dict:
    done = subprocess.run(["dot", "-Tjson"], input=dot_text, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


COMMITTED = sorted(path.name for path in DIAGRAMS.glob("*.dot"))


@needs_dot
@pytest.mark.parametrize("name", COMMITTED)
def test_a_committed_diagram_has_no_collision_and_fits_a_page(name: str) -> None:
    assert problems(layout((DIAGRAMS / name).read_text(encoding="utf-8"))) == []


def test_every_diagram_is_checked() -> None:
    assert {"analysis.dot", "folder.dot", "overview.dot"} <= set(COMMITTED)


@needs_dot
def test_the_check_catches_the_folder_diagram_it_replaced() -> None:
    found = problems(layout(PREVIOUS_FOLDER))
    assert any("wide, more than" in problem for problem in found), found
    # the label of the submit self-loop, crossed by the settle edge to FAILED
    assert any("'submit(group)'" in problem and "crossed by edge" in problem and "PROCESSING -> FAILED" in problem
               for problem in found), found


@needs_dot
def test_the_check_catches_a_label_moved_onto_a_node_and_another_label() -> None:
    planted = layout((DIAGRAMS / "folder.dot").read_text(encoding="utf-8"))
    edge = next(e for e in planted["edges"] if "settle" in e.get("label", ""))
    target = next(o for o in planted["objects"] if o.get("name") == "INITIAL")
    x, y = map(float, target["pos"].split(","))
    for op in edge["_ldraw_"]:
        if op["op"] == "T":
            op["pt"] = [x, y]
    found = problems(planted)
    assert any("overlaps node INITIAL" in problem for problem in found), found
    assert any("label 'INITIAL' (node INITIAL) overlaps label 'settle()" in problem for problem in found), found


PREVIOUS_FOLDER = Path(__file__).with_name("previous_folder.dot").read_text(encoding="utf-8")
"""The folder diagram as 0.2.0 drew it (kept as it was committed): 1,254 pt wide, labels crossed."""


@needs_dot
def test_a_live_picture_has_no_collision_and_fits_a_page() -> None:
    from statuses import Analysis, AnalysisType

    from .test_live_diagrams import a_folder
    from statuses.diagrams import live_dot

    folder, history = a_folder()
    for picture in (live_dot(folder, history), live_dot(folder), live_dot(Analysis(type=AnalysisType.QUALITY))):
        assert problems(layout(picture)) == []
