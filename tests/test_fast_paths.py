"""The fast paths behave as the general ones: Analysis.restore, StatusEvent.run, refusals, new ids."""

from __future__ import annotations

import itertools
import re

import pytest

from statuses import (
    InvalidArgument,
    FOLDER_MACHINE,
    ANALYSIS_MACHINE,
    Analysis,
    AnalysisState,
    AnalysisType,
    Folder,
    GuardRefused,
    NoTransition,
    Resolution,
    Settings,
)
from statuses.analysis import new_id
from tests.conftest import fields_of

SPELLINGS = {
    "type": [*AnalysisType, *(t.value for t in AnalysisType), "liveness", "biometry"],
    "state": [*AnalysisState, *(s.value for s in AnalysisState), "finished"],
    "resolution_status": [*Resolution, *(r.value for r in Resolution), "success"],
}


def outcome(make: object) -> object:
    """What calling ``make()`` gives: the analysis's fields but its id, or the error's type and text."""
    try:
        analysis = make()  # type: ignore[operator]
    except (ValueError, TypeError) as error:
        return type(error), str(error)
    return [field for field in fields_of(analysis) if field[0] != "analyse_id"]


@pytest.mark.parametrize("kind, state, resolution", list(itertools.product(*SPELLINGS.values())))
def test_restore_is_the_constructor(kind: object, state: object, resolution: object) -> None:
    fields = dict(type=kind, state=state, resolution_status=resolution, analyse_id="a1", time_updated=5.0)
    assert outcome(lambda: Analysis.restore(**fields)) == outcome(lambda: Analysis(**fields))  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [["FINISHED"], None, 3, "FINISHD"])
def test_restore_names_a_bad_value_as_the_constructor_does(bad: object) -> None:
    with pytest.raises(ValueError, match="is not one of PROCESSING, FAILED, FINISHED"):
        Analysis.restore(analyse_id="a1", type="BIOMETRY", state=bad, resolution_status="SUCCESS")  # type: ignore[arg-type]


def test_restore_checks_settings_and_the_quality_rule() -> None:
    with pytest.raises(TypeError, match="settings"):
        Analysis.restore(analyse_id="a1", type="BIOMETRY", state="FINISHED", resolution_status="SUCCESS",
                         settings={"operator_required": True})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="never the verdict of a QUALITY"):
        Analysis.restore(analyse_id="a1", type="QUALITY", state="FINISHED", resolution_status="OPERATOR_REQUIRED")
    restored = Analysis.restore(analyse_id="a1", type="BIOMETRY", state="FINISHED",
                                resolution_status="OPERATOR_REQUIRED", settings=Settings(operator_required=True))
    assert restored.resolution_status is Resolution.OPERATOR_REQUIRED and restored.group is None


def test_submitted_analyses_are_what_the_constructor_makes() -> None:
    settings = Settings(operator_required=True)
    (made,) = Folder(settings=settings).submit(["liveness"]).analyses
    expected = Analysis(type="QUALITY", settings=settings)
    assert [f for f in fields_of(made) if f[0] not in ("analyse_id", "group")] == \
        [f for f in fields_of(expected) if f[0] not in ("analyse_id", "group")]


def test_new_ids_are_uuid4_strings() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    pattern = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
    assert all(pattern.fullmatch(value) for value in ids)


@pytest.mark.parametrize("ended", ["finish", "fail"])
@pytest.mark.parametrize("event, argument", [("finish", "SUCCESS"), ("fail", "again")])
def test_an_ended_analysis_refuses_as_the_machine_does(ended: str, event: str, argument: str, unchanged) -> None:
    (analysis,) = Folder().submit(["biometry"]).analyses
    getattr(analysis, ended)("DECLINED" if ended == "finish" else None)
    with pytest.raises(NoTransition) as direct:
        ANALYSIS_MACHINE.check(analysis, event, argument)
    with unchanged(analysis), pytest.raises(NoTransition) as raised:
        getattr(analysis, event)(argument)
    assert str(raised.value) == str(direct.value)
    assert raised.value.sources == ("PROCESSING",)


def test_an_argument_by_keyword_or_by_position_takes_the_same_edge(unchanged) -> None:
    finish = ANALYSIS_MACHINE.status_events["finish"]
    by_keyword, by_position, fired = Analysis(type="documents"), Analysis(type="documents"), Analysis(type="documents")
    finish.trigger(by_keyword, verdict=Resolution.DECLINED)
    finish.trigger(by_position, Resolution.DECLINED)
    ANALYSIS_MACHINE.fire(fired, "finish", verdict="DECLINED")
    assert fields_of(by_keyword)[2:4] == fields_of(by_position)[2:4] == fields_of(fired)[2:4] == (
        ("state", AnalysisState.FINISHED), ("resolution_status", Resolution.DECLINED))
    refused = Analysis(type="quality")
    with unchanged(refused), pytest.raises(GuardRefused, match="operator_review_not_for_liveness"):
        finish.trigger(refused, Resolution.OPERATOR_REQUIRED)


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("SUCCESS", "again"), {}, r"finish\(\): takes one argument \(verdict\); got 2"),
    ((), {}, r"finish\(\): takes one argument \(verdict\); got 0"),
    ((), {"outcome": "SUCCESS"}, r"finish\(\): takes its one argument, 'verdict'; got 0 positional and 'outcome'"),
    (("SUCCESS",), {"verdict": "SUCCESS"}, r"got 1 positional and 'verdict' by keyword"),
])
def test_an_event_takes_one_argument_and_names_it(args: tuple[object, ...], kwargs: dict[str, object], message: str,
                                                 unchanged) -> None:
    analysis = Analysis(type="documents")
    with unchanged(analysis), pytest.raises(InvalidArgument, match=message) as raised:
        ANALYSIS_MACHINE.fire(analysis, "finish", *args, **kwargs)
    assert isinstance(raised.value, TypeError)  # what calling with the wrong arguments raised before
    with unchanged(analysis):
        assert not ANALYSIS_MACHINE.allows(analysis, "finish", *args, **kwargs)  # a question answered, not raised
    folder = Folder()
    with unchanged(folder), pytest.raises(InvalidArgument, match=r"settle\(\): takes no argument; got 1"):
        FOLDER_MACHINE.fire(folder, "settle", "SUCCESS")
    ANALYSIS_MACHINE.fire(analysis, "fail")  # fail's reason may be left out
    assert analysis.failure_reason is None and analysis.state is AnalysisState.FAILED


class Spelled(str):
    """A str subclass: an id or a reason read through some other library."""


VALUES: dict[str, list[object]] = {
    "analyse_id": ["a1", Spelled("a1"), "", 123, None, b"a1"],
    "failure_reason": [None, "engine timeout", "", Spelled("why"), 5, b"why"],
    "folder_id": [None, "f1", "", Spelled("f1"), 7],
    "time_created": [None, 0, 5, 5.0, 1_732_627_200.5, 253_402_300_799, -1, -0.5, 253_402_300_800, float("nan"),
                     float("inf"), 10**400, True, "2024-11-26T13:20:00Z", "2024-11-26", "yesterday", "1969-12-31"],
    "time_updated": [None, 5, 5.0, -1, "2024-11-26T13:20:00+03:00", [5]],
    "extra": [None, {}, {"results_data": {"score": 0.9}}, [("k", 1)], "k=1"],
    "spellings": [None, (), ("analysis_id",), ("analysis_id", "resolution_status", "resolution"), ["analysis_id"],
                  (Spelled("analysis_id"),), "analysis_id", ("analysis_id", None), {"analysis_id": 1}],
}


def typed_outcome(make: object) -> object:
    """:func:`outcome` with every field's type too (``5 == 5.0``), the id included."""
    try:
        analysis = make()  # type: ignore[operator]
    except (ValueError, TypeError) as error:
        return type(error), str(error)
    return [(name, type(value), value) for name, value in fields_of(analysis)]


@pytest.mark.parametrize("field, value", [(field, value) for field, values in VALUES.items() for value in values],
                         ids=repr)
def test_restore_checks_every_value_as_the_constructor_does(field: str, value: object) -> None:
    fields: dict[str, object] = {"type": "BIOMETRY", "state": "FINISHED", "resolution_status": "SUCCESS",
                                 "analyse_id": "a1", field: value}
    restored = typed_outcome(lambda: Analysis.restore(**fields))  # type: ignore[arg-type]
    assert restored == typed_outcome(lambda: Analysis(**fields))  # type: ignore[arg-type]
    if isinstance(restored, tuple):
        assert restored[1].startswith(f"Analysis(): {field}: ")


def test_restore_keeps_a_recorded_analysis_as_the_loader_gives_it() -> None:
    """The common case keeps its values: the same id, reason and extra objects, times as float seconds."""
    extra = {"results_data": {"score": 0.9}}
    restored = Analysis.restore(analyse_id="a1", type="BIOMETRY", state="FAILED", resolution_status="FAILED",
                                failure_reason="engine timeout", folder_id="f1", time_created=5,
                                time_updated=6.5, extra=extra)
    assert restored.extra is extra and restored.failure_reason == "engine timeout" and restored.folder_id == "f1"
    assert (type(restored.time_created), restored.time_created, restored.time_updated) == (float, 5.0, 6.5)
