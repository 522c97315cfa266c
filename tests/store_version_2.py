"""The store's tables as schema version 2 (the 0.3 release) made them: what an upgrade to 3 starts from.

A copy, frozen: the package's own definitions move on.  :func:`make_version_2`
turns a store of today into the database version 2 would have left, row for
row, since version 2 wrote these columns as version 3 does.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from statuses.enums import AnalysisState, AnalysisType, ApiEnum, FolderStatus, Resolution
from statuses.store import schema

ID = sa.String(64)
KEY = sa.String(200)

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


def make_version_2(url: str) -> None:
    """Rewrite the store at ``url`` as version 2 left it: its tables, their rows' version-2 columns, stamped 2."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            rows: dict[str, list[dict[str, Any]]] = {
                table.name: [dict(row._mapping) for row in connection.execute(sa.select(table))]
                for table in schema.metadata.sorted_tables}
            schema.metadata.drop_all(connection)
            metadata.create_all(connection)
            for table in metadata.sorted_tables:
                kept = [{column.name: row[column.name] for column in table.c} for row in rows[table.name]]
                if kept:
                    connection.execute(table.insert(), kept)
            if connection.dialect.name == "postgresql":  # the log's sequence goes on from its rows, as it would have
                connection.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{transitions.name}', 'seq'), "
                                           f"(SELECT max(seq) FROM {transitions.name}))")
            connection.execute(schema_version.delete())
            connection.execute(schema_version.insert().values(version=2))
    finally:
        engine.dispose()
