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
"""

try:  # before the submodules below import it
    import sqlalchemy as _sqlalchemy  # noqa: F401
except ModuleNotFoundError as missing:
    if missing.name != "sqlalchemy":
        raise
    raise ModuleNotFoundError(
        "statuses.store needs SQLAlchemy, which is not installed: pip install 'oz-statuses[store]' "
        "(for PostgreSQL too: pip install 'oz-statuses[postgres]')",
        name="sqlalchemy",
    ) from missing

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
from .log import LogEntry
from .schema import SCHEMA_VERSION
from .store import Store, upgrade

__all__ = [
    "SCHEMA_VERSION",
    "AlreadyExists",
    "ConcurrentUpdate",
    "IdempotencyConflict",
    "LogEntry",
    "NotFound",
    "SchemaMismatch",
    "Store",
    "StoreBusy",
    "StoreCorrupt",
    "StoreError",
    "StoreUnavailable",
    "upgrade",
]
