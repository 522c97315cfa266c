"""The store's operations, errors and guarantees, on SQLite and on a real PostgreSQL.

Also home of what the other store tests share: the databases each test gets
(PostgreSQL from ``STATUSES_POSTGRES_URL``, a schema per test, dropped after)
and :func:`check_consistent`, which recomputes every stored folder from its
analyses and group finish order and checks the log against it.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import pickle
import random
import re
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

import statuses
from statuses import (AnalysisState, AnalysisType, Folder, FolderStatus, IllegalTransition, InvalidArgument,
                      Resolution, Settings, Transition)
from statuses.errors import REFUSALS, GuardRefused, NoTransition
from statuses.store import errors as store_errors
from statuses.store import migrations
from statuses.store import (
    SCHEMA_VERSION,
    AlreadyExists,
    AsyncStore,
    ConcurrentUpdate,
    IdempotencyConflict,
    LogEntry,
    NotFound,
    SchemaMismatch,
    Store,
    StoreCorrupt,
    StoreBusy,
    StoreError,
    StoreUnavailable,
    schema,
    upgrade,
)
from statuses.values import short_repr

POSTGRES_URL = os.environ.get("STATUSES_POSTGRES_URL")
NO_POSTGRES = ("STATUSES_POSTGRES_URL is not set: set it to a PostgreSQL URL "
               "(postgresql+psycopg://postgres@127.0.0.1:5432/test) to run the PostgreSQL tests; .ci/run does")
ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_run() -> str:
    """A name for this test run's schemas and connections on PostgreSQL."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    return f"statuses_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def postgres_url(postgres_run: str) -> Iterator[str]:
    """A URL whose connections use a schema of their own, dropped after the test."""
    assert POSTGRES_URL is not None
    schema_name = f"{postgres_run}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema_name}"')
    admin.dispose()  # no pooled connection for forked workers to inherit
    base = sa.make_url(POSTGRES_URL)
    url = base.update_query_dict({"options": f"-csearch_path={schema_name}", "application_name": postgres_run})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            # Workers killed or cut off may have left sessions behind.
            connection.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                       "WHERE application_name = :run AND pid <> pg_backend_pid()"),
                               {"run": postgres_run})
            connection.exec_driver_sql(f'DROP SCHEMA "{schema_name}" CASCADE')
        admin.dispose()


@pytest.fixture(params=ENGINES)
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A fresh, empty store URL: a SQLite file in tmp_path, or a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'statuses.db'}"
    return str(request.getfixturevalue("postgres_url"))


class BlockingStore:
    """An :class:`AsyncStore` driven from synchronous test code, so that the store tests run on both classes.

    The store lives on an event loop of its own, in a thread: each method call
    is awaited there (``run_coroutine_threadsafe``), so calls made from many
    threads at once run as concurrent tasks of that one loop, as an asyncio
    service's would.  ``engine`` is the async engine's ``sync_engine``, for
    event listeners; the caller's-transaction tests use ``AsyncConnection``
    themselves (tests/test_store_transaction.py).
    """

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self._companion: Store | None = None
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="AsyncStore's loop", daemon=True)
        self._thread.start()
        try:
            self.store: AsyncStore = self.wait(self._open(url, options))
        except BaseException:
            self._stop()
            raise
        self.engine = self.store.engine.sync_engine

    @staticmethod
    async def _open(url: str, options: dict[str, Any]) -> AsyncStore:
        store = AsyncStore(url, **options)
        return await store.__aenter__()

    def wait(self, coroutine: Any) -> Any:
        """Await ``coroutine`` on the store's loop; its result, or its exception raised here."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.store, name)
        if not inspect.iscoroutinefunction(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is self._thread:
                # A listener, on the loop's thread, cannot wait for the loop: it reads through a Store of the
                # same database, which shows what is committed, as another task of the service would see it.
                if self._companion is None:
                    self._companion = Store(self.url)
                return getattr(self._companion, name)(*args, **kwargs)
            given = kwargs.get("connection")
            if isinstance(given, BlockingConnection):
                kwargs["connection"] = given.connection
            return self.wait(found(*args, **kwargs))

        return call

    @contextmanager
    def begin(self) -> Iterator[BlockingConnection]:
        """An ``AsyncConnection`` in a transaction, as ``engine.begin()`` gives a ``Connection``."""
        with self._opened(self.store.engine.begin()) as connection:
            yield connection

    @contextmanager
    def connect(self) -> Iterator[BlockingConnection]:
        with self._opened(self.store.engine.connect()) as connection:
            yield connection

    @contextmanager
    def _opened(self, manager: Any) -> Iterator[BlockingConnection]:
        connection = self.wait(manager.__aenter__())
        try:
            yield BlockingConnection(self, connection)
        except BaseException as error:
            self.wait(manager.__aexit__(type(error), error, error.__traceback__))
            raise
        self.wait(manager.__aexit__(None, None, None))

    def close(self) -> None:
        if self._companion is not None:
            self._companion.close()
        if self.loop.is_running():
            self.wait(self.store.close())
            self._stop()

    def _stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        assert not self._thread.is_alive(), "the AsyncStore's loop did not stop"
        self.loop.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class BlockingConnection:
    """An ``AsyncConnection`` used from synchronous test code; passed as ``connection=``, the connection itself."""

    def __init__(self, blocking: BlockingStore, connection: Any) -> None:
        self.blocking, self.connection = blocking, connection

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self.blocking.wait(self.connection.execute(*args, **kwargs))

    def rollback(self) -> None:
        self.blocking.wait(self.connection.rollback())


def begin(store: Store) -> Any:
    """A transaction the caller began on the store's engine: a ``Connection``, or an AsyncStore's ``AsyncConnection``."""
    return store.begin() if isinstance(store, BlockingStore) else store.engine.begin()


def connect(store: Store) -> Any:
    """A connection of the store's engine, no transaction begun."""
    return store.connect() if isinstance(store, BlockingStore) else store.engine.connect()


STORES = {"Store": Store, "AsyncStore": BlockingStore}


@pytest.fixture(params=list(STORES))
def open_store(request: pytest.FixtureRequest) -> Callable[..., Store]:
    """Opens a store of each class: ``Store``, and ``AsyncStore`` driven through :class:`BlockingStore`."""
    opener: Callable[..., Store] = STORES[request.param]
    return opener


def is_async(store: object) -> bool:
    return isinstance(store, BlockingStore)


def class_name(store: object) -> str:
    """How the store's errors name its class."""
    return "AsyncStore" if is_async(store) else "Store"


@pytest.fixture
def store(url: str, open_store: Callable[..., Store]) -> Iterator[Store]:
    with open_store(url) as store:
        yield store


# What the proofs share


def everything(url: str, metadata: sa.MetaData = schema.metadata) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every store table (as ``metadata`` lays them out), sorted: to show that nothing was written."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return {table.name: sorted((tuple(row) for row in connection.execute(sa.select(table))), key=repr)
                    for table in metadata.sorted_tables}
    finally:
        engine.dispose()


def check_consistent(url: str) -> Counter[str]:
    """Assert that the stored statuses and the log agree with the rules; count what was checked.

    Independently of the machines: each folder's statuses are recomputed from
    its analyses and its groups' finish order, and its log is replayed with a
    count of analyses in progress.  Each ended analysis has exactly one log
    row, each running one none; the folder has one ``submit`` row per group
    and a ``settle`` row right after each end that left nothing in progress,
    and nowhere else; the groups' finish order is the order in which their
    last analyses ended in the log.
    """
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        seen = check_consistent_in(connection)
    engine.dispose()
    return seen


def check_consistent_in(connection: sa.Connection) -> Counter[str]:
    """:func:`check_consistent` on what ``connection`` sees."""
    folder_rows = connection.execute(sa.select(schema.folders)).all()
    group_rows = connection.execute(sa.select(schema.groups).order_by(schema.groups.c.position)).all()
    analysis_rows = connection.execute(sa.select(schema.analyses).order_by(schema.analyses.c.position)).all()
    log_rows = connection.execute(sa.select(schema.transitions).order_by(schema.transitions.c.seq)).all()
    seen: Counter[str] = Counter()
    groups_of: dict[str, list[Any]] = {}
    for group in group_rows:
        groups_of.setdefault(group.folder_id, []).append(group)
    members: dict[str, list[Any]] = {}
    for analysis in analysis_rows:
        members.setdefault(analysis.group_id, []).append(analysis)
    log_of: dict[str, list[Any]] = {}
    for entry in log_rows:
        log_of.setdefault(entry.folder_id, []).append(entry)
    for folder in folder_rows:
        groups = groups_of.get(folder.folder_id, [])
        _check_statuses(folder, groups, members)
        _check_counts(folder, groups, members)
        _check_log(folder, groups, members, log_of.get(folder.folder_id, []))
        seen["folders"] += 1
        seen["analyses"] += sum(len(members[group.group_id]) for group in groups)
    seen["log rows"] = len(log_rows)
    _check_tallies(connection, folder_rows, analysis_rows)
    return seen


def _check_tallies(connection: sa.Connection, folder_rows: list[Any], analysis_rows: list[Any]) -> None:
    """Each row of ``statuses_counts`` holds the folders by status and analyses by state of its shard, recounted."""
    recounted = {row["shard"]: row for row in schema.zero_counts()}
    for folder in folder_rows:
        recounted[schema.count_shard(folder.folder_id)][schema.FOLDER_COUNTERS[folder.resolution_status]] += 1
    for analysis in analysis_rows:
        recounted[schema.count_shard(analysis.folder_id)][schema.ANALYSIS_COUNTERS[analysis.state]] += 1
    stored = {row.shard: dict(row._mapping) for row in connection.execute(sa.select(schema.counts))}
    for shard, expected in recounted.items():
        assert stored.get(shard) == expected, f"statuses_counts, shard {shard}: {stored.get(shard)}, recounted {expected}"
    assert sorted(stored) == sorted(recounted), f"statuses_counts: shards {sorted(stored)}"


def _check_statuses(folder: Any, groups: list[Any], members: dict[str, list[Any]]) -> None:
    where = f"folder {folder.folder_id}"
    running = [a for g in groups for a in members[g.group_id] if a.state is AnalysisState.PROCESSING]
    for group in groups:
        finished = all(a.state is not AnalysisState.PROCESSING for a in members[group.group_id])
        assert (group.finished_order is not None) == finished, f"{where}: group {group.group_id} finished_order"
    orders = sorted(g.finished_order for g in groups if g.finished_order is not None)
    assert orders == list(range(1, len(orders) + 1)), f"{where}: finish orders {orders}"
    if not groups:
        expected = (FolderStatus.INITIAL, Resolution.INITIAL)
    elif running:
        expected = (FolderStatus.PROCESSING, Resolution.PROCESSING)
    else:
        last = max(groups, key=lambda g: g.finished_order)
        result = Resolution.worst(a.resolution_status for a in members[last.group_id])
        expected = (FolderStatus.FAILED if result is Resolution.FAILED else FolderStatus.FINISHED, result)
    assert (folder.resolution_status, folder.system_resolution) == expected, where


def _check_counts(folder: Any, groups: list[Any], members: dict[str, list[Any]]) -> None:
    """The counts the rows keep for the machines (schema 3) equal those recounted from the analyses."""
    where = f"folder {folder.folder_id}"
    running = PROCESSING_STATE
    for group in groups:
        analyses = members[group.group_id]
        ended = [a.resolution_status for a in analyses if a.state is not running]
        assert group.in_progress == len(analyses) - len(ended), f"{where}: group {group.group_id} in_progress"
        assert group.worst_ended is (Resolution.worst(ended) if ended else Resolution.SUCCESS), \
            f"{where}: group {group.group_id} worst_ended"
    assert folder.in_progress == sum(g.in_progress for g in groups), f"{where}: in_progress"
    assert (folder.group_count, folder.analysis_count) == (len(groups), sum(len(members[g.group_id]) for g in groups))
    assert sorted(g.position for g in groups) == list(range(len(groups))), f"{where}: group positions"
    positions = sorted(a.position for g in groups for a in members[g.group_id])
    assert positions == list(range(len(positions))), f"{where}: analysis positions"
    last = max((g for g in groups if g.finished_order), key=lambda g: g.finished_order, default=None)
    kept = (folder.last_group_id, folder.last_finished_order, folder.last_result)
    assert kept == ((None, None, None) if last is None else
                    (last.group_id, last.finished_order, last.worst_ended)), f"{where}: the last-finished group"
    assert folder.stored_at >= folder.time_created or folder.time_created is None, where


PROCESSING_STATE = AnalysisState.PROCESSING


def _check_log(folder: Any, groups: list[Any], members: dict[str, list[Any]], log: list[Any]) -> None:
    where = f"folder {folder.folder_id}"
    analyses = {a.analyse_id: a for g in groups for a in members[g.group_id]}
    group_of = {a.analyse_id: g.group_id for g in groups for a in members[g.group_id]}
    ends: Counter[str] = Counter()
    left_in_group = {g.group_id: len(members[g.group_id]) for g in groups}
    finish_order: list[str] = []
    status, in_progress, owed_settle = FolderStatus.INITIAL.value, 0, False
    submitted: list[str] = []
    for entry in log:
        if entry.entity == "folder":
            assert entry.source == status, f"{where}: log row {entry.seq} leaves {entry.source}, not {status}"
            if entry.event == "submit":
                assert not owed_settle, f"{where}: no settle before log row {entry.seq}"
                submitted.append(entry.arguments["group_id"])
                in_progress += len(entry.arguments["analysis_ids"])
            else:
                assert entry.event == "settle" and owed_settle, f"{where}: log row {entry.seq} is not owed"
                owed_settle = False
            status = entry.dest
            continue
        assert not owed_settle, f"{where}: no settle before log row {entry.seq}"
        analysis = analyses[entry.entity_id]
        ends[entry.entity_id] += 1
        assert (entry.source, entry.dest) == (AnalysisState.PROCESSING.value, analysis.state.value), where
        in_progress -= 1
        owed_settle = in_progress == 0
        left_in_group[group_of[entry.entity_id]] -= 1
        if not left_in_group[group_of[entry.entity_id]]:
            finish_order.append(group_of[entry.entity_id])
    assert not owed_settle, f"{where}: the last end was not followed by a settle"
    assert status == folder.resolution_status.value, f"{where}: the log ends in {status}"
    assert submitted == [g.group_id for g in groups], f"{where}: one submit row per group, in order"
    for analysis_id, analysis in analyses.items():
        once = 0 if analysis.state is AnalysisState.PROCESSING else 1
        assert ends[analysis_id] == once, f"{where}: analysis {analysis_id} has {ends[analysis_id]} log rows"
    by_order = [g.group_id for g in sorted((g for g in groups if g.finished_order), key=lambda g: g.finished_order)]
    assert by_order == finish_order, f"{where}: groups' finished_order differs from the log's order"


# Operations


def test_a_folder_goes_through_its_lifecycle_and_is_logged(store: Store, url: str) -> None:
    folder_id = store.create_folder(settings=Settings(operator_required=True))
    first = store.submit(folder_id, [AnalysisType.QUALITY, "biometry"])
    second = store.submit(folder_id, ["documents"])
    store.finish(second[0], Resolution.OPERATOR_REQUIRED)   # the second group finishes first
    store.finish(first[0], "success")
    applied = store.fail(first[1], reason="engine timeout")
    assert [(e.entity, e.source, e.dest, e.event) for e in applied] == [
        ("analysis", "PROCESSING", "FAILED", "fail"), ("folder", "PROCESSING", "FAILED", "settle")]
    folder = store.load(folder_id)
    assert (folder.resolution_status, folder.system_resolution) == (FolderStatus.FAILED, Resolution.FAILED)
    assert folder.last_finished_group is folder.groups[0]
    assert [g.finished_order for g in folder.groups] == [2, 1]
    assert folder.settings == Settings(operator_required=True)
    assert [a.analyse_id for a in folder.analyses] == first + second
    assert folder.groups[0].analyses[1].failure_reason == "engine timeout"
    history = store.history(folder_id)
    assert [(e.entity, e.event, e.dest) for e in history] == [
        ("folder", "submit", "PROCESSING"), ("folder", "submit", "PROCESSING"),
        ("analysis", "finish", "FINISHED"), ("analysis", "finish", "FINISHED"),
        ("analysis", "fail", "FAILED"), ("folder", "settle", "FAILED")]
    assert all(isinstance(t, Transition) for t in history)
    assert [(t.group_id, t.result, t.argument) for t in history] == [
        (folder.groups[0].group_id, Resolution.PROCESSING, None),
        (folder.groups[1].group_id, Resolution.PROCESSING, None),
        (folder.groups[1].group_id, Resolution.OPERATOR_REQUIRED, Resolution.OPERATOR_REQUIRED),
        (folder.groups[0].group_id, Resolution.SUCCESS, Resolution.SUCCESS),
        (folder.groups[0].group_id, Resolution.FAILED, "engine timeout"),
        (folder.groups[0].group_id, Resolution.FAILED, None)]   # settle: the last-finished group decided
    assert history[-2:] == applied
    entries = released(store, 6)
    assert [entry.transition for entry in entries] == history
    assert entries[0].arguments == {"types": ["QUALITY", "BIOMETRY"], "group_id": folder.groups[0].group_id,
                                    "analysis_ids": first}
    assert entries[2].arguments == {"verdict": "OPERATOR_REQUIRED"}
    assert (entries[4].arguments, entries[5].arguments) == ({"reason": "engine timeout"}, {})
    assert check_consistent(url) == Counter({"folders": 1, "analyses": 3, "log rows": 6})


def test_a_loaded_folder_keeps_running_in_memory_by_the_stored_finish_order(store: Store) -> None:
    folder_id = store.create_folder()
    first = store.submit(folder_id, ["quality"])
    second = store.submit(folder_id, ["quality"])
    store.finish(second[0], "DECLINED")
    store.finish(first[0], "SUCCESS")     # the first group finished last: it decides
    folder = store.load(folder_id)
    assert folder.system_resolution is Resolution.SUCCESS
    retry = folder.submit(["biometry"])   # a loaded folder is an ordinary Folder
    retry.analyses[0].finish("DECLINED")
    assert [g.finished_order for g in folder.groups] == [2, 1, 3]
    assert store.load(folder_id).system_resolution is Resolution.SUCCESS   # the copy stored nothing


def test_a_finished_folder_takes_a_new_group_and_is_decided_again(store: Store, url: str) -> None:
    folder_id = store.create_folder()
    [quality] = store.submit(folder_id, ["quality"])
    store.fail(quality)
    [retry] = store.submit(folder_id, ["quality"])
    assert store.load(folder_id).resolution_status is FolderStatus.PROCESSING
    store.finish(retry, "SUCCESS")
    folder = store.load(folder_id)
    assert (folder.resolution_status, folder.system_resolution) == (FolderStatus.FINISHED, Resolution.SUCCESS)
    check_consistent(url)


def _picture(folder: Folder) -> tuple[object, ...]:
    """What the rules decide about a folder, ids left out."""
    return (folder.resolution_status, folder.system_resolution,
            [(a.type, a.state, a.resolution_status) for a in folder.analyses],
            [g.finished_order for g in folder.groups])


def _outcome_of(call: Callable[[], object]) -> tuple[object, type[Exception] | None]:
    """What ``call`` returns, or the type of the refusal it raises."""
    try:
        return call(), None
    except REFUSALS as refused:
        return None, type(refused)


@pytest.mark.parametrize("seed", range(12))
def test_the_store_decides_as_the_folder_in_memory_does(tmp_path: Any, seed: int, open_store: Callable[..., Store]) -> None:
    """The same moves, refused or taken alike; the store returns and delivers the records the folder reports.

    The folder in memory is given the store's ids, so the records compare
    whole: what ``finish``/``fail`` return, what :func:`statuses.subscribe`
    hears of the store, and what the folder's own listeners hear are equal.
    """
    rng = random.Random(seed)
    settings = Settings(operator_required=rng.random() < 0.5)
    with open_store(f"sqlite:///{tmp_path / 'same.db'}") as store:
        folder_id = store.create_folder(settings=settings)
        memory = Folder(settings=settings, folder_id=folder_id)
        in_memory: list[Transition] = []
        of_the_store: list[Transition] = []
        memory.subscribe(in_memory.append)
        stored_ids: list[str] = []
        for _ in range(25):
            move = rng.choice(("submit", "finish", "finish", "fail")) if stored_ids else "submit"
            del in_memory[:], of_the_store[:]
            with statuses.subscribe(of_the_store.append):   # the store's moves only: memory moves below
                if move == "submit":
                    types = [rng.choice(list(AnalysisType)) for _ in range(rng.randint(0, 3))]
                    stored, stored_refusal = _outcome_of(lambda: store.submit(folder_id, types))
                else:
                    index = rng.randrange(len(stored_ids))
                    verdict = rng.choice([*Resolution, "nonsense"])
                    stored, stored_refusal = _outcome_of(
                        (lambda: store.finish(stored_ids[index], verdict)) if move == "finish"
                        else (lambda: store.fail(stored_ids[index])))
            if move == "submit":
                ids = stored if isinstance(stored, list) else None
                group_id = of_the_store[0].group_id if of_the_store else None
                returned, memory_refusal = _outcome_of(
                    lambda: memory.submit(types, group_id=group_id, analysis_ids=ids))
                if isinstance(stored, list):
                    stored_ids.extend(stored)
            else:
                target = list(memory.analyses)[index]
                returned, memory_refusal = _outcome_of(
                    (lambda: target.finish(verdict)) if move == "finish" else target.fail)
                assert stored == (None if stored_refusal else in_memory)   # finish/fail return the records
            assert stored_refusal == memory_refusal, (move, stored_refusal, memory_refusal)
            assert of_the_store == in_memory, move   # heard once, in order, equal to the folder's own
            assert _picture(store.load(folder_id)) == _picture(memory)
        assert store.history(folder_id) == _all_moves(store, folder_id)


def _all_moves(store: Store, folder_id: str) -> list[Transition]:
    """Every transition of the folder, from the outbox (waiting for it to be released)."""
    return [entry.transition for entry in released(store, len(store.history(folder_id)))]


# Illegal events and bad input: a clear error, nothing written


def test_illegal_events_raise_from_the_machines_and_write_nothing(store: Store, url: str) -> None:
    folder_id = store.create_folder()
    [quality, biometry] = store.submit(folder_id, ["quality", "biometry"])
    store.finish(quality, "SUCCESS")
    before = everything(url)
    with pytest.raises(NoTransition, match=f"Analysis {quality} .* is FINISHED: event 'finish' has no edge"):
        store.finish(quality, "DECLINED", idempotency_key="late")
    with pytest.raises(NoTransition, match="event 'fail'"):
        store.fail(quality)
    with pytest.raises(GuardRefused, match="operator_review_enabled"):
        store.finish(biometry, Resolution.OPERATOR_REQUIRED)
    # Input no state could take is InvalidArgument, from the machine, in any state.
    with pytest.raises(InvalidArgument, match=r"Store\.finish\(\): finish\(verdict\): 'SUCCES' is not a"):
        store.finish(biometry, "SUCCES")
    with pytest.raises(InvalidArgument, match="is not a verdict"):
        store.finish(biometry, 42)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="is not a verdict"):
        store.finish(quality, "SUCCES", idempotency_key="late-and-wrong")   # an ended analysis too
    with pytest.raises(InvalidArgument, match=f"Folder {folder_id}: .*a group needs one analysis or more"):
        store.submit(folder_id, [])
    assert everything(url) == before


def test_bad_input_is_named_and_writes_nothing(store: Store, url: str) -> None:
    folder_id = store.create_folder()
    [quality] = store.submit(folder_id, ["quality"])
    before = everything(url)
    with pytest.raises(NotFound, match=r"Store.finish\(\): no analysis 'nope' in the store"):
        store.finish("nope", "SUCCESS")
    with pytest.raises(NotFound, match=r"Store.submit\(\): no folder 'nope'"):
        store.submit("nope", ["quality"])
    for call in (lambda: store.load("nope"), lambda: store.history("nope")):
        with pytest.raises(NotFound, match="no folder 'nope'"):
            call()
    mistakes: list[tuple[Callable[[], object], str]] = [
        (lambda: store.fail(7), r"Store.fail\(\): analysis_id: must be a non-empty str, not 7"),  # type: ignore[arg-type]
        (lambda: store.load(None), r"Store.load\(\): folder_id: must be a non-empty str, not None"),  # type: ignore[arg-type]
        (lambda: store.fail(quality, reason=b"x"), r"Store.fail\(\): reason: must be a str or None"),  # type: ignore[arg-type]
        (lambda: store.finish(quality, "SUCCESS", idempotency_key="k" * 201),
         r"Store.finish\(\): idempotency_key: must be None or a str of 1 to 200 characters"),
        (lambda: store.submit(folder_id, "quality"),
         r"Store.submit\(\): types: must be a list of analysis types, not 'quality'"),
        (lambda: store.submit(folder_id, ["quality", "selfie"]),
         rf"Folder {folder_id}: submit\(types\[1\]\): 'selfie' is not one of"),   # the machine's
        (lambda: store.create_folder(settings={"operator_required": True}),  # type: ignore[arg-type]
         r"Store.create_folder\(\): settings: must be a Settings"),
        (lambda: store.changes(after="7"), r"Store.changes\(\): after: '7' is not a cursor"),
        (lambda: store.changes(limit=0), r"Store.changes\(\): limit: must be an int from 1 to"),
        # Values one database stores and the other refuses are refused by the store, on both.
        (lambda: store.create_folder(folder_id="x" * 65),
         r"Store.create_folder\(\): folder_id: must be at most 64 characters, not 'xxx.*\(65\)"),
        (lambda: store.fail(quality, reason="engine\x00timeout"),
         r"Store.fail\(\): reason: must not contain a NUL character"),
        (lambda: store.finish(quality, "SUCCESS", idempotency_key="k\x00"),
         r"Store.finish\(\): idempotency_key: must not contain a NUL"),
        (lambda: store.finish(quality, "SUC\x00CESS", idempotency_key="k1"),   # recorded as its repr, then
         "verdict_is_final|is not a verdict"),                                   # refused by the machine
    ]
    for call, message in mistakes:
        with pytest.raises(InvalidArgument, match=message) as raised:
            call()
        assert isinstance(raised.value, ValueError) and isinstance(raised.value, TypeError)
    with pytest.raises(AlreadyExists, match=f"folder {folder_id!r} exists already"):
        store.create_folder(folder_id=folder_id)
    assert everything(url) == before


def _statements(store: Store) -> list[str]:
    """The SQL statements ``store`` sends from now on, as they are sent."""
    sent: list[str] = []

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    return sent


@pytest.mark.parametrize("surrogate", ["\ud800", "\udfff", "\ud83d\ude00"])  # lone, and a UTF-16 pair
def test_text_with_a_surrogate_is_refused_before_any_sql(store: Store, url: str, surrogate: str) -> None:
    folder_id = store.create_folder()
    [quality] = store.submit(folder_id, ["quality"])
    before = everything(url)
    sent = _statements(store)
    text = f"engine{surrogate}timeout"
    where = rf"\(U\+{ord(surrogate[0]):04X} at index 6\), which UTF-8 cannot encode"
    calls: list[tuple[str, Callable[[], object]]] = [
        (r"Store.fail\(\): reason", lambda: store.fail(quality, reason=text)),
        (r"Store.fail\(\): reason", lambda: store.fail(quality, reason=text, idempotency_key="k")),
        (r"Store.finish\(\): idempotency_key", lambda: store.finish(quality, "SUCCESS", idempotency_key=text)),
        (r"Store.submit\(\): idempotency_key", lambda: store.submit(folder_id, ["quality"], idempotency_key=text)),
        (r"Store.finish\(\): analysis_id", lambda: store.finish(text, "SUCCESS")),
        (r"Store.fail\(\): analysis_id", lambda: store.fail(text)),
        (r"Store.submit\(\): folder_id", lambda: store.submit(text, ["quality"])),
        (r"Store.create_folder\(\): folder_id", lambda: store.create_folder(folder_id=text)),
        (r"Store.load\(\): folder_id", lambda: store.load(text)),
        (r"Store.history\(\): folder_id", lambda: store.history(text)),
    ]
    for named, call in calls:
        with pytest.raises(InvalidArgument, match=f"{named}: must not contain a lone surrogate {where}, not 'engine"):
            call()
    assert sent == []
    assert everything(url) == before


class _Opaque:
    """An argument that is no JSON value at all."""

    def __repr__(self) -> str:
        return "<opaque \x00\ud800>"   # a repr no database could store either


NOT_STORABLE: list[object] = [
    float("nan"), float("inf"), -float("inf"), 10**5000, -(10**5000), 2**63, _Opaque(), [float("nan")],
    {"verdict": 10**5000}, "x" * 100_000, "SUC\x00CESS", "SUC\ud800CESS",
]
"""Arguments JSON cannot hold, PostgreSQL refuses, or too big to record: an idempotency claim records them."""


def _outcome(call: Callable[[], object], *ids: str) -> tuple[type[Exception], str] | None:
    """The exception ``call`` raises and its message with ``ids`` blanked out; None if it returns."""
    try:
        call()
    except Exception as error:
        message = str(error)
        for entity_id in ids:
            message = message.replace(entity_id, "<id>")
        # Who refused: the analysis in memory; the store, before any SQL, for an argument wrong in any state.
        return type(error), re.sub(r"^(Analysis <id> \(\w+\)|(Async)?Store\.\w+\(\)): ", "<who>: ", message)
    return None


@pytest.mark.parametrize("key", [None, "delivery-1"])
def test_an_argument_no_database_can_store_is_answered_as_in_memory_and_writes_nothing(
        store: Store, url: str, key: str | None) -> None:
    memory = Folder()
    [running, ended] = memory.submit(["quality", "biometry"]).analyses
    ended.finish("SUCCESS")
    folder_id = store.create_folder()
    [quality, biometry] = store.submit(folder_id, ["quality", "biometry"])
    store.finish(biometry, "SUCCESS")
    before = everything(url)
    ids = (folder_id, quality, biometry, memory.folder_id, running.analyse_id, ended.analyse_id)
    for value in NOT_STORABLE:
        pairs = [(lambda: running.finish(value), lambda: store.finish(quality, value, idempotency_key=key)),
                 (lambda: ended.finish(value), lambda: store.finish(biometry, value, idempotency_key=key)),
                 (lambda: memory.submit([value]), lambda: store.submit(folder_id, [value], idempotency_key=key)),
                 (lambda: memory.submit(["quality", value]),
                  lambda: store.submit(folder_id, ["quality", value], idempotency_key=key))]
        for in_memory, stored in pairs:
            expected = _outcome(in_memory, *ids)
            assert expected is not None and issubclass(expected[0], (IllegalTransition, ValueError))
            assert _outcome(stored, *ids) == expected, short_repr(value)
    assert everything(url) == before


def test_urls_the_store_cannot_use_are_refused(tmp_path: Any, open_store: Callable[..., Store]) -> None:
    with pytest.raises(InvalidArgument, match=r"Store\(\): url: sqlite://: an in-memory SQLite database is one per "):
        open_store("sqlite://")
    with pytest.raises(InvalidArgument, match="psycopg 3 driver"):
        open_store("postgresql+psycopg2://postgres@127.0.0.1/test")
    with pytest.raises(InvalidArgument, match="not 'mysql'"):
        open_store("mysql://localhost/test")


# Idempotency


def test_an_applied_key_is_a_no_op_returning_the_first_outcome(store: Store, url: str) -> None:
    folder_id = store.create_folder()
    ids = store.submit(folder_id, ["quality", "biometry"], idempotency_key="request-1")
    assert store.submit(folder_id, ["QUALITY", "biometry"], idempotency_key="request-1") == ids
    first = store.finish(ids[0], "SUCCESS", idempotency_key="webhook-1")
    settled = store.fail(ids[1], reason="timeout", idempotency_key="webhook-2")
    before = everything(url)
    assert store.finish(ids[0], "success", idempotency_key="webhook-1") == first
    assert store.fail(ids[1], reason="timeout", idempotency_key="webhook-2") == settled
    assert len(settled) == 2
    assert everything(url) == before


def test_a_key_reused_for_another_event_is_refused(store: Store, url: str) -> None:
    folder_id = store.create_folder()
    quality, biometry = store.submit(folder_id, ["quality", "biometry"])
    store.finish(quality, "SUCCESS", idempotency_key="k")
    store.submit(folder_id, ["biometry"] * 200, idempotency_key="big")
    before = everything(url)
    with pytest.raises(IdempotencyConflict, match="'k' was first used for finish of .* with {'verdict': 'SUCCESS'}"):
        store.finish(quality, "DECLINED", idempotency_key="k")
    with pytest.raises(IdempotencyConflict, match=r"'big' was first used for submit .* with {'types': \['BIOMETRY'"
                                                  r".*\.\.\., not for finish") as conflict:
        store.finish(biometry, "SUCCESS", idempotency_key="big")
    assert len(str(conflict.value)) < 600   # the requests are named, not written out whole
    with pytest.raises(IdempotencyConflict, match=f"not for finish of {biometry}"):
        store.finish(biometry, "SUCCESS", idempotency_key="k")
    with pytest.raises(IdempotencyConflict, match="not for submit"):
        store.submit(folder_id, ["quality"], idempotency_key="k")
    assert everything(url) == before


def test_racing_deliveries_of_one_key_apply_once(store: Store, url: str) -> None:
    folder_id = store.create_folder()
    [quality] = store.submit(folder_id, ["quality"])
    barrier = threading.Barrier(8)
    outcomes: list[object] = []
    heard: list[Transition] = []

    def deliver() -> None:
        barrier.wait()
        outcomes.append(store.finish(quality, "DECLINED", idempotency_key="webhook-9"))

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    with statuses.subscribe(heard.append):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(outcomes) == 8 and all(outcome == heard for outcome in outcomes)   # heard once: finish, settle
    assert check_consistent(url)["log rows"] == 3   # submit, finish, settle


def test_racing_creations_of_one_folder_id_store_one_folder(store: Store) -> None:
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def create() -> None:
        barrier.wait()
        try:
            outcomes.append(store.create_folder(folder_id="f-1"))
        except AlreadyExists as error:
            outcomes.append(str(error))

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [f"{class_name(store)}.create_folder(): folder 'f-1' exists already"] * 5 + ["f-1"]


# Lost races


def bump_version_behind_the_stores_back(store: Store, folder_id: str, times: int) -> list[int]:
    """Before the store's versioned UPDATE, change the folder's version as a writer without the lock would."""
    bumped: list[int] = []

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def interfere(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # On PostgreSQL the folder's UPDATE follows the counts' (WITH counted AS (UPDATE statuses_counts …) UPDATE …).
        if "UPDATE statuses_folders" in statement and len(bumped) < times:
            bumped.append(1)
            cursor.execute(f"UPDATE statuses_folders SET version = version + 1 WHERE folder_id = '{folder_id}'")

    return bumped


def test_a_lost_race_is_retried_then_applied_once(store: Store, url: str) -> None:
    folder_id = store.create_folder()
    [quality] = store.submit(folder_id, ["quality"])
    bumped = bump_version_behind_the_stores_back(store, folder_id, times=2)
    assert len(store.finish(quality, "SUCCESS")) == 2
    assert len(bumped) == 2
    assert check_consistent(url)["log rows"] == 3


def test_a_race_lost_every_time_raises_concurrent_update_and_writes_nothing(url: str, open_store: Callable[..., Store]) -> None:
    with open_store(url, retries=2) as store:
        folder_id = store.create_folder()
        [quality] = store.submit(folder_id, ["quality"])
        before = everything(url)
        bumped = bump_version_behind_the_stores_back(store, folder_id, times=100)
        with pytest.raises(ConcurrentUpdate, match=r"Store.finish\(\): lost a race 3 times, giving up; "
                                                   r"last: Folder .* changed after it was read"):
            store.finish(quality, "SUCCESS")
        assert len(bumped) == 3
        assert everything(url) == before


# The outbox


def released(store: Store, entries: int, after: str | None = None, seconds: float = 60.0) -> list[LogEntry]:
    """``changes(after)`` once it returns ``entries`` entries.

    On PostgreSQL the server is shared: a writing transaction of another
    test run, open when ours began, holds our entries back until it ends.
    """
    deadline = time.monotonic() + seconds
    while len(page := store.changes(after=after, limit=entries + 1)) < entries and time.monotonic() < deadline:
        time.sleep(0.1)
    return page


def test_changes_pages_through_the_whole_log_once(store: Store) -> None:
    folder_ids = [store.create_folder() for _ in range(3)]
    for folder_id in folder_ids:
        for analysis_id in store.submit(folder_id, ["quality", "biometry"]):
            store.finish(analysis_id, "SUCCESS")
    released(store, 12)
    published, cursor = [], None
    while page := store.changes(after=cursor, limit=4):
        published.extend(page)
        cursor = page[-1].cursor
    assert len(published) == 12
    assert [e.transition for e in sorted(published, key=lambda e: e.seq)] == [
        t for f in folder_ids for t in store.history(f)]
    assert store.changes(after=cursor) == []


BIGINT = 2**63 - 1
"""The largest number either database keeps in a BIGINT / INTEGER column."""


def test_changes_refuses_a_cursor_or_a_limit_out_of_range_before_any_sql(store: Store, url: str) -> None:
    folder_id = store.create_folder()
    store.submit(folder_id, ["quality"])
    before = everything(url)
    sent = _statements(store)
    out_of_range = [f"{BIGINT + 1}:1", f"1:{BIGINT + 1}", "99999999999999999999:1", f"1:{'9' * 5000}"]
    for cursor in out_of_range:
        with pytest.raises(InvalidArgument, match=rf"Store.changes\(\): after: {short_repr(cursor)[:20]}.* is out "
                                                  rf"of range: a cursor's numbers are at most {BIGINT}; pass None or"):
            store.changes(after=cursor)
    for cursor in ["\u00b2:1", "1:\u0661", "-1:1", "+1:1", " 1:1", "1:2:3", ":", b"1:2"]:   # ² and Arabic-Indic 1
        with pytest.raises(InvalidArgument, match=r"Store.changes\(\): after: .* is not a cursor; pass None or"):
            store.changes(after=cursor)  # type: ignore[arg-type]
    for limit in [10**30, BIGINT + 1, 0, -1, True, 1.5, "10"]:
        with pytest.raises(InvalidArgument, match=rf"Store.changes\(\): limit: must be an int from 1 to {BIGINT}, "
                                                  rf"not {short_repr(limit)}"):
            store.changes(limit=limit)  # type: ignore[arg-type]
    assert sent == []
    assert store.changes(after=f"{BIGINT}:{BIGINT}", limit=BIGINT) == []   # the largest of each is taken
    released(store, 1)
    assert [e.transition.event for e in store.changes(after="0:0", limit=BIGINT)] == ["submit"]
    assert everything(url) == before


@pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)
def test_changes_hold_back_what_an_older_open_transaction_might_precede(postgres_url: str, open_store: Callable[..., Store]) -> None:
    with open_store(postgres_url) as store:
        folder_id = store.create_folder()
        [quality] = store.submit(folder_id, ["quality"])
        cursor = released(store, 1)[-1].cursor
        other = sa.create_engine(postgres_url)
        with other.connect() as open_transaction:
            open_transaction.execute(sa.text("SELECT pg_current_xact_id()"))  # it has an id and is running
            store.finish(quality, "SUCCESS")
            assert store.changes(after=cursor) == []
            open_transaction.rollback()
        other.dispose()
        assert [e.transition.event for e in released(store, 2, after=cursor)] == ["finish", "settle"]


# Errors cross process boundaries


ONE_OF_EACH_ERROR: list[StoreError] = [
    StoreError("Store.load(): something"),
    NotFound("analysis", "a-1", "finish"),
    AlreadyExists("Store.create_folder(): folder 'f-1' exists already"),
    ConcurrentUpdate("Store.finish(): lost a race 4 times, giving up"),
    IdempotencyConflict("Store.finish(): idempotency key 'k' was first used for submit"),
    StoreUnavailable("Store.finish(): the database connection failed"),
    StoreBusy("Store.finish(): no database connection came free in 30 s"),
    SchemaMismatch("the database's store schema is version 2"),
    StoreCorrupt("Folder f-1: FINISHED but 2 of its analyses are PROCESSING"),
]


def _same_error(copy: BaseException, error: BaseException) -> None:
    assert type(copy) is type(error)
    assert (str(copy), copy.args, vars(copy)) == (str(error), error.args, vars(error))


def test_every_store_error_survives_pickle(store: Store) -> None:
    """Celery and multiprocessing pickle the exceptions a task raises, to re-raise them elsewhere."""
    defined = {cls for _, cls in inspect.getmembers(store_errors, inspect.isclass)
               if issubclass(cls, StoreError) and cls.__module__ == store_errors.__name__}
    assert {type(error) for error in ONE_OF_EACH_ERROR} == defined, "an example of each class of errors.py"
    with pytest.raises(NotFound) as raised:
        store.load("nope")
    for error in [*ONE_OF_EACH_ERROR, raised.value]:
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            _same_error(pickle.loads(pickle.dumps(error, protocol)), error)
    copy = pickle.loads(pickle.dumps(raised.value))
    assert (copy.kind, copy.entity_id, copy.operation) == ("folder", "nope", "load")
    assert str(copy) == f"{class_name(store)}.load(): no folder 'nope' in the store"


# Schema versions


def _stored_version(url: str) -> int | None:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        version = schema.stored_version(connection)
    engine.dispose()
    return version


def test_a_new_database_is_stamped_and_a_newer_one_refused(url: str, open_store: Callable[..., Store]) -> None:
    open_store(url).close()
    open_store(url).close()   # a second store finds the tables
    assert _stored_version(url) == SCHEMA_VERSION
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(schema.schema_version.update().values(version=SCHEMA_VERSION + 1))
    engine.dispose()
    with pytest.raises(SchemaMismatch, match=f"version {SCHEMA_VERSION + 1}, this code runs on version "
                                             f"{SCHEMA_VERSION}: upgrade this package"):
        open_store(url)
    with pytest.raises(SchemaMismatch, match="newer than this code's"):
        upgrade(url)


def test_upgrade_runs_each_migration_in_one_transaction(url: str, monkeypatch: pytest.MonkeyPatch, open_store: Callable[..., Store]) -> None:
    with open_store(url) as store:
        folder_id = store.create_folder()
    old = SCHEMA_VERSION

    def add_a_column(connection: sa.Connection) -> None:
        connection.exec_driver_sql("ALTER TABLE statuses_folders ADD COLUMN label VARCHAR(40)")

    def break_down(connection: sa.Connection) -> None:
        add_a_column(connection)
        raise RuntimeError("step failed")

    monkeypatch.setattr(schema, "SCHEMA_VERSION", old + 1)
    with pytest.raises(SchemaMismatch, match=f"version {old}, this code runs on version {old + 1}: "
                                             r"run statuses.store.upgrade\(url\) once"):
        open_store(url)
    monkeypatch.setattr(migrations, "MIGRATIONS", {old: break_down})
    with pytest.raises(RuntimeError, match="step failed"):
        upgrade(url)
    assert _stored_version(url) == old
    monkeypatch.setattr(migrations, "MIGRATIONS", {old: add_a_column})   # the failed step left no column behind
    assert upgrade(url) == [old]
    assert _stored_version(url) == old + 1
    assert upgrade(url) == []
    with open_store(url) as store:
        assert store.load(folder_id).resolution_status is FolderStatus.INITIAL


# The database going away


RESTART = os.environ.get("STATUSES_POSTGRES_RESTART")
NO_RESTART = ("STATUSES_POSTGRES_RESTART is not set: set it to a shell command that restarts the PostgreSQL "
              "server of STATUSES_POSTGRES_URL to run this test; .ci/run does on this project's machines")


def survives_losing_the_server(url: str, lose_the_server: Callable[[], None], open_store: Callable[..., Store]) -> None:
    """Between two operations the server goes away: the next is StoreUnavailable, the one after works."""
    with open_store(url) as store:
        folder_id = store.create_folder()
        [quality, biometry] = store.submit(folder_id, ["quality", "biometry"])
        lose_the_server()
        with pytest.raises(StoreUnavailable, match=r"Store.finish\(\): the database connection failed .*"
                                                   "the operation was not applied"):
            store.finish(quality, "SUCCESS", idempotency_key="w1")
        assert len(store.finish(quality, "SUCCESS", idempotency_key="w1")) == 1
        store.finish(biometry, "DECLINED")
        assert store.load(folder_id).system_resolution is Resolution.DECLINED
    check_consistent(url)


@pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)
def test_a_lost_connection_is_a_clear_error_and_the_next_operation_works(
        postgres_url: str, postgres_run: str, open_store: Callable[..., Store]) -> None:
    def terminate_the_connections() -> None:  # what a server restart does to the pool's connections
        admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            killed = connection.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :run AND pid <> pg_backend_pid()"), {"run": postgres_run}).scalar()
        admin.dispose()
        assert killed

    survives_losing_the_server(postgres_url, terminate_the_connections, open_store)


@pytest.mark.skipif(not (POSTGRES_URL and RESTART), reason=NO_RESTART if POSTGRES_URL else NO_POSTGRES)
def test_a_real_server_restart_between_operations_is_a_clear_error_and_the_next_operation_works(
        postgres_url: str, open_store: Callable[..., Store]) -> None:
    def restart() -> None:
        assert RESTART is not None
        subprocess.run(RESTART, shell=True, check=True, timeout=120, capture_output=True)
        _wait_for_postgres(postgres_url)

    survives_losing_the_server(postgres_url, restart, open_store)


def _wait_for_postgres(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    engine = sa.create_engine(url)
    try:
        while True:
            try:
                with engine.connect() as connection:
                    connection.execute(sa.text("SELECT 1"))
                return
            except sa.exc.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        engine.dispose()


# The pool


@contextmanager
def holding_connections(store: Store, count: int) -> Iterator[None]:
    """``count`` of the store's pooled connections held open (from its loop, for an AsyncStore) for the block."""
    if not is_async(store):
        with ExitStack() as held:
            for _ in range(count):
                held.enter_context(store.engine.connect())
            yield
        return
    blocking: Any = store
    opened = [blocking.wait(blocking.store.engine.connect().start()) for _ in range(count)]
    try:
        yield
    finally:
        for connection in opened:
            blocking.wait(connection.close())


def test_a_pool_with_no_connection_free_in_time_raises_store_busy_and_writes_nothing(url: str, open_store: Callable[..., Store]) -> None:
    with open_store(url, pool_size=1, max_overflow=1, pool_timeout=0.2) as store:
        folder_id = store.create_folder()
        [quality] = store.submit(folder_id, ["quality"])
        before = everything(url)
        with holding_connections(store, 2):   # the pool's one connection and its one overflow
            calls: list[tuple[str, Callable[[], object]]] = [
                ("create_folder", store.create_folder),
                ("submit", lambda: store.submit(folder_id, ["quality"], idempotency_key="k")),
                ("finish", lambda: store.finish(quality, "SUCCESS", idempotency_key="k")),
                ("fail", lambda: store.fail(quality)),
                ("load", lambda: store.load(folder_id)),
                ("history", lambda: store.history(folder_id)),
                ("changes", store.changes),
            ]
            for name, call in calls:
                started = time.monotonic()
                with pytest.raises(StoreBusy, match=rf"Store.{name}\(\): no database connection came free in "
                                                    r"0.2 s \((Async)?Store\(pool_size=1, max_overflow=1, pool_timeout=0.2\)"
                                                    r"\); the operation was not applied: repeat it later"):
                    call()
                assert time.monotonic() - started >= 0.2
            assert everything(url) == before
        assert [e.dest for e in store.finish(quality, "SUCCESS", idempotency_key="k")] == ["FINISHED", "FINISHED"]
    check_consistent(url)


def test_the_pool_settings_are_checked_and_default_to_sqlalchemys(tmp_path: Any, open_store: Callable[..., Store]) -> None:
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    with open_store(url) as store:
        pool = store.engine.pool
        assert isinstance(pool, sa.QueuePool) and (pool.size(), pool.timeout()) == (5, 30.0)
        assert (store.pool_size, store.max_overflow, store.pool_timeout) == (5, 10, 30.0)
    with open_store(url, pool_size=2, max_overflow=-1, pool_timeout=0) as store:   # no overflow limit; no wait
        assert (store.engine.pool.size(), store.engine.pool.timeout()) == (2, 0)  # type: ignore[attr-defined]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"pool_size": 0}, "pool_size: must be an int >= 1, not 0"),
        ({"pool_size": True}, "pool_size: must be an int >= 1, not True"),
        ({"pool_size": 2.0}, "pool_size: must be an int >= 1, not 2.0"),
        ({"max_overflow": -2}, r"max_overflow: must be an int >= -1 \(-1: no limit\), not -2"),
        ({"max_overflow": None}, r"max_overflow: must be an int >= -1 \(-1: no limit\), not None"),
        ({"pool_timeout": -1}, "pool_timeout: must be a number of seconds from 0 to .*, not -1"),
        ({"pool_timeout": float("nan")}, "pool_timeout: must be a number of seconds from 0 to .*, not nan"),
        ({"pool_timeout": 1e300}, "pool_timeout: must be a number of seconds from 0 to .*, not 1e[+]300"),
        ({"pool_timeout": "30"}, "pool_timeout: must be a number of seconds from 0 to .*, not '30'"),
        ({"retries": -1}, "retries: must be an int >= 0, not -1"),
    ]
    for options, message in bad:
        with pytest.raises(InvalidArgument, match=rf"Store\(\): {message}"):
            open_store(url, **options)


def test_a_database_that_cannot_be_reached_is_a_clear_error(tmp_path: Any, open_store: Callable[..., Store]) -> None:
    with pytest.raises(StoreUnavailable, match=r"Store\(\): the database connection failed "
                                               r"\(unable to open database file\)"):
        open_store(f"sqlite:///{tmp_path / 'no such folder' / 'statuses.db'}")
    with pytest.raises(StoreUnavailable, match=r"Store\(\): the database connection failed"):
        open_store("postgresql+psycopg://postgres@127.0.0.1:9/test?connect_timeout=2")


def test_a_folder_row_changed_by_hand_is_corrupt_and_nothing_is_run_on_it(store: Store, url: str) -> None:
    folder_id = store.create_folder()
    [quality, biometry] = store.submit(folder_id, ["quality", "biometry"])
    engine = sa.create_engine(url)
    with engine.begin() as connection:  # statuses that its running analyses cannot give
        connection.execute(schema.folders.update().where(schema.folders.c.folder_id == folder_id)
                           .values(resolution_status="FINISHED", system_resolution="SUCCESS"))
    engine.dispose()
    before = everything(url)
    corrupt = rf"Folder {folder_id}: resolution_status: FINISHED but 2 analyses are still PROCESSING"
    with pytest.raises(StoreCorrupt, match=corrupt):
        store.load(folder_id)
    with pytest.raises(StoreCorrupt, match=corrupt):
        store.finish(quality, "SUCCESS", idempotency_key="k")
    assert everything(url) == before


@pytest.mark.parametrize("change", ["an empty group", "a finish order that does not fit"])
def test_a_group_row_changed_by_hand_is_corrupt(store: Store, url: str, change: str) -> None:
    """The store reads the groups as they are stored, and the folder's own rules judge them."""
    folder_id = store.create_folder()
    [quality] = store.submit(folder_id, ["quality"])
    store.finish(quality, "SUCCESS")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        if change == "an empty group":
            connection.execute(schema.groups.insert().values(group_id="g-empty", folder_id=folder_id, position=1,
                                                             finished_order=None, in_progress=0,
                                                             worst_ended="SUCCESS"))
            corrupt = r"analyses: group 'g-empty': a group needs one analysis or more"
        else:
            connection.execute(schema.groups.update().where(schema.groups.c.folder_id == folder_id)
                               .values(finished_order=2))
            corrupt = r"finished_order: ranks the finished groups \[2\], not 1 to 1"
    engine.dispose()
    before = everything(url)
    with pytest.raises(StoreCorrupt, match=rf"Folder {folder_id}: .*{corrupt}"):
        store.load(folder_id)
    assert everything(url) == before


def test_the_consistency_check_sees_wrong_statuses_missing_log_rows_and_a_wrong_finish_order(url: str, open_store: Callable[..., Store]) -> None:
    with open_store(url) as store:
        folder_id = store.create_folder()
        first = store.submit(folder_id, ["quality"])
        second = store.submit(folder_id, ["quality"])
        store.fail(first[0])
        store.finish(second[0], "SUCCESS")
    check_consistent(url)
    engine = sa.create_engine(url)
    folders, groups, transitions = schema.folders, schema.groups, schema.transitions
    order = groups.c.finished_order
    breakages = [
        [folders.update().values(system_resolution=Resolution.DECLINED)],
        [groups.update().where(order == 1).values(finished_order=9),   # swapped: one at a time, as
         groups.update().where(order == 2).values(finished_order=1),   # the pair is unique
         groups.update().where(order == 9).values(finished_order=2)],
        [transitions.delete().where(transitions.c.event == "settle")],
        [transitions.insert().from_select(
            [c.name for c in transitions.c if c.name != "seq"],
            sa.select(*[c for c in transitions.c if c.name != "seq"]).where(transitions.c.event == "fail"))],
    ]
    for statements in breakages:
        with engine.connect() as connection:
            transaction = connection.begin()
            for statement in statements:
                connection.execute(statement)
            with pytest.raises(AssertionError):
                check_consistent_in(connection)
            transaction.rollback()
    engine.dispose()


def test_the_consistency_check_sees_a_count_that_drifted(url: str) -> None:
    """A counter off by one, or right in sum but in another folder's shard, fails the recount."""
    with Store(url) as store:
        folder_id = store.create_folder()
        [quality] = store.submit(folder_id, ["quality"])
        store.finish(quality, "SUCCESS")
    check_consistent(url)
    counts, shard = schema.counts, schema.count_shard(folder_id)
    finished = counts.c[schema.FOLDER_COUNTERS[FolderStatus.FINISHED]]
    ended = counts.c[schema.ANALYSIS_COUNTERS[AnalysisState.FINISHED]]
    breakages = [
        [counts.update().where(counts.c.shard == shard).values({finished: finished + 1})],
        [counts.update().where(counts.c.shard == shard).values({ended: ended - 1})],
        [counts.update().where(counts.c.shard == shard).values({finished: finished - 1}),
         counts.update().where(counts.c.shard == (shard + 1) % schema.COUNT_SHARDS).values({finished: finished + 1})],
        [counts.delete().where(counts.c.shard == shard)],
    ]
    engine = sa.create_engine(url)
    for statements in breakages:
        with engine.connect() as connection:
            transaction = connection.begin()
            for statement in statements:
                connection.execute(statement)
            with pytest.raises(AssertionError, match="statuses_counts, shard"):
                check_consistent_in(connection)
            transaction.rollback()
    engine.dispose()


def test_a_tracer_on_the_engine_sees_every_statement_of_an_event(store: Store, url: str) -> None:
    """Unwatched, events run on the driver; an ``echo`` or a cursor listener (a tracer) sees all the same SQL."""
    folder_id = store.create_folder()
    [quality] = store.submit(folder_id, ["quality"])
    sent = _statements(store)
    store.finish(quality, "SUCCESS", idempotency_key="traced")
    # SQLite: BEGIN IMMEDIATE, then one read of the folder, the analysis and its group (the database is locked),
    # and the counts' UPDATE apart; PostgreSQL (whose driver begins by itself): the folder's row locked, then the
    # analysis and its group read, and the counts updated in the folder's UPDATE (WITH counted AS (UPDATE …)).
    sqlite = url.startswith("sqlite")
    reads = ["BEGIN", "SELECT"] if sqlite else ["SELECT", "SELECT"]
    writes = ["INSERT", "UPDATE", "UPDATE", "UPDATE", "UPDATE", "INSERT"] if sqlite else [
        "INSERT", "UPDATE", "UPDATE", "WITH", "INSERT"]
    assert [statement.split()[0] for statement in sent] == [*reads, *writes]
    written = [re.search(r"(?:INSERT INTO|UPDATE) (\w+)", statement.rsplit(") ", 1)[-1] if statement.startswith(
        "WITH") else statement).group(1) for statement in sent if statement.startswith(("INSERT", "UPDATE", "WITH"))]
    tables = ["statuses_idempotency_keys", "statuses_analyses", "statuses_groups", "statuses_folders"]
    assert written == [*tables, *(["statuses_counts"] if sqlite else []), "statuses_transitions"]
    if not sqlite:
        assert re.match(r"WITH counted AS\s+\(UPDATE statuses_counts SET .*\)\s+UPDATE statuses_folders SET",
                        sent[-2], re.DOTALL)
    check_consistent(url)
