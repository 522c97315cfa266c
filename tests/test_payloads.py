"""The API's JSON: spellings, every problem with its path, round trips, garbage in."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuses import AnalysisType, Folder, Resolution, Settings
from statuses.payloads import PayloadError, dump_analysis, dump_folder, load_analysis, load_folder, observe

ANALYSIS_PAIRS = [("PROCESSING", "PROCESSING"), ("FAILED", "FAILED"), ("FINISHED", "SUCCESS"),
                  ("FINISHED", "DECLINED"), ("FINISHED", "OPERATOR_REQUIRED")]



def Moved(entity: str, id: str, source: str, dest: str, event: str) -> tuple[str, str, str, str, str]:
    """What a test says of a transition; compared with :func:`moved` of the records."""
    return (entity, id, source, dest, event)


def moved(transitions: list) -> list[tuple[str, str, str, str, str]]:
    return [(t.entity, t.id, t.source.value, t.dest.value, t.event) for t in transitions]

def analysis(**fields: Any) -> dict[str, Any]:
    base = {"analyse_id": "a1", "folder_id": "f1", "type": "BIOMETRY", "state": "FINISHED",
            "resolution_status": "SUCCESS", "group_id": "g1", "time_created": 100, "time_updated": 110}
    return {**base, **fields}


def folder(*analyses: dict[str, Any], **fields: Any) -> dict[str, Any]:
    base = {"folder_id": "f1", "resolution_status": "FINISHED", "system_resolution": "SUCCESS",
            "time_created": 100, "time_updated": 120, "analyses": list(analyses) or [analysis()]}
    return {**base, **fields}


def problems(document: object) -> list[str]:
    with pytest.raises(PayloadError) as raised:
        load_folder(document)
    return [str(problem) for problem in raised.value.problems]


@pytest.mark.parametrize("kind", ["BIOMETRY", "DOCUMENTS", "COLLECTION", "QUALITY"])
@pytest.mark.parametrize("state, resolution", ANALYSIS_PAIRS)
def test_every_legal_analysis_round_trips(kind: str, state: str, resolution: str) -> None:
    if kind == "QUALITY" and resolution == "OPERATOR_REQUIRED":
        assert ("analyses[0].resolution_status: OPERATOR_REQUIRED is never the verdict of a QUALITY (liveness) "
                "analysis") in problems(folder(analysis(type=kind, state=state, resolution_status=resolution)))
        return
    status = {"PROCESSING": "PROCESSING", "FAILED": "FAILED"}.get(state, "FINISHED")
    doc = folder(analysis(type=kind, state=state, resolution_status=resolution),
                 resolution_status=status, system_resolution=resolution)
    loaded = load_folder(doc)
    assert dump_folder(loaded) == doc
    (restored,) = loaded.analyses
    assert (restored.state, restored.resolution_status, restored.type) == (state, resolution, kind)
    alone = load_analysis(analysis(type=kind, state=state, resolution_status=resolution))
    assert dump_analysis(alone) == analysis(type=kind, state=state, resolution_status=resolution)


def test_the_specs_example_round_trips_with_extra_fields() -> None:
    doc = {"folder_id": "3f0c", "resolution_status": "FINISHED", "system_resolution": "DECLINED",
           "time_created": 1732627200, "time_updated": 1732627260,
           "analyses": [{"analyse_id": "a1", "folder_id": "3f0c", "type": "QUALITY", "state": "FINISHED",
                         "resolution_status": "DECLINED", "group_id": "g1", "time_created": 1732627201,
                         "time_updated": 1732627250, "results_data": {"confidence_spoofing": 0.93}}],
           "meta": {"source": "webhook"}}
    assert dump_folder(load_folder(copy.deepcopy(doc))) == doc


def test_spellings_seen_in_the_wild_are_read_and_their_keys_kept() -> None:
    wild = {"folder_id": "f1", "resolution_status": "finished", "system_resolution": "success",
            "time_created": "1970-01-01T00:01:40Z", "time_updated": "1970-01-01T00:02:00+00:00",
            "analyses": [{"analysis_id": "a1", "type": "liveness", "state": "finished", "resolution": "success",
                          "time_created": 100.0, "time_updated": "1970-01-01T00:01:50"}]}
    assert dump_folder(load_folder(wild)) == {
        "folder_id": "f1", "resolution_status": "FINISHED", "system_resolution": "SUCCESS",
        "time_created": 100, "time_updated": 120,
        "analyses": [{"analysis_id": "a1", "folder_id": "f1", "type": "QUALITY", "state": "FINISHED",
                      "resolution": "SUCCESS", "time_created": 100, "time_updated": 110}]}


def test_restored_folders_keep_working() -> None:
    doc = folder(analysis(analyse_id="a1", group_id="g1", state="PROCESSING", resolution_status="PROCESSING"),
                 analysis(analyse_id="a2", group_id="g2", time_updated=115),
                 resolution_status="PROCESSING", system_resolution="PROCESSING")
    restored = load_folder(doc)
    first, second = restored.groups
    assert second.finished and not first.finished and restored.last_finished_group is second
    first.analyses[0].finish(Resolution.DECLINED)
    assert (restored.resolution_status, restored.system_resolution) == ("FINISHED", "DECLINED")
    assert restored.last_finished_group is first


@pytest.mark.parametrize("doc, expected", [
    (folder(analysis(state="FINISHD")), ["analyses[0].state: 'FINISHD' is not one of PROCESSING, FAILED, FINISHED"]),
    (folder(analysis(state="FINISHED", resolution_status="PROCESSING")),
     ["analyses[0].resolution_status: state FINISHED cannot have resolution_status PROCESSING"]),
    (folder(resolution_status="FINISHED", system_resolution="FAILED"),
     ["system_resolution: FINISHED folder cannot have system_resolution FAILED"]),
    (folder(analysis(state="PROCESSING", resolution_status="PROCESSING")),
     ["resolution_status: FINISHED but 1 analysis is still PROCESSING: 'a1'"]),
    (folder(resolution_status="PROCESSING", system_resolution="PROCESSING"),
     ["resolution_status: PROCESSING but no analysis is"]),
    (folder(resolution_status="INITIAL", system_resolution="INITIAL"),
     ["resolution_status: INITIAL but the folder has 1 analyses"]),
    (folder(analysis(analyse_id="a1", group_id="g1", time_updated=110, resolution_status="DECLINED"),
            analysis(analyse_id="a2", group_id="g2", time_updated=111, resolution_status="SUCCESS"),
            system_resolution="DECLINED"),
     ["system_resolution: DECLINED but the last-finished group 'g2' has result SUCCESS"]),
    (folder(analysis(folder_id="other")), ["analyses[0].folder_id: 'other' is not the folder's id 'f1'"]),
    (folder(analysis(), analysis()), ["analyses[1].analyse_id: 'a1' is also analyses[0]"]),
    (folder(analysis(time_updated=True)),
     ["analyses[0].time_updated: expected Unix seconds or an ISO 8601 string, got a boolean"]),
    ({**folder(), "analyses": None}, ["analyses: required field missing (ask the API with with_analyses=true)"]),
])
def test_each_inconsistency_has_its_path(doc: dict[str, Any], expected: list[str]) -> None:
    assert problems(doc) == expected


def test_without_group_ids_only_the_decidable_is_checked() -> None:
    doc = folder(analysis(analyse_id="a1", group_id=None, resolution_status="DECLINED"),
                 analysis(analyse_id="a2", group_id=None, time_updated=200), system_resolution="SUCCESS")
    for item in doc["analyses"]:
        del item["group_id"]
    restored = load_folder(doc)
    assert [g.group_id for g in restored.groups] == [None, None]  # the DECLINED one cannot have decided
    assert restored.last_finished_group is restored.groups[1]
    assert restored.last_finished_group.result is Resolution.SUCCESS
    assert dump_folder(restored) == doc


def test_every_problem_is_listed_not_only_the_first() -> None:
    doc = {"folder_id": 3, "resolution_status": "FINISHD", "system_resolution": "SUCCESS",
           "analyses": [analysis(state="FINISHD"), 5, analysis(analyse_id="b", resolution_status="PROCESSING")]}
    assert problems(doc) == [
        "folder_id: expected a non-empty string, got int 3",
        "resolution_status: 'FINISHD' is not one of INITIAL, PROCESSING, FAILED, FINISHED",
        "analyses[0].state: 'FINISHD' is not one of PROCESSING, FAILED, FINISHED",
        "analyses[1]: expected an object, got int 5",
        "analyses[2].resolution_status: state FINISHED cannot have resolution_status PROCESSING",
    ]
    assert issubclass(PayloadError, ValueError)


# Hypothesis: valid folders round-trip; anything JSON-like gives a folder or PayloadError, nothing else.

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
field_values = st.one_of(json_values, st.sampled_from(
    ["PROCESSING", "FAILED", "FINISHED", "SUCCESS", "DECLINED", "OPERATOR_REQUIRED", "INITIAL", "quality",
     "liveness", "biometry", "f1", "g1", "1970-01-01T00:00:00Z"]))


@st.composite
def mangled_folders(draw: st.DrawFn) -> Any:
    doc = folder(analysis(), analysis(analyse_id="a2", group_id="g2"))
    targets = [doc, *doc["analyses"]]
    for _ in range(draw(st.integers(0, 4))):
        target = draw(st.sampled_from(targets))
        key = draw(st.sampled_from([*target.keys(), "analysis_id", "resolution", "extra"]))
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(field_values)
    return doc


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, mangled_folders()))
def test_anything_json_like_gives_a_folder_or_a_payload_error(doc: object) -> None:
    try:
        restored = load_folder(doc)
    except PayloadError as error:
        assert error.problems and all(str(p) for p in error.problems)
    else:
        assert load_folder(dump_folder(restored)) is not None


@settings(max_examples=150, deadline=None)
@given(operator_required=st.booleans(),
       script=st.lists(st.tuples(st.sampled_from(["submit", "finish", "fail"]), st.integers(0, 30),
                                 st.sampled_from(list(AnalysisType)), st.sampled_from(["SUCCESS", "DECLINED",
                                                                                      "OPERATOR_REQUIRED"])),
                       max_size=25))
def test_valid_folders_round_trip(operator_required: bool, script: list[tuple[str, int, AnalysisType, str]]) -> None:
    live = Folder(settings=Settings(operator_required=operator_required))
    clock = 0
    for action, index, kind, verdict in script:
        running = [a for a in live.analyses if a.state == "PROCESSING"]
        clock += 1
        if action == "submit" or not running:
            for a in live.submit([kind, AnalysisType.BIOMETRY]).analyses:
                a.time_created = a.time_updated = clock
        else:
            target = running[index % len(running)]
            target.time_updated = clock
            if action == "fail":
                target.fail()
            elif target.may_finish(verdict):
                target.finish(verdict)
    doc = dump_folder(live)
    restored = load_folder(json.loads(json.dumps(doc)), settings=live.settings)
    assert dump_folder(restored) == doc
    assert [g.result for g in restored.groups] == [g.result for g in live.groups]


def test_long_and_deep_inputs_complete() -> None:
    deep: Any = "x"
    for _ in range(10_000):
        deep = {"d": deep}
    doc = folder(analysis(results_data=deep))
    assert dump_folder(load_folder(doc))["analyses"][0]["results_data"] is deep
    many = folder(*[{"analyse_id": f"a{i}", "state": "NOPE"} for i in range(20_000)])
    assert len(problems(many)) == 3 * 20_000  # type and resolution_status missing, state unknown


# The command line, as a subprocess.

def validate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "statuses", "validate", *args], input=stdin,
                          capture_output=True, text=True)


def test_validate_exit_codes_and_output(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"items": [folder(), folder(folder_id="f2", analyses=[analysis(analyse_id="b1",
                                                                                              folder_id="f2")])]}))
    result = validate(str(good))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([folder(), folder(), folder(), folder(analysis(), analysis(analyse_id="b",
                                                                                       resolution_status="NO"))]))
    result = validate(str(good), str(bad))
    assert result.returncode == 1
    assert result.stdout == (f"{bad}: folders[3].analyses[1].resolution_status: "
                             "'NO' is not one of INITIAL, PROCESSING, FAILED, DECLINED, OPERATOR_REQUIRED, SUCCESS\n")
    report = json.loads(validate("--json", str(bad)).stdout)
    assert report["consistent"] is False and report["problems"][0]["path"] == "folders[3].analyses[1].resolution_status"

    assert validate("-", stdin=json.dumps(folder())).returncode == 0
    for broken, reason in [(validate("-", stdin="{"), "not JSON"), (validate(str(tmp_path / "none.json")),
                                                                    "cannot read")]:
        assert broken.returncode == 2 and reason in broken.stderr
        assert len(broken.stderr.strip().splitlines()) == 1 and "Traceback" not in broken.stderr


# Tracking a remote folder.

from statuses import IllegalTransition  # noqa: E402


def running_doc() -> dict[str, Any]:
    return folder(analysis(analyse_id="a1", group_id="g1", state="PROCESSING", resolution_status="PROCESSING"),
                  analysis(analyse_id="a2", group_id="g1", state="PROCESSING", resolution_status="PROCESSING"),
                  resolution_status="PROCESSING", system_resolution="PROCESSING", time_updated=100)


def test_observe_moves_forward_by_legal_steps_and_reports_them() -> None:
    local = load_folder(running_doc())
    newer = running_doc()
    newer["analyses"][0].update(state="FINISHED", resolution_status="SUCCESS", time_updated=150)
    newer["analyses"][1].update(state="FAILED", resolution_status="FAILED", time_updated=140)
    newer.update(resolution_status="FAILED", system_resolution="FAILED", time_updated=160)
    applied = observe(local, newer)
    assert moved(applied) == [Moved("analysis", "a2", "PROCESSING", "FAILED", "fail"),
                       Moved("analysis", "a1", "PROCESSING", "FINISHED", "finish"),
                       Moved("folder", "f1", "PROCESSING", "FAILED", "settle")]
    assert dump_folder(local) == newer
    assert observe(local, newer) == []                      # a duplicate changes nothing
    assert observe(local, {**running_doc(), "time_updated": 90}) == []   # an older one neither


@pytest.mark.parametrize("change", [
    {"state": "PROCESSING", "resolution_status": "PROCESSING"},   # back to PROCESSING
    {"state": "FINISHED", "resolution_status": "DECLINED"},        # a verdict that changes
])
def test_observe_refuses_an_illegal_step_and_changes_nothing(change: dict[str, str], unchanged) -> None:
    done = folder(analysis(analyse_id="a1", resolution_status="SUCCESS"), time_updated=100)
    local = load_folder(done)
    newer = copy.deepcopy(done)
    newer["analyses"][0].update(change)
    newer.update(time_updated=200, resolution_status="PROCESSING" if change["state"] == "PROCESSING" else "FINISHED",
                 system_resolution=change["resolution_status"])
    newer["analyses"].append(analysis(analyse_id="new", group_id="g9", state="PROCESSING",
                                      resolution_status="PROCESSING"))
    newer.update(resolution_status="PROCESSING", system_resolution="PROCESSING")
    with unchanged(local), pytest.raises(IllegalTransition):
        observe(local, newer)
    assert local.time_updated == 100


def test_observe_submits_a_new_group() -> None:
    local = load_folder(folder(time_updated=120))
    newer = folder(analysis(), analysis(analyse_id="b1", group_id="g2", type="QUALITY", state="PROCESSING",
                                        resolution_status="PROCESSING", time_updated=130),
                   resolution_status="PROCESSING", system_resolution="PROCESSING", time_updated=130)
    applied = observe(local, newer)
    assert moved(applied) == [Moved("folder", "f1", "FINISHED", "PROCESSING", "submit")]
    assert [g.group_id for g in local.groups] == ["g1", "g2"]
    assert dump_folder(local) == newer


def test_observe_keeps_an_unknown_group_unknown() -> None:
    local = load_folder(folder(time_updated=120))
    newer = folder(analysis(), analysis(analyse_id="b1", group_id=None, state="PROCESSING",
                                        resolution_status="PROCESSING", time_updated=130),
                   resolution_status="PROCESSING", system_resolution="PROCESSING", time_updated=130)
    del newer["analyses"][1]["group_id"]
    observe(local, newer)
    assert [g.group_id for g in local.groups] == ["g1", None]
    assert dump_folder(local) == newer  # no group_id invented


def count_calls(action: Any) -> int:
    """How many Python function calls ``action()`` makes: a clock-free measure of work."""
    calls = 0

    def profiler(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(profiler)
    try:
        action()
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.parametrize("shape", ["valid", "broken"])
def test_loading_work_grows_linearly(shape: str) -> None:
    """Twice the analyses, at most twice the work (plus a constant), counted in calls, not seconds."""

    def document(size: int) -> dict[str, Any]:
        if shape == "valid":
            items = [analysis(analyse_id=f"a{i}", group_id=f"g{i % 7}", time_updated=100 + i) for i in range(size)]
            return folder(*items, time_updated=100 + size)
        return folder(*[{"analyse_id": f"a{i}", "state": "NOPE", "type": [i] * 3} for i in range(size)])

    def load(size: int) -> Any:
        doc = document(size)
        return lambda: load_folder(doc) if shape == "valid" else problems(doc)

    small, large = count_calls(load(500)), count_calls(load(4000))
    assert large <= 8 * small * 1.05, (small, large)
