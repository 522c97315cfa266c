"""The analysis: one check run on a folder's media, and its machine.

An analysis is created PROCESSING and ends once: ``finish(verdict)`` moves it
to FINISHED carrying SUCCESS, DECLINED or OPERATOR_REQUIRED, ``fail(reason)``
to FAILED.  Its ``resolution_status`` is the verdict once finished and
otherwise echoes its state.  OPERATOR_REQUIRED is never a verdict of a
liveness (QUALITY) check, and only a verdict at all where the settings enable
operator review.

When the analysis belongs to a group, ending it reports to the group, and the
group to its folder (:mod:`statuses.folder`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import attrs

from .definition import Edge, EventSpec, Guard, MachineDefinition, StateSpec
from .engine import StatusMachine
from .enums import VERDICTS, AnalysisState, AnalysisType, Resolution
from .settings import DEFAULT_SETTINGS, Settings

if TYPE_CHECKING:
    from .folder import Group

PROCESSING, FAILED, FINISHED = AnalysisState.PROCESSING, AnalysisState.FAILED, AnalysisState.FINISHED


def new_id() -> str:
    """A fresh random id in the API's spelling (a UUID4 string)."""
    return str(uuid.uuid4())


def _to_type(raw: object) -> AnalysisType:
    return AnalysisType.parse(raw)


def _to_state(raw: object) -> AnalysisState:
    return AnalysisState.parse(raw)


def _to_resolution(raw: object) -> Resolution:
    return Resolution.parse(raw)


@attrs.define(eq=False, kw_only=True, on_setattr=attrs.setters.NO_OP)
class Analysis:
    """One analysis and its status; move it only through its methods.

    Entities compare by identity: two analyses in the same state are still two
    analyses.  ``Analysis(type=...)`` makes a standalone one, PROCESSING; pass
    ``state`` and ``resolution_status`` to restore a recorded one.
    """

    type: AnalysisType = attrs.field(converter=_to_type)
    settings: Settings = attrs.field(default=DEFAULT_SETTINGS, validator=attrs.validators.instance_of(Settings))
    state: AnalysisState = attrs.field(default=PROCESSING, converter=_to_state)
    resolution_status: Resolution = attrs.field(default=Resolution.PROCESSING, converter=_to_resolution)
    analyse_id: str = attrs.field(factory=new_id)
    failure_reason: str | None = None
    """Why the analysis failed, when the caller said."""
    folder_id: str | None = None
    """The folder of a standalone analysis read from the API; see :attr:`folder` otherwise."""
    time_created: float | None = None
    """Unix seconds, as the API reported them."""
    time_updated: float | None = None
    extra: dict[str, Any] | None = attrs.field(default=None, repr=False)
    """The API's fields this package does not model, kept to be written back unchanged."""
    group: Group | None = attrs.field(default=None, init=False, repr=False)
    """The group it was submitted in; None for a standalone analysis."""

    def __attrs_post_init__(self) -> None:
        problem = restore_problem(self.type, self.state, self.resolution_status)
        if problem is not None:
            raise ValueError(f"{self.describe()}: {problem}")

    def finish(self, verdict: Resolution | str) -> None:
        """End the analysis with a verdict: SUCCESS, DECLINED or OPERATOR_REQUIRED."""
        ANALYSIS_MACHINE.fire(self, "finish", _as_resolution(verdict))

    def fail(self, reason: str | None = None) -> None:
        """End the analysis as FAILED (a system error), with an optional reason."""
        ANALYSIS_MACHINE.fire(self, "fail", reason)

    def may_finish(self, verdict: Resolution | str) -> bool:
        """Whether :meth:`finish` with this verdict would be allowed now."""
        return ANALYSIS_MACHINE.allows(self, "finish", _as_resolution(verdict))

    def may_fail(self) -> bool:
        """Whether :meth:`fail` would be allowed now."""
        return ANALYSIS_MACHINE.allows(self, "fail", None)

    @property
    def owner_folder_id(self) -> str | None:
        """The id of the folder this analysis belongs to, if known."""
        return self.group.folder.folder_id if self.group is not None else self.folder_id

    @property
    def ended(self) -> bool:
        """Whether the analysis has left PROCESSING."""
        return self.state is not PROCESSING

    def describe(self) -> str:
        return f"Analysis {self.analyse_id} ({self.type.value})"


def restore_problem(type: AnalysisType, state: AnalysisState, resolution: Resolution) -> str | None:
    """Why an analysis cannot be in this (state, resolution_status); None if it can."""
    if (state, resolution) not in _LEGAL_PAIRS:
        return f"state {state.value} cannot have resolution_status {resolution.value}"
    if resolution is Resolution.OPERATOR_REQUIRED and type is AnalysisType.QUALITY:
        return _NEVER_FOR_LIVENESS
    return None


def _as_resolution(verdict: object) -> Any:
    """The verdict as a Resolution when it spells one; else as given, for the guard to refuse."""
    if isinstance(verdict, Resolution):
        return verdict
    try:
        return Resolution.parse(verdict)
    except ValueError:
        return verdict


# Guards: each answers None when it holds, or why it does not.

_OPERATOR = Resolution.OPERATOR_REQUIRED.value
_VERDICT_SPELLING = ", ".join(v.value for v in VERDICTS)
_NEVER_FOR_LIVENESS = f"{_OPERATOR} is never the verdict of a {AnalysisType.QUALITY.value} (liveness) analysis"


def _verdict_is_final(analysis: Analysis, verdict: object) -> str | None:
    if verdict in VERDICTS:
        return None
    shown = repr(verdict.value) if isinstance(verdict, Resolution) else repr(verdict)
    return f"{shown} is not a verdict; a finished analysis is {_VERDICT_SPELLING}"


def _operator_review_not_for_liveness(analysis: Analysis, verdict: object) -> str | None:
    # == rather than is: the machine may be fired with the plain string.
    if verdict == Resolution.OPERATOR_REQUIRED and analysis.type is AnalysisType.QUALITY:
        return _NEVER_FOR_LIVENESS
    return None


def _operator_review_enabled(analysis: Analysis, verdict: object) -> str | None:
    if verdict == Resolution.OPERATOR_REQUIRED and not analysis.settings.operator_required:
        return f"{_OPERATOR} needs operator review enabled (Settings(operator_required=True))"
    return None


# Effects: what taking an edge does besides moving the state.


def _record_verdict(analysis: Analysis, verdict: Resolution | str) -> None:
    analysis.resolution_status = Resolution.parse(verdict)  # the guards let only a verdict's spelling through


def _record_failure(analysis: Analysis, reason: str | None = None) -> None:
    analysis.resolution_status = Resolution.FAILED
    analysis.failure_reason = reason


def _report_to_group(analysis: Analysis, *args: object) -> None:
    if analysis.group is not None:
        analysis.group._analysis_ended(analysis)


ANALYSIS_DEFINITION = MachineDefinition(
    name="analysis",
    entity="Analysis",
    state_field="state",
    result_field="resolution_status",
    states=(
        StateSpec(PROCESSING, (Resolution.PROCESSING,), initial=True),
        StateSpec(FAILED, (Resolution.FAILED,), final=True),
        StateSpec(FINISHED, VERDICTS, final=True),
    ),
    events=(
        EventSpec("finish", "the analysis ends with a verdict", ("verdict",)),
        EventSpec("fail", "the analysis ends with a system error", ("reason",)),
    ),
    edges=(
        Edge(
            "finish",
            (PROCESSING,),
            FINISHED,
            guards=("verdict_is_final", "operator_review_not_for_liveness", "operator_review_enabled"),
            effects=("record_verdict", "report_to_group"),
        ),
        Edge("fail", (PROCESSING,), FAILED, effects=("record_failure", "report_to_group")),
    ),
    guards={
        "verdict_is_final": Guard(
            "verdict_is_final", f"verdict is one of {_VERDICT_SPELLING}", _verdict_is_final
        ),
        "operator_review_not_for_liveness": Guard(
            "operator_review_not_for_liveness",
            f"{_OPERATOR} only when type is not {AnalysisType.QUALITY.value}",
            _operator_review_not_for_liveness,
        ),
        "operator_review_enabled": Guard(
            "operator_review_enabled",
            f"{_OPERATOR} only when settings enable operator review",
            _operator_review_enabled,
        ),
    },
    effects={
        "record_verdict": _record_verdict,
        "record_failure": _record_failure,
        "report_to_group": _report_to_group,
    },
)
"""The analysis machine: every state, edge, guard and effect, in one place."""

ANALYSIS_MACHINE = StatusMachine(ANALYSIS_DEFINITION)

_LEGAL_PAIRS = frozenset(ANALYSIS_DEFINITION.legal_pairs())
