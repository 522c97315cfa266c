"""Folders and analyses in SQLite or PostgreSQL, shared safely by many workers.

>>> import tempfile, pathlib
>>> from statuses import AnalysisType, Resolution
>>> from statuses.store import Store
>>> with tempfile.TemporaryDirectory() as tmp, Store(f"sqlite:///{pathlib.Path(tmp, 's.db')}") as store:
...     folder_id = store.create_folder()
...     [quality] = store.submit(folder_id, [AnalysisType.QUALITY])
...     [(t.entity, t.source.value, t.dest.value) for t in store.finish(quality, Resolution.SUCCESS)]
[('analysis', 'PROCESSING', 'FINISHED'), ('folder', 'PROCESSING', 'FINISHED')]

``finish`` and ``fail`` return the machines' :class:`~statuses.Transition`
records, which listeners of :func:`statuses.subscribe` hear once the
transaction has committed.  See :mod:`statuses.store.store` for how each
operation locks, checks, logs and delivers, and :mod:`statuses.store.schema`
for the tables and how to upgrade them.

Importing this package loads neither SQLAlchemy nor the store's modules: each
name below is imported when first used, so a program that only catches
:class:`StoreError` (or never opens a store) does not pay for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    AlreadyExists,
    ConcurrentUpdate,
    IdempotencyConflict,
    NotFound,
    SchemaMismatch,
    StoreBusy,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from .async_store import AsyncStore
    from .log import LogEntry
    from .queries import FolderPage, FolderSummary, StoreCounts
    from .schema import SCHEMA_VERSION
    from .store import Store, upgrade

_LAZY = {"AsyncStore": "async_store", "LogEntry": "log", "SCHEMA_VERSION": "schema", "Store": "store",
         "upgrade": "store", "FolderPage": "queries", "FolderSummary": "queries", "StoreCounts": "queries"}
"""The names that need SQLAlchemy, and the module each comes from."""

__all__ = [
    "SCHEMA_VERSION",
    "AlreadyExists",
    "AsyncStore",
    "ConcurrentUpdate",
    "FolderPage",
    "FolderSummary",
    "IdempotencyConflict",
    "LogEntry",
    "NotFound",
    "SchemaMismatch",
    "Store",
    "StoreBusy",
    "StoreCorrupt",
    "StoreCounts",
    "StoreError",
    "StoreUnavailable",
    "upgrade",
]


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use (PEP 562), naming the extra to install if needed."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    except ModuleNotFoundError as missing:
        if missing.name != "sqlalchemy":
            raise
        raise ModuleNotFoundError(
            "statuses.store needs SQLAlchemy, which is not installed: pip install 'oz-statuses[store]' "
            "(for PostgreSQL too: pip install 'oz-statuses[postgres]')",
            name="sqlalchemy",
        ) from missing
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
