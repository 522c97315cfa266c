"""The store's tables, its schema version, and how to upgrade an older database.

Upgrading
---------
The database records the version of its layout in ``statuses_schema``.
:class:`~statuses.store.Store` creates missing tables and stamps a new
database with :data:`SCHEMA_VERSION`; it refuses to run on any other version,
with :class:`SchemaMismatch` saying what to do.  When a release changes the
layout it raises :data:`SCHEMA_VERSION` and adds to
:data:`statuses.store.migrations.MIGRATIONS` the step
from the version before it.  To upgrade, stop the workers, then run once::

    python -c 'from statuses.store import upgrade; upgrade("postgresql+psycopg://…")'

:func:`upgrade` applies every step from the stored version up to the current
one, in one transaction (on PostgreSQL and SQLite DDL is transactional): a
failed upgrade leaves the database at its old version.
"""

from __future__ import annotations

import zlib

import sqlalchemy as sa

from ..enums import AnalysisState, AnalysisType, ApiEnum, FolderStatus, Resolution
from .errors import SchemaMismatch

SCHEMA_VERSION = 3
"""The version of the layout below.

1. The tables as 0.2.0 made them.
2. The log's rows hold what a :class:`~statuses.Transition` needs: ``group_id`` and ``result``.
3. The folder's and group's rows keep their counts (:class:`~statuses.folder.FolderCounts`,
   :class:`~statuses.folder.GroupCounts`), so that an event reads one analysis, not the folder; the
   API's whole record is kept (``extra``, the keys it spelled, times that may be unknown); ``stored_at``
   and the indexes the queries use; ``statuses_counts``, the folders by status and analyses by state that
   :meth:`~statuses.store.Store.counts` reads.
"""

ID_LENGTH = 64
"""The longest id the store keeps (a UUID takes 36)."""
ID = sa.String(ID_LENGTH)
KEY = sa.String(200)
IDEMPOTENCY_KEY_LENGTH = 200
"""The longest idempotency key the store takes."""

metadata = sa.MetaData()


def _status(enum: type[ApiEnum], name: str | None = None) -> sa.Enum:
    """A column type holding the API's spelling of ``enum``'s members, checked by the database.

    ``name`` names its CHECK constraint, which must differ from that of another column of the table.
    """
    return sa.Enum(enum, native_enum=False, create_constraint=True, length=32,
                   name=name or f"statuses_{enum.__name__.lower()}",
                   values_callable=lambda members: [member.value for member in members])


schema_version = sa.Table(
    "statuses_schema", metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

folders = sa.Table(
    "statuses_folders", metadata,
    sa.Column("folder_id", ID, primary_key=True),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("resolution_status", _status(FolderStatus), nullable=False),
    sa.Column("system_resolution", _status(Resolution), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("time_created", sa.Float, comment="the record's, as the store or the API set it; NULL: not known"),
    sa.Column("time_updated", sa.Float),
    # Added by version 3, last so that a new table and an upgraded one have the same columns in the same order.
    sa.Column("in_progress", sa.Integer, nullable=False, comment="FolderCounts.in_progress"),
    sa.Column("group_count", sa.Integer, nullable=False, comment="groups submitted: the next group's position"),
    sa.Column("analysis_count", sa.Integer, nullable=False, comment="the next analysis's position"),
    sa.Column("last_group_id", ID, comment="FolderCounts.last_group_id: the last-finished group"),
    sa.Column("last_finished_order", sa.Integer),
    sa.Column("last_result", _status(Resolution, "statuses_last_result")),
    sa.Column("extra", sa.JSON, comment="the API's fields this package does not model"),
    sa.Column("stored_at", sa.Float, nullable=False, comment="the store's clock at the row's last write"),
    # The queries' one index on the folders: every event moves its entry (stored_at changes), and each index
    # an event moves cost about a tenth of a SQLite event; a page of any status is read per status (see queries).
    sa.Index("statuses_folders_by_status", "resolution_status", "stored_at", "folder_id"),
)

groups = sa.Table(
    "statuses_groups", metadata,
    sa.Column("group_id", ID, primary_key=True),
    sa.Column("folder_id", ID, sa.ForeignKey(folders.c.folder_id), nullable=False),
    sa.Column("position", sa.Integer, nullable=False, comment="submit order within the folder"),
    sa.Column("finished_order", sa.Integer, comment="1 for the folder's first group to finish; NULL while running"),
    # Added by version 3.
    sa.Column("in_progress", sa.Integer, nullable=False, comment="GroupCounts.in_progress"),
    sa.Column("worst_ended", _status(Resolution), nullable=False, comment="GroupCounts.worst_ended"),
    sa.UniqueConstraint("folder_id", "position"),
    sa.UniqueConstraint("folder_id", "finished_order"),
)

analyses = sa.Table(
    "statuses_analyses", metadata,
    sa.Column("analyse_id", ID, primary_key=True),
    sa.Column("folder_id", ID, sa.ForeignKey(folders.c.folder_id), nullable=False),
    sa.Column("group_id", ID, sa.ForeignKey(groups.c.group_id), nullable=False),
    sa.Column("position", sa.Integer, nullable=False, comment="submit order within the folder"),
    sa.Column("type", _status(AnalysisType), nullable=False),
    sa.Column("state", _status(AnalysisState), nullable=False),
    sa.Column("resolution_status", _status(Resolution), nullable=False),
    sa.Column("failure_reason", sa.Text),
    sa.Column("time_created", sa.Float),
    sa.Column("time_updated", sa.Float),
    # Added by version 3.
    sa.Column("extra", sa.JSON, comment="the API's fields this package does not model"),
    sa.Column("spellings", sa.JSON, comment="the keys the API's JSON used where it spells a field two ways"),
    sa.UniqueConstraint("folder_id", "position"),   # also the index of a folder's analyses
    # A folder's groups are read with their analyses through it (load, observe): without it, each group scanned
    # the whole table.  Version 3's, in place of version 2's on folder_id alone, which the unique index covers;
    # no event moves it (an analysis never changes group), so only a submit writes its entries.
    sa.Index("statuses_analyses_by_group", "group_id"),
)

transitions = sa.Table(
    "statuses_transitions", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("txid", sa.BigInteger, nullable=False,
              comment="the writing transaction's id on PostgreSQL (orders the outbox); 0 on SQLite"),
    sa.Column("folder_id", ID, sa.ForeignKey(folders.c.folder_id), nullable=False),
    sa.Column("entity", sa.String(16), nullable=False),
    sa.Column("entity_id", ID, nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("dest", sa.String(32), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("arguments", sa.JSON, nullable=False),
    sa.Column("idempotency_key", KEY),
    sa.Column("time", sa.Float, nullable=False),
    # Added by version 2, last so that a new table and an upgraded one have the same columns in the same order.
    sa.Column("group_id", ID, nullable=False),
    sa.Column("result", sa.String(32), nullable=False),
    sa.Index("statuses_transitions_by_folder", "folder_id", "seq"),
    sa.Index("statuses_transitions_outbox", "txid", "seq"),
)
"""The append-only log: one row per transition a machine took, with what its
:class:`~statuses.Transition` holds (``group_id``, ``result``: version 2) and
what only the log knows (the event's ``arguments``, the key, the time, the
position)."""

idempotency_keys = sa.Table(
    "statuses_idempotency_keys", metadata,
    sa.Column("idempotency_key", KEY, primary_key=True),
    sa.Column("folder_id", ID, sa.ForeignKey(folders.c.folder_id), nullable=False),
    sa.Column("entity_id", ID, nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("request", sa.JSON, nullable=False, comment="the event's arguments as first delivered"),
    sa.Column("time", sa.Float, nullable=False),
)
"""One row per applied event that carried a key; the primary key makes a second application impossible."""


COUNT_SHARDS = 64
"""Rows of :data:`counts`: each event adds to its folder's one, so that concurrent events seldom wait on the same."""
FOLDER_COUNTERS = {status: f"folders_{status.name.lower()}" for status in FolderStatus}
"""The column of :data:`counts` that counts the folders in each status."""
ANALYSIS_COUNTERS = {state: f"analyses_{state.name.lower()}" for state in AnalysisState}
"""The column of :data:`counts` that counts the analyses in each state."""

counts = sa.Table(
    "statuses_counts", metadata,
    sa.Column("shard", sa.Integer, primary_key=True, autoincrement=False),
    *(sa.Column(name, sa.BigInteger, nullable=False)
      for name in (*FOLDER_COUNTERS.values(), *ANALYSIS_COUNTERS.values())),
)
"""Folders by status and analyses by state, split over :data:`COUNT_SHARDS` rows, summed when read.

One row per shard with a column per member (not a row per status): an event
adds to all it moves with one UPDATE of one row, and a new member needs a new
schema version anyway (the status columns' CHECK constraints list them).
Every writing plan adds its moves in its own transaction; on PostgreSQL a
single row would make every writer wait for the one before it to commit."""


def count_shard(folder_id: str) -> int:
    """The row of :data:`counts` that the folder's events add to: the same in every process and on both engines."""
    return zlib.crc32(folder_id.encode()) % COUNT_SHARDS


def zero_counts() -> list[dict[str, int]]:
    """The rows of :data:`counts` for a store that holds nothing."""
    return [{column.name: 0 for column in counts.c} | {"shard": shard} for shard in range(COUNT_SHARDS)]


def stored_version(connection: sa.Connection) -> int | None:
    """The schema version the database records; None for a database without the store."""
    if not sa.inspect(connection).has_table(schema_version.name):
        return None
    version: int | None = connection.scalar(sa.select(sa.func.max(schema_version.c.version)))
    return version


def create_or_check(connection: sa.Connection, create: bool = True) -> None:
    """Create the tables of a new database (unless ``create`` is False: then refuse it); refuse one at another
    version."""
    version = stored_version(connection)
    if version is None and not create:
        raise SchemaMismatch("the database holds no statuses store (Store(url) creates one)")
    if version is None:
        metadata.create_all(connection)
        connection.execute(counts.insert(), zero_counts())
        connection.execute(schema_version.insert().values(version=SCHEMA_VERSION))
        return
    if version != SCHEMA_VERSION:
        hint = "run statuses.store.upgrade(url) once" if version < SCHEMA_VERSION else "upgrade this package"
        raise SchemaMismatch(f"the database's store schema is version {version}, this code runs on version "
                             f"{SCHEMA_VERSION}: {hint}")
