"""Random sequences of submits, finishes and fails, legal or not, on random folders.

After every step the spec's invariants are recomputed here from scratch, from
the analyses and the order in which groups finished, independently of the
package's incremental bookkeeping.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from statuses import AnalysisType, Folder, IllegalTransition, InvalidArgument, Resolution, Settings

from .conftest import world

RANK_WORST_FIRST = ["INITIAL", "PROCESSING", "FAILED", "DECLINED", "OPERATOR_REQUIRED", "SUCCESS"]
ANALYSIS_PAIRS = {("PROCESSING", "PROCESSING"), ("FAILED", "FAILED"), ("FINISHED", "SUCCESS"),
                  ("FINISHED", "DECLINED"), ("FINISHED", "OPERATOR_REQUIRED")}
FOLDER_PAIRS = {("INITIAL", "INITIAL"), ("PROCESSING", "PROCESSING"), ("FAILED", "FAILED"),
                ("FINISHED", "SUCCESS"), ("FINISHED", "DECLINED"), ("FINISHED", "OPERATOR_REQUIRED")}

types = st.sampled_from([*AnalysisType, "quality", "liveness", "biometry"])
steps = st.one_of(
    st.tuples(st.just("submit"), st.lists(types, max_size=4)),
    st.tuples(st.just("finish"), st.integers(0, 50), st.sampled_from([*Resolution, "success", "nope"])),
    st.tuples(st.just("fail"), st.integers(0, 50)),
)


def worst(values: list[str]) -> str:
    return min(values, key=RANK_WORST_FIRST.index)


def expected(folder: Folder, step: tuple[Any, ...], analyses: list[Any]) -> type[Exception] | None:
    """What the step raises by the rules: None when it is legal, InvalidArgument for bad input in any state."""
    if step[0] == "submit":
        return None if step[1] else InvalidArgument
    analysis = analyses[step[1] % len(analyses)]
    verdict = str(step[2]).upper() if step[0] == "finish" else None
    if step[0] == "finish" and verdict not in ("SUCCESS", "DECLINED", "OPERATOR_REQUIRED"):
        return InvalidArgument
    if analysis.state != "PROCESSING":
        return IllegalTransition
    if verdict == "OPERATOR_REQUIRED" and not (analysis.type != "QUALITY" and folder.settings.operator_required):
        return IllegalTransition
    return None


def check_invariants(folder: Folder, finish_order: list[Any]) -> None:
    analyses = list(folder.analyses)
    for analysis in analyses:
        assert (analysis.state.value, analysis.resolution_status.value) in ANALYSIS_PAIRS
        assert not (analysis.type == "QUALITY" and analysis.resolution_status == "OPERATOR_REQUIRED")
    assert (folder.resolution_status.value, folder.system_resolution.value) in FOLDER_PAIRS
    running = any(a.state == "PROCESSING" for a in analyses)
    assert (folder.resolution_status == "PROCESSING") == running
    for group in folder.groups:
        assert group.result == worst([a.resolution_status.value for a in group.analyses])
    if not folder.groups:
        assert (folder.resolution_status, folder.system_resolution) == ("INITIAL", "INITIAL")
    elif running:
        assert folder.system_resolution == "PROCESSING"
    else:
        deciding = worst([a.resolution_status.value for a in finish_order[-1].analyses])
        assert folder.system_resolution == deciding
        assert folder.resolution_status == ("FAILED" if deciding == "FAILED" else "FINISHED")
        assert folder.last_finished_group is finish_order[-1]


@settings(max_examples=300, deadline=None)
@given(operator_required=st.booleans(), script=st.lists(steps, max_size=40))
def test_random_scripts_keep_every_invariant(operator_required: bool, script: list[tuple[Any, ...]]) -> None:
    folder = Folder(settings=Settings(operator_required=operator_required))
    finish_order: list[Any] = []
    check_invariants(folder, finish_order)
    for step in script:
        analyses = list(folder.analyses)
        if step[0] != "submit" and not analyses:
            continue
        refusal = expected(folder, step, analyses)
        before = world(folder)
        try:
            if step[0] == "submit":
                folder.submit(step[1])
            else:
                analysis = analyses[step[1] % len(analyses)]
                analysis.fail() if step[0] == "fail" else analysis.finish(step[2])
        except (IllegalTransition, InvalidArgument) as error:
            assert refusal is not None and isinstance(error, refusal), f"{step} raised {error!r}, not {refusal}"
            assert world(folder) == before, f"refused {step} changed something"
        else:
            assert refusal is None, f"{step} was allowed"
        for group in folder.groups:
            if group not in finish_order and all(a.state != "PROCESSING" for a in group.analyses):
                finish_order.append(group)
        check_invariants(folder, finish_order)
