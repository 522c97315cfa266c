"""The loaders raise PayloadError and nothing else, in bounded time, for any JSON value; and what they write, they read."""

from __future__ import annotations

import copy
import json
import sys
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuses import Analysis, AnalysisType, Folder
from statuses.analysis import ANALYSIS_JSON_KEYS
from statuses.folder import FOLDER_JSON_KEYS
from statuses.payloads import (
    PayloadError,
    SdkAnalysis,
    SdkResult,
    document_problems,
    dump_analysis,
    dump_folder,
    load_analysis,
    observe,
    load_folder,
    load_sdk_result,
)
from statuses.values import HugeInteger, parse_time, read_json_int, short_repr

from .test_payloads import analysis, folder, problems

HUGE = 10 ** 5000  # past Python's 4,300-digit limit on int -> str


def deep(levels: int, leaf: Any = "x", key: str | None = None) -> Any:
    value = leaf
    for _ in range(levels):
        value = {key: value} if key is not None else [value]
    return value


def outcome(doc: Any) -> list[str]:
    """The problems ``load_folder`` reports; none if it read the document."""
    try:
        load_folder(doc)
    except PayloadError as error:
        return [str(problem) for problem in error.problems]
    return []


HOSTILE = [HUGE, -HUGE, deep(5000), deep(5000, key="k"), "x" * 2_000_000, list(range(200_000)),
           {str(i): i for i in range(200_000)}, float("nan"), float("inf"), "\ud800"]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: short_repr(v, 20))
@pytest.mark.parametrize("key", ["folder_id", "resolution_status", "time_updated", "analyses"])
def test_a_hostile_folder_field_is_read_or_a_payload_error(value: Any, key: str) -> None:
    started = time.process_time()
    assert all(len(message) < 300 for message in outcome({**folder(), key: value}))
    assert time.process_time() - started < 2  # a generous bound: each message is cut, never the whole value


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: short_repr(v, 20))
@pytest.mark.parametrize("key", ["analyse_id", "analysis_id", "type", "state", "resolution", "group_id",
                                 "time_created"])
def test_a_hostile_analysis_field_is_read_or_a_payload_error(value: Any, key: str) -> None:
    doc = folder(analysis(**{key: value}))
    messages = outcome(doc)
    assert all(len(message) < 300 for message in messages)
    if not isinstance(value, str) or key not in ("analyse_id", "analysis_id", "group_id"):
        assert messages  # only a string can be an id, and none of these is a status or a time
    try:
        load_analysis(doc["analyses"][0])
    except PayloadError as error:
        assert error.problems


def test_both_spellings_nested_thousands_deep_are_compared_in_bounded_time() -> None:
    doc = folder(analysis(analyse_id=deep(990, key="k"), analysis_id=deep(990, key="k")))
    assert problems(doc)[0].startswith("analyses[0].analysis_id: conflicts with analyse_id: {'k': {'k': ")
    same = folder(analysis(analysis_id=["a"]))
    del same["analyses"][0]["analyse_id"]
    assert problems(same) == ["analyses[0].analysis_id: expected a non-empty string, got a list"]


def test_a_problem_is_reported_at_the_key_the_document_used() -> None:
    doc = folder(analysis(resolution="NOPE"))
    del doc["analyses"][0]["resolution_status"]
    doc["analyses"][0]["analysis_id"] = doc["analyses"][0].pop("analyse_id")
    doc["analyses"][0]["analysis_id"] = 7
    assert problems(doc) == [
        "analyses[0].analysis_id: expected a non-empty string, got int 7",
        "analyses[0].resolution: 'NOPE' is not one of INITIAL, PROCESSING, FAILED, DECLINED, OPERATOR_REQUIRED, "
        "SUCCESS"]
    illegal = folder(analysis(resolution="PROCESSING"))
    del illegal["analyses"][0]["resolution_status"]
    assert problems(illegal) == ["analyses[0].resolution: state FINISHED cannot have resolution_status PROCESSING"]


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
any_json = st.recursive(json_scalars | st.just(0).map(lambda _: HUGE),  # just(HUGE) would repr it
                        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=4),
                        max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(doc=st.one_of(any_json, st.builds(lambda a, k, v: folder(analysis(**{k: v}), analysis(analyse_id="b", **a)),
                                         st.dictionaries(st.sampled_from(["type", "state", "resolution",
                                                                          "analysis_id", "group_id"]), any_json,
                                                         max_size=2),
                                         st.sampled_from(["analysis_id", "resolution", "time_updated", "type"]),
                                         any_json)))
def test_anything_json_like_is_a_folder_or_a_payload_error_never_another_exception(doc: Any) -> None:
    for reader in (load_folder, load_analysis, load_sdk_result, document_problems):
        try:
            reader(doc)
        except PayloadError as error:
            assert error.problems


# What the package writes, it reads.

def test_times_before_1970_are_refused_both_ways() -> None:
    assert problems(folder(time_created="1969-12-31T23:59:59Z")) == [
        "time_created: '1969-12-31T23:59:59Z' is not between 1970-01-01 and 9999-12-31 (times are Unix seconds, "
        "never before 1970)"]
    assert problems(folder(time_created=-1))[0].startswith("time_created: -1 is not between")
    assert load_folder(folder(time_created="1970-01-01T00:00:00Z", time_updated=0)).time_created == 0


def test_two_spellings_that_differ_in_letter_case_agree_and_both_are_written_back() -> None:
    doc = folder(analysis(resolution="success"))
    restored = load_folder(copy.deepcopy(doc))
    written = dump_folder(restored)["analyses"][0]
    assert (written["resolution_status"], written["resolution"]) == ("SUCCESS", "SUCCESS")
    assert list(written)[:6] == ["analyse_id", "folder_id", "type", "state", "resolution_status", "resolution"]
    assert problems(folder(analysis(resolution="DECLINED"))) == [
        "analyses[0].resolution: conflicts with resolution_status: 'SUCCESS'"]


def test_analysis_id_stays_analysis_id_and_new_folders_are_written_with_analyse_id() -> None:
    doc = folder(analysis())
    doc["analyses"][0]["analysis_id"] = doc["analyses"][0].pop("analyse_id")
    assert "analysis_id" in dump_folder(load_folder(copy.deepcopy(doc)))["analyses"][0]
    fresh = Folder()
    fresh.submit([AnalysisType.QUALITY])
    assert "analyse_id" in dump_folder(fresh)["analyses"][0]


def test_observe_writes_back_the_spellings_of_the_newer_snapshot() -> None:
    running = folder(analysis(state="PROCESSING", resolution_status="PROCESSING"), resolution_status="PROCESSING",
                     system_resolution="PROCESSING")
    local = load_folder(running)
    newer = folder(analysis(time_updated=130), time_updated=130)
    newer["analyses"][0]["analysis_id"] = newer["analyses"][0].pop("analyse_id")
    observe(local, copy.deepcopy(newer))
    assert dump_folder(local)["analyses"][0]["analysis_id"] == "a1"


# The Web SDK's result bodies.

def test_the_sdk_result_modes_are_read() -> None:
    assert load_sdk_result({"state": "finished"}) == SdkResult(state="FINISHED")
    assert load_sdk_result({"state": "processing", "analyses": {"quality": {"state": "processing",
                                                                            "resolution": ""}}}) == SdkResult(
        state="PROCESSING", analyses={AnalysisType.QUALITY: SdkAnalysis("PROCESSING", "PROCESSING")})
    assert load_sdk_result({"state": "finished", "folder_id": "f1", "analyses": {
        "quality": {"state": "finished", "resolution": "success"},
        "biometry": {"state": "failed", "resolution": "failed"}}}).folder_id == "f1"


@pytest.mark.parametrize("body, expected", [
    ({"state": "done"}, ["state: 'done' is not one of INITIAL, PROCESSING, FAILED, FINISHED"]),
    ({"state": "finished", "analyses": {"selfie": {"state": "finished", "resolution": "success"}}},
     ["analyses.selfie: key: 'selfie' is not one of BIOMETRY, QUALITY, DOCUMENTS, COLLECTION"]),
    ({"state": "finished", "analyses": {"quality": {"state": "finished", "resolution": ""}}},
     ["analyses.quality.resolution: state FINISHED cannot have resolution_status PROCESSING"]),
    ({"state": "finished", "analyses": {"quality": {"state": "processing", "resolution": ""}}},
     ["state: FINISHED but an analysis is PROCESSING"]),
    ({"state": "finished", "analyses": {"quality": {"state": "finished", "resolution": "operator_required"}}},
     ["analyses.quality.resolution: OPERATOR_REQUIRED is never the verdict of a QUALITY (liveness) analysis"]),
    ({"state": "finished", "folder_id": 5}, ["folder_id: expected a non-empty string, got int 5"]),
    ({"state": "finished", "analyses": [1]}, ["analyses: expected an object keyed by analysis type, got a list"]),
    ([{"state": "finished"}], ["expected a Web SDK result object, got a list"]),
])
def test_a_bad_sdk_body_names_every_problem(body: Any, expected: list[str]) -> None:
    with pytest.raises(PayloadError) as raised:
        load_sdk_result(body)
    assert [str(p) for p in raised.value.problems] == expected


# values: the building blocks.

def test_short_repr_is_bounded_for_anything() -> None:
    for value in HOSTILE:
        started = time.process_time()
        assert len(short_repr(value)) <= 60
        assert time.process_time() - started < 0.1
    assert short_repr(HUGE) == "<an integer of about 5,001 digits>"
    assert short_repr([[[[[1]]]]]) == "[[[[...]]]]"


def test_json_integers_past_the_limit_are_read_by_their_size() -> None:
    value = json.loads("[" + "9" * 5000 + "]", parse_int=read_json_int)[0]
    assert isinstance(value, HugeInteger) and repr(value) == "<an integer of 5,000 digits>"
    assert json.loads("-12", parse_int=read_json_int) == -12
    with pytest.raises(ValueError, match="is not a time in Unix seconds"):
        parse_time(value)
    assert sys.get_int_max_str_digits() in (0, 4300)  # nothing here changed the process-wide limit


def test_the_whole_message_is_bounded_however_many_problems() -> None:
    with pytest.raises(PayloadError) as raised:
        load_folder(folder(*[1] * 100_000))
    assert len(raised.value.problems) == 100_000
    assert len(str(raised.value)) < 3_000 and str(raised.value).endswith("...and 99980 more (see .problems)")
    with pytest.raises(PayloadError) as sdk:
        load_sdk_result({"state": "finished", "analyses": {"x" * 10**6: {}}})
    assert len(str(sdk.value)) < 300


@pytest.mark.parametrize("state, results, problem", [
    ("failed", ["success"], "FAILED but no analysis has FAILED: the group that decided it had one"),
    ("finished", ["failed"], "FINISHED but every analysis has FAILED: the group that decided it had none"),
    ("initial", ["success"], "INITIAL but the folder has 1 analyses"),
])
def test_an_sdk_folder_state_its_analyses_cannot_give_is_a_problem(state: str, results: list[str],
                                                                   problem: str) -> None:
    analyses = {kind: {"state": "failed" if result == "failed" else "finished", "resolution": result}
                for kind, result in zip(["quality", "biometry"], results)}
    with pytest.raises(PayloadError) as raised:
        load_sdk_result({"state": state, "analyses": analyses})
    assert [str(p) for p in raised.value.problems] == [f"state: {problem}"]
    assert load_sdk_result({"state": "failed", "analyses": {**analyses, "documents": {
        "state": "failed", "resolution": "failed"}}}).state == "FAILED" or state != "failed"


def test_extra_fields_never_shadow_what_the_entity_writes() -> None:
    with pytest.raises(ValueError, match=r"Analysis\(\): extra: holds 'state'"):
        Analysis(type="QUALITY", extra={"state": "FINISHED"})
    with pytest.raises(ValueError, match=r"holds 'analysis_id'"):
        Analysis.restore(analyse_id="a1", type="QUALITY", state="PROCESSING", resolution_status="PROCESSING",
                         extra={"analysis_id": "b"})
    with pytest.raises(ValueError, match=r"Folder\(\): extra: holds 'analyses'"):
        Folder(extra={"analyses": 5})
    with pytest.raises(ValueError, match=r"Folder\(\): resolution_status: 'bogus' is not one of"):
        Folder.restore(folder_id="f1", resolution_status="bogus", system_resolution="INITIAL", groups=[])
    standalone = load_analysis(analysis(group_id="g7"))
    assert dump_analysis(standalone)["group_id"] == "g7"  # kept among its extra fields, having no group


def test_every_key_an_entity_writes_is_one_its_extra_may_not_hold() -> None:
    live = Folder(time_created=1, time_updated=2)
    for item in live.submit(["QUALITY"]).analyses:
        item.time_created = item.time_updated = 1
        item.spellings = ("analysis_id", "resolution_status", "resolution")
    written = dump_folder(live)
    assert set(written) == FOLDER_JSON_KEYS
    assert set(written["analyses"][0]) - {"group_id"} == ANALYSIS_JSON_KEYS - {"analyse_id"}
