"""Whether a rendered picture (an SVG, the HTML page) is what the definitions draw now.

``dot`` writes the same SVG for the same DOT every time, but another version
of Graphviz lays it out differently.  So a picture made by the installed
version (its generator comment says which) must be byte-identical to a
fresh rendering; one made by another version, or checked where Graphviz is
missing, must parse and hold every label the current definitions draw:
that still catches a corrupted file and a stale one.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable
from html import unescape

from .dot import svg_version

_QUOTED_LABEL = re.compile(r'\blabel="((?:[^"\\]|\\.)*)"')
_HTML_TEXT = re.compile(r">([^<>]+)<")


def dot_texts(source: str) -> set[str]:
    """Every line of text a DOT source of this package labels something with, as an SVG shows it."""
    found = {part for match in _QUOTED_LABEL.finditer(source)
             for part in match.group(1).replace('\\"', '"').replace("\\\\", "\\").split("\\n")}
    for start in (match.end() for match in re.finditer(r"\blabel=<", source)):
        depth, end = 1, start
        while depth:  # an HTML-like label ends at the '>' that balances its '<'
            depth += {"<": 1, ">": -1}.get(source[end], 0)
            end += 1
        found.update(unescape(text) for text in _HTML_TEXT.findall(f">{source[start:end - 1]}<"))
    return {text.strip() for text in found if text.strip()}


def svg_texts(document: str) -> set[str]:
    """The text of every ``<text>`` element of the SVG(s) in ``document``; ``ValueError`` if it does not parse."""
    try:
        root = ElementTree.fromstring(re.sub(r"\A\s*<!DOCTYPE html>", "", document))
    except ElementTree.ParseError as error:
        raise ValueError(f"does not parse: {error}") from None
    return {"".join(element.itertext()).strip() for element in root.iter()
            if element.tag.rpartition("}")[2] == "text"}


def picture_problem(actual: str, sources: Iterable[str], installed: str | None,
                    fresh: Callable[[], str], offline: bool = False) -> str | None:
    """Why ``actual`` (an SVG or the page) is not what ``sources`` (DOT) draw now, or None.

    ``installed``: the Graphviz version here (None without it); ``fresh``:
    renders the picture anew.  Byte-compared when ``actual`` was made by the
    installed version, else checked for every label.  ``offline``: it must
    name no URL either (the HTML page; an SVG file names its XML namespaces).
    """
    made_by = svg_version(actual)
    if installed is not None and made_by == installed:
        return None if actual == fresh() else "differs from what the definitions draw now"
    try:
        shown = svg_texts(actual)
    except ValueError as error:
        return str(error)
    missing = sorted(set().union(*(dot_texts(source) for source in sources)) - shown)
    if missing:
        return f"lacks {len(missing)} label(s) of the current definitions, e.g. {missing[0]!r}"
    if offline and "://" in actual:
        return "refers to the network"
    return None
