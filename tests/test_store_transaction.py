"""The caller's transaction: every writing method runs inside an open Connection, and commits nothing itself.

A service changes a status and its own rows (here an ``orders`` table) in
one transaction: both are kept or neither is.  A refused call rolls back to
its savepoint only, so the caller's own writes stand and its transaction
goes on.  Nothing is delivered to listeners: the caller delivers the moves
once it has committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

import statuses
from statuses import FolderStatus, IllegalTransition, InvalidArgument, Transition
from statuses.listeners import deliver
from statuses.store import ConcurrentUpdate, Store
from tests.test_store import (begin, check_consistent, connect, everything, open_store, postgres_run,  # noqa: F401
                              postgres_url, url)

orders_metadata = sa.MetaData()
orders = sa.Table("orders", orders_metadata, sa.Column("order_id", sa.String(40), primary_key=True),
                  sa.Column("folder_id", sa.String(64)), sa.Column("state", sa.String(20)))


@pytest.fixture
def store(url: str, open_store: Callable[..., Store]) -> Iterator[Store]:
    engine = sa.create_engine(url)
    orders_metadata.create_all(engine)
    engine.dispose()
    with open_store(url) as made:
        yield made


def _orders(store: Store) -> list[tuple[str, str]]:
    with connect(store) as connection:
        return [(row.order_id, row.state) for row in connection.execute(sa.select(orders).order_by(orders.c.order_id))]


def test_the_status_and_the_callers_rows_commit_together(store: Store, url: str) -> None:
    heard: list[Transition] = []
    with statuses.subscribe(heard.append):
        with begin(store) as connection:
            folder_id = store.create_folder(connection=connection)
            [quality] = store.submit(folder_id, ["quality"], connection=connection)
            connection.execute(orders.insert().values(order_id="o-1", folder_id=folder_id, state="checking"))
            moves = store.finish(quality, "SUCCESS", idempotency_key="k-1", connection=connection)
            connection.execute(orders.update().values(state="approved"))
            assert heard == []   # nothing is delivered from inside the caller's transaction
        assert heard == []
        deliver(moves)           # the caller's to do, once committed
    assert heard == moves and [m.event for m in moves] == ["finish", "settle"]
    assert _orders(store) == [("o-1", "approved")]
    assert store.load(folder_id).resolution_status is FolderStatus.FINISHED
    assert store.history(folder_id) == [*store.history(folder_id)[:1], *moves]
    assert store.finish(quality, "SUCCESS", idempotency_key="k-1") == moves   # the key was committed too
    check_consistent(url)


def test_a_rolled_back_caller_keeps_neither(store: Store, url: str) -> None:
    folder_id = store.create_folder()
    [quality] = store.submit(folder_id, ["quality"])
    before = everything(url)
    with pytest.raises(RuntimeError, match="the service failed"):
        with begin(store) as connection:
            connection.execute(orders.insert().values(order_id="o-1", folder_id=folder_id, state="approved"))
            store.finish(quality, "SUCCESS", idempotency_key="k-1", connection=connection)
            raise RuntimeError("the service failed")
    assert everything(url) == before and _orders(store) == []
    assert [m.event for m in store.finish(quality, "SUCCESS", idempotency_key="k-1")] == ["finish", "settle"]


def test_a_refused_call_rolls_back_to_its_savepoint_and_the_callers_transaction_goes_on(store: Store,
                                                                                       url: str) -> None:
    folder_id = store.create_folder()
    [quality] = store.submit(folder_id, ["quality"])
    store.finish(quality, "SUCCESS")
    with begin(store) as connection:
        connection.execute(orders.insert().values(order_id="o-1", folder_id=folder_id, state="checking"))
        with pytest.raises(IllegalTransition, match="FINISHED"):   # its key's claim is rolled back with it
            store.fail(quality, reason="late", idempotency_key="k-late", connection=connection)
        [again] = store.submit(folder_id, ["quality"], connection=connection)
        store.fail(again, reason="engine timeout", idempotency_key="k-late", connection=connection)
    assert _orders(store) == [("o-1", "checking")]
    assert store.load(folder_id).resolution_status is FolderStatus.FAILED
    check_consistent(url)


def test_a_lost_race_inside_the_callers_transaction_is_not_retried(store: Store, url: str) -> None:
    from tests.test_store import bump_version_behind_the_stores_back
    folder_id = store.create_folder()
    [quality] = store.submit(folder_id, ["quality"])
    bumped = bump_version_behind_the_stores_back(store, folder_id, times=1)
    with begin(store) as connection:
        with pytest.raises(ConcurrentUpdate, match=f"Folder {folder_id} changed after it was read"):
            store.finish(quality, "SUCCESS", connection=connection)
        connection.rollback()
    assert bumped == [1]   # once: the caller repeats its whole transaction, the store does not


@pytest.mark.parametrize("given, problem", [
    ("not a connection", "must be a SQLAlchemy (Async)?Connection in a transaction the caller began, not 'not a connection'"),
    (None, None),
])
def test_a_connection_that_is_not_one_in_a_transaction_is_refused(store: Store, given: object,
                                                                  problem: str | None) -> None:
    folder_id = store.create_folder()
    if problem is None:   # a Connection with no transaction begun
        with connect(store) as connection:
            with pytest.raises(InvalidArgument, match="Store.submit\\(\\): connection: must be a SQLAlchemy "
                                                      "(Async)?Connection in a transaction the caller began"):
                store.submit(folder_id, ["quality"], connection=connection)
        return
    with pytest.raises(InvalidArgument, match=f"Store.submit\\(\\): connection: {problem}"):
        store.submit(folder_id, ["quality"], connection=given)  # type: ignore[arg-type]
