"""The analysis machine: every (state, event) pair, every guard both ways."""

from __future__ import annotations

import copy

import pytest

from statuses import (
    Analysis,
    AnalysisState,
    AnalysisType,
    Folder,
    InvalidArgument,
    GuardRefused,
    IllegalTransition,
    NoTransition,
    Resolution,
    Settings,
)
from statuses.testing import make_analysis

ENABLED = Settings(operator_required=True)


def test_a_trigger_answers_nothing() -> None:
    assert make_analysis().finish(Resolution.SUCCESS) is None  # type: ignore[func-returns-value]
    assert make_analysis().fail("engine timeout") is None  # type: ignore[func-returns-value]


def test_finish_records_the_verdict_and_fail_the_reason() -> None:
    done = Analysis(type="biometry")
    done.finish("success")
    assert (done.state, done.resolution_status) == (AnalysisState.FINISHED, Resolution.SUCCESS)
    failed = Analysis(type="documents")
    failed.fail("engine timeout")
    assert (failed.state, failed.resolution_status, failed.failure_reason) == ("FAILED", "FAILED", "engine timeout")
    quiet = Analysis(type="documents")
    quiet.fail()
    assert quiet.failure_reason is None and quiet.resolution_status is Resolution.FAILED


@pytest.mark.parametrize("kind", list(AnalysisType))
@pytest.mark.parametrize("enabled", [True, False])
def test_operator_required_guards(kind: AnalysisType, enabled: bool, unchanged) -> None:
    analysis = Analysis(type=kind, settings=Settings(operator_required=enabled))
    allowed = enabled and kind is not AnalysisType.QUALITY
    assert analysis.may_finish(Resolution.OPERATOR_REQUIRED) is allowed
    if allowed:
        analysis.finish(Resolution.OPERATOR_REQUIRED)
        assert analysis.resolution_status is Resolution.OPERATOR_REQUIRED
        return
    with unchanged(analysis), pytest.raises(GuardRefused) as raised:
        analysis.finish(Resolution.OPERATOR_REQUIRED)
    expected_guard = "operator_review_not_for_liveness" if kind is AnalysisType.QUALITY else "operator_review_enabled"
    assert raised.value.guard == expected_guard
    assert expected_guard in str(raised.value) and "PROCESSING" in str(raised.value)


@pytest.mark.parametrize("verdict", ["PROCESSING", "FAILED", "INITIAL", "FINISHED", "maybe", None, 1])
def test_a_verdict_that_is_not_one_is_refused(verdict: object, unchanged) -> None:
    analysis = Analysis(type=AnalysisType.COLLECTION, settings=ENABLED)
    assert not analysis.may_finish(verdict)  # type: ignore[arg-type]
    with unchanged(analysis), pytest.raises(InvalidArgument) as raised:
        analysis.finish(verdict)  # type: ignore[arg-type]
    assert raised.value.call == "finish(verdict)"
    assert "is not a verdict" in str(raised.value)


@pytest.mark.parametrize("verdict", ["SUCCESS", "DECLINED"])
@pytest.mark.parametrize("kind", list(AnalysisType))
def test_plain_verdicts_are_allowed_for_every_type(kind: AnalysisType, verdict: str) -> None:
    analysis = Analysis(type=kind)
    analysis.finish(verdict)
    assert analysis.resolution_status == verdict


def test_refusals_are_illegal_transitions() -> None:
    assert issubclass(GuardRefused, IllegalTransition) and issubclass(NoTransition, IllegalTransition)


@pytest.mark.parametrize(
    "state, resolution, problem",
    [
        ("FINISHED", "PROCESSING", "state FINISHED cannot have resolution_status PROCESSING"),
        ("PROCESSING", "SUCCESS", "state PROCESSING cannot have resolution_status SUCCESS"),
        ("FAILED", "DECLINED", "state FAILED cannot have resolution_status DECLINED"),
        ("FINISHED", "INITIAL", "state FINISHED cannot have resolution_status INITIAL"),
        ("FINISHD", "SUCCESS", "'FINISHD' is not one of PROCESSING, FAILED, FINISHED"),
    ],
)
def test_restoring_an_impossible_analysis_is_refused(state: str, resolution: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Analysis(type="biometry", state=state, resolution_status=resolution)


def test_restoring_operator_required_liveness_is_refused() -> None:
    with pytest.raises(ValueError, match="never the verdict of a QUALITY"):
        Analysis(type="quality", state="FINISHED", resolution_status="OPERATOR_REQUIRED")


def test_entities_compare_by_identity() -> None:
    one, two = Analysis(type="quality", analyse_id="a1"), Analysis(type="quality", analyse_id="a1")
    assert one != two and one == one
    assert len({one, two}) == 2


def test_the_machine_fired_directly_normalises_and_guards_plain_strings(unchanged) -> None:
    from statuses import ANALYSIS_MACHINE

    liveness = Analysis(type="quality", settings=ENABLED)
    assert not ANALYSIS_MACHINE.allows(liveness, "finish", "OPERATOR_REQUIRED")
    with unchanged(liveness), pytest.raises(GuardRefused, match="operator_review_not_for_liveness"):
        ANALYSIS_MACHINE.fire(liveness, "finish", "OPERATOR_REQUIRED")
    (inside,) = Folder().submit(["biometry"]).analyses
    ANALYSIS_MACHINE.fire(inside, "finish", "SUCCESS")
    assert inside.resolution_status is Resolution.SUCCESS
    assert inside.group is not None and inside.group.folder.resolution_status == "FINISHED"


def test_settings_must_be_settings() -> None:
    with pytest.raises(TypeError, match="settings"):
        Analysis(type="biometry", settings=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="settings"):
        Folder(settings={"operator_required": True})  # type: ignore[arg-type]


def test_worst_reads_spellings() -> None:
    assert Resolution.worst(["SUCCESS", "failed"]) is Resolution.FAILED
    with pytest.raises(ValueError, match="'nope' is not one of"):
        Resolution.worst(["SUCCESS", "nope"])


BAD_VALUES = [
    ("analyse_id", 123, "expected a non-empty string, got int 123"),
    ("analyse_id", "", "expected a non-empty string"),
    ("analyse_id", None, "expected a non-empty string, got null"),
    ("folder_id", 7, "expected a non-empty string, got int 7"),
    ("folder_id", "", "expected a non-empty string"),
    ("time_updated", "yesterday", "'yesterday' is not an ISO 8601 timestamp"),
    ("time_created", -1, "-1 is not between 1970-01-01 and 9999-12-31 (times are Unix seconds, never before 1970)"),
    ("time_created", "1969-12-31T23:59:59Z", "'1969-12-31T23:59:59Z' is not between 1970-01-01 and 9999-12-31 "
                                             "(times are Unix seconds, never before 1970)"),
    ("time_updated", float("nan"), "nan is not a time in Unix seconds"),
    ("time_updated", True, "expected Unix seconds or an ISO 8601 string, got a boolean"),
    ("failure_reason", 5, "expected a string or None, got int 5"),
    ("extra", [("results_data", {})], "expected a dict (a JSON object) or None, got a list"),
    ("type", "selfie", "'selfie' is not one of BIOMETRY, QUALITY, DOCUMENTS, COLLECTION"),
    ("spellings", "analysis_id", "expected a tuple of strings or None, got a string"),
    ("spellings", ("analysis_id", 1), "expected a tuple of strings or None, got tuple ('analysis_id', 1)"),
]


@pytest.mark.parametrize("field, value, why", BAD_VALUES, ids=[f"{f}={v!r}" for f, v, _ in BAD_VALUES])
def test_the_constructor_refuses_what_the_loader_refuses(field: str, value: object, why: str) -> None:
    with pytest.raises(ValueError) as raised:
        Analysis(**{"type": "QUALITY", field: value})  # type: ignore[arg-type]
    assert str(raised.value) == f"Analysis(): {field}: {why}"
    recorded = {"analyse_id": "a1", "type": "QUALITY", "state": "FINISHED", "resolution_status": "SUCCESS"}
    with pytest.raises(ValueError) as restored:
        Analysis.restore(**{**recorded, field: value})  # type: ignore[arg-type]
    assert str(restored.value) == str(raised.value)


def test_settings_are_named_in_the_constructors_words() -> None:
    with pytest.raises(TypeError) as raised:
        Analysis(type="quality", settings={"operator_required": True})  # type: ignore[arg-type]
    assert str(raised.value) == "Analysis(): settings: expected a Settings, got dict {'operator_required': True}"


def test_the_constructor_reads_times_and_ids_as_the_loader_does() -> None:
    class Spelled(str):
        pass

    analysis = Analysis(type="quality", analyse_id=Spelled("a1"), folder_id=Spelled("f1"),
                        failure_reason=Spelled("why"), time_created="2024-11-26T13:20:00Z",
                        time_updated="2024-11-26T16:20:00+03:00")
    assert (analysis.time_created, analysis.time_updated) == (1_732_627_200.0, 1_732_627_200.0)
    assert [type(value) for value in (analysis.analyse_id, analysis.folder_id, analysis.failure_reason)] == [str] * 3
    assert Analysis(type="quality", time_created=0, time_updated="9999-12-31T23:59:59Z").time_created == 0.0
    assert type(Analysis(type="quality", time_created=5).time_created) is float


SPELLED = ("analysis_id", "resolution_status", "resolution")


def test_an_analysis_carries_the_spellings_of_the_document_it_came_from() -> None:
    assert Analysis(type="quality").spellings is None
    made = Analysis(type="quality", spellings=SPELLED)
    assert made.spellings == SPELLED and "spellings" not in repr(made)
    assert Analysis(type="quality", spellings=list(SPELLED)).spellings == SPELLED  # type: ignore[arg-type]
    recorded = dict(analyse_id="a1", type="QUALITY", state="FINISHED", resolution_status="SUCCESS")
    assert Analysis.restore(**recorded).spellings is None  # type: ignore[arg-type]
    restored = Analysis.restore(**recorded, spellings=SPELLED, time_updated=5.0)  # type: ignore[arg-type]
    assert restored.spellings is SPELLED
    assert Analysis.restore(**{**recorded, "state": "finished"}, spellings=SPELLED).spellings == SPELLED  # type: ignore[arg-type]
    (submitted,) = Folder().submit(["quality"]).analyses
    assert submitted.spellings is None
    assert copy.copy(restored).spellings == SPELLED
    folder = Folder()
    folder.submit(["quality"])
    next(folder.analyses).spellings = SPELLED  # as the JSON layer sets it
    assert [a.spellings for a in copy.copy(folder).analyses] == [SPELLED]
    assert [a.spellings for a in copy.deepcopy(folder).analyses] == [SPELLED]
