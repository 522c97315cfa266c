"""Upgrades: version 1 to 2 (the log's transitions) and 2 to 3 (the counts, the API's record), on databases
laid out as those versions made them.

A version-2 database has the tables of ``tests/store_version_2.py`` (a frozen
copy of the 0.3 layout) holding the columns a store of today wrote for the
same moves: version 2 wrote them the same way.  A version-1 database is that
without the log's ``group_id`` and ``result``, stamped 1.  The upgrades must
give back, row for row, what the store of today keeps: the transitions the
moves took, and the counts it kept move by move.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from statuses import Settings, Transition
from statuses.store import LogEntry, SchemaMismatch, Store, StoreCorrupt, schema, upgrade
from tests import store_version_2 as version_2
from tests.store_version_2 import make_version_2
from tests.test_store import check_consistent, everything, postgres_run, postgres_url, released, url  # noqa: F401

VERSION_1_LOG = ["seq", "txid", "folder_id", "entity", "entity_id", "source", "dest", "event", "arguments",
                 "idempotency_key", "time"]
"""The log's columns in version 1, in order."""


def _layout(url: str, table: str = schema.transitions.name) -> dict[str, Any]:
    """A table as the database describes it: columns (name, type, nullable), indexes, keys, checks."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            return {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                                  for i in inspector.get_indexes(table)),
                "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
                "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
                "foreign keys": sorted((fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
                                       for fk in inspector.get_foreign_keys(table)),
                "checks": sorted(" ".join(c["sqltext"].split()) for c in inspector.get_check_constraints(table)),
            }
    finally:
        engine.dispose()


def _layouts(url: str) -> dict[str, dict[str, Any]]:
    """Every store table the database holds (an older version lacks some), as :func:`_layout` describes it."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            held = set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()
    return {table.name: _layout(url, table.name) for table in schema.metadata.sorted_tables if table.name in held}


def _execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def make_version_1(url: str) -> None:
    """Turn the store at ``url`` into what version 1 left: version 2 without the log's new columns, stamped 1."""
    make_version_2(url)
    log = schema.transitions.name
    _execute(url, f"ALTER TABLE {log} DROP COLUMN group_id", f"ALTER TABLE {log} DROP COLUMN result",
             f"UPDATE {schema.schema_version.name} SET version = 1")
    assert [name for name, _, _ in _layout(url)["columns"]] == VERSION_1_LOG


def _moves(store: Store) -> dict[str, str]:
    """Folders in every shape the rules make, their moves interleaved; returns a running analysis per folder."""
    strict = store.create_folder(settings=Settings(operator_required=True))
    plain = store.create_folder()
    store.create_folder()   # no moves, no log
    [biometry, documents] = store.submit(strict, ["biometry", "documents"], idempotency_key="s-1")
    [quality] = store.submit(plain, ["quality"])
    store.finish(biometry, "OPERATOR_REQUIRED", idempotency_key="w-1")   # only under operator_required
    store.fail(quality, reason="engine timeout")                          # plain: FAILED
    [retry, other] = store.submit(plain, ["quality", "biometry"])         # a new group on a failed folder
    store.finish(documents, "success")                                    # strict settles OPERATOR_REQUIRED
    [late] = store.submit(strict, ["quality"])
    store.finish(retry, "DECLINED")
    store.fail(late, reason=None)                                        # strict: FAILED, its last group decides
    return {"plain": other}


def test_an_upgrade_gives_every_log_row_its_transition_exactly(url: str) -> None:
    with Store(url) as store:
        running = _moves(store)
        count = len(released(store, 12))
        entries = released(store, count)
        histories = {f: store.history(f) for f in {e.transition.id for e in entries if e.transition.entity == "folder"}}
    assert count == 12
    layout = _layouts(url)
    rows = everything(url)
    make_version_1(url)
    with pytest.raises(SchemaMismatch, match=r"version 1, this code runs on version 3: run statuses.store.upgrade"):
        Store(url)
    assert upgrade(url) == [1, 2]
    assert upgrade(url) == []
    assert _layouts(url) == layout   # the layout of a new database, NOT NULL included
    assert everything(url) == rows   # every row as the store of today kept it
    with Store(url) as store:
        assert released(store, count) == entries   # every entry whole: transition, arguments, key, time, seq, txid
        assert {f: store.history(f) for f in histories} == histories
        assert all(isinstance(e, LogEntry) and isinstance(e.transition, Transition) for e in entries)
        more = store.finish(running["plain"], "SUCCESS")   # the upgraded store runs on
        assert store.history(more[0].folder_id or "")[-2:] == more
    check_consistent(url)


def _corrupt_a_dest(connection: sa.Connection) -> str:
    t = schema.transitions
    seq = connection.scalar(sa.select(sa.func.min(t.c.seq)).where(t.c.event == "finish"))
    connection.execute(t.update().where(t.c.seq == seq).values(dest="FAILED"))
    return rf"log row {seq} \(analysis .* finish\): logs analysis .* finish PROCESSING->FAILED where the machines " \
           r"took analysis .* finish PROCESSING->FINISHED"


def _drop_a_submit(connection: sa.Connection) -> str:
    t = schema.transitions
    seq = connection.scalar(sa.select(sa.func.min(t.c.seq)).where(t.c.event == "submit"))
    connection.execute(t.delete().where(t.c.seq == seq))
    return r"log row \d+ ends analysis .*, which no submit before it logged"


def _drop_a_settle(connection: sa.Connection) -> str:
    t = schema.transitions
    seq = connection.scalar(sa.select(sa.func.max(t.c.seq)).where(t.c.event == "settle"))
    connection.execute(t.delete().where(t.c.seq == seq))
    return "the log ends without the move its last event caused, folder .* settle PROCESSING->FAILED"


def _change_a_verdict(connection: sa.Connection) -> str:
    t = schema.transitions
    seq = connection.scalar(sa.select(sa.func.min(t.c.seq)).where(t.c.event == "finish"))
    connection.execute(t.update().where(t.c.seq == seq).values(arguments={"verdict": "MAYBE"}))
    return rf"log row {seq} .*: the machines refuse it: .*'MAYBE' is not a verdict"


@pytest.mark.parametrize("corrupt", [_corrupt_a_dest, _drop_a_submit, _drop_a_settle, _change_a_verdict])
def test_a_log_that_does_not_replay_is_refused_and_the_upgrade_changes_nothing(
        url: str, corrupt: Callable[[sa.Connection], str]) -> None:
    with Store(url) as store:
        _moves(store)
    make_version_1(url)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        message = corrupt(connection)
    engine.dispose()
    layout = _layout(url)
    with pytest.raises(StoreCorrupt, match=f"folder '.*': {message}" if "log row" in message else message):
        upgrade(url)
    assert _layout(url) == layout   # still version 1: no column added, nothing filled
    with pytest.raises(SchemaMismatch, match="version 1"):
        Store(url)


def test_an_upgrade_from_version_2_keeps_every_row_and_writes_the_counts_the_store_kept(url: str) -> None:
    """Version 3's counts, filled from each folder read whole, equal those a store kept event by event."""
    with Store(url) as store:
        running = _moves(store)
        folder_id = store.create_folder()
        ids = [store.submit(folder_id, ["quality", "biometry"]) for _ in range(3)]
        for index, analysis_id in enumerate([ids[1][0], ids[0][1], ids[1][1], ids[2][0]]):
            store.finish(analysis_id, ["SUCCESS", "DECLINED"][index % 2])
    layout = _layouts(url)
    rows = everything(url)
    make_version_2(url)
    assert _layouts(url) != layout
    with pytest.raises(SchemaMismatch, match=r"version 2, this code runs on version 3: run statuses.store.upgrade"):
        Store(url)
    assert upgrade(url) == [2]
    assert upgrade(url) == []
    assert _layouts(url) == layout   # a new database's layout: columns, NOT NULL, indexes, checks
    assert everything(url) == rows   # the counts equal those kept move by move; stored_at starts as time_updated
    with Store(url) as store:
        store.finish(running["plain"], "SUCCESS")
        store.fail(ids[0][0], reason="late")
        assert store.load(folder_id).analyses_in_progress == 1
    check_consistent(url)


def test_a_version_2_folder_the_rules_cannot_explain_stops_the_upgrade_which_changes_nothing(url: str) -> None:
    with Store(url) as store:
        folder_id = store.create_folder()
        store.submit(folder_id, ["quality"])
    make_version_2(url)
    _execute(url, f"UPDATE {schema.folders.name} SET resolution_status = 'FINISHED', system_resolution = 'SUCCESS'")
    layout = _layouts(url)
    rows = everything(url, version_2.metadata)
    with pytest.raises(StoreCorrupt, match=f"Folder {folder_id}: resolution_status: FINISHED but 1 analysis is "
                                           "still PROCESSING"):
        upgrade(url)
    assert _layouts(url) == layout and everything(url, version_2.metadata) == rows
    with pytest.raises(SchemaMismatch, match="version 2"):
        Store(url)



def test_the_upgrade_from_version_2_reads_each_folder_through_the_index_by_group(url: str) -> None:
    """Version 2 had no index of the analyses by group: the fill, reading each folder's groups with their
    analyses, would scan every analysis of the store once per folder unless the index is made first."""
    with Store(url) as store:
        folder_id = store.create_folder()
        store.submit(folder_id, ["quality", "biometry"])
    make_version_2(url)
    sent: list[str] = []

    def record(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)   # upgrade() makes an engine of its own
    try:
        assert upgrade(url) == [2]
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    made = next(n for n, sql in enumerate(sent) if re.match(r"CREATE INDEX statuses_analyses_by_group\b", sql))
    read = next(n for n, sql in enumerate(sent) if re.search(r"FROM statuses_groups LEFT OUTER JOIN "
                                                             r"statuses_analyses", sql))
    assert made < read, "the fill read a folder's analyses before the index by group was made"
