"""The steps that bring an older store's tables to :data:`~statuses.store.schema.SCHEMA_VERSION`.

Each step upgrades from one version to the next, inside the one transaction
:func:`upgrade_connection` runs them in.  A step that rebuilds a table from
its definition in :mod:`statuses.store.schema` (SQLite cannot change a
column, so it copies the table) must keep a copy of the layout it upgrades to
once a later version changes that table: steps 1 and 2 rebuild from today's
definitions.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from ..settings import Settings
from . import schema
from .errors import SchemaMismatch, StoreCorrupt
from .replay import replay
from .rows import members_query, read_folder
from .schema import ANALYSIS_COUNTERS, FOLDER_COUNTERS, analyses, count_shard, counts, folders, groups, transitions

Migration = Callable[[sa.Connection], None]


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


_ADDED_BY_3: dict[sa.Table, tuple[str, ...]] = {
    folders: ("in_progress", "group_count", "analysis_count", "last_group_id", "last_finished_order",
              "last_result", "extra", "stored_at"),
    groups: ("in_progress", "worst_ended"),
    analyses: ("extra", "spellings"),
}
_UNKNOWN_TIMES = (folders, analyses)   # their times may be NULL from version 3 on: the API's record may lack them
_COUNTS_BEFORE_FILLING = {"in_progress": 0, "group_count": 0, "analysis_count": 0, "worst_ended": "SUCCESS"}
"""What a NOT NULL column added by version 3 holds until the folder is read and its counts written."""


def _counts_and_records(connection: sa.Connection) -> None:
    """Version 2 to 3: the folder's and group's counts in their rows, the API's record, the queries' indexes
    and counts (``statuses_counts``), the analyses indexed by group (not by folder alone).

    The columns are added, then every folder is read as the store reads it
    (:func:`~statuses.store.rows.read_folder`, checked by the folder's
    rules: a folder they cannot explain raises :class:`StoreCorrupt` and the
    upgrade changes nothing) and its counts written.  ``stored_at`` starts
    as the folder's ``time_updated``.  In place on PostgreSQL; on SQLite,
    which cannot change a column, by copying each table.  ``statuses_counts``
    is made and filled from the same folders.
    """
    if connection.dialect.name == "postgresql":
        for table, names in _ADDED_BY_3.items():
            connection.exec_driver_sql(f"ALTER TABLE {table.name} " + ", ".join(
                f"ADD COLUMN {name} {table.c[name].type.compile(dialect=connection.dialect)}" for name in names))
        for table in _UNKNOWN_TIMES:
            connection.exec_driver_sql(f"ALTER TABLE {table.name} ALTER COLUMN time_created DROP NOT NULL, "
                                       "ALTER COLUMN time_updated DROP NOT NULL")
        # Version 3's indexes before the fill, which reads each folder's groups with their analyses: version 2
        # had no index by group, and each folder's read would scan every analysis of the store.
        # Version 2's index of the analyses by folder alone goes: the unique (folder_id, position) covers it.
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS ix_{analyses.name}_folder_id")
        for table in _ADDED_BY_3:
            for index in table.indexes:
                if index.name not in {found["name"] for found in sa.inspect(connection).get_indexes(table.name)}:
                    index.create(connection)
    else:
        _rebuild_on_sqlite(connection, [folders, groups, analyses])   # makes the tables with their indexes
    counts.create(connection)
    _fill_counts(connection)
    if connection.dialect.name != "postgresql":
        return
    for table, names in _ADDED_BY_3.items():
        required = [name for name in names if not table.c[name].nullable]
        if required:
            connection.exec_driver_sql(f"ALTER TABLE {table.name} " + ", ".join(
                f"ALTER COLUMN {name} SET NOT NULL" for name in required))
        # An enum column's CHECK constraint bears its type's name (see schema._status).
        types = [table.c[name].type for name in names]
        checked = {kind.name for kind in types if isinstance(kind, sa.Enum)}
        # On a copy: AddConstraint marks the constraint it adds as never to be made with its table again.
        for constraint in table.to_metadata(sa.MetaData()).constraints:
            if isinstance(constraint, sa.CheckConstraint) and constraint.name in checked:
                connection.execute(sa.schema.AddConstraint(constraint))


def _fill_counts(connection: sa.Connection) -> None:
    """Write each folder's and group's counts, read off the folder restored from its rows, and their sums by status."""
    folder_fill = (folders.update().where(folders.c.folder_id == sa.bindparam("row_folder_id"))
                   .values(**{name: sa.bindparam(f"row_{name}") for name in _ADDED_BY_3[folders]
                              if name != "extra"}))
    group_fill = (groups.update().where(groups.c.group_id == sa.bindparam("row_group_id"))
                  .values(in_progress=sa.bindparam("row_in_progress"), worst_ended=sa.bindparam("row_worst_ended")))
    shards = schema.zero_counts()
    for row in connection.execute(sa.select(folders)).all():
        folder = read_folder(row, connection.execute(members_query(row.folder_id)))
        shard = shards[count_shard(folder.folder_id)]
        shard[FOLDER_COUNTERS[folder.resolution_status]] += 1
        for analysis in folder.analyses:
            shard[ANALYSIS_COUNTERS[analysis.state]] += 1
        kept = folder.counts()
        connection.execute(folder_fill, {
            "row_folder_id": folder.folder_id, "row_in_progress": kept.in_progress,
            "row_group_count": len(folder.groups), "row_analysis_count": sum(1 for _ in folder.analyses),
            "row_last_group_id": kept.last_group_id, "row_last_finished_order": kept.last_finished_order,
            "row_last_result": kept.last_result, "row_stored_at": row.time_updated})
        group_counts = [group.counts() for group in folder.groups]
        if group_counts:
            connection.execute(group_fill, [{"row_group_id": group.group_id, "row_in_progress": group.in_progress,
                                             "row_worst_ended": group.worst_ended} for group in group_counts])
    connection.execute(counts.insert(), shards)


def _rebuild_on_sqlite(connection: sa.Connection, tables: list[sa.Table]) -> None:
    """Make ``tables`` again from their current definitions, rows copied over, under the same names.

    A column the old table lacks takes :data:`_COUNTS_BEFORE_FILLING`'s
    value, ``stored_at`` the row's ``time_updated``, any other NULL.  Each
    old table is renamed aside with ``legacy_alter_table`` on, so that the
    foreign keys pointing to it keep its name, which the new table then
    takes.  Run with foreign keys off (:func:`~statuses.store.upgrade`
    turns them off, and :func:`upgrade_connection` checks them all before
    it commits).
    """
    inspector = sa.inspect(connection)
    old_columns = {table.name: {column["name"] for column in inspector.get_columns(table.name)} for table in tables}
    old_indexes = {table.name: [index["name"] for index in inspector.get_indexes(table.name)] for table in tables}
    connection.exec_driver_sql("PRAGMA legacy_alter_table = ON")
    try:
        for table in tables:
            for index in old_indexes[table.name]:
                if index:
                    connection.exec_driver_sql(f"DROP INDEX {index}")
            connection.exec_driver_sql(f"ALTER TABLE {table.name} RENAME TO {table.name}_v2")
            table.create(connection)
            old = sa.table(f"{table.name}_v2", *(sa.column(name) for name in old_columns[table.name]))
            columns = [column.name for column in table.c]
            source = [old.c[name] if name in old_columns[table.name] else
                      sa.literal(_COUNTS_BEFORE_FILLING[name]) if name in _COUNTS_BEFORE_FILLING else
                      old.c.time_updated if name == "stored_at" else sa.null() for name in columns]
            connection.execute(table.insert().from_select(columns, sa.select(*source).select_from(old)))
            connection.exec_driver_sql(f"DROP TABLE {table.name}_v2")
    finally:
        connection.exec_driver_sql("PRAGMA legacy_alter_table = OFF")


MIGRATIONS: dict[int, Migration] = {1: _log_with_transitions, 2: _counts_and_records}
"""``MIGRATIONS[n]`` upgrades a database from version ``n`` to ``n + 1``."""


def upgrade_connection(connection: sa.Connection) -> list[int]:
    """Apply :data:`MIGRATIONS` from the stored version to :data:`~statuses.store.schema.SCHEMA_VERSION`; returns the steps run."""
    version = schema.stored_version(connection)
    if version is None:
        schema.create_or_check(connection)
        return []
    if version > schema.SCHEMA_VERSION:
        raise SchemaMismatch(f"the database's store schema is version {version}, newer than this code's "
                             f"{schema.SCHEMA_VERSION}: upgrade this package instead")
    applied = []
    while version < schema.SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise SchemaMismatch(f"no migration from store schema version {version} to {version + 1}")
        step(connection)
        applied.append(version)
        version += 1
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
        if broken is not None:
            raise StoreCorrupt(f"after upgrading: a row of {broken[0]} points to no row of {broken[2]}")
    connection.execute(schema.schema_version.delete())
    connection.execute(schema.schema_version.insert().values(version=version))
    return applied
