"""Engines for the two supported databases, and what their errors mean.

SQLite: pysqlite's own transaction handling is switched off (it would issue a
deferred ``BEGIN`` only before the first write) and every transaction begins
with ``BEGIN IMMEDIATE``, which takes the database's write lock at once: two
operations never both read before either writes.  Reads ask for
``BEGIN DEFERRED`` (see :data:`READ_ONLY`), which in WAL mode sees one
consistent snapshot without blocking writers.

PostgreSQL (psycopg 3): READ COMMITTED, the default; the store locks the
folder's row with ``SELECT … FOR UPDATE`` before reading anything else of it.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..errors import InvalidArgument
from ..values import short_repr
from .errors import ConcurrentUpdate, SchemaMismatch, StoreBusy, StoreUnavailable
from .schema import create_or_check
from .statements import watched

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

SQLITE_BUSY_SECONDS = 30.0
"""How long a SQLite writer waits for another's write lock before giving up."""

READ_ONLY = {"statuses_read_only": True}
"""Execution options for a transaction that only reads."""

_SQLITE_DUPLICATES = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})  # serialization failure, deadlock, lock not available


POOL_SIZE = 5
"""Connections the pool keeps open (SQLAlchemy's default ``pool_size``)."""
MAX_OVERFLOW = 10
"""Connections the pool opens beyond :data:`POOL_SIZE` when they are all in use (SQLAlchemy's default)."""
POOL_TIMEOUT = 30.0
"""Seconds an operation waits for a connection to come free (SQLAlchemy's default ``pool_timeout``)."""


def check_settings(called: str, retries: object, pool_size: object, max_overflow: object,
                   pool_timeout: object) -> None:
    """Refuse a store's settings that SQLAlchemy would take and then fail on, or silently misread."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidArgument(called, "retries", f"must be an int >= 0, not {short_repr(retries)}")
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise InvalidArgument(called, "pool_size", f"must be an int >= 1, not {short_repr(pool_size)}")
    if isinstance(max_overflow, bool) or not isinstance(max_overflow, int) or max_overflow < -1:
        raise InvalidArgument(called, "max_overflow",
                              f"must be an int >= -1 (-1: no limit), not {short_repr(max_overflow)}")
    # A wait longer than threading.TIMEOUT_MAX raises OverflowError at the first checkout, not here.
    if (isinstance(pool_timeout, bool) or not isinstance(pool_timeout, (int, float))
            or not 0 <= pool_timeout <= threading.TIMEOUT_MAX):
        raise InvalidArgument(called, "pool_timeout", f"must be a number of seconds from 0 to "
                              f"{threading.TIMEOUT_MAX:g}, not {short_repr(pool_timeout)}")


def check_sqlite_file(url: sa.URL, store: str) -> None:
    """For ``store(create=False)``: a SQLite URL must name a file that is there (connecting would make it)."""
    if url.get_backend_name() == "sqlite" and (not url.database or not Path(url.database).is_file()):
        raise SchemaMismatch(f"{store}(create=False): no SQLite database at {short_repr(url.database)}")


class Attempts:
    """The attempts at one operation: which failures are a lost race to repeat after a pause, and when to stop.

    Shared by :class:`~statuses.store.Store`, which sleeps, and
    :class:`~statuses.store.AsyncStore`, which awaits the pause.
    """

    __slots__ = ("called", "retries", "dialect", "busy", "tries")

    def __init__(self, called: str, retries: int, dialect: str, busy: Callable[[], StoreBusy]) -> None:
        self.called, self.retries, self.dialect, self.busy = called, retries, dialect, busy
        self.tries = 0

    def pause(self, error: Exception) -> float:
        """Seconds to wait before the next attempt after ``error``; raises the store's error when there is none."""
        if isinstance(error, sa.exc.TimeoutError):  # the pool's, before any SQL: not a lost race, not retried
            raise self.busy() from error
        if isinstance(error, sa.exc.DBAPIError):
            problem = failure(error, self.called, self.dialect)
            if problem is error:
                raise error
            if problem is not None:
                raise problem from error
        elif not isinstance(error, ConcurrentUpdate):
            raise error
        self.tries += 1
        if self.tries > self.retries:
            raise ConcurrentUpdate(f"{self.called}: lost a race {self.tries} times, giving up; "
                                   f"last: {error}") from error
        return random.uniform(0.0, 0.005 * self.tries)


RETRIED = (ConcurrentUpdate, sa.exc.TimeoutError, sa.exc.DBAPIError)
"""What an attempt may raise that :meth:`Attempts.pause` judges."""


def busy(called: str, store: str, pool_size: int, max_overflow: int, pool_timeout: float) -> StoreBusy:
    """The error for an operation that found no connection free in time: not applied."""
    return StoreBusy(
        f"{called}: no database connection came free in {pool_timeout:g} s "
        f"({store}(pool_size={pool_size}, max_overflow={max_overflow}, "
        f"pool_timeout={pool_timeout:g})); the operation was not applied: repeat it later, or "
        f"give the {store} more connections or a longer pool_timeout")


def parse_url(url: str | sa.URL, called: str = "Store()") -> sa.URL:
    """``url`` parsed, if it names a database the store runs on: a SQLite file, or PostgreSQL through psycopg 3."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise InvalidArgument(called, "url", f"{parsed!r}: an in-memory SQLite database is one per "
                                  "connection; give the store a file (sqlite:///path/to/statuses.db)")
        return parsed
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", "psycopg_async"):
            raise InvalidArgument(called, "url", f"{parsed!r}: use the psycopg 3 driver (postgresql+psycopg://…)")
        return parsed
    raise InvalidArgument(called, "url", f"{parsed!r}: the store runs on sqlite:/// or postgresql+psycopg:// "
                          f"URLs, not {backend!r}")


def make_engine(url: str | sa.URL, *, pool_size: int = POOL_SIZE, max_overflow: int = MAX_OVERFLOW,
                pool_timeout: float = POOL_TIMEOUT) -> sa.Engine:
    """An engine for ``url``, with the transaction behaviour the store relies on and a pool of this size."""
    parsed = parse_url(url)
    options = engine_options(parsed, sa.QueuePool, pool_size, max_overflow, pool_timeout)
    if parsed.get_backend_name() == "sqlite":
        return watch_sqlite(sa.create_engine(parsed, **options))
    try:
        return sa.create_engine(parsed.set(drivername="postgresql+psycopg"), **options)  # imports the driver
    except ModuleNotFoundError as missing:
        if missing.name is None or missing.name.partition(".")[0] != "psycopg":
            raise
        raise ModuleNotFoundError(f"Store({parsed!r}): PostgreSQL needs the psycopg driver, which is not "
                                  "installed: pip install 'oz-statuses[postgres]'", name=missing.name) from missing


def engine_options(url: sa.URL, poolclass: type[sa.Pool], pool_size: int, max_overflow: int,
                   pool_timeout: float) -> dict[str, Any]:
    """What both kinds of engine are made with: the pool, and SQLite's wait for the write lock."""
    options: dict[str, Any] = {"poolclass": poolclass, "pool_size": pool_size, "max_overflow": max_overflow,
                               "pool_timeout": pool_timeout}
    if url.get_backend_name() == "sqlite":
        options["connect_args"] = {"timeout": SQLITE_BUSY_SECONDS}
    return options


def watch_sqlite(engine: sa.Engine) -> sa.Engine:
    """``engine`` (a SQLite one, or an async engine's ``sync_engine``) set up as the store needs: WAL, BEGIN IMMEDIATE."""
    sa.event.listen(engine, "connect", _sqlite_connect)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, in _sqlite_begin
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe against crashes of the process
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    read_only = connection.get_execution_options().get("statuses_read_only", False)
    # On the driver's connection: through SQLAlchemy's execution layer this one statement cost a fifth of an event.
    statement = "BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE"
    if watched(connection) or connection.dialect.is_async:  # an async driver's connection is not called directly
        connection.exec_driver_sql(statement)
        return
    try:
        connection.connection.driver_connection.execute(statement)  # type: ignore[union-attr]
    except connection.dialect.loaded_dbapi.Error as error:  # a busy database: as SQLAlchemy would raise it
        raise sa.exc.DBAPIError.instance(statement, (), error, connection.dialect.loaded_dbapi.Error,
                                         dialect=connection.dialect) from error


def is_transient(error: sa.exc.DBAPIError) -> bool:
    """Whether repeating the transaction may succeed: a deadlock, a serialization failure, a busy SQLite."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(error, sa.exc.IntegrityError):
        # Two inserts of one new id (create_folder): the retry finds the row and says so.
        # Any other broken constraint is a bug to show, not to repeat.
        return sqlstate == "23505" or getattr(error.orig, "sqlite_errorname", None) in _SQLITE_DUPLICATES
    if sqlstate in _TRANSIENT_SQLSTATES:
        return True
    return isinstance(error, sa.exc.OperationalError) and "database is locked" in str(error.orig)


def is_unavailable(dialect: str, error: sa.exc.DBAPIError) -> bool:
    """Whether ``error`` means the database could not be reached or the connection was lost."""
    if error.connection_invalidated:
        return True
    if not isinstance(error, sa.exc.OperationalError):
        return False
    if dialect != "postgresql":
        return "unable to open database file" in str(error.orig)
    sqlstate = getattr(error.orig, "sqlstate", None)
    # No SQLSTATE: the client lost or never had the connection.  08: connection
    # exceptions; 57P01-57P03: the server is shutting down or starting up.
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in {"57P01", "57P02", "57P03"}


def failure(error: sa.exc.DBAPIError, called: str, dialect: str, inside: bool = False) -> Exception | None:
    """The store's error for a database error in ``called``; None for a lost race, which is repeated.

    ``inside`` the caller's transaction nothing is repeated: a lost race is
    :class:`ConcurrentUpdate` too, for the caller to roll back and repeat.
    """
    if is_unavailable(dialect, error):
        return StoreUnavailable(f"{called}: the database connection failed ({str(error.orig).strip()}); the "
                                "operation was not applied unless the connection broke during COMMIT")
    if not is_transient(error):
        return error
    if inside:
        return ConcurrentUpdate(f"{called}: lost a race inside the caller's transaction ({str(error.orig).strip()}); "
                                "roll it back and repeat it")
    return None


SET_UP_LOCK = 0x5354_4154
"""The ``pg_advisory_xact_lock`` key under which one store at a time creates the tables."""


def set_up(connection: sa.Connection, create: bool) -> None:
    """Create the store's tables in a new database (unless ``create`` is False), or check their version."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(SET_UP_LOCK)))
    create_or_check(connection, create)


def make_async_engine(url: str | sa.URL, *, pool_size: int = POOL_SIZE, max_overflow: int = MAX_OVERFLOW,
                      pool_timeout: float = POOL_TIMEOUT) -> AsyncEngine:
    """An asyncio engine for ``url`` (aiosqlite for SQLite, psycopg's async connection for PostgreSQL), set up as
    :func:`make_engine`'s is."""
    parsed = parse_url(url, "AsyncStore()")
    try:
        from sqlalchemy.ext.asyncio import create_async_engine
        options = engine_options(parsed, sa.AsyncAdaptedQueuePool, pool_size, max_overflow, pool_timeout)
        if parsed.get_backend_name() == "sqlite":
            engine = create_async_engine(parsed.set(drivername="sqlite+aiosqlite"), **options)
            watch_sqlite(engine.sync_engine)
            return engine
        return create_async_engine(parsed.set(drivername="postgresql+psycopg"), **options)
    except (ImportError, ValueError) as missing:
        # SQLAlchemy's asyncio layer needs greenlet (an ImportError naming it in 2.1, a ValueError in 2.0), SQLite
        # aiosqlite.
        name = getattr(missing, "name", None) or ("greenlet" if "greenlet" in str(missing) else None)
        if name not in ("aiosqlite", "greenlet") and (name is None or name.partition(".")[0] != "psycopg"):
            raise
        extra = "postgres,async" if parsed.get_backend_name() == "postgresql" else "async"
        raise ModuleNotFoundError(f"AsyncStore({parsed!r}) needs {name}, which is not installed: "
                                  f"pip install 'oz-statuses[{extra}]'", name=name) from missing
