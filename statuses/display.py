"""How the models show themselves in a notebook: as a picture drawn by a renderer registered here.

The models sit below the diagrams in the package's layers, so they cannot
import the code that draws them; :mod:`statuses.diagrams` registers its
renderer here when it is imported, which ``import statuses`` always does.
Jupyter calls ``_repr_mimebundle_``; each model's one delegates to
:func:`mimebundle`.
"""

from __future__ import annotations

from collections.abc import Callable

SvgRenderer = Callable[[object], "str | None"]
"""Draws a model (a folder, an analysis, a machine definition) as SVG text; None when it cannot (no Graphviz)."""

_renderers: list[SvgRenderer] = []


def register_svg_renderer(renderer: SvgRenderer) -> None:
    """Make ``renderer`` the one the models' notebook pictures are drawn with (the last registered wins)."""
    _renderers.append(renderer)


def svg(model: object) -> str | None:
    """``model`` drawn as SVG text, or None when no renderer is registered or it cannot draw."""
    return _renderers[-1](model) if _renderers else None


def mimebundle(model: object) -> dict[str, str]:
    """What a notebook shows for ``model``: its picture when one can be drawn, and always its ``repr``."""
    bundle = {"text/plain": repr(model)}
    picture = svg(model)
    if picture is not None:
        bundle["image/svg+xml"] = picture
    return bundle
