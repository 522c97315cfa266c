"""Store.observe: a stored folder follows the API's snapshots exactly as a folder in memory does, and keeps them whole.

Each proof runs on SQLite and on PostgreSQL.  The stored folder and a folder
in memory take the same snapshots (the store through ``observe``, memory
through :func:`statuses.payloads.observe`): the same moves or the same
refusal each time, and afterwards ``dump_folder`` of either is the same
document (extras, ``results_data``, times, key spellings), the log is the
moves returned, and :func:`check_consistent` recomputes every stored folder.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import statuses
from statuses import AnalysisState, AnalysisType, Folder, IllegalTransition, InvalidArgument, Settings, Transition
from statuses.payloads import PayloadError, dump_folder, load_folder, observe
from statuses.store import AlreadyExists, IdempotencyConflict, NotFound, Store, schema
from tests.test_observe import snapshots_of_a_run, steps
from tests.test_store import (_statements, begin, bump_version_behind_the_stores_back, check_consistent,  # noqa: F401
                              everything, open_store, postgres_run, postgres_url, released, store, url)

FIXTURES = [HealthCheck.function_scoped_fixture]
"""Each example observes a folder of its own id in the test's one store, so the fixture's store may be shared."""


def running(analyse_id: str, group_id: str, time_updated: float = 100, **fields: Any) -> dict[str, Any]:
    """An analysis of the API's JSON, still PROCESSING."""
    return {"analyse_id": analyse_id, "type": "BIOMETRY", "state": "PROCESSING", "resolution_status": "PROCESSING",
            "group_id": group_id, "time_created": 100, "time_updated": time_updated, **fields}


def done(analyse_id: str, group_id: str, verdict: str = "SUCCESS", time_updated: float = 110,
         **fields: Any) -> dict[str, Any]:
    """An analysis of the API's JSON that ended with ``verdict`` (FAILED: failed)."""
    return running(analyse_id, group_id, time_updated, state="FAILED" if verdict == "FAILED" else "FINISHED",
                   resolution_status=verdict, **fields)


def snapshot(*analyses: dict[str, Any], time_updated: float = 100, folder_id: str = "f1",
             **fields: Any) -> dict[str, Any]:
    """The API's JSON of folder ``folder_id``; PROCESSING while an analysis is, else as ``fields`` say."""
    running_now = ({"resolution_status": "PROCESSING", "system_resolution": "PROCESSING"}
                if any(a["state"] == "PROCESSING" for a in analyses) else {})
    return {"folder_id": folder_id, **running_now, "time_created": 100, "time_updated": time_updated,
            "analyses": [{**a, "folder_id": folder_id} for a in analyses], **fields}


def moved(transitions: list[Transition]) -> list[tuple[str, str, str, str, str]]:
    return [(t.entity, t.id, t.source.value, t.dest.value, t.event) for t in transitions]


def outcome(call: Callable[[], list[Transition]]) -> list[Transition] | tuple[type[Exception], str]:
    """What ``call`` returns, or the type and message of what it raises."""
    try:
        return call()
    except (IllegalTransition, PayloadError, InvalidArgument) as refused:
        return type(refused), str(refused)


def stored_or_none(store: Store, folder_id: str) -> Folder | None:
    try:
        return store.load(folder_id)
    except NotFound:
        return None


def folder_row(url: str, folder_id: str) -> Any:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.select(schema.folders).where(schema.folders.c.folder_id == folder_id)).one()
    finally:
        engine.dispose()


# Snapshots of a run, dressed as the API writes them: extras that change as the analyses end, two spellings of
# the analyses' ids and results, ISO times.

@st.composite
def dressed(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    if draw(st.booleans()):
        doc["company_id"] = draw(st.sampled_from(["c0ffee", "c0ffee-2"]))
        doc["meta_data"] = {"source": draw(st.sampled_from(["poller", "webhook"])), "tags": ["a", {"b": None}]}
    iso = draw(st.booleans())
    for item in doc["analyses"]:
        if draw(st.booleans()):
            item["analysis_id"] = item.pop("analyse_id")
        if draw(st.booleans()):
            item["resolution"] = item["resolution_status"]   # both spellings, saying the same
        if item["state"] != "PROCESSING" and draw(st.booleans()):
            item["results_data"] = {"confidence_spoofing": draw(st.floats(0, 1)), "big": 10**30}
        if draw(st.booleans()):
            item["source_media"] = [f"m-{item.get('analyse_id', item.get('analysis_id'))}"]
    if iso:
        for item in (doc, *doc["analyses"]):
            for key in ("time_created", "time_updated"):
                if key in item:
                    item[key] = datetime.fromtimestamp(item[key], tz=timezone.utc).isoformat()
    return doc


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURES)
@given(prefix=steps, ours=steps, theirs=steps, keyed=st.booleans(), data=st.data())
def test_the_store_takes_any_sequence_of_snapshots_as_the_folder_in_memory_does(
        store: Store, url: str, prefix: list[tuple[str, int, AnalysisType, str, bool]],
        ours: list[tuple[str, int, AnalysisType, str, bool]], theirs: list[tuple[str, int, AnalysisType, str, bool]],
        keyed: bool, data: st.DataObject) -> None:
    """Snapshots of two runs forked from one folder, in any order, repeated: newer, stale, contradicting."""
    folder_id = f"f-{uuid.uuid4()}"
    start = Folder(folder_id=folder_id, time_created=0, time_updated=0)
    snapshots_of_a_run(prefix, True, start)
    runs = [*snapshots_of_a_run(ours, True, copy.deepcopy(start)), *snapshots_of_a_run(theirs, True, start)]
    taken = [data.draw(dressed(doc), label="snapshot") for doc in runs]
    order = data.draw(st.lists(st.integers(0, len(taken) - 1), min_size=1, max_size=8), label="order")
    local = Folder(folder_id=folder_id)
    first_of_key: dict[str, list[Transition]] = {}
    applied: list[Transition] = []
    for index in order:
        key = f"{folder_id}/{index}" if keyed else None
        if key in first_of_key:
            # A replay of a key: the first call's moves, whatever the folder did since; memory is not asked.
            assert store.observe(copy.deepcopy(taken[index]), idempotency_key=key) == first_of_key[key]
            event("replayed")
            continue
        expected = outcome(lambda: observe(local, copy.deepcopy(taken[index])))
        got = outcome(lambda: store.observe(copy.deepcopy(taken[index]), idempotency_key=key))
        assert got == expected
        if isinstance(got, list):
            event("applied" if got else "nothing to apply")
            applied += got
            if key is not None:
                first_of_key[key] = got
        else:
            event(f"refused: {got[0].__name__}")
        now = stored_or_none(store, folder_id)
        assert dump_folder(local if now is None else now) == dump_folder(local)
    stored = stored_or_none(store, folder_id)
    if stored is None:  # every snapshot was refused, the first one included
        assert dump_folder(local) == dump_folder(Folder(folder_id=folder_id)) and applied == []
        return
    assert dump_folder(stored) == dump_folder(local)
    assert [(g.group_id, g.finished_order) for g in stored.groups] == \
        [(g.group_id, g.finished_order) for g in local.groups]
    assert store.history(folder_id) == applied
    check_consistent(url)


def test_a_new_folder_is_stored_whole_with_the_moves_that_reached_it(store: Store, url: str) -> None:
    doc = snapshot(done("a1", "g1", "DECLINED", time_updated=90, results_data={"confidence_spoofing": 0.9}),
                   running("a2", "g2", source_media=["m2"]),
                   done("a3", "g2", time_updated=95), time_updated=100, company_id="c0ffee")
    doc["analyses"][1]["analysis_id"] = doc["analyses"][1].pop("analyse_id")
    local = Folder(folder_id="f1")
    moves = store.observe(copy.deepcopy(doc))
    assert moves == observe(local, copy.deepcopy(doc))
    assert moved(moves) == [("folder", "f1", "INITIAL", "PROCESSING", "submit"),
                            ("folder", "f1", "PROCESSING", "PROCESSING", "submit"),
                            ("analysis", "a1", "PROCESSING", "FINISHED", "finish"),
                            ("analysis", "a3", "PROCESSING", "FINISHED", "finish")]
    assert dump_folder(store.load("f1")) == dump_folder(local) == dump_folder(load_folder(doc))
    assert store.history("f1") == moves
    logged = [(e.transition.event, e.arguments) for e in released(store, 4)]
    assert logged == [("submit", {"types": ["BIOMETRY"], "group_id": "g1", "analysis_ids": ["a1"]}),
                      ("submit", {"types": ["BIOMETRY", "BIOMETRY"], "group_id": "g2", "analysis_ids": ["a2", "a3"]}),
                      ("finish", {"verdict": "DECLINED"}), ("finish", {"verdict": "SUCCESS"})]
    row = folder_row(url, "f1")
    assert (row.version, row.group_count, row.analysis_count, row.in_progress) == (1, 2, 3, 1)
    assert check_consistent(url) == {"folders": 1, "analyses": 3, "log rows": 4}


def test_an_initial_snapshot_stores_an_initial_folder_with_its_record(store: Store, url: str) -> None:
    doc = {"folder_id": "f1", "resolution_status": "INITIAL", "system_resolution": "INITIAL", "analyses": [],
           "time_created": 50, "meta_data": {"k": [1, 2.5, None, True]}}
    assert store.observe(copy.deepcopy(doc)) == []
    assert dump_folder(store.load("f1")) == doc
    assert store.history("f1") == []


def test_a_stale_or_repeated_snapshot_writes_nothing(store: Store, url: str) -> None:
    older = snapshot(running("a1", "g1"), running("a2", "g1"))
    newer = snapshot(done("a1", "g1", time_updated=110), running("a2", "g1", time_updated=110), time_updated=110)
    store.observe(older)
    store.observe(newer)
    before = everything(url)
    assert store.observe(copy.deepcopy(older)) == []
    assert store.observe(copy.deepcopy(newer)) == []
    assert everything(url) == before   # the version and stored_at included


def test_a_snapshot_that_changes_only_the_record_writes_it_without_a_move(store: Store, url: str) -> None:
    store.observe(snapshot(running("a1", "g1"), running("a2", "g1")))
    version = folder_row(url, "f1").version
    later = snapshot(running("a1", "g1", time_updated=120, results_data={"partial": True}), running("a2", "g1"),
                     time_updated=120, company_id="c0ffee")
    assert store.observe(copy.deepcopy(later)) == []
    assert dump_folder(store.load("f1")) == dump_folder(load_folder(later))
    assert folder_row(url, "f1").version == version + 1
    assert moved(store.history("f1")) == [("folder", "f1", "INITIAL", "PROCESSING", "submit")]


def test_refused_snapshots_change_nothing_and_claim_no_key(store: Store, url: str) -> None:
    held = snapshot(running("a1", "g1"), done("a2", "g2", "DECLINED", time_updated=200), time_updated=200)
    store.observe(copy.deepcopy(held))
    before = everything(url)
    backwards = snapshot(running("a1", "g1"), running("a2", "g2"), time_updated=230)
    regrouped = snapshot(running("a1", "g2"), done("a2", "g1", "DECLINED", time_updated=200), time_updated=230)
    # Here g2 finished while a1 ran; the snapshot says a1 ended before g2 did: no order of events gives both.
    unreachable = snapshot(done("a1", "g1", time_updated=150), done("a2", "g2", "DECLINED", time_updated=200),
                           time_updated=210, resolution_status="FINISHED", system_resolution="DECLINED")
    for bad, refusal, words in ((backwards, IllegalTransition, "cannot go back"),
                                (regrouped, PayloadError, "but the folder has 'a1' in group 'g1'"),
                                (unreachable, IllegalTransition, "leads by legal steps to FINISHED/SUCCESS")):
        local = load_folder(copy.deepcopy(held))
        expected = outcome(lambda: observe(local, copy.deepcopy(bad)))
        assert isinstance(expected, tuple) and expected[0] is refusal and words in expected[1]
        assert outcome(lambda: store.observe(copy.deepcopy(bad), idempotency_key="poll-1")) == expected
        assert everything(url) == before
    # The key was not claimed: it is free for the next snapshot.
    good = snapshot(done("a1", "g1", time_updated=230), done("a2", "g2", "DECLINED", time_updated=200),
                    time_updated=230, resolution_status="FINISHED", system_resolution="SUCCESS")
    assert moved(store.observe(good, idempotency_key="poll-1")) == [
        ("analysis", "a1", "PROCESSING", "FINISHED", "finish"), ("folder", "f1", "PROCESSING", "FINISHED", "settle")]


def test_a_new_folder_whose_snapshot_is_refused_is_not_stored(store: Store, url: str) -> None:
    before = everything(url)
    # Finished by a1's group, though the later one (by its time) is a2's: no order of the API's events gives that.
    contradiction = snapshot(done("a1", "g1", "DECLINED", time_updated=100), done("a2", "g2", time_updated=110),
                             time_updated=110, resolution_status="FINISHED", system_resolution="DECLINED")
    with pytest.raises(PayloadError):
        store.observe(contradiction)
    assert everything(url) == before


def test_a_keyed_snapshot_applies_once_and_its_replay_returns_the_first_moves(store: Store, url: str) -> None:
    first = snapshot(running("a1", "g1"))
    ended = snapshot(done("a1", "g1", time_updated=110), time_updated=110, resolution_status="FINISHED",
                     system_resolution="SUCCESS")
    created = store.observe(first, idempotency_key="poll-1")
    finished = store.observe(ended, idempotency_key="poll-2")
    before = everything(url)
    assert store.observe(copy.deepcopy(first), idempotency_key="poll-1") == created
    assert store.observe(copy.deepcopy(ended), idempotency_key="poll-2") == finished
    with pytest.raises(IdempotencyConflict, match=r"Store.observe\(\): idempotency key 'poll-1' was first used for "
                                                  r"observe of f1 with"):
        store.observe(ended, idempotency_key="poll-1")
    [quality] = store.submit("f1", ["quality"], idempotency_key="submit-1")
    with pytest.raises(IdempotencyConflict, match="was first used for submit of f1"):
        store.observe(ended, idempotency_key="submit-1")
    assert store.finish(quality, "SUCCESS")
    check_consistent(url)


def test_a_replayed_key_returns_its_moves_though_the_snapshot_is_stale_by_now(store: Store) -> None:
    first = snapshot(running("a1", "g1"), running("a2", "g1"))
    one = snapshot(done("a1", "g1", time_updated=110), running("a2", "g1"), time_updated=110)
    both = snapshot(done("a1", "g1", time_updated=110), done("a2", "g1", time_updated=120), time_updated=120,
                    resolution_status="FINISHED", system_resolution="SUCCESS")
    store.observe(first)
    applied = store.observe(one, idempotency_key="poll-2")
    store.observe(both)
    assert moved(store.observe(copy.deepcopy(one), idempotency_key="poll-2")) == moved(applied) == [
        ("analysis", "a1", "PROCESSING", "FINISHED", "finish")]
    assert store.observe(copy.deepcopy(one)) == []   # without the key, it is stale


def test_same_spelling_of_a_keyed_snapshot_is_one_request_whatever_the_case_or_time_format(store: Store) -> None:
    first = snapshot(running("a1", "g1"))
    moves = store.observe(first, idempotency_key="poll-1")
    shouted = copy.deepcopy(first)
    shouted["analyses"][0]["type"] = "biometry"
    shouted["time_updated"] = "1970-01-01T00:01:40Z"
    shouted["resolution_status"] = "processing"
    assert store.observe(shouted, idempotency_key="poll-1") == moves


def test_record_fields_round_trip_and_the_store_events_still_work_on_observed_analyses(
        store: Store, url: str) -> None:
    doc = snapshot(running("a1", "g1", results_data=None, source_media=["m1", {"kind": "video"}]),
                   running("a2", "g1"), time_updated=100, company_id="c0ffee", meta_data={"nested": {"x": [1]}})
    doc["analyses"][0]["analysis_id"] = doc["analyses"][0].pop("analyse_id")
    doc["analyses"][1]["resolution"] = "PROCESSING"
    store.observe(copy.deepcopy(doc))
    local = load_folder(copy.deepcopy(doc))
    assert dump_folder(store.load("f1")) == dump_folder(local)
    # The store's own events on observed analyses: they keep every field, and add the store's clock.
    failed = store.fail("a1", reason="engine timeout")
    assert moved(failed) == [("analysis", "a1", "PROCESSING", "FAILED", "fail")]
    loaded = store.load("f1")
    [a1, a2] = loaded.analyses
    assert a1.failure_reason == "engine timeout"
    assert a1.extra == {"results_data": None, "source_media": ["m1", {"kind": "video"}]}
    assert (a1.spellings, a2.spellings) == tuple(a.spellings for a in local.analyses)
    assert a2.spellings == ("analyse_id", "resolution_status", "resolution")
    assert loaded.extra == {"company_id": "c0ffee", "meta_data": {"nested": {"x": [1]}}}
    # The API then reports what the store did, and more: it is taken, and the failure's reason stays.
    later = snapshot(done("a1", "g1", "FAILED", time_updated=a1.time_updated), done("a2", "g1", "DECLINED"),
                     time_updated=a1.time_updated, resolution_status="FAILED", system_resolution="FAILED")
    observed = store.observe(later)
    assert moved(observed) == [("analysis", "a2", "PROCESSING", "FINISHED", "finish"),
                               ("folder", "f1", "PROCESSING", "FAILED", "settle")]
    assert store.load("f1").groups[0].analyses[0].failure_reason == "engine timeout"
    [quality] = store.submit("f1", ["quality"])
    assert moved(store.finish(quality, "SUCCESS"))[-1] == ("folder", "f1", "PROCESSING", "FINISHED", "settle")
    newest = dump_folder(store.load("f1"))
    assert store.observe(copy.deepcopy(newest)) == []   # the store's own record, read back: nothing to do
    seen = check_consistent(url)
    assert seen == {"folders": 1, "analyses": 3, "log rows": 7}


def test_an_observed_folder_refuses_a_snapshot_that_contradicts_the_stores_own_events(store: Store, url: str) -> None:
    store.observe(snapshot(running("a1", "g1")))
    store.finish("a1", "DECLINED")
    before = everything(url)
    with pytest.raises(IllegalTransition, match="cannot change its outcome from DECLINED"):
        store.observe(snapshot(done("a1", "g1", time_updated=200), time_updated=200,
                               resolution_status="FINISHED", system_resolution="SUCCESS"))
    assert everything(url) == before


BAD_SNAPSHOTS: list[tuple[Callable[[dict[str, Any]], None], type[Exception], str]] = [
    (lambda doc: doc["analyses"][0].update(state="RUNNING"), PayloadError, r"analyses\[0\]\.state: "),
    (lambda doc: doc.pop("analyses"), PayloadError, "analyses: required field missing"),
    (lambda doc: doc["analyses"][1].pop("group_id"), InvalidArgument,
     r"Store.observe\(\): snapshot.analyses\[1\].group_id: is missing: the store keeps each analysis in its group"),
    (lambda doc: doc.update(folder_id="f" * 65, analyses=[{**a, "folder_id": "f" * 65} for a in doc["analyses"]]),
     InvalidArgument,
     r"Store.observe\(\): snapshot.folder_id: must be at most 64 characters"),
    (lambda doc: doc["analyses"][1].update(group_id="g\x00"), InvalidArgument,
     r"snapshot.analyses\[1\].group_id: must not contain a NUL character"),
    (lambda doc: doc["analyses"][0].update(analysis_id=doc["analyses"][0].pop("analyse_id") + "\ud800"),
     InvalidArgument, r"snapshot.analyses\[0\].analysis_id: must not contain a lone surrogate"),
    (lambda doc: doc["analyses"][0].update(results_data={"score": float("nan")}), InvalidArgument,
     r"snapshot.analyses\[0\].results_data.score: float nan is no JSON number"),
    (lambda doc: doc.update(meta_data={"pair": (1, 2)}), InvalidArgument,
     r"snapshot.meta_data.pair: tuple \(1, 2\): JSON has no tuples"),
    (lambda doc: doc.update(meta_data={1: "one"}), InvalidArgument,
     "snapshot.meta_data: key int 1 is not a string"),
    (lambda doc: doc.update(meta_data={"when": datetime(2025, 1, 1)}), InvalidArgument,
     r"snapshot.meta_data.when: datetime .* is no JSON value"),
    (lambda doc: doc.update(meta_data=nested(150)), InvalidArgument,
     r"snapshot.meta_data(\[0\]){100}: nests deeper than 100 levels"),
]


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("spoil,error,message", BAD_SNAPSHOTS)
def test_a_snapshot_that_does_not_read_or_cannot_be_kept_is_refused_before_any_sql(
        store: Store, url: str, spoil: Callable[[dict[str, Any]], None], error: type[Exception], message: str) -> None:
    store.observe(snapshot(running("a1", "g1"), running("a2", "g1")))
    doc = snapshot(done("a1", "g1", time_updated=110), running("a2", "g1"), time_updated=110)
    spoil(doc)
    before = everything(url)
    sent = _statements(store)
    with pytest.raises(error, match=message):
        store.observe(doc, idempotency_key="poll-1")
    assert sent == []
    assert everything(url) == before


def test_bad_arguments_are_refused_before_any_sql(store: Store, url: str) -> None:
    sent = _statements(store)
    doc = snapshot(running("a1", "g1"))
    with pytest.raises(PayloadError, match="expected a folder object, got a string"):
        store.observe('{"folder_id": "f1"}')  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"Store.observe\(\): settings: must be a Settings"):
        store.observe(doc, settings={"operator_required": True})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"Store.observe\(\): idempotency_key: must be None or a str"):
        store.observe(doc, idempotency_key="")
    assert sent == []


def test_an_id_another_folder_holds_is_refused_and_nothing_is_written(store: Store, url: str) -> None:
    store.observe(snapshot(running("a1", "g1")))
    before = everything(url)
    with pytest.raises(AlreadyExists, match="has analysis 'a1', which the store holds already in folder 'f1'"):
        store.observe(snapshot(running("a1", "g9"), folder_id="f2"))
    with pytest.raises(AlreadyExists, match="has group 'g1', which the store holds already in folder 'f1'"):
        store.observe(snapshot(running("a9", "g1"), folder_id="f2"))
    assert everything(url) == before
    # A folder the store holds, given a new group with another folder's analysis in it.
    store.observe(snapshot(running("a5", "g5"), folder_id="f2"))
    before = everything(url)
    with pytest.raises(AlreadyExists, match="has analysis 'a1', which the store holds already in folder 'f1'"):
        store.observe(snapshot(running("a5", "g5"), running("a1", "g6"), folder_id="f2"))
    assert everything(url) == before
    check_consistent(url)


def test_settings_are_the_new_folders_and_a_stored_folder_keeps_its_own(store: Store) -> None:
    strict = Settings(operator_required=False)
    store.observe(snapshot(running("a1", "g1")), settings=strict)
    review = snapshot(done("a1", "g1", "OPERATOR_REQUIRED", time_updated=110), time_updated=110,
                      resolution_status="FINISHED", system_resolution="OPERATOR_REQUIRED")
    with pytest.raises(IllegalTransition, match="operator review"):
        store.observe(review)   # the default settings would allow it; the folder's do not
    assert store.load("f1").settings == strict


def test_listeners_hear_the_moves_once_committed_and_never_a_replay(store: Store) -> None:
    heard: list[Transition] = []
    seen_states: list[str] = []

    def look(record: Transition) -> None:
        if record.entity == "folder":
            seen_states.append(store.load("f1").resolution_status.value)

    with statuses.subscribe(heard.append), statuses.subscribe(look):
        created = store.observe(snapshot(running("a1", "g1")), idempotency_key="poll-1")
        ended = store.observe(snapshot(done("a1", "g1", time_updated=110), time_updated=110,
                                       resolution_status="FINISHED", system_resolution="SUCCESS"))
        store.observe(snapshot(running("a1", "g1")), idempotency_key="poll-1")
    assert heard == [*created, *ended] and len(heard) == 3
    assert seen_states == ["PROCESSING", "FINISHED"]


def test_inside_the_callers_transaction_it_commits_or_rolls_back_with_it(store: Store, url: str) -> None:
    doc = snapshot(running("a1", "g1"))
    before = everything(url)
    with pytest.raises(RuntimeError), begin(store) as connection:
        assert len(store.observe(doc, connection=connection)) == 1
        raise RuntimeError("the caller's own write failed")
    assert everything(url) == before
    with begin(store) as connection:
        moves = store.observe(doc, connection=connection)
    assert store.history("f1") == moves


def test_racing_observers_of_a_new_folder_store_it_once(store: Store, url: str) -> None:
    doc = snapshot(running("a1", "g1"), done("a2", "g2", time_updated=90))
    barrier = threading.Barrier(6)
    outcomes: list[list[Transition]] = []

    def poll() -> None:
        barrier.wait()
        outcomes.append(store.observe(copy.deepcopy(doc)))

    threads = [threading.Thread(target=poll) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(moves) for moves in outcomes) == [0, 0, 0, 0, 0, 3]   # two submits and a2's finish
    assert store.history("f1") == next(moves for moves in outcomes if moves)
    assert check_consistent(url) == {"folders": 1, "analyses": 2, "log rows": 3}


@settings(max_examples=15, deadline=None, suppress_health_check=FIXTURES)
@given(data=st.data())
def test_any_api_folder_with_group_ids_is_stored_as_memory_reaches_it(store: Store, data: st.DataObject) -> None:
    from statuses.testing.strategies import api_folders
    doc = data.draw(api_folders())
    if any("group_id" not in item for item in doc["analyses"]):
        with pytest.raises(InvalidArgument, match="group_id: is missing"):
            store.observe(copy.deepcopy(doc))
        return
    local = Folder(folder_id=doc["folder_id"])
    expected = outcome(lambda: observe(local, copy.deepcopy(doc)))
    assert outcome(lambda: store.observe(copy.deepcopy(doc))) == expected
    stored = stored_or_none(store, doc["folder_id"])
    if stored is not None:
        assert dump_folder(stored) == dump_folder(local)
        assert (stored.resolution_status, stored.system_resolution) == (local.resolution_status,
                                                                        local.system_resolution)
    else:
        assert isinstance(expected, tuple)
    assert all(a.state in AnalysisState for a in local.analyses)


def test_a_lost_race_is_retried_then_applied_once(store: Store, url: str) -> None:
    store.observe(snapshot(running("a1", "g1")))
    bumped = bump_version_behind_the_stores_back(store, "f1", times=2)
    ended = snapshot(done("a1", "g1"), time_updated=110, resolution_status="FINISHED", system_resolution="SUCCESS")
    assert len(store.observe(ended, idempotency_key="poll-2")) == 2
    assert len(bumped) == 2
    assert check_consistent(url)["log rows"] == 3
