"""Diagrams of the machines, drawn from their definitions and nothing else.

Every state, edge, guard and legal result in a diagram comes from a
:class:`~statuses.definition.MachineDefinition`, so a diagram cannot say
anything the running machine does not do.  The text sources (DOT, Mermaid,
Markdown) need no system software and are byte-identical on every run; the
pictures (SVG, PNG, the HTML page) need Graphviz's ``dot``.

Importing this registers the models' notebook renderer
(:mod:`statuses.display`); ``import statuses`` does, so a folder shows its
picture in Jupyter.  The modules that draw are imported on first use, so
that ``import statuses`` stays as cheap as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .. import display

if TYPE_CHECKING:  # the names, typed, for readers and type checkers; at run time __getattr__ imports them
    from .check import picture_problem as picture_problem
    from .dot import INSTALL_GRAPHVIZ as INSTALL_GRAPHVIZ
    from .dot import RenderUnavailable as RenderUnavailable
    from .dot import graphviz_version as graphviz_version
    from .dot import run_dot as run_dot
    from .dot import svg_version as svg_version
    from .live import live_dot as live_dot
    from .live import render as render
    from .machines import machine_dot as machine_dot
    from .machines import overview_dot as overview_dot
    from .mermaid import overview_mermaid as overview_mermaid
    from .mermaid import to_mermaid as to_mermaid
    from .pages import index_page as index_page
    from .pages import status_page as status_page

_WHERE = {
    "picture_problem": "check", "INSTALL_GRAPHVIZ": "dot", "RenderUnavailable": "dot", "graphviz_version": "dot",
    "run_dot": "dot", "svg_version": "dot", "live_dot": "live", "render": "live", "machine_dot": "machines", "overview_dot": "machines",
    "overview_mermaid": "mermaid", "to_mermaid": "mermaid", "index_page": "pages", "status_page": "pages",
}
"""Each public name -> the module that defines it, imported when the name is first asked for."""

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def notebook_svg(model: object) -> str | None:
    """A folder's, an analysis's or a machine definition's picture for a notebook; None without Graphviz."""
    from .live import notebook_svg as draw

    return draw(model)


display.register_svg_renderer(notebook_svg)
