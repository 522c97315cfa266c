"""``Folder.restore_part``: the machines take one event on a part of a folder exactly as on the whole folder.

The store restores, for each event, only the folder's statuses and counts,
the analysis that moves and its group's counts.  For any folder the rules
can make, and any event it allows or refuses, the part must report the same
moves, end in the same statuses and counts, and refuse what the whole folder
refuses, with the same error.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuses import AnalysisType, Folder, FolderStatus, Resolution, Settings
from statuses.analysis import Analysis
from statuses.errors import REFUSALS, InconsistentFolder, InvalidArgument
from statuses.folder import FolderCounts, GroupCounts

TYPES = list(AnalysisType)
ENDS = [("finish", verdict) for verdict in ("SUCCESS", "DECLINED", "OPERATOR_REQUIRED", "FAILED", "MAYBE")] + \
    [("fail", "engine timeout"), ("fail", None)]


def _copy(analysis: Analysis) -> Analysis:
    return Analysis.restore(analysis.analyse_id, analysis.type, analysis.state, analysis.resolution_status,
                            analysis.settings, analysis.failure_reason)


def part_for(folder: Folder, analysis: Analysis | None) -> tuple[Folder, Analysis | None]:
    """The part of ``folder`` a store would restore for an event on ``analysis`` (None: a submit)."""
    group = analysis.group if analysis is not None else None
    copy = None if analysis is None else _copy(analysis)
    part = Folder.restore_part(
        folder_id=folder.folder_id, resolution_status=folder.resolution_status,
        system_resolution=folder.system_resolution, settings=folder.settings, counts=folder.counts(),
        group=None if group is None else group.counts(),  # type: ignore[attr-defined]
        analyses=() if copy is None else (copy,))
    return part, copy


def outcome(action: Any) -> tuple[str, Any]:
    """What an event did: the moves it reported, or the refusal (its type and message)."""
    try:
        return "moved", action()
    except (*REFUSALS, InvalidArgument) as refused:
        return "refused", (type(refused), str(refused))


def state_of(folder: Folder, group_id: str | None) -> tuple[Any, ...]:
    group = next((g for g in folder.groups if g.group_id == group_id), None)
    return (folder.resolution_status, folder.system_resolution, folder.counts(),
            None if group is None else group.counts())


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_every_event_on_a_part_of_the_folder_does_what_it_does_on_the_whole(data: st.DataObject) -> None:
    strict = data.draw(st.booleans(), label="operator_required")
    folder = Folder(settings=Settings(operator_required=strict))
    for _ in range(data.draw(st.integers(1, 12), label="events")):
        analyses = list(folder.analyses)
        if not analyses or data.draw(st.integers(0, 3)) == 0:
            types = data.draw(st.lists(st.sampled_from(TYPES), min_size=0, max_size=3), label="submit")
            group_id = f"g{len(folder.groups)}"
            ids = [f"{group_id}a{index}" for index in range(len(types))]
            part, _ = part_for(folder, None)
            with part.hub().hold(deliver_after=False) as part_moves:
                in_part = outcome(lambda: part.submit(types, group_id=group_id, analysis_ids=ids))
            with folder.hub().hold(deliver_after=False) as whole_moves:
                whole = outcome(lambda: folder.submit(types, group_id=group_id, analysis_ids=ids))
            assert in_part[0] == whole[0] and (whole[0] == "moved" or in_part == whole)
            assert part_moves == whole_moves
            assert state_of(part, group_id) == state_of(folder, group_id)
            continue
        analysis = data.draw(st.sampled_from(analyses), label="analysis")
        event, argument = data.draw(st.sampled_from(ENDS), label="end")
        part, copy = part_for(folder, analysis)
        assert copy is not None
        with part.hub().hold(deliver_after=False) as part_moves:
            in_part = outcome(lambda: getattr(copy, event)(argument))
        with folder.hub().hold(deliver_after=False) as whole_moves:
            whole = outcome(lambda: getattr(analysis, event)(argument))
        assert in_part == whole
        assert part_moves == whole_moves
        assert (copy.state, copy.resolution_status, copy.failure_reason) == \
            (analysis.state, analysis.resolution_status, analysis.failure_reason)
        assert state_of(part, analysis.group.group_id) == state_of(folder, analysis.group.group_id)  # type: ignore[union-attr]


def _counts(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"folder_id": "f", "resolution_status": "PROCESSING", "system_resolution": "PROCESSING",
                            "counts": FolderCounts(2)}
    return {**base, **changes}


@pytest.mark.parametrize("record, problem", [
    (_counts(counts=FolderCounts(0)), "resolution_status: PROCESSING but no analysis is PROCESSING"),
    (_counts(resolution_status="FINISHED", system_resolution="SUCCESS"),
     "resolution_status: FINISHED but 2 analyses are still PROCESSING"),
    (_counts(resolution_status="FINISHED", system_resolution="SUCCESS", counts=FolderCounts(0)),
     "FINISHED but no group has finished"),
    (_counts(resolution_status="FAILED", system_resolution="FAILED",
             counts=FolderCounts(0, "g", 1, Resolution.SUCCESS)), "system_resolution: FAILED with FAILED, decided"),
    (_counts(counts=FolderCounts(1, "g", None, Resolution.SUCCESS)), "the last-finished group is told in part"),
    (_counts(group=GroupCounts("g", 3, Resolution.SUCCESS, None)), "group g counts 3 in progress"),
    (_counts(group=GroupCounts("g", 1, Resolution.SUCCESS, 1)), "group g with 1 analysis is in progress has "
                                                                "finished_order 1"),
    (_counts(system_resolution="SUCCESS"), "system_resolution: SUCCESS while PROCESSING"),
])
def test_counts_the_rules_cannot_explain_are_refused_naming_each_problem(record: dict[str, Any],
                                                                         problem: str) -> None:
    with pytest.raises(InconsistentFolder, match=problem):
        Folder.restore_part(**record)


def test_a_part_reads_the_result_of_the_last_finished_group_it_does_not_hold() -> None:
    """The folder's deciding group is told by its counts alone: the settle takes its result and its id."""
    folder = Folder.restore_part(folder_id="f", resolution_status=FolderStatus.PROCESSING,
                                 system_resolution=Resolution.PROCESSING,
                                 counts=FolderCounts(1, "earlier", 1, Resolution.FAILED),
                                 group=GroupCounts("late", 1, Resolution.SUCCESS, None),
                                 analyses=[Analysis.restore("a", "QUALITY", "PROCESSING", "PROCESSING")])
    [analysis] = folder.analyses
    with folder.hub().hold(deliver_after=False) as moves:
        analysis.finish("SUCCESS")
    assert [(m.event, m.group_id, m.dest.value, m.result.value) for m in moves] == [
        ("finish", "late", "FINISHED", "SUCCESS"), ("settle", "late", "FINISHED", "SUCCESS")]
    assert folder.counts() == FolderCounts(0, "late", 2, Resolution.SUCCESS)
