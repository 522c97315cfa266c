"""The :class:`Store`: folders and analyses in a database, moved only by the machines.

Theory of operation
-------------------
Every operation is one database transaction:

1. it locks the folder concerned: ``SELECT … FOR UPDATE`` on its row on
   PostgreSQL (for ``finish``/``fail``, the analysis's folder, found and
   locked in the same statement); on SQLite the transaction began with
   ``BEGIN IMMEDIATE``, which holds the database's write lock.  It restores
   the folder from its rows with :meth:`Folder.restore`;
2. with an idempotency key, it claims the key (``INSERT … ON CONFLICT DO
   NOTHING``): a key claimed before returns the first outcome, read back from
   the log, and writes nothing;
3. it runs the event on the folder: the same machines, guards and effects as
   in memory, which report each move they take as a
   :class:`~statuses.Transition` (collected with the folder's hub's
   ``hold(deliver_after=False)``: nobody hears them yet).  A refusal
   (``InvalidArgument``, ``IllegalTransition``) propagates and the transaction
   rolls back, the key's claim with it;
4. it writes back what changed, the folder with ``UPDATE … WHERE version =
   :read_version`` (and each analysis with ``WHERE state = :read_state``), and
   appends one log row per transition taken, from the machines' records;
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
"""

from __future__ import annotations

import math
import random
import re
import time
from pathlib import Path
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..analysis import ANALYSIS_DEFINITION, ANALYSIS_MACHINE, Analysis
from ..enums import AnalysisType, Resolution
from ..errors import InvalidArgument, ListenerError
from ..folder import FOLDER_DEFINITION, Folder
from ..listeners import Transition, deliver
from ..settings import DEFAULT_SETTINGS, Settings
from ..values import short_repr
from .database import (
    MAX_OVERFLOW,
    POOL_SIZE,
    POOL_TIMEOUT,
    READ_ONLY,
    check_pool,
    is_postgresql,
    is_transient,
    is_unavailable,
    make_engine,
)
from .errors import (AlreadyExists, ConcurrentUpdate, IdempotencyConflict, NotFound, SchemaMismatch, StoreBusy,
                     StoreUnavailable)
from .log import BIGINT, LOG_COLUMNS, LogEntry, parse_cursor, transition_of
from .replay import taken
from .rows import Snapshot, read_folder, settings_json, write_back
from .schema import (
    ID_LENGTH,
    IDEMPOTENCY_KEY_LENGTH,
    analyses,
    create_or_check,
    folders,
    idempotency_keys,
    transitions,
    upgrade_connection,
)

T = TypeVar("T")

_ANALYSIS = ANALYSIS_DEFINITION.name
_FOLDER = FOLDER_DEFINITION.name
_SETUP_LOCK = 0x5354_4154  # pg_advisory_xact_lock key: one Store at a time creates the tables

Event = Callable[[Analysis], None]


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
    machine's ``IllegalTransition``.
    """

    def __init__(self, url: str | sa.URL, *, retries: int = 3, pool_size: int = POOL_SIZE,
                 max_overflow: int = MAX_OVERFLOW, pool_timeout: float = POOL_TIMEOUT, create: bool = True) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InvalidArgument("Store()", "retries", f"must be an int >= 0, not {short_repr(retries)}")
        check_pool(pool_size, max_overflow, pool_timeout)
        self.engine: sa.Engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                                             pool_timeout=pool_timeout)
        """The SQLAlchemy engine; for its events and pool, not to write the store's tables."""
        self.retries = retries
        self.pool_size = pool_size
        self.max_overflow = max_overflow
        self.pool_timeout = pool_timeout
        self._postgresql = is_postgresql(self.engine)
        self._insert = postgresql.insert if self._postgresql else sqlite.insert
        self._create = create
        if not create and not self._postgresql:
            path = self.engine.url.database
            if not path or not Path(path).is_file():  # connecting would make the file
                self.engine.dispose()
                raise SchemaMismatch(f"Store(create=False): no SQLite database at {short_repr(path)}")
        self._transaction("", self._set_up)

    def close(self) -> None:
        """Close the store's connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Operations

    def create_folder(self, *, settings: Settings = DEFAULT_SETTINGS, folder_id: str | None = None) -> str:
        """Store a new folder, INITIAL; returns its id (``folder_id``, or a new UUID)."""
        if not isinstance(settings, Settings):
            raise InvalidArgument("Store.create_folder()", "settings",
                                  f"must be a Settings, not {short_repr(settings)}")
        if folder_id is not None:
            _check_id("create_folder", "folder_id", folder_id)
        folder = Folder(settings=settings) if folder_id is None else Folder(settings=settings, folder_id=folder_id)

        def create(connection: sa.Connection) -> str:
            if connection.scalar(sa.select(folders.c.folder_id).where(folders.c.folder_id == folder.folder_id)):
                raise AlreadyExists(f"Store.create_folder(): folder {folder.folder_id!r} exists already")
            now = time.time()
            connection.execute(folders.insert().values(
                folder_id=folder.folder_id, settings=settings_json(settings), version=1,
                resolution_status=folder.resolution_status, system_resolution=folder.system_resolution,
                time_created=now, time_updated=now))
            return folder.folder_id

        return self._transaction("create_folder", create)

    def submit(self, folder_id: str, types: Iterable[AnalysisType | str], *,
               idempotency_key: str | None = None) -> list[str]:
        """Submit a group of analyses, one per type, to the folder; returns their ids in order.

        Listeners hear the folder's ``submit`` once it has committed; a
        replay of an ``idempotency_key`` returns the first call's ids.
        """
        _check_id("submit", "folder_id", folder_id)
        _check_key("submit", idempotency_key)
        if isinstance(types, (str, bytes)) or not isinstance(types, Iterable):
            raise InvalidArgument("Store.submit()", "types",
                                  f"must be a list of analysis types, not {short_repr(types)}")
        wanted = list(types)
        request = {"types": [_spelling(AnalysisType, raw) for raw in wanted]}

        def submit(connection: sa.Connection) -> tuple[list[str], list[Transition]]:
            folder, before = self._lock_and_read(connection, folder_id, "submit")
            now = time.time()
            replay = self._claim(connection, idempotency_key, folder_id, folder_id, "submit", request, now)
            if replay is not None:
                return list(replay[0].arguments["analysis_ids"]), []
            group, records = taken(folder, lambda: folder.submit(wanted))
            ids = [analysis.analyse_id for analysis in group.analyses]
            write_back(connection, folder, before, now)
            arguments = {"types": [analysis.type.value for analysis in group.analyses],
                         "group_id": group.group_id, "analysis_ids": ids}
            self._log(connection, idempotency_key, now, folder_id, records, arguments)
            return ids, records

        return self._move("submit", submit)

    def finish(self, analysis_id: str, resolution: Resolution | str, *,
               idempotency_key: str | None = None) -> list[Transition]:
        """End the analysis with a verdict; returns the transitions taken (the analysis's, then the folder's).

        The records are the machines' (equal to what a folder's listeners hear
        in memory), delivered to :func:`statuses.subscribe`'s listeners once
        committed.  A replay of an ``idempotency_key`` returns the first
        call's, read from the log, and delivers nothing.
        """
        ANALYSIS_MACHINE.check_argument("Store.finish()", "finish", resolution)  # bad input: before any SQL
        return self._end("finish", analysis_id, {"verdict": _spelling(Resolution, resolution)},
                         idempotency_key, lambda analysis: analysis.finish(resolution))

    def fail(self, analysis_id: str, *, reason: str | None = None,
             idempotency_key: str | None = None) -> list[Transition]:
        """End the analysis as FAILED; returns the transitions taken, as :meth:`finish` does."""
        if reason is not None and not isinstance(reason, str):
            raise InvalidArgument("Store.fail()", "reason", f"must be a str or None, not {short_repr(reason)}")
        if reason is not None:
            _check_text("fail", "reason", reason)
        return self._end("fail", analysis_id, {"reason": reason}, idempotency_key,
                         lambda analysis: analysis.fail(reason))

    def load(self, folder_id: str) -> Folder:
        """The folder in its stored state, with its groups and analyses (a copy: changing it stores nothing)."""
        _check_id("load", "folder_id", folder_id)
        return self._transaction("load", lambda connection: self._lock_and_read(
            connection, folder_id, "load", shared=True)[0], read_only=True)

    def history(self, folder_id: str) -> list[Transition]:
        """The transitions of the folder and its analyses, in the order they were taken.

        Each equals the record the call that took it returned; for what only
        the log knows (arguments, keys, times), see :meth:`changes`.
        """
        _check_id("history", "folder_id", folder_id)

        def read(connection: sa.Connection) -> list[Transition]:
            self._folder_row(connection, folder_id, "history")
            rows = connection.execute(sa.select(*LOG_COLUMNS).where(transitions.c.folder_id == folder_id)
                                      .order_by(transitions.c.seq))
            return [transition_of(row) for row in rows]

        return self._transaction("history", read, read_only=True)

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
        start = parse_cursor(after)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= BIGINT:
            raise InvalidArgument("Store.changes()", "limit",
                                  f"must be an int from 1 to {BIGINT}, not {short_repr(limit)}")
        position = sa.tuple_(transitions.c.txid, transitions.c.seq)
        # Typed BIGINT: PostgreSQL would otherwise be sent the seq and the limit as INTEGER, 32 bits.
        query = sa.select(*LOG_COLUMNS).where(position > sa.tuple_(*(sa.literal(n, sa.BigInteger) for n in start)))
        if self._postgresql:
            # Transactions take ids in one order and commit in another: only
            # entries of transactions older than every one still running are
            # final, and (txid, seq) orders them so later ones sort after.
            horizon = sa.text("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            query = query.where(transitions.c.txid < horizon)
        query = query.order_by(transitions.c.txid, transitions.c.seq).limit(sa.literal(limit, sa.BigInteger))
        return self._transaction("changes", lambda connection: [
            LogEntry.from_row(row) for row in connection.execute(query)], read_only=True)

    # One transaction, locked, retried; its moves delivered once committed

    def _move(self, operation: str, work: Callable[[sa.Connection], tuple[T, list[Transition]]]) -> T:
        """Run ``work`` as :meth:`_transaction` does; deliver the moves of the attempt that committed.

        Each attempt returns its own records, so a rolled-back or retried
        attempt's are never delivered; an idempotent replay returns none.
        """
        outcome, records = self._transaction(operation, work)
        if records:
            try:
                deliver(records)
            except ListenerError as error:  # reaches the caller with what the call returns: the move is stored
                error.outcome = outcome
                raise
        return outcome

    def _transaction(self, operation: str, work: Callable[[sa.Connection], T], *, read_only: bool = False) -> T:
        """Run ``work`` in one transaction, repeated up to ``retries`` times after a lost race."""
        attempt = 0
        while True:
            try:
                with self.engine.connect() as connection:
                    if read_only:
                        connection.execution_options(**READ_ONLY)
                    with connection.begin():
                        return work(connection)
            except ConcurrentUpdate as lost:
                cause: Exception = lost
            except sa.exc.TimeoutError as busy:  # the pool's, before any SQL: not a lost race, not retried
                raise StoreBusy(
                    f"{_called(operation)}: no database connection came free in {self.pool_timeout:g} s "
                    f"(Store(pool_size={self.pool_size}, max_overflow={self.max_overflow}, "
                    f"pool_timeout={self.pool_timeout:g})); the operation was not applied: repeat it later, or "
                    "give the Store more connections or a longer pool_timeout") from busy
            except sa.exc.DBAPIError as error:
                if is_unavailable(self.engine, error):
                    raise StoreUnavailable(f"{_called(operation)}: the database connection failed "
                                           f"({str(error.orig).strip()}); the operation was not applied "
                                           "unless the connection broke during COMMIT") from error
                if not is_transient(error):
                    raise
                cause = error
            attempt += 1
            if attempt > self.retries:
                raise ConcurrentUpdate(f"{_called(operation)}: lost a race {attempt} times, giving up; "
                                       f"last: {cause}") from cause
            time.sleep(random.uniform(0.0, 0.005 * attempt))

    def _set_up(self, connection: sa.Connection) -> None:
        if self._postgresql:
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_SETUP_LOCK)))
        create_or_check(connection, self._create)

    def _folder_row(self, connection: sa.Connection, folder_id: str | sa.ScalarSelect[Any], operation: str,
                    lock: bool = False, shared: bool = False,
                    missing: tuple[str, str] | None = None) -> sa.Row[Any]:
        """The folder's row, locked if asked; NotFound naming ``missing`` (default: the folder) if none."""
        query = sa.select(folders).where(folders.c.folder_id == folder_id)
        if lock:
            query = query.with_for_update(read=shared)  # SQLite renders no FOR UPDATE: BEGIN IMMEDIATE locked
        row = connection.execute(query).first()
        if row is None:
            kind, entity_id = missing or (_FOLDER, str(folder_id))
            raise NotFound(kind, entity_id, operation)
        return row

    def _lock_and_read(self, connection: sa.Connection, folder_id: str | sa.ScalarSelect[Any], operation: str,
                       shared: bool = False, missing: tuple[str, str] | None = None) -> tuple[Folder, Snapshot]:
        """Lock the folder (for writing, or ``shared`` for a consistent read) and restore it.

        ``folder_id`` may be a subquery (the folder of an analysis): looked up
        and locked in one statement.
        """
        row = self._folder_row(connection, folder_id, operation, lock=True, shared=shared, missing=missing)
        folder = read_folder(connection, row)
        return folder, Snapshot.of(folder, row.version)

    def _end(self, event: str, analysis_id: str, request: dict[str, Any], key: str | None,
             apply: Event) -> list[Transition]:
        """Apply ``finish`` or ``fail`` to a stored analysis."""
        _check_id(event, "analysis_id", analysis_id)
        _check_key(event, key)

        def end(connection: sa.Connection) -> tuple[list[Transition], list[Transition]]:
            folder_of_analysis = (sa.select(analyses.c.folder_id)
                                  .where(analyses.c.analyse_id == analysis_id).scalar_subquery())
            folder, before = self._lock_and_read(connection, folder_of_analysis, event,
                                                 missing=(_ANALYSIS, analysis_id))
            folder_id = folder.folder_id
            now = time.time()
            replay = self._claim(connection, key, folder_id, analysis_id, event, request, now)
            if replay is not None:
                return [entry.transition for entry in replay], []
            analysis = next(a for a in folder.analyses if a.analyse_id == analysis_id)
            _, records = taken(folder, lambda: apply(analysis))
            write_back(connection, folder, before, now)
            self._log(connection, key, now, folder_id, records, request)
            return records, records

        return self._move(event, end)

    # The log and the idempotency keys

    def _log(self, connection: sa.Connection, key: str | None, now: float, folder_id: str,
             records: Sequence[Transition], arguments: dict[str, Any]) -> None:
        """One log row per record, in order: the event's with its ``arguments``, the ``settle`` it caused with none."""
        txid: Any = sa.text("pg_current_xact_id()::text::bigint") if self._postgresql else 0
        connection.execute(transitions.insert().values(txid=txid), [
            {"folder_id": folder_id, "entity": record.entity, "entity_id": record.id,
             "group_id": record.group_id, "event": record.event, "source": record.source.value,
             "dest": record.dest.value, "result": record.result.value,
             "arguments": arguments if index == 0 else {}, "idempotency_key": key, "time": now}
            for index, record in enumerate(records)])

    def _claim(self, connection: sa.Connection, key: str | None, folder_id: str, entity_id: str, event: str,
               request: dict[str, Any], now: float) -> list[LogEntry] | None:
        """Record ``key`` as this event's; if an event took it first, that event's logged outcome.

        The insert waits for a concurrent one of the same key to end, so two
        racing deliveries cannot both claim it.  A key first used for another
        event raises IdempotencyConflict.
        """
        if key is None:
            return None
        claim = (self._insert(idempotency_keys)
                 .values(idempotency_key=key, folder_id=folder_id, entity_id=entity_id, event=event,
                         request=request, time=now)
                 .on_conflict_do_nothing().returning(idempotency_keys.c.idempotency_key))
        if connection.execute(claim).first() is not None:
            return None
        first = connection.execute(sa.select(idempotency_keys)
                                   .where(idempotency_keys.c.idempotency_key == key)).one()
        if (first.entity_id, first.event, first.request) != (entity_id, event, request):
            raise IdempotencyConflict(
                f"Store.{event}(): idempotency key {key!r} was first used for {first.event} of {first.entity_id} "
                f"with {short_repr(first.request, 200)}, not for {event} of {entity_id} "
                f"with {short_repr(request, 200)}")
        rows = connection.execute(sa.select(*LOG_COLUMNS).where(transitions.c.idempotency_key == key)
                                  .order_by(transitions.c.seq))
        return [LogEntry.from_row(row) for row in rows]


def upgrade(url: str | sa.URL) -> list[int]:
    """Bring the store's tables at ``url`` to the current schema version; see :mod:`statuses.store.schema`.

    Returns the versions that were upgraded from (empty when there was nothing to do).
    """
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            return upgrade_connection(connection)
    finally:
        engine.dispose()


def _called(operation: str) -> str:
    """How messages name the call that failed: ``Store.finish()``, or ``Store()`` for the constructor."""
    return f"Store.{operation}()" if operation else "Store()"


def _spelling(kind: type[AnalysisType] | type[Resolution], raw: object) -> object:
    """How an argument is recorded: the API's spelling when it is one, else (the machine refuses it) storable."""
    try:
        return kind.parse(raw).value
    except ValueError:
        return _storable(raw)


_RECORDED_TEXT = 60
"""The longest string recorded as given; longer ones are recorded as their :func:`short_repr`."""
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(raw: object) -> object:
    """``raw`` if both databases keep it as JSON and read it back equal; else its ``short_repr``.

    The idempotency claim records the request before the machine runs, so a
    value the machine will refuse must still be written first: NaN and
    infinities are no JSON (PostgreSQL refuses them), integers past 4,300
    digits cannot be written at all, and any other object is no JSON value.
    The machine then refuses the value itself, as in memory, and the claim
    is rolled back with the rest.
    """
    if raw is None or type(raw) is bool:
        return raw
    if type(raw) is int and -BIGINT - 1 <= raw <= BIGINT:
        return raw
    if type(raw) is float and math.isfinite(raw):
        return raw
    if type(raw) is str and len(raw) <= _RECORDED_TEXT and _UNSTORABLE.search(raw) is None:
        return raw
    # An object's own repr may hold what no database keeps: escaped as Python would spell it.
    return _UNSTORABLE.sub(lambda found: ascii(found.group())[1:-1], short_repr(raw))


def _check_id(operation: str, name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(_called(operation), name, f"must be a non-empty str, not {short_repr(value)}")
    if len(value) > ID_LENGTH:
        raise InvalidArgument(_called(operation), name, f"must be at most {ID_LENGTH} characters, "
                              f"not {short_repr(value)} ({len(value)})")
    _check_text(operation, name, value)


def _check_key(operation: str, key: object) -> None:
    if key is None:
        return
    if not isinstance(key, str) or not key or len(key) > IDEMPOTENCY_KEY_LENGTH:
        raise InvalidArgument(_called(operation), "idempotency_key", f"must be None or a str of 1 to "
                              f"{IDEMPOTENCY_KEY_LENGTH} characters, not {short_repr(key)}")
    _check_text(operation, "idempotency_key", key)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(operation: str, name: str, value: str) -> None:
    """Refuse text a database cannot keep, before any SQL: the same answer on both.

    PostgreSQL refuses NUL in text (SQLite would store it); a surrogate code
    point (U+D800 to U+DFFF, half of a UTF-16 pair) has no UTF-8 encoding,
    so both drivers would fail on it halfway through the transaction.
    """
    if "\x00" in value:
        raise InvalidArgument(_called(operation), name, f"must not contain a NUL character, not {short_repr(value)}")
    surrogate = _SURROGATE.search(value)
    if surrogate is not None:
        raise InvalidArgument(_called(operation), name, f"must not contain a lone surrogate "
                              f"(U+{ord(surrogate.group()):04X} at index {surrogate.start()}), which UTF-8 cannot "
                              f"encode, not {short_repr(value)}")
