"""The :class:`Store`: folders and analyses in a database, moved only by the machines.

Theory of operation
-------------------
Every operation is one database transaction:

1. it locks the folder concerned: ``SELECT … FOR UPDATE`` on its row on
   PostgreSQL (for ``finish``/``fail``, the analysis's folder, found and
   locked in the same statement); on SQLite the transaction began with
   ``BEGIN IMMEDIATE``, which holds the database's write lock.  It reads
   the folder's statuses and counts, and for ``finish``/``fail`` the one
   analysis with its group's counts, never the folder's other analyses
   (:mod:`statuses.store.operations`);
2. with an idempotency key, it claims the key (``INSERT … ON CONFLICT DO
   NOTHING``): a key claimed before returns the first outcome, read back from
   the log, and writes nothing;
3. it runs the event on that part of the folder
   (:meth:`~statuses.Folder.restore_part`): the same machines, guards and
   effects as in memory, which report each move they take as a
   :class:`~statuses.Transition` (collected with the folder's hub's
   ``hold(deliver_after=False)``: nobody hears them yet).  A refusal
   (``InvalidArgument``, ``IllegalTransition``) propagates and the transaction
   rolls back, the key's claim with it;
4. it writes what moved: the analysis ``WHERE state = :read_state``, its
   group's counts, the folder's statuses and counts ``WHERE version =
   :read_version``, what it moved to the store's counts by status and state
   (its folder's shard of ``statuses_counts``, which :meth:`Store.counts`
   sums), and one log row per transition taken, from the machines' records;
5. once the transaction has committed and its connection is back in the
   pool, it delivers those records to the process-wide listeners
   (:func:`statuses.subscribe`), in the order taken, and returns them.

Delivery is exactly once per applied event, after the commit, so a listener
that reads the store (``load``, ``history``) sees the move.  Never for an
idempotent replay (a key claimed before: its records were delivered when it
was applied), for a refused event, or for an attempt that rolled back: each
attempt collects its own records, and only the committed one's are
delivered.  A listener that raises does not undo the move, which is stored:
once every listener has heard every record, ``ListenerError`` reaches the
caller.  Listeners run on the caller's thread: the moves of one call arrive
in order, but calls that run at once (threads, processes) are not ordered
against each other, and another process's listeners hear nothing of this
one's moves: :meth:`Store.changes` is the one ordered feed of every worker's.

The lock serializes the operations on one folder, so the version check never
fails between stores that all lock; it catches a writer that does not (an
older release, a hand-written UPDATE).  A lost race (a failed version check,
two ``create_folder`` of one new id, a deadlock, a busy SQLite) rolls back and
is retried ``retries`` times (default 3) after a short random pause, then
raises :class:`ConcurrentUpdate`.

The caller's transaction
------------------------
Every writing method also takes ``connection=``: an open SQLAlchemy
``Connection`` inside a transaction the caller began (``with
store.engine.begin() as connection``).  The operation then runs inside it,
under a SAVEPOINT, and does not commit: a refused or failed operation rolls
back to the savepoint, leaving the caller's own writes as they were, and the
caller commits the status change and its own rows together.  What holds
still: the folder's lock (held until the caller's transaction ends), the
checks, the version check, the log and the idempotency key, all committed or
rolled back with the caller's transaction.  What becomes the caller's: a
lost race is not retried (it raises :class:`ConcurrentUpdate`, or the
driver's error; roll back and repeat the whole transaction), and nothing is
delivered: the call returns the moves, which the caller hands to
:func:`statuses.listeners.deliver` once it has committed.  On SQLite, begin
the transaction on :attr:`Store.engine`, whose transactions take the write
lock at once (``BEGIN IMMEDIATE``).

How statements run
------------------
``create_folder``, ``submit``, ``finish`` and ``fail`` run their prepared
statements (:mod:`statuses.store.statements`) on a connection of
SQLAlchemy's pool through the driver alone, in a transaction the store
begins and commits itself: SQLAlchemy's ``Connection`` around an event cost
as much as its statements.  When the engine is watched (``echo``, a cursor
event listener such as a tracer), they run through SQLAlchemy instead, so
that every statement is seen.  Reads run through SQLAlchemy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import sqlalchemy as sa

from ..analysis import Analysis
from ..enums import AnalysisType, FolderStatus, Resolution
from ..errors import InvalidArgument, ListenerError
from ..folder import Folder
from ..listeners import Transition, deliver
from ..settings import DEFAULT_SETTINGS, Settings
from ..values import short_repr
from . import calls
from .calls import Call
from .database import (MAX_OVERFLOW, POOL_SIZE, POOL_TIMEOUT, READ_ONLY, RETRIED, Attempts, busy, check_settings,
                       check_sqlite_file, failure, make_engine, parse_url, set_up)
from .errors import called
from .log import LogEntry
from .migrations import upgrade_connection
from .operations import Plan
from .queries import FolderPage, StoreCounts
from .statements import Prepared, Step, driver_error, watched


T = TypeVar("T")


class Store:
    """Folders and analyses in a SQLite or PostgreSQL database, safe to share between processes.

    Make one per process (after forking) and share it between threads: it
    holds a pool of connections.  ``retries`` bounds how often an operation
    that lost a race is repeated before :class:`ConcurrentUpdate`.

    The pool takes SQLAlchemy's settings, with SQLAlchemy's defaults: it
    keeps ``pool_size`` connections open, opens up to ``max_overflow`` more
    while all are in use (-1: no limit), and an operation that finds every
    connection in use waits ``pool_timeout`` seconds for one to come free
    (0: not at all) before :class:`StoreBusy`.  ``create=False`` opens only a store
    that exists (for tools that read): a database without the store's tables,
    or a SQLite file that is not there, raises :class:`SchemaMismatch` and
    makes nothing.  Each operation holds one
    connection, so ``pool_size + max_overflow`` operations run at once.

    ``submit``, ``finish`` and ``fail`` report their moves as the machines'
    :class:`~statuses.Transition` records: ``finish``/``fail`` return them,
    ``history`` and ``changes`` read them back, and the listeners of
    :func:`statuses.subscribe` hear them once the transaction has committed,
    once per applied event, never for an idempotent replay (see the module's
    theory of operation).  A caller's mistake raises
    :class:`~statuses.InvalidArgument` (a ``ValueError``), before any SQL
    when the store can tell; a move the state or a rule refuses raises the
    machine's ``IllegalTransition``.  Each writing method takes
    ``connection=`` to run inside the caller's transaction (see the module's
    doc).
    """

    def __init__(self, url: str | sa.URL, *, retries: int = 3, pool_size: int = POOL_SIZE,
                 max_overflow: int = MAX_OVERFLOW, pool_timeout: float = POOL_TIMEOUT, create: bool = True) -> None:
        check_settings("Store()", retries, pool_size, max_overflow, pool_timeout)
        if not create:
            check_sqlite_file(parse_url(url), "Store")
        self.engine: sa.Engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                                             pool_timeout=pool_timeout)
        """The SQLAlchemy engine: for its events and pool, and to begin a transaction the store's calls join."""
        self.retries = retries
        self.pool_size = pool_size
        self.max_overflow = max_overflow
        self.pool_timeout = pool_timeout
        self._postgresql = self.engine.dialect.name == "postgresql"
        try:
            self._transaction("", lambda connection: set_up(connection, create))
        except BaseException:
            self.engine.dispose()
            raise

    def close(self) -> None:
        """Close the store's connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Operations

    def create_folder(self, *, settings: Settings = DEFAULT_SETTINGS, folder_id: str | None = None,
                      connection: sa.Connection | None = None) -> str:
        """Store a new folder, INITIAL; returns its id (``folder_id``, or a new UUID)."""
        outcome: str = self._write(calls.create_folder(settings, folder_id), connection)[0]
        return outcome

    def submit(self, folder_id: str, types: Iterable[AnalysisType | str], *, idempotency_key: str | None = None,
               connection: sa.Connection | None = None) -> list[str]:
        """Submit a group of analyses, one per type, to the folder; returns their ids in order.

        Listeners hear the folder's ``submit`` once it has committed; a
        replay of an ``idempotency_key`` returns the first call's ids.
        """
        outcome: list[str] = self._write(calls.submit(folder_id, types, idempotency_key), connection)[0]
        return outcome

    def finish(self, analysis_id: str, resolution: Resolution | str, *, idempotency_key: str | None = None,
               connection: sa.Connection | None = None) -> list[Transition]:
        """End the analysis with a verdict; returns the transitions taken (the analysis's, then the folder's).

        The records are the machines' (equal to what a folder's listeners hear
        in memory), delivered to :func:`statuses.subscribe`'s listeners once
        committed.  A replay of an ``idempotency_key`` returns the first
        call's, read from the log, and delivers nothing.
        """
        outcome: list[Transition] = self._write(calls.finish(analysis_id, resolution, idempotency_key),
                                                connection)[0]
        return outcome

    def fail(self, analysis_id: str, *, reason: str | None = None, idempotency_key: str | None = None,
             connection: sa.Connection | None = None) -> list[Transition]:
        """End the analysis as FAILED; returns the transitions taken, as :meth:`finish` does."""
        outcome: list[Transition] = self._write(calls.fail(analysis_id, reason, idempotency_key), connection)[0]
        return outcome

    def observe(self, snapshot: dict[str, Any], *, settings: Settings = DEFAULT_SETTINGS,
                idempotency_key: str | None = None, connection: sa.Connection | None = None) -> list[Transition]:
        """Keep the stored folder in step with ``snapshot``, the API's JSON of it; returns the transitions taken.

        ``snapshot`` is what ``GET /api/folders/{id}/?with_analyses=true``
        returns, read as :func:`statuses.payloads.observe` reads it, and
        taken as it takes it (:meth:`~statuses.Folder.catch_up`): a newer
        snapshot moves the folder forward by legal steps only, all or
        nothing; a stale one (delivered late) changes nothing and returns
        ``[]``; one no legal steps reach is refused (``IllegalTransition``,
        or :class:`~statuses.payloads.PayloadError` for one that does not fit
        the folder) and changes nothing.  A folder the store does not hold
        is created, with ``settings`` (a held folder keeps its own), as a new
        INITIAL folder caught up to the snapshot, so :meth:`history` tells
        the moves that got it there.  The store keeps what the JSON layer
        keeps (extras such as ``results_data``, times, key spellings):
        ``dump_folder(store.load(folder_id))`` is ``dump_folder`` of the
        folder observed in memory.

        Before any SQL, a document that does not read raises ``PayloadError``
        naming its paths, and one the store cannot keep (an analysis without
        ``group_id``, an id too long, a value JSON does not keep as it is)
        :class:`~statuses.InvalidArgument`.  A replay of an
        ``idempotency_key`` (the same snapshot, as read) returns the first
        call's moves and writes nothing.  Listeners hear the moves once
        committed, as for :meth:`finish`.

        >>> import tempfile, pathlib
        >>> from statuses.payloads import dump_folder, load_folder
        >>> from statuses.store import Store
        >>> api = {"folder_id": "f-1", "resolution_status": "PROCESSING", "system_resolution": "PROCESSING",
        ...        "time_updated": 1764000100, "company_id": "c0ffee", "analyses": [
        ...            {"analysis_id": "a-1", "group_id": "g-1", "type": "quality", "state": "PROCESSING",
        ...             "resolution_status": "PROCESSING", "time_updated": 1764000100}]}
        >>> with tempfile.TemporaryDirectory() as tmp, Store(f"sqlite:///{pathlib.Path(tmp, 's.db')}") as store:
        ...     [(t.entity, t.event, t.dest.value) for t in store.observe(api)]
        ...     api["analyses"][0].update(state="FINISHED", resolution_status="SUCCESS", time_updated=1764000160,
        ...                               results_data={"confidence_spoofing": 0.02})
        ...     api.update(resolution_status="FINISHED", system_resolution="SUCCESS", time_updated=1764000160)
        ...     [(t.entity, t.event, t.dest.value) for t in store.observe(api, idempotency_key="poll-2")]
        ...     store.observe(api, idempotency_key="poll-2") == store.history("f-1")[-2:]  # a replay
        ...     stored = dump_folder(store.load("f-1"))
        [('folder', 'submit', 'PROCESSING')]
        [('analysis', 'finish', 'FINISHED'), ('folder', 'settle', 'FINISHED')]
        True
        >>> stored == dump_folder(load_folder(api))
        True
        >>> stored["company_id"], stored["analyses"][0]["analysis_id"], stored["analyses"][0]["results_data"]
        ('c0ffee', 'a-1', {'confidence_spoofing': 0.02})
        """
        outcome: list[Transition] = self._write(calls.observe(snapshot, settings, idempotency_key), connection)[0]
        return outcome

    def load(self, folder_id: str) -> Folder:
        """The folder in its stored state, with its groups and analyses (a copy: changing it stores nothing)."""
        folder: Folder = self._read(calls.load(folder_id))
        return folder

    def history(self, folder_id: str) -> list[Transition]:
        """The transitions of the folder and its analyses, in the order they were taken.

        Each equals the record the call that took it returned; for what only
        the log knows (arguments, keys, times), see :meth:`changes`.
        """
        moves: list[Transition] = self._read(calls.history(folder_id))
        return moves

    def changes(self, after: str | None = None, limit: int = 100) -> list[LogEntry]:
        """Up to ``limit`` log entries after the cursor ``after`` (None: from the start), oldest first.

        Each :class:`LogEntry` holds the :class:`~statuses.Transition` and what
        only the log knows (the event's arguments, its key, the time, the
        position).  For publishing events from an outbox: pass the last entry's ``cursor``
        to the next call.  An entry is returned once every entry before it in
        this order has committed, so resuming from a cursor never skips one;
        on PostgreSQL any transaction that has written and is still open, in
        any database of the server, holds back entries committed after it
        started (read-only ones hold nothing back).
        """
        entries: list[LogEntry] = self._read(calls.changes(after, limit, self._postgresql))
        return entries

    # Queries: each reads what it returns at a cost the table's size does not change (see statuses.store.queries)

    def load_analysis(self, analyse_id: str) -> Analysis:
        """The analysis in its stored state, in its folder read whole as :meth:`load` reads it; NotFound if none.

        Its ``group`` and ``folder`` are there, as after ``load``: what it is
        part of decides what it may do.  A primary-key lookup and its folder's
        rows: the cost grows with its folder, never with the store.
        """
        analysis: Analysis = self._read(calls.load_analysis(analyse_id))
        return analysis

    def folders(self, *, status: FolderStatus | str | None = None, updated_after: float | None = None,
                updated_before: float | None = None, limit: int = 100, after: str | None = None) -> FolderPage:
        """A page of up to ``limit`` folders (:class:`~statuses.store.queries.FolderSummary`), oldest update first.

        ``status`` (any of the API's spellings) keeps that status only;
        ``updated_after <= stored_at < updated_before`` keeps a window of
        ``stored_at``, the store's clock when an event last wrote the folder's
        row (half-open: adjacent windows neither overlap nor leave a gap).
        Ordered by ``(stored_at, folder_id)``; pass the page's ``cursor`` as
        ``after`` for the next (None: this is the last).  Paging visits each
        folder once; a folder an event writes while you page moves to a later
        page (seen again there if you passed it already; gone if it left
        ``status`` or the window), and one written by a worker whose clock or
        commit lags the page already read may be missed until the next sweep.
        """
        page: FolderPage = self._read(calls.folders(status, updated_after, updated_before, limit, after))
        return page

    def counts(self) -> StoreCounts:
        """Folders by status and analyses by state, every member present (0 where none): for a dashboard.

        Kept by every event in its own transaction (``statuses_counts``), so
        reading them costs the same whatever the store holds.
        """
        totals: StoreCounts = self._read(calls.counts())
        return totals

    # Running a call: one transaction, locked, retried; its moves delivered once committed

    def _write(self, call: Call, connection: sa.Connection | None) -> tuple[Any, list[Transition]]:
        """Run a writing call in its own transaction, then deliver its moves; or inside ``connection``'s."""
        if connection is not None:
            return self._inside(call, connection)
        if call.prepared and not watched(self.engine):
            outcome, moves = self._retried(call.operation, lambda: self._on_driver(call))
        else:
            outcome, moves = self._transaction(call.operation, plan_on(call))
        return deliver_committed(outcome, moves), moves

    def _read(self, call: Call) -> Any:
        return self._transaction(call.operation, plan_on(call), read_only=True)

    def _inside(self, call: Call, connection: sa.Connection) -> tuple[Any, list[Transition]]:
        """Run ``call`` under a savepoint of the caller's transaction; nothing committed, retried or delivered."""
        if not isinstance(connection, sa.Connection) or not connection.in_transaction():
            raise InvalidArgument(called(call.operation), "connection", "must be a SQLAlchemy Connection in a "
                                  f"transaction the caller began, not {short_repr(connection)}")
        return savepointed(connection, call, self.engine.dialect.name)

    def _on_driver(self, call: Call) -> Any:
        """One attempt at ``call`` in a transaction on a pool's connection, through the driver alone.

        What SQLAlchemy's ``Connection`` and ``Transaction`` add around an
        event cost as much as its statements; the pool, its limits and its
        connection events stay SQLAlchemy's, and errors are raised as its.
        """
        dialect = self.engine.dialect
        pooled = self.engine.raw_connection()
        lost = pooled.invalidate
        try:
            if not self._postgresql:   # psycopg begins by itself, at the first statement
                BEGIN_IMMEDIATE.run_on(pooled, dialect, None, lost)
            outcome = run_on_driver(pooled, dialect, call.plan(), lost)
            try:
                pooled.commit()
            except dialect.loaded_dbapi.Error as error:
                raise driver_error(dialect, pooled, error, "COMMIT", (), lost) from error
            return outcome
        except BaseException:
            if pooled.is_valid:
                try:
                    pooled.rollback()
                except dialect.loaded_dbapi.Error as error:  # the rollback's own failure: the connection is gone
                    pooled.invalidate(error)
            raise
        finally:
            pooled.close()

    def _transaction(self, operation: str, work: Any, *, read_only: bool = False) -> Any:
        """Run ``work`` in one transaction on a ``Connection``, repeated up to ``retries`` times after a lost race."""
        def attempt() -> Any:
            with self.engine.connect() as connection:
                return in_transaction(connection, work, read_only)

        return self._retried(operation, attempt)

    def _retried(self, operation: str, attempt: Callable[[], T]) -> T:
        """``attempt()``, repeated up to ``retries`` times after a lost race; the store's errors for the rest."""
        attempts = Attempts(called(operation), self.retries, self.engine.dialect.name,
                            lambda: busy(called(operation), "Store", self.pool_size, self.max_overflow,
                                         self.pool_timeout))
        while True:
            try:
                return attempt()
            except RETRIED as error:
                time.sleep(attempts.pause(error))


# What Store and AsyncStore share: the calls' plans run on a Connection, in a transaction or a savepoint

def in_transaction(connection: sa.Connection, work: Callable[[sa.Connection], T], read_only: bool = False) -> T:
    """``work(connection)`` in one transaction on ``connection``: read-only ones begin deferred on SQLite."""
    if read_only:
        connection.execution_options(**READ_ONLY)
    with connection.begin():
        return work(connection)


def plan_on(call: Call) -> Callable[[sa.Connection], Any]:
    """What runs ``call``'s plan (a new one per attempt) on a connection."""
    return lambda connection: run(connection, call.plan())


def savepointed(connection: sa.Connection, call: Call, dialect: str) -> tuple[Any, list[Transition]]:
    """Run writing ``call`` under a SAVEPOINT of the caller's transaction on ``connection``: nothing committed."""
    if connection.dialect.name != dialect:
        raise InvalidArgument(called(call.operation), "connection", f"is to a {connection.dialect.name} "
                              f"database, this store's is {dialect}")
    try:
        with connection.begin_nested():
            outcome, moves = run(connection, call.plan())
    except sa.exc.DBAPIError as error:
        problem = failure(error, called(call.operation), dialect, inside=True)
        raise (problem or error) from error
    return outcome, moves


def deliver_committed(outcome: T, moves: list[Transition]) -> T:
    """Deliver a committed call's moves to the listeners; a ListenerError carries ``outcome``, the move being stored."""
    if moves:
        try:
            deliver(moves)
        except ListenerError as error:
            error.outcome = outcome
            raise
    return outcome


def drive(plan: Plan[Any], execute: Callable[[Step], Any]) -> Any:
    """Send each step's result back into ``plan``, in order; returns what the plan returns."""
    sent: Any = None
    while True:
        try:
            step = plan.send(sent)
        except StopIteration as done:
            return done.value
        sent = step.read(execute(step))


def run(connection: sa.Connection, plan: Plan[Any]) -> Any:
    """Run ``plan``'s steps on ``connection``, prepared ones on its driver unless it is watched."""
    def execute(step: Step) -> Any:
        statement = step.statement
        if isinstance(statement, Prepared):
            return statement.run(connection, step.parameters)
        return connection.execute(statement, step.parameters)

    return drive(plan, execute)


def run_on_driver(pooled: Any, dialect: sa.Dialect, plan: Plan[Any], lose: Callable[[BaseException], None]) -> Any:
    """Run a plan of :class:`Prepared` steps only on a pool's connection; returns what the plan returns."""
    def execute(step: Step) -> Any:
        statement = step.statement
        if not isinstance(statement, Prepared):
            raise TypeError(f"a step of a prepared plan is no Prepared statement: {statement}")
        return statement.run_on(pooled, dialect, step.parameters, lose)

    return drive(plan, execute)


BEGIN_IMMEDIATE = Prepared(sa.text("BEGIN IMMEDIATE"))
"""SQLite: the database's write lock, taken at once (see :mod:`statuses.store.database`)."""


def upgrade(url: str | sa.URL) -> list[int]:
    """Bring the store's tables at ``url`` to the current schema version; see :mod:`statuses.store.schema`.

    Returns the versions that were upgraded from (empty when there was nothing to do).
    """
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                # Off before the transaction begins (SQLite ignores it inside one), so that a step may make a
                # table again under its name; upgrade_connection checks every key before it commits.
                connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
            with connection.begin():
                return upgrade_connection(connection)
    finally:
        engine.dispose()
