"""The :class:`AsyncStore`: the :class:`~statuses.store.Store` for asyncio services.

Theory of operation
-------------------
An ``AsyncStore`` runs the calls :class:`~statuses.store.Store` runs: the
same checks before any SQL (:mod:`statuses.store.calls`), the same plans
(:mod:`statuses.store.operations`), so the same locks, statements, machines,
log, idempotency keys and errors.  Only the IO differs.  Its engine is
SQLAlchemy's asyncio engine (aiosqlite for SQLite, psycopg's async connection
for PostgreSQL), and each attempt runs its plan under
``AsyncConnection.run_sync``, where SQLAlchemy's greenlet bridge makes every
statement an ``await`` of the driver: the event loop runs other tasks while
the database works.  A lost race is repeated after ``asyncio.sleep``, never
a blocking sleep.  Listeners hear the committed moves on the event loop's
thread, in the task that made the call, before it returns.

The tables are made (or their version checked) by the first operation, or
by ``async with AsyncStore(url) as store``; the constructor does no IO.

A writing call whose task is cancelled once its transaction has begun
runs that attempt to its end first (it commits or rolls back, and its moves
are delivered if it committed), then raises ``CancelledError``: cut off at
COMMIT, a move could be stored and never delivered, and the caller could not
tell.  Waiting for a pooled connection and pausing between attempts stay
cancellable, and reads are cancelled at once.  Whether a cancelled call was
applied is not known to its caller: repeat it with its idempotency key,
which returns the first outcome.  The guarantee covers the cancellation of
the calling task: a loop torn down with calls under way (``asyncio.run``'s
end cancels every task) may cut one off, so ``await store.close()`` first,
which waits for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from ..analysis import Analysis
from ..enums import AnalysisType, FolderStatus, Resolution
from ..errors import InvalidArgument
from ..folder import Folder
from ..listeners import Transition
from ..settings import DEFAULT_SETTINGS, Settings
from ..values import short_repr
from . import calls
from .calls import Call
from .database import (MAX_OVERFLOW, POOL_SIZE, POOL_TIMEOUT, RETRIED, Attempts, busy, check_settings,
                       check_sqlite_file, make_async_engine, parse_url, set_up)
from .errors import called, named, naming
from .log import LogEntry
from .queries import FolderPage, StoreCounts
from .store import deliver_committed, in_transaction, plan_on, savepointed

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")


class AsyncStore:
    """:class:`~statuses.store.Store`'s methods and guarantees, awaited: for asyncio services.

    Make one per process and event loop, and share it between that loop's
    tasks: it holds a pool of connections, which belong to the loop that
    opened them.  The settings are ``Store``'s.  Each writing method takes
    ``connection=``, an ``AsyncConnection`` in a transaction the caller
    began (``async with store.engine.begin() as connection``), and then runs
    inside it as ``Store``'s do inside a ``Connection``.

    >>> import asyncio, tempfile, pathlib
    >>> from statuses import AnalysisType, Resolution
    >>> from statuses.store import AsyncStore
    >>> async def main(path):
    ...     async with AsyncStore(f"sqlite:///{path}") as store:
    ...         folder_id = await store.create_folder()
    ...         [quality] = await store.submit(folder_id, [AnalysisType.QUALITY])
    ...         moves = await store.finish(quality, Resolution.SUCCESS)
    ...         return [(t.entity, t.dest.value) for t in moves]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     asyncio.run(main(pathlib.Path(tmp, "s.db")))
    [('analysis', 'FINISHED'), ('folder', 'FINISHED')]
    """

    def __init__(self, url: str | sa.URL, *, retries: int = 3, pool_size: int = POOL_SIZE,
                 max_overflow: int = MAX_OVERFLOW, pool_timeout: float = POOL_TIMEOUT, create: bool = True) -> None:
        check_settings("AsyncStore()", retries, pool_size, max_overflow, pool_timeout)
        if not create:
            check_sqlite_file(parse_url(url, "AsyncStore()"), "AsyncStore")
        self.engine: AsyncEngine = make_async_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                                                     pool_timeout=pool_timeout)
        """SQLAlchemy's asyncio engine: for its events (on ``engine.sync_engine``) and pool, and to begin a
        transaction the store's calls join."""
        self.retries = retries
        self.pool_size = pool_size
        self.max_overflow = max_overflow
        self.pool_timeout = pool_timeout
        self._create = create
        self._postgresql = self.engine.dialect.name == "postgresql"
        self._set_up = False
        self._setting_up = asyncio.Lock()
        self._in_flight: set[asyncio.Future[Any]] = set()

    async def close(self) -> None:
        """Close the store's connections, once the attempts under way have ended."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight))
        await self.engine.dispose()

    @named("AsyncStore")
    async def __aenter__(self) -> AsyncStore:
        try:
            await self._ready()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # Operations: each as Store's, whose docstrings say what it does

    @named("AsyncStore")
    async def create_folder(self, *, settings: Settings = DEFAULT_SETTINGS, folder_id: str | None = None,
                            connection: AsyncConnection | None = None) -> str:
        """Store a new folder, INITIAL; returns its id (see :meth:`Store.create_folder`)."""
        outcome: str = (await self._write(calls.create_folder(settings, folder_id), connection))[0]
        return outcome

    @named("AsyncStore")
    async def submit(self, folder_id: str, types: Iterable[AnalysisType | str], *,
                     idempotency_key: str | None = None, connection: AsyncConnection | None = None) -> list[str]:
        """Submit a group of analyses, one per type; returns their ids in order (see :meth:`Store.submit`)."""
        outcome: list[str] = (await self._write(calls.submit(folder_id, types, idempotency_key), connection))[0]
        return outcome

    @named("AsyncStore")
    async def finish(self, analysis_id: str, resolution: Resolution | str, *, idempotency_key: str | None = None,
                     connection: AsyncConnection | None = None) -> list[Transition]:
        """End the analysis with a verdict; returns the transitions taken (see :meth:`Store.finish`)."""
        outcome: list[Transition] = (await self._write(calls.finish(analysis_id, resolution, idempotency_key),
                                                       connection))[0]
        return outcome

    @named("AsyncStore")
    async def fail(self, analysis_id: str, *, reason: str | None = None, idempotency_key: str | None = None,
                   connection: AsyncConnection | None = None) -> list[Transition]:
        """End the analysis as FAILED; returns the transitions taken (see :meth:`Store.fail`)."""
        outcome: list[Transition] = (await self._write(calls.fail(analysis_id, reason, idempotency_key),
                                                       connection))[0]
        return outcome

    @named("AsyncStore")
    async def observe(self, snapshot: dict[str, Any], *, settings: Settings = DEFAULT_SETTINGS,
                      idempotency_key: str | None = None,
                      connection: AsyncConnection | None = None) -> list[Transition]:
        """Keep the stored folder in step with the API's JSON of it (see :meth:`Store.observe`)."""
        outcome: list[Transition] = (await self._write(calls.observe(snapshot, settings, idempotency_key),
                                                       connection))[0]
        return outcome

    @named("AsyncStore")
    async def load(self, folder_id: str) -> Folder:
        """The folder in its stored state, a copy (see :meth:`Store.load`)."""
        folder: Folder = await self._read(calls.load(folder_id))
        return folder

    @named("AsyncStore")
    async def history(self, folder_id: str) -> list[Transition]:
        """The transitions of the folder and its analyses, in the order taken (see :meth:`Store.history`)."""
        moves: list[Transition] = await self._read(calls.history(folder_id))
        return moves

    @named("AsyncStore")
    async def changes(self, after: str | None = None, limit: int = 100) -> list[LogEntry]:
        """Up to ``limit`` log entries after the cursor ``after``, oldest first (see :meth:`Store.changes`)."""
        entries: list[LogEntry] = await self._read(calls.changes(after, limit, self._postgresql))
        return entries

    @named("AsyncStore")
    async def load_analysis(self, analyse_id: str) -> Analysis:
        """The analysis in its stored state, in its folder read whole (see :meth:`Store.load_analysis`)."""
        analysis: Analysis = await self._read(calls.load_analysis(analyse_id))
        return analysis

    @named("AsyncStore")
    async def folders(self, *, status: FolderStatus | str | None = None, updated_after: float | None = None,
                      updated_before: float | None = None, limit: int = 100, after: str | None = None) -> FolderPage:
        """A page of up to ``limit`` folders, oldest update first (see :meth:`Store.folders`)."""
        page: FolderPage = await self._read(calls.folders(status, updated_after, updated_before, limit, after))
        return page

    @named("AsyncStore")
    async def counts(self) -> StoreCounts:
        """Folders by status and analyses by state, every member present (see :meth:`Store.counts`)."""
        totals: StoreCounts = await self._read(calls.counts())
        return totals

    # Running a call: one transaction, locked, retried; its moves delivered once committed

    async def _write(self, call: Call, connection: AsyncConnection | None) -> tuple[Any, list[Transition]]:
        """Run a writing call in its own transaction, then deliver its moves; or inside ``connection``'s."""
        if connection is not None:
            return await self._inside(call, connection)
        await self._ready()
        (outcome, moves), cancelled = await self._attempts(call.operation, plan_on(call), shielded=True)
        with naming("Store"):   # a listener's own calls of a Store are Store's
            deliver_committed(outcome, moves)   # in the caller's task, the connection back in the pool
        if cancelled:
            raise asyncio.CancelledError
        return outcome, moves

    async def _read(self, call: Call) -> Any:
        await self._ready()
        return (await self._attempts(call.operation, plan_on(call), read_only=True))[0]

    async def _inside(self, call: Call, connection: AsyncConnection) -> tuple[Any, list[Transition]]:
        """Run ``call`` under a savepoint of the caller's transaction; nothing committed, retried or delivered."""
        from sqlalchemy.ext.asyncio import AsyncConnection

        if not isinstance(connection, AsyncConnection) or not connection.in_transaction():
            raise InvalidArgument(called(call.operation), "connection", "must be a SQLAlchemy "
                                  f"AsyncConnection in a transaction the caller began, not {short_repr(connection)}")
        if not self._set_up:   # on the caller's connection: another would wait for the lock the caller holds
            await connection.run_sync(set_up_nested, self._create)
        moved: tuple[Any, list[Transition]] = await connection.run_sync(savepointed, call, self.engine.dialect.name)
        return moved

    async def _ready(self) -> None:
        """Make the tables, or check their version, once per store."""
        if self._set_up:
            return
        async with self._setting_up:
            if not self._set_up:
                await self._attempts("", lambda connection: set_up(connection, self._create))
                self._set_up = True

    async def _attempts(self, operation: str, work: Callable[[sa.Connection], T], *, read_only: bool = False,
                        shielded: bool = False) -> tuple[T, bool]:
        """``work`` in one transaction, repeated up to ``retries`` times after a lost race (pausing, not blocking).

        Returns its result and whether the caller was cancelled meanwhile:
        ``shielded``, an attempt that has begun runs to its end first (see
        the module's doc); waiting for a connection and pausing between
        attempts stay cancellable.
        """
        call = called(operation)
        attempts = Attempts(call, self.retries, self.engine.dialect.name,
                            lambda: busy(call, "AsyncStore", self.pool_size, self.max_overflow, self.pool_timeout))
        while True:
            try:
                async with self.engine.connect() as connection:
                    attempt = connection.run_sync(in_transaction, work, read_only)
                    if not shielded:
                        return await attempt, False
                    task = asyncio.ensure_future(attempt)
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
                    return await ended(task)   # the connection goes back to the pool before the caller delivers
            except RETRIED as error:
                await asyncio.sleep(attempts.pause(error))


def set_up_nested(connection: sa.Connection, create: bool) -> None:
    """:func:`~statuses.store.database.set_up` under a savepoint of the caller's transaction."""
    with connection.begin_nested():
        set_up(connection, create)


async def ended(task: asyncio.Future[T]) -> tuple[T, bool]:
    """``task``'s result once it has ended, and whether the awaiting task was cancelled meanwhile.

    A cancelled caller whose ``task`` failed gets ``CancelledError``, not the
    failure: it is not to be retried.
    """
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:  # the cancellation is the caller's to have once the work has ended
            cancelled = True
    if cancelled and (task.cancelled() or task.exception() is not None):
        raise asyncio.CancelledError
    return task.result(), cancelled
