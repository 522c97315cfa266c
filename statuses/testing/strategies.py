"""Hypothesis strategies for entities, events and the API's JSON.

Entities are never made up field by field: each is driven through the real
machines by a random script of submits, finishes and fails (so its groups
overlap, finish in any order, and some fail), stamped with times as a service
would, and then, when ``restored`` is drawn, written to the API's JSON and
read back.  Whatever a strategy yields is therefore a state the package can
reach, and restoring it is exercised too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import attrs
from hypothesis import strategies as st

from ..analysis import Analysis
from ..enums import VERDICTS, AnalysisState, AnalysisType, Resolution
from ..folder import SMALLEST_GROUP, Folder
from ..payloads import dump_analysis, dump_folder, load_analysis, load_folder
from ..settings import Settings
from .drivers import driver_for
from .paths import show_argument

START = 1_764_000_000.0
"""An arbitrary Unix time for the first stamp (late 2025)."""

TYPE_SPELLINGS: tuple[AnalysisType | str, ...] = (*AnalysisType, "quality", "liveness", "biometry", "documents")
"""Analysis types as callers pass them: members and the API's spellings."""

VERDICT_SPELLINGS: tuple[Resolution | str, ...] = (*Resolution, "success", "declined", "operator_required", "nope")
"""What a caller may pass ``finish``, verdict or not."""

# Text any store keeps: PostgreSQL refuses NUL, and no database driver can encode a lone surrogate (category Cs).
_STORABLE_CHARACTERS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
REASONS: st.SearchStrategy[str | None] = st.none() | st.text(_STORABLE_CHARACTERS, max_size=20)
"""Why an analysis failed, as a service would store it: any text but NUL and lone surrogates."""


class Clock:
    """Hands out increasing Unix times, one per change, as a service's clock would."""

    def __init__(self, start: float) -> None:
        self.now = start

    def tick(self) -> float:
        self.now += 1.0
        return self.now


def settings_strategy() -> st.SearchStrategy[Settings]:
    return st.builds(Settings, operator_required=st.booleans())


def _end(draw: st.DrawFn, analysis: Analysis, state: AnalysisState, clock: Clock) -> None:
    """Take a PROCESSING analysis to ``state`` by a legal event."""
    if state is AnalysisState.FINISHED:
        allowed = [verdict for verdict in VERDICTS if analysis.may_finish(verdict)]
        analysis.finish(draw(st.sampled_from(allowed)))
    elif state is AnalysisState.FAILED:
        analysis.fail(draw(REASONS))
    else:
        return
    analysis.time_updated = clock.tick()


_END_STATES = st.sampled_from([AnalysisState.FINISHED, AnalysisState.FAILED])


def _run_script(draw: st.DrawFn, folder: Folder, clock: Clock, *, max_groups: int, max_group_size: int,
                min_groups: int = 0, spare: Analysis | None = None) -> None:
    """Random legal submits and ends on ``folder``, at least ``min_groups`` submits; ``spare`` is left alone."""
    for _ in range(draw(st.integers(0, 3 * max_groups))):
        running = [a for a in folder.analyses if a.state is AnalysisState.PROCESSING and a is not spare]
        choices = (["submit"] if len(folder.groups) < max_groups else []) + (["end"] if running else [])
        if not choices:
            break
        if draw(st.sampled_from(choices)) == "end":
            _end(draw, draw(st.sampled_from(running)), draw(_END_STATES), clock)
        else:
            _submit(draw, folder, clock, max_group_size)
        folder.time_updated = clock.now
    while len(folder.groups) < min_groups:
        _submit(draw, folder, clock, max_group_size)
        folder.time_updated = clock.now


def _submit(draw: st.DrawFn, folder: Folder, clock: Clock, max_group_size: int,
            first: Sequence[AnalysisType] = ()) -> None:
    types = [*first, *draw(st.lists(st.sampled_from(AnalysisType), min_size=max(0, SMALLEST_GROUP - len(first)),
                                    max_size=max_group_size - len(first)))]
    now = clock.tick()
    for analysis in folder.submit(types).analyses:
        analysis.time_created = analysis.time_updated = now


@st.composite
def folders(
    draw: st.DrawFn,
    *,
    settings: Settings | None = None,
    max_groups: int = 4,
    max_group_size: int = 3,
    min_groups: int = 0,
    restored: bool | None = None,
) -> Folder:
    """Folders in any reachable state: up to ``max_groups`` overlapping groups, ended in any order.

    ``restored`` (drawn when None) reads the folder back from its API JSON, so
    it comes from :meth:`Folder.restore` rather than from the live path.
    """
    if min_groups > max_groups:
        raise ValueError(f"folders(): min_groups={min_groups} is more than max_groups={max_groups}")
    chosen = settings if settings is not None else draw(settings_strategy())
    clock = Clock(START + draw(st.integers(0, 10**6)))
    folder = Folder(settings=chosen, time_created=clock.tick())
    folder.time_updated = folder.time_created
    _run_script(draw, folder, clock, max_groups=max_groups, max_group_size=max_group_size, min_groups=min_groups)
    if restored if restored is not None else draw(st.booleans()):
        return load_folder(dump_folder(folder), settings=chosen)
    return folder


@st.composite
def analyses(
    draw: st.DrawFn,
    *,
    type: AnalysisType | None = None,
    state: AnalysisState | None = None,
    settings: Settings | None = None,
    in_folder: bool | None = None,
    restored: bool | None = None,
) -> Analysis:
    """Analyses in any reachable state, standalone or inside a folder among other groups.

    Each argument left None is drawn.  An analysis in a folder reports to its
    group and folder when it ends, so events on it move them too.
    """
    kind = type if type is not None else draw(st.sampled_from(AnalysisType))
    target = state if state is not None else draw(st.sampled_from(AnalysisState))
    chosen = settings if settings is not None else draw(settings_strategy())
    restore = restored if restored is not None else draw(st.booleans())
    clock = Clock(START + draw(st.integers(0, 10**6)))
    if not (in_folder if in_folder is not None else draw(st.booleans())):
        analysis = Analysis(type=kind, settings=chosen, time_created=clock.tick())
        analysis.time_updated = analysis.time_created
        _end(draw, analysis, target, clock)
        return load_analysis(dump_analysis(analysis), settings=chosen) if restore else analysis
    folder = Folder(settings=chosen, time_created=clock.tick())
    _run_script(draw, folder, clock, max_groups=2, max_group_size=3)
    _submit(draw, folder, clock, max_group_size=3, first=[kind])
    analysis = folder.groups[-1].analyses[0]
    _end(draw, analysis, target, clock)
    _run_script(draw, folder, clock, max_groups=len(folder.groups) + 1, max_group_size=3, spare=analysis)
    if restore:
        folder = load_folder(dump_folder(folder), settings=chosen)
        return next(a for a in folder.analyses if a.analyse_id == analysis.analyse_id)
    return analysis


@attrs.frozen
class Call:
    """One event with its arguments, as a caller would trigger it."""

    event: str
    args: tuple[Any, ...] = ()

    def apply(self, entity: Analysis | Folder) -> None:
        """Trigger it on ``entity``; raises ``IllegalTransition`` when refused."""
        driver_for(entity).call(entity, self.event, *self.args)

    def allowed(self, entity: Analysis | Folder) -> bool:
        """Whether :meth:`apply` would be accepted now; changes nothing."""
        return driver_for(entity).allows(entity, self.event, *self.args)

    def __str__(self) -> str:
        return f"{self.event}({', '.join(show_argument(arg) for arg in self.args)})"


def events(entity: Analysis | Folder) -> st.SearchStrategy[Call]:
    """Events for ``entity``, legal or not: every event of its machine, with good and bad arguments.

    For a folder, ``settle`` is the bare machine event (no caller fires it:
    it is refused unless the folder is PROCESSING with nothing in progress).
    """
    if isinstance(entity, Analysis):
        return st.one_of(
            st.builds(lambda verdict: Call("finish", (verdict,)), st.sampled_from(VERDICT_SPELLINGS)),
            st.builds(lambda reason: Call("fail", (reason,)), REASONS),
        )
    if isinstance(entity, Folder):
        return st.one_of(
            st.builds(lambda types: Call("submit", (types,)), st.lists(st.sampled_from(TYPE_SPELLINGS), max_size=3)),
            st.just(Call("settle")),
        )
    raise TypeError(f"events() takes an Analysis or a Folder, got {entity.__class__.__name__}")


_EXTRA_FOLDER_FIELDS = {"company_id": "c0ffee", "meta_data": {"source": "test"}}
_EXTRA_ANALYSIS_FIELDS = {"results_data": {"confidence_spoofing": 0.25}, "source_media": ["m1"]}


@st.composite
def api_folders(draw: st.DrawFn, *, settings: Settings | None = None, max_groups: int = 4) -> dict[str, Any]:
    """A folder as the API's JSON, consistent, in any of the spellings the API is seen to use.

    Lower-case values, ``analysis_id`` and ``resolution`` on analyses,
    ``"liveness"`` for QUALITY, ISO 8601 times, no ``group_id`` at all, and
    fields this package does not model; each drawn per document.
    """
    folder = draw(folders(settings=settings, max_groups=max_groups, restored=False))
    document = dump_folder(folder)
    lower = draw(st.booleans())
    iso_times = draw(st.booleans())
    keep_groups = draw(st.booleans())
    if draw(st.booleans()):
        document.update(_EXTRA_FOLDER_FIELDS)
    for key in ("resolution_status", "system_resolution"):
        document[key] = _spelt(document[key], lower)
    _times(document, iso_times)
    for item in document["analyses"]:
        _respell_analysis(draw, item, lower, iso_times, keep_groups)
    return document


def _respell_analysis(draw: st.DrawFn, item: dict[str, Any], lower: bool, iso_times: bool, keep_groups: bool) -> None:
    if draw(st.booleans()):
        item["analysis_id"] = item.pop("analyse_id")
    if draw(st.booleans()):
        item["resolution"] = item.pop("resolution_status")
    for key in ("state", "resolution", "resolution_status"):
        if key in item:
            item[key] = _spelt(item[key], lower)
    if item["type"] == AnalysisType.QUALITY.value and draw(st.booleans()):
        item["type"] = "liveness"
    else:
        item["type"] = _spelt(item["type"], lower)
    if not keep_groups:
        item.pop("group_id", None)
    _times(item, iso_times)
    if draw(st.booleans()):
        item.update(_EXTRA_ANALYSIS_FIELDS)


def _spelt(value: str, lower: bool) -> str:
    return value.lower() if lower else value


def _times(item: dict[str, Any], iso: bool) -> None:
    if not iso:
        return
    for key in ("time_created", "time_updated"):
        if key in item:
            item[key] = datetime.fromtimestamp(item[key], tz=timezone.utc).isoformat()
