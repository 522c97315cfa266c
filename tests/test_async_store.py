"""What only an AsyncStore has to show: the event loop runs on while it waits, and a cancelled call leaves nothing.

The rest of its behaviour is the store suite's, which runs on both classes
(``open_store`` in tests/test_store.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

import statuses
from statuses import Transition
from statuses import InvalidArgument
from statuses.store import AsyncStore, NotFound, SchemaMismatch, Store, StoreBusy, StoreUnavailable
from tests.test_store import check_consistent, everything, postgres_run, postgres_url, url  # noqa: F401


@contextmanager
def folder_locked_elsewhere(url: str, folder_id: str) -> Iterator[None]:
    """Another client holds the folder's lock (SQLite: the database's write lock) for the block."""
    if url.startswith("sqlite"):
        other = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("SELECT 1 FROM statuses_folders WHERE folder_id = :f FOR UPDATE"),
                               {"f": folder_id})
            yield
    finally:
        engine.dispose()


async def _ticks_while(call: Any, url: str, folder_id: str, seconds: float) -> tuple[int, Any]:
    """How often another task ran while ``call`` waited ``seconds`` for the lock another client held."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    with folder_locked_elsewhere(url, folder_id):
        waiting = asyncio.ensure_future(call)
        beating = asyncio.ensure_future(ticker())
        await asyncio.sleep(seconds)
        assert not waiting.done(), "the call did not wait for the lock"
        during = ticks
    result = await waiting
    beating.cancel()
    return during, result


def test_the_event_loop_runs_other_tasks_while_a_call_waits_for_the_database(url: str) -> None:
    async def scenario() -> tuple[int, Any]:
        async with AsyncStore(url) as store:
            folder_id = await store.create_folder()
            [quality] = await store.submit(folder_id, ["quality"])
            during, moves = await _ticks_while(store.finish(quality, "SUCCESS"), url, folder_id, 0.5)
            return during, [t.event for t in moves]

    during, events = asyncio.run(scenario())
    assert events == ["finish", "settle"]
    assert during >= 10   # a blocking call would have stopped the ticker for the whole half second
    check_consistent(url)


def test_a_call_cancelled_while_it_waits_ends_its_attempt_first_and_the_store_goes_on(url: str) -> None:
    """Cancelled, the call still ends its attempt (here it is applied once the lock is free), then raises.

    Cut off at COMMIT instead, a stored move would never be delivered.
    """
    heard: list[Transition] = []

    async def scenario() -> list[Transition]:
        async with AsyncStore(url, pool_size=1, max_overflow=0) as store:
            folder_id = await store.create_folder()
            [quality] = await store.submit(folder_id, ["quality"])
            with folder_locked_elsewhere(url, folder_id):
                waiting = asyncio.ensure_future(store.finish(quality, "SUCCESS", idempotency_key="k"))
                await asyncio.sleep(0.3)
                waiting.cancel()
                await asyncio.sleep(0.3)
                assert not waiting.done()   # it waits for the lock still: its attempt is not cut off
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert [t.event for t in await store.history(folder_id)] == ["submit", "finish", "settle"]   # applied
            started = time.monotonic()
            replayed = await store.finish(quality, "SUCCESS", idempotency_key="k")   # applied: the first outcome
            [biometry] = await store.submit(folder_id, ["biometry"])
            await store.fail(biometry, reason="engine timeout")
            assert time.monotonic() - started < 5   # nobody holds a lock
            return replayed

    with statuses.subscribe(heard.append):
        replayed = asyncio.run(scenario())
    assert [t.event for t in replayed] == ["finish", "settle"]
    assert heard[1:3] == replayed   # delivered once, when the cancelled call committed; not for the replay
    assert [t.event for t in heard] == ["submit", "finish", "settle", "submit", "fail", "settle"]
    check_consistent(url)


def test_the_constructor_does_no_io_and_the_first_call_sets_up(tmp_path: Any) -> None:
    unreachable = AsyncStore("postgresql+psycopg://postgres@127.0.0.1:9/test?connect_timeout=2")  # no error yet

    async def first_call() -> None:
        try:
            await unreachable.create_folder()
        finally:
            await unreachable.close()

    with pytest.raises(StoreUnavailable, match=r"the database connection failed"):
        asyncio.run(first_call())
    with pytest.raises(SchemaMismatch, match=r"AsyncStore\(create=False\): no SQLite database at"):
        AsyncStore(f"sqlite:///{tmp_path / 'missing.db'}", create=False)
    assert not (tmp_path / "missing.db").exists()

    async def without_async_with() -> str:
        store = AsyncStore(f"sqlite:///{tmp_path / 's.db'}")
        try:
            folder_id = await store.create_folder()   # made the tables first
            return (await store.load(folder_id)).resolution_status.value
        finally:
            await store.close()

    assert asyncio.run(without_async_with()) == "INITIAL"


def test_a_first_call_inside_the_callers_transaction_sets_up_on_that_connection(tmp_path: Any) -> None:
    """A new AsyncStore's first call with ``connection=``: set up on the caller's connection, not on another,
    which would wait for the write lock the caller's transaction holds (SQLite)."""
    url = f"sqlite:///{tmp_path / 's.db'}"

    async def scenario() -> list[str]:
        async with AsyncStore(url) as first:
            folder_id = await first.create_folder()
        store = AsyncStore(url, retries=0, pool_timeout=1)
        try:
            started = time.monotonic()
            async with store.engine.begin() as connection:
                [quality] = await store.submit(folder_id, ["quality"], connection=connection)
                moves = await store.finish(quality, "SUCCESS", connection=connection)
            assert time.monotonic() - started < 5
            return [t.event for t in moves]
        finally:
            await store.close()

    assert asyncio.run(scenario()) == ["finish", "settle"]
    check_consistent(url)


def test_waiting_for_a_connection_stays_cancellable(tmp_path: Any) -> None:
    """Only an attempt that has begun runs to its end: ``wait_for`` cuts a call waiting for the pool at once."""
    url = f"sqlite:///{tmp_path / 's.db'}"

    async def scenario() -> float:
        async with AsyncStore(url, pool_size=1, max_overflow=0, pool_timeout=5) as store:
            folder_id = await store.create_folder()
            held = await store.engine.connect().start()
            try:
                started = time.monotonic()
                for call in (store.load(folder_id), store.submit(folder_id, ["quality"])):
                    with pytest.raises(TimeoutError):
                        await asyncio.wait_for(call, 0.2)
                return time.monotonic() - started
            finally:
                await held.close()

    assert asyncio.run(scenario()) < 2   # not the pool's 5 s each


def test_its_errors_name_its_own_methods_and_a_store_inside_a_listener_its_own(tmp_path: Any) -> None:
    """Checks before any SQL, errors from a plan (through SQLAlchemy's greenlet) and a lost pool name
    ``AsyncStore.x()``; a ``Store`` called by a listener during an AsyncStore's delivery names ``Store.x()``."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    inner: list[str] = []

    def listener(record: Transition) -> None:
        with Store(url) as store, pytest.raises(NotFound) as missing:
            store.load("nobody")
        inner.append(str(missing.value))

    async def scenario() -> list[str]:
        seen = []
        async with AsyncStore(url, pool_size=1, max_overflow=0, pool_timeout=0) as store:
            with pytest.raises(InvalidArgument) as bad:
                await store.finish("", "SUCCESS")
            seen.append(str(bad.value))
            with pytest.raises(NotFound) as missing:
                await store.finish("nobody", "SUCCESS")
            seen.append(str(missing.value))
            held = await store.engine.connect().start()
            with pytest.raises(StoreBusy) as busy:
                await store.load("nobody")
            await held.close()
            seen.append(str(busy.value))
            folder_id = await store.create_folder()
            with statuses.subscribe(listener):
                await store.submit(folder_id, ["quality"])
        return seen

    seen = asyncio.run(scenario())
    assert seen[0].startswith("AsyncStore.finish(): analysis_id: must be a non-empty str"), seen[0]
    assert seen[1] == "AsyncStore.finish(): no analysis 'nobody' in the store"
    assert seen[2].startswith("AsyncStore.load(): no database connection came free in 0 s (AsyncStore(pool_size=1"), seen[2]
    assert inner == ["Store.load(): no folder 'nobody' in the store"]
