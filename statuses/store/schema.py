"""The store's tables, its schema version, and how to upgrade an older database.

Upgrading
---------
The database records the version of its layout in ``statuses_schema``.
:class:`~statuses.store.Store` creates missing tables and stamps a new
database with :data:`SCHEMA_VERSION`; it refuses to run on any other version,
with :class:`SchemaMismatch` saying what to do.  When a release changes the
layout it raises :data:`SCHEMA_VERSION` and adds to :data:`MIGRATIONS` the step
from the version before it.  To upgrade, stop the workers, then run once::

    python -c 'from statuses.store import upgrade; upgrade("postgresql+psycopg://…")'

:func:`upgrade` applies every step from the stored version up to the current
one, in one transaction (on PostgreSQL and SQLite DDL is transactional): a
failed upgrade leaves the database at its old version.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from ..enums import AnalysisState, AnalysisType, ApiEnum, FolderStatus, Resolution
from ..settings import Settings
from .errors import SchemaMismatch, StoreCorrupt
from .replay import replay

SCHEMA_VERSION = 2
"""The version of the layout below.

1. The tables as 0.2.0 made them.
2. The log's rows hold what a :class:`~statuses.Transition` needs: ``group_id`` and ``result``.
"""

Migration = Callable[[sa.Connection], None]

ID_LENGTH = 64
"""The longest id the store keeps (a UUID takes 36)."""
ID = sa.String(ID_LENGTH)
KEY = sa.String(200)
IDEMPOTENCY_KEY_LENGTH = 200
"""The longest idempotency key the store takes."""

metadata = sa.MetaData()


def _status(enum: type[ApiEnum]) -> sa.Enum:
    """A column type holding the API's spelling of ``enum``'s members, checked by the database."""
    return sa.Enum(enum, native_enum=False, create_constraint=True, length=32,
                   name=f"statuses_{enum.__name__.lower()}",
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
    sa.Column("time_created", sa.Float, nullable=False),
    sa.Column("time_updated", sa.Float, nullable=False),
)

groups = sa.Table(
    "statuses_groups", metadata,
    sa.Column("group_id", ID, primary_key=True),
    sa.Column("folder_id", ID, sa.ForeignKey(folders.c.folder_id), nullable=False),
    sa.Column("position", sa.Integer, nullable=False, comment="submit order within the folder"),
    sa.Column("finished_order", sa.Integer, comment="1 for the folder's first group to finish; NULL while running"),
    sa.UniqueConstraint("folder_id", "position"),
    sa.UniqueConstraint("folder_id", "finished_order"),
)

analyses = sa.Table(
    "statuses_analyses", metadata,
    sa.Column("analyse_id", ID, primary_key=True),
    sa.Column("folder_id", ID, sa.ForeignKey(folders.c.folder_id), nullable=False, index=True),
    sa.Column("group_id", ID, sa.ForeignKey(groups.c.group_id), nullable=False),
    sa.Column("position", sa.Integer, nullable=False, comment="submit order within the folder"),
    sa.Column("type", _status(AnalysisType), nullable=False),
    sa.Column("state", _status(AnalysisState), nullable=False),
    sa.Column("resolution_status", _status(Resolution), nullable=False),
    sa.Column("failure_reason", sa.Text),
    sa.Column("time_created", sa.Float, nullable=False),
    sa.Column("time_updated", sa.Float, nullable=False),
    sa.UniqueConstraint("folder_id", "position"),
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


def _log_with_transitions(connection: sa.Connection) -> None:
    """Version 1 to 2: give each log row the ``group_id`` and ``result`` of its transition, exactly.

    Each folder's log is taken again by the machines, in ``seq`` order, on a
    new folder of its stored settings (see :mod:`statuses.store.replay`), and
    each row is given the record of its own move; a log that does not replay
    move for move raises :class:`StoreCorrupt`, and the upgrade changes
    nothing.  The columns are added empty, filled, then made NOT NULL:
    in place on PostgreSQL, by copying the table on SQLite (which cannot
    change a column), so that an upgraded database has exactly the layout of
    a new one.
    """
    added = [transitions.c.group_id, transitions.c.result]
    for column in added:
        connection.exec_driver_sql(f"ALTER TABLE {transitions.name} ADD COLUMN {column.name} "
                                   f"{column.type.compile(dialect=connection.dialect)}")
    fill = (transitions.update().where(transitions.c.seq == sa.bindparam("row_seq"))
            .values(group_id=sa.bindparam("row_group_id"), result=sa.bindparam("row_result")))
    log = [transitions.c[name] for name in ("seq", "entity", "entity_id", "event", "source", "dest", "arguments")]
    for folder in connection.execute(sa.select(folders.c.folder_id, folders.c.settings)).all():
        rows = connection.execute(sa.select(*log).where(transitions.c.folder_id == folder.folder_id)
                                  .order_by(transitions.c.seq)).all()
        if not rows:
            continue
        try:
            settings = Settings(**folder.settings)
        except (TypeError, ValueError) as error:
            raise StoreCorrupt(f"Folder {folder.folder_id}: stored settings {folder.settings!r}: {error}") from None
        records = replay(folder.folder_id, settings, rows)
        connection.execute(fill, [{"row_seq": row.seq, "row_group_id": record.group_id,
                                   "row_result": record.result.value} for row, record in zip(rows, records)])
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"ALTER TABLE {transitions.name} "
                                   + ", ".join(f"ALTER COLUMN {column.name} SET NOT NULL" for column in added))
        return
    # SQLite: the table made again from its current definition, the rows copied over, under the same names.
    copy = sa.MetaData()
    folders.to_metadata(copy)   # what its foreign key names
    rebuilt = transitions.to_metadata(copy, name=f"{transitions.name}_v2")
    for index in transitions.indexes:
        connection.exec_driver_sql(f"DROP INDEX {index.name}")
    rebuilt.create(connection)   # with the indexes, under their names
    columns = [column.name for column in transitions.c]
    connection.execute(rebuilt.insert().from_select(columns, sa.select(*transitions.c)))
    connection.exec_driver_sql(f"DROP TABLE {transitions.name}")
    connection.exec_driver_sql(f"ALTER TABLE {rebuilt.name} RENAME TO {transitions.name}")


MIGRATIONS: dict[int, Migration] = {1: _log_with_transitions}
"""``MIGRATIONS[n]`` upgrades a database from version ``n`` to ``n + 1``.

A step that rebuilds a table from its definition here (as step 1 does on
SQLite) must keep a copy of the layout it upgrades to once a later version
changes that table.
"""


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
        connection.execute(schema_version.insert().values(version=SCHEMA_VERSION))
        return
    if version != SCHEMA_VERSION:
        hint = "run statuses.store.upgrade(url) once" if version < SCHEMA_VERSION else "upgrade this package"
        raise SchemaMismatch(f"the database's store schema is version {version}, this code runs on version "
                             f"{SCHEMA_VERSION}: {hint}")


def upgrade_connection(connection: sa.Connection) -> list[int]:
    """Apply :data:`MIGRATIONS` from the stored version to :data:`SCHEMA_VERSION`; returns the steps run."""
    version = stored_version(connection)
    if version is None:
        create_or_check(connection)
        return []
    if version > SCHEMA_VERSION:
        raise SchemaMismatch(f"the database's store schema is version {version}, newer than this code's "
                             f"{SCHEMA_VERSION}: upgrade this package instead")
    applied = []
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise SchemaMismatch(f"no migration from store schema version {version} to {version + 1}")
        step(connection)
        applied.append(version)
        version += 1
    connection.execute(schema_version.delete())
    connection.execute(schema_version.insert().values(version=version))
    return applied
