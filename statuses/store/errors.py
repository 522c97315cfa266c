"""The exceptions the store raises, besides the core's ``InvalidArgument`` and ``IllegalTransition``.

Each is raised after the operation's transaction was rolled back: whatever
the error, nothing of the operation was written.  Each survives ``pickle``
(Celery and multiprocessing send a task's exception to another process).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, cast

Method = TypeVar("Method", bound=Callable[..., Any])

STORE_CLASS: ContextVar[str] = ContextVar("statuses_store_class", default="Store")
"""The class whose method runs, for messages: :class:`~statuses.store.AsyncStore` sets it around its calls."""


def called(operation: str) -> str:
    """How messages name the call that failed: ``Store.finish()``, ``AsyncStore.finish()``, ``Store()``."""
    name = STORE_CLASS.get()
    return f"{name}.{operation}()" if operation else f"{name}()"


@contextmanager
def naming(store: str) -> Iterator[None]:
    """Messages of the block name ``store``'s methods."""
    token = STORE_CLASS.set(store)
    try:
        yield
    finally:
        STORE_CLASS.reset(token)


def named(store: str) -> Callable[[Method], Method]:
    """An async store's method whose messages name ``store``: the checks and plans it shares with ``Store`` do not.

    ``Store``, the default, needs none: its methods pay nothing for it.
    """
    def decorate(method: Method) -> Method:
        @functools.wraps(method)
        async def awaited(*args: Any, **kwargs: Any) -> Any:
            with naming(store):
                return await method(*args, **kwargs)

        return cast(Method, awaited)

    return decorate


class StoreError(Exception):
    """Something the store could not do; the base of the store's own errors."""


class NotFound(StoreError, LookupError):
    """An id that names no folder or analysis in the store."""

    def __init__(self, kind: str, entity_id: str, operation: str, store: str | None = None) -> None:
        self.kind = kind
        """``"folder"`` or ``"analysis"``."""
        self.entity_id = entity_id
        self.operation = operation
        """The store's method that looked for it (``"finish"``)."""
        self.store = store or STORE_CLASS.get()
        """The store's class, ``"Store"`` or ``"AsyncStore"``."""
        super().__init__(f"{self.store}.{operation}(): no {kind} {entity_id!r} in the store")

    def __str__(self) -> str:  # LookupError would show the repr of the message
        return str(self.args[0])

    def __reduce__(self) -> tuple[type[NotFound], tuple[str, str, str, str], dict[str, object]]:
        # Unpickling calls the class with args, which hold the message, not __init__'s arguments.
        return (type(self), (self.kind, self.entity_id, self.operation, self.store), self.__dict__)


class AlreadyExists(StoreError, ValueError):
    """``create_folder`` with the id of a folder the store holds already."""


class ConcurrentUpdate(StoreError):
    """Another writer changed the folder between this operation's read and its write.

    The store retries such an operation a bounded number of times
    (``Store(retries=...)``) before raising this; nothing was written.
    """


class IdempotencyConflict(StoreError, ValueError):
    """An idempotency key already used for a different event."""


class StoreUnavailable(StoreError):
    """The database could not be reached, or the connection was lost mid-operation.

    The transaction was rolled back by the database unless the connection was
    lost during COMMIT itself, when the outcome is unknown: repeat the
    operation with an idempotency key to find out safely.  The next operation
    opens a new connection.
    """


class StoreBusy(StoreError):
    """No connection of the store's pool came free within ``pool_timeout`` seconds.

    Every connection the pool may open (``pool_size + max_overflow``) was in
    use by this process's other operations.  Nothing was sent to the
    database: the operation was not applied, and repeating it is safe.
    """


class SchemaMismatch(StoreError):
    """The database holds a schema version this code does not run on."""


class StoreCorrupt(StoreError):
    """Stored rows that cannot describe a folder (written by something else than the store)."""
