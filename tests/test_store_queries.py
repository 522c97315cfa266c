"""The store's queries on SQLite and PostgreSQL: load_analysis, pages of folders, and the counts.

Every expectation is read another way than the query reads it: the folders'
rows straight from the table, the statuses from ``load`` of every folder.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from statuses import AnalysisState, AnalysisType, FolderStatus, IllegalTransition, InvalidArgument, Resolution, Settings
from statuses.enums import VERDICTS
from statuses.payloads import PayloadError, dump_folder, load_folder
from statuses.store import AlreadyExists, NotFound, Store, StoreCorrupt, schema
from statuses.store.queries import MAX_PAGE, FolderPage, FolderSummary, StoreCounts
from tests.test_store import (  # noqa: F401
    check_consistent,
    everything,
    open_store,
    postgres_run,
    postgres_url,
    store,
    url,
)


def statements_sent(store: Store) -> list[str]:
    """The SQL statements ``store`` sends from now on."""
    sent: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    return sent


def rows_of_folders(url: str) -> list[FolderSummary]:
    """Every folder as its row says, ordered as a page is: the oracle the pages are checked against."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            f = schema.folders
            rows = connection.execute(sa.select(f.c.folder_id, f.c.resolution_status, f.c.system_resolution,
                                                f.c.stored_at)).all()
    finally:
        engine.dispose()
    summaries = [FolderSummary(row.folder_id, row.resolution_status, row.system_resolution, row.stored_at)
                 for row in rows]
    return sorted(summaries, key=lambda summary: (summary.stored_at, summary.folder_id))


def every_page(store: Store, after: str | None = None, **filters: Any) -> list[FolderPage]:
    """The pages from ``after`` to the last."""
    pages = [store.folders(**filters, after=after)]
    while pages[-1].cursor is not None:
        pages.append(store.folders(**filters, after=pages[-1].cursor))
        assert len(pages) < 10_000
    return pages


def shuffled_folders(store: Store) -> dict[str, str]:
    """Folders in every status, written in an order that is not their creation's; returns one id per kind."""
    initial, running, finished, failed, again = (store.create_folder() for _ in range(5))
    [quality] = store.submit(running, ["quality"])
    [done] = store.submit(finished, ["quality"])
    [broken] = store.submit(failed, ["biometry"])
    store.finish(done, "SUCCESS")
    store.fail(broken, reason="engine timeout")
    [first] = store.submit(again, ["quality"])
    store.finish(first, "DECLINED")
    store.submit(again, ["documents", "biometry"])   # PROCESSING again, its row written last
    return {"initial": initial, "running": running, "finished": finished, "failed": failed, "again": again,
            "quality": quality}


# load_analysis

def test_load_analysis_returns_the_stored_analysis_in_its_folder_as_load_does(store: Store) -> None:
    folder_id = store.create_folder(settings=Settings(operator_required=True))
    [quality, biometry] = store.submit(folder_id, ["quality", "biometry"])
    [late] = store.submit(folder_id, ["documents"])
    store.finish(biometry, "OPERATOR_REQUIRED")
    store.fail(late, reason="engine timeout")
    folder = store.load(folder_id)
    for analysis_id in (quality, biometry, late):
        analysis = store.load_analysis(analysis_id)
        same = next(a for a in folder.analyses if a.analyse_id == analysis_id)
        fields = ("analyse_id", "type", "state", "resolution_status", "failure_reason", "time_created",
                  "time_updated", "settings")
        assert [getattr(analysis, name) for name in fields] == [getattr(same, name) for name in fields]
        assert analysis.group is not None and same.group is not None and analysis.group.group_id == same.group.group_id
        assert analysis.group.folder.folder_id == folder_id
        assert [a.analyse_id for a in analysis.group.analyses] == [a.analyse_id for a in same.group.analyses]
        assert dump_folder(analysis.group.folder) == dump_folder(folder)
    ended = store.load_analysis(late)
    assert (ended.state, ended.resolution_status, ended.failure_reason) == (
        AnalysisState.FAILED, Resolution.FAILED, "engine timeout")
    assert store.load_analysis(biometry).resolution_status is Resolution.OPERATOR_REQUIRED
    with pytest.raises(NotFound, match=r"Store.load_analysis\(\): no analysis 'nope' in the store"):
        store.load_analysis("nope")
    with pytest.raises(NotFound, match="no analysis"):
        store.load_analysis(folder_id)   # a folder's id is no analysis's


def test_load_analysis_of_an_analysis_its_folder_does_not_hold_is_corrupt(store: Store, url: str) -> None:
    folder_id = store.create_folder()
    [quality] = store.submit(folder_id, ["quality"])
    other = store.create_folder()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
        connection.execute(schema.analyses.update().values(folder_id=other))
    engine.dispose()
    with pytest.raises(StoreCorrupt, match=rf"analysis '{quality}' names folder '{other}', which does not hold it"):
        store.load_analysis(quality)


# Pages of folders

@pytest.mark.parametrize("limit", [1, 3, 5, 13])   # 5 divides the 15 folders: the last page says so itself
def test_paging_returns_every_folder_once_in_order(store: Store, url: str, limit: int) -> None:
    for _ in range(2):
        shuffled_folders(store)
    for _ in range(5):
        store.create_folder()
    expected = rows_of_folders(url)
    assert len(expected) == 15
    pages = every_page(store, limit=limit)
    assert [len(page.folders) for page in pages] == [limit] * (15 // limit) + ([15 % limit] if 15 % limit else [])
    assert [summary for page in pages for summary in page.folders] == expected
    assert pages[-1].cursor is None and all(page.cursor is not None for page in pages[:-1])
    assert isinstance(pages[0].folders, tuple) and isinstance(pages[0].folders[0].status, FolderStatus)
    assert isinstance(pages[0].folders[0].system_resolution, Resolution)


def test_an_empty_store_has_one_empty_page(store: Store) -> None:
    assert store.folders() == FolderPage((), None)
    assert store.folders(status=FolderStatus.FAILED, limit=MAX_PAGE) == FolderPage((), None)


@pytest.mark.parametrize("status", [*FolderStatus, "processing", "Finished", None])
def test_a_page_of_a_status_in_a_window_holds_exactly_those(store: Store, url: str, status: Any) -> None:
    for _ in range(3):
        shuffled_folders(store)
    rows = rows_of_folders(url)
    since, before = rows[2].stored_at, rows[-3].stored_at   # a window that cuts off folders at both ends
    wanted = None if status is None else FolderStatus.parse(status)
    expected = [row for row in rows if (wanted is None or row.status is wanted) and since <= row.stored_at < before]
    assert 0 < len(expected) < len([row for row in rows if wanted is None or row.status is wanted])
    for limit in (1, 2, 100):
        pages = every_page(store, status=status, updated_after=since, updated_before=before, limit=limit)
        assert [summary for page in pages for summary in page.folders] == expected
    only_since = [row for row in rows if (wanted is None or row.status is wanted) and row.stored_at >= since]
    assert [s for page in every_page(store, status=status, updated_after=since) for s in page.folders] == only_since
    only_before = [row for row in rows if (wanted is None or row.status is wanted) and row.stored_at < before]
    assert [s for page in every_page(store, status=status, updated_before=before) for s in page.folders] \
        == only_before
    # Half-open windows: two that meet hold every folder once.
    middle = rows[len(rows) // 2].stored_at
    halves = [s for page in every_page(store, status=status, updated_before=middle) for s in page.folders] + \
             [s for page in every_page(store, status=status, updated_after=middle) for s in page.folders]
    assert halves == [row for row in rows if wanted is None or row.status is wanted]


def test_a_folder_written_while_paging_moves_to_a_later_page(store: Store, url: str) -> None:
    """Folders left alone come once each, in order; one written between pages comes again at its new place."""
    ids = [store.create_folder() for _ in range(12)]
    first = store.folders(limit=4)
    seen_already, not_yet = first.folders[1].folder_id, ids[8]
    assert not_yet not in {summary.folder_id for summary in first.folders}
    store.submit(seen_already, ["quality"])
    store.submit(not_yet, ["quality"])
    rest = every_page(store, limit=4, after=first.cursor)
    later = [summary.folder_id for summary in first.folders] + [s.folder_id for page in rest for s in page.folders]
    assert Counter(later) == Counter({**{folder_id: 1 for folder_id in ids}, seen_already: 2})
    assert later[-2:] == [seen_already, not_yet]   # in the order they were written, after every folder left alone
    untouched = [folder_id for folder_id in ids if folder_id not in (seen_already, not_yet)]
    assert [folder_id for folder_id in later[:-2] if folder_id != seen_already] == untouched
    # A folder that leaves the status paged is not seen again.
    running = store.folders(status="PROCESSING", limit=1)
    [quality] = store.load(running.folders[0].folder_id).analyses
    store.finish(quality.analyse_id, "SUCCESS")
    rest = every_page(store, status="PROCESSING", limit=1, after=running.cursor)
    assert [s.folder_id for page in rest for s in page.folders] == [not_yet]


def test_a_cursor_names_a_place_not_a_folder(store: Store) -> None:
    """Paging resumes after the cursor's place even once its folder has moved on."""
    ids = [store.create_folder() for _ in range(4)]
    page = store.folders(limit=2)
    store.submit(ids[1], ["quality"])   # the folder the cursor names moves to the end
    assert [s.folder_id for s in store.folders(after=page.cursor).folders] == [ids[2], ids[3], ids[1]]


# The counts

def recount(store: Store, url: str) -> StoreCounts:
    """The counts from ``load`` of every folder the table holds."""
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        ids = connection.execute(sa.select(schema.folders.c.folder_id)).scalars().all()
    engine.dispose()
    folders: Counter[FolderStatus] = Counter()
    analyses: Counter[AnalysisState] = Counter()
    for folder_id in ids:
        folder = store.load(folder_id)
        folders[folder.resolution_status] += 1
        analyses.update(analysis.state for analysis in folder.analyses)
    return StoreCounts({status: folders[status] for status in FolderStatus},
                       {state: analyses[state] for state in AnalysisState})


def test_counts_hold_every_status_and_state(store: Store, url: str) -> None:
    nothing = store.counts()
    assert nothing == StoreCounts({status: 0 for status in FolderStatus}, {state: 0 for state in AnalysisState})
    assert list(nothing.folders) == list(FolderStatus) and list(nothing.analyses) == list(AnalysisState)
    shuffled_folders(store)
    counts = store.counts()
    assert counts.folders == {FolderStatus.INITIAL: 1, FolderStatus.PROCESSING: 2, FolderStatus.FINISHED: 1,
                              FolderStatus.FAILED: 1}
    assert counts.analyses == {AnalysisState.PROCESSING: 3, AnalysisState.FINISHED: 2, AnalysisState.FAILED: 1}
    assert all(type(count) is int for count in (*counts.folders.values(), *counts.analyses.values()))
    assert counts == recount(store, url)


def test_a_refused_or_replayed_event_counts_nothing(store: Store) -> None:
    folder_id = store.create_folder()
    [quality] = store.submit(folder_id, ["quality"], idempotency_key="s")
    store.finish(quality, "SUCCESS", idempotency_key="f")
    before = store.counts()
    assert store.submit(folder_id, ["quality"], idempotency_key="s") == [quality]
    store.finish(quality, "SUCCESS", idempotency_key="f")
    with pytest.raises(IllegalTransition):
        store.fail(quality)
    assert store.counts() == before


def test_a_missing_shard_is_corrupt(store: Store, url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(schema.counts.delete().where(schema.counts.c.shard == 0))
    engine.dispose()
    with pytest.raises(StoreCorrupt, match=f"statuses_counts holds {schema.COUNT_SHARDS - 1} rows, not "
                                           f"{schema.COUNT_SHARDS}"):
        store.counts()


EVENTS = st.lists(st.tuples(st.sampled_from(["create", "submit", "finish", "fail", "observe new", "observe"]),
                            st.integers(0, 10**6), st.lists(st.sampled_from(list(AnalysisType)), min_size=1,
                                                            max_size=3),
                            st.sampled_from(VERDICTS)), min_size=1, max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS)
def test_counts_equal_a_recount_after_any_events(store: Store, url: str, events: list[Any]) -> None:
    """Whatever events ran (refused ones too, observe's whole snapshots too), counts() is the folders recounted."""
    created: list[str] = []
    for kind, pick, types, verdict in events:
        folder_id = created[pick % len(created)] if created else None
        running = [a.analyse_id for a in store.load(folder_id).analyses] if folder_id else []
        target = running[pick % len(running)] if running else None
        try:
            if kind == "create" or folder_id is None:
                created.append(store.create_folder(settings=Settings(operator_required=pick % 2 == 0)))
            elif kind == "submit":
                store.submit(folder_id, types)
            elif kind == "finish" and target is not None:
                store.finish(target, verdict)
            elif kind == "fail" and target is not None:
                store.fail(target, reason=None)
            elif kind == "observe new":
                folder = load_folder(dump_folder(store.load(folder_id)))
                doc = dump_folder(_moved_copy(folder, types, verdict, pick))
                for item in (doc, *doc["analyses"]):
                    item[next(k for k in ("folder_id", "analyse_id") if k in item)] += f"-copy{pick}"
                    if "group_id" in item:
                        item["group_id"] += f"-copy{pick}"
                store.observe(doc)
                created.append(doc["folder_id"])
            elif kind == "observe":
                store.observe(dump_folder(_moved_copy(store.load(folder_id), types, verdict, pick)))
            event(f"{kind}: ran")
        except (IllegalTransition, PayloadError, InvalidArgument, AlreadyExists) as refused:
            event(f"{kind}: refused ({type(refused).__name__})")
    assert store.counts() == recount(store, url)
    check_consistent(url)


def _moved_copy(folder: Any, types: list[AnalysisType], verdict: Resolution, pick: int) -> Any:
    """A copy of ``folder`` moved on in memory: a new group, and one of its running analyses ended."""
    moved = copy.deepcopy(folder)
    moved.time_updated = (moved.time_updated or 0) + 1
    if pick % 3:
        moved.submit(types)
    running = [a for a in moved.analyses if a.state is AnalysisState.PROCESSING]
    if running:
        ended = running[pick % len(running)]
        ended.finish(verdict) if pick % 2 else ended.fail("late")
    return moved


# Bad input

def test_bad_input_to_a_query_is_named_and_sends_no_sql(store: Store, url: str) -> None:
    folder_id = store.create_folder()
    before = everything(url)
    sent = statements_sent(store)
    mistakes: list[tuple[Callable[[], object], str]] = [
        (lambda: store.load_analysis(None), r"Store.load_analysis\(\): analyse_id: must be a non-empty str, not None"),  # type: ignore[arg-type]
        (lambda: store.load_analysis(""), r"Store.load_analysis\(\): analyse_id: must be a non-empty str"),
        (lambda: store.load_analysis("x" * 65), r"Store.load_analysis\(\): analyse_id: must be at most 64 characters"),
        (lambda: store.load_analysis("a\x00"), r"Store.load_analysis\(\): analyse_id: must not contain a NUL"),
        (lambda: store.folders(status="DONE"),
         r"Store.folders\(\): status: must be None or a FolderStatus: 'DONE' is not one of INITIAL, PROCESSING"),
        (lambda: store.folders(status=Resolution.SUCCESS), r"Store.folders\(\): status: .* is not one of INITIAL"),
        (lambda: store.folders(status=1), r"Store.folders\(\): status: must be None or a FolderStatus"),  # type: ignore[arg-type]
        *((lambda bad=bad: store.folders(limit=bad), rf"Store.folders\(\): limit: must be an int from 1 to {MAX_PAGE}")  # type: ignore[misc]
          for bad in (0, -1, MAX_PAGE + 1, True, 1.5, "10", None)),
        *((lambda bad=bad, name=name: store.folders(**{name: bad}),  # type: ignore[misc]
           rf"Store.folders\(\): {name}: must be None or Unix seconds \(a finite int or float\)")
          for name in ("updated_after", "updated_before")
          for bad in (float("nan"), float("inf"), -float("inf"), 10**400, True, "1764000000", [1.0])),
        *((lambda bad=bad: store.folders(after=bad), r"Store.folders\(\): after: .* is not a cursor of "  # type: ignore[misc]
           r"(Async)?Store.folders\(\); pass None or a page's .cursor")
          for bad in ("7", "1:2", "", 7, b"0x1.8p+0/f", "0x1.8p+0/", "0x1.80p+0/f", "0X1.8P+0/f", "1.5/f",
                      f"0x1.8p+0/{'f' * 65}", "0x1.8p+0")),
        # A cursor's folder id reaches the database: text neither keeps is refused as an id is.
        (lambda: store.folders(after=f"{(1.0).hex()}/a\x00b"),
         r"Store.folders\(\): after: must not contain a NUL character"),
        (lambda: store.folders(after=f"{(1.0).hex()}/\udcff"), r"Store.folders\(\): after: must not contain a lone "
                                                                r"surrogate"),
    ]
    for call, message in mistakes:
        with pytest.raises(InvalidArgument, match=message):
            call()
    assert sent == []
    assert everything(url) == before
    # What is taken: ints as times, a page's own cursor, any letter case of a status.
    assert store.folders(updated_after=0, updated_before=2**62, status="initial").folders[0].folder_id == folder_id
    assert store.folders(after=f"{(0.5).hex()}/{folder_id}").folders[0].folder_id == folder_id


# What the queries cost

def test_no_query_scans_a_table_on_sqlite(tmp_path: Any) -> None:
    """EXPLAIN QUERY PLAN: every query reads a range of an index, never a whole table (``SCAN statuses_…``)."""
    from statuses.store.queries import COUNT_ALL, page_query
    from statuses.store.rows import members_query

    url = f"sqlite:///{tmp_path / 'plans.db'}"
    with Store(url) as store:
        folder_id = store.create_folder()
        store.submit(folder_id, ["quality", "biometry"])
    start = (1764000000.0, folder_id)
    statements = [
        members_query(folder_id),   # load, load_analysis, observe
        sa.select(schema.folders).where(schema.folders.c.folder_id == sa.select(schema.analyses.c.folder_id).where(
            schema.analyses.c.analyse_id == "a").scalar_subquery()),
        page_query([FolderStatus.PROCESSING], None, None, None, 101),
        page_query([FolderStatus.PROCESSING], 1.0, 2.0, start, 101),
        page_query(list(FolderStatus), 1.0, None, start, 101),
        page_query(list(FolderStatus), None, 2.0, None, 101),
    ]
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        for statement in statements:
            sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
            plan = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
            assert not [step for step in plan if step.startswith("SCAN statuses_")], (sql, plan)
            assert any(step.startswith("SEARCH statuses_") for step in plan), (sql, plan)
        counted = [row[3] for row in connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {COUNT_ALL.compile(dialect=connection.dialect)}")]
        assert counted == ["SCAN statuses_counts"]   # its 64 rows, whatever the store holds
    engine.dispose()
