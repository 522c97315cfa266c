"""A folder's rows read into a :class:`~statuses.Folder`, and its changes written back.

The store never decides a status itself: it restores the folder, lets the
machines move it, and writes back what changed, compared field by field with
a :class:`Snapshot` taken after reading.
"""

from __future__ import annotations

from typing import Any

import attrs
import sqlalchemy as sa

from ..analysis import Analysis
from ..enums import AnalysisState, FolderStatus, Resolution
from ..errors import InconsistentFolder
from ..folder import Folder
from ..settings import Settings
from .errors import ConcurrentUpdate, StoreCorrupt
from .schema import analyses, folders, groups


@attrs.frozen
class AnalysisStatus:
    """What of an analysis an event may change."""

    state: AnalysisState
    resolution_status: Resolution
    failure_reason: str | None

    @classmethod
    def of(cls, analysis: Analysis) -> AnalysisStatus:
        return cls(analysis.state, analysis.resolution_status, analysis.failure_reason)


@attrs.frozen
class Snapshot:
    """A folder as it was read: what the write compares against, and the version it checks."""

    version: int
    status: FolderStatus
    result: Resolution
    analyses: dict[str, AnalysisStatus]
    finished_order: dict[str, int | None]
    """Group id to its ``finished_order``."""

    @classmethod
    def of(cls, folder: Folder, version: int) -> Snapshot:
        return cls(
            version=version,
            status=folder.resolution_status,
            result=folder.system_resolution,
            analyses={analysis.analyse_id: AnalysisStatus.of(analysis) for analysis in folder.analyses},
            finished_order={_group_id(group.group_id): group.finished_order for group in folder.groups},
        )


def settings_json(settings: Settings) -> dict[str, Any]:
    return attrs.asdict(settings)


def read_folder(connection: sa.Connection, row: sa.Row[Any]) -> Folder:
    """The folder of ``row`` (from ``statuses_folders``) with its groups and analyses, in its stored state."""
    folder_id = row.folder_id
    try:
        settings = Settings(**row.settings)
    except (TypeError, ValueError) as error:
        raise StoreCorrupt(f"Folder {folder_id}: stored settings {row.settings!r}: {error}") from None
    finished_order: dict[str | None, int] = {}
    members: dict[str, list[Analysis]] = {}  # group id to its analyses; groups in submit order
    # From the groups, not the analyses: a group is read as it was stored, and the folder's rules judge it.
    for stored in connection.execute(
        sa.select(groups.c.group_id.label("stored_group"), groups.c.finished_order, analyses)
        .select_from(groups.outerjoin(analyses, analyses.c.group_id == groups.c.group_id))
        .where(groups.c.folder_id == folder_id).order_by(groups.c.position, analyses.c.position)
    ):
        if stored.stored_group not in members:
            members[stored.stored_group] = []
            if stored.finished_order is not None:
                finished_order[stored.stored_group] = stored.finished_order
        if stored.analyse_id is None:  # a group without analyses
            continue
        try:
            analysis = Analysis.restore(
                type=stored.type, settings=settings, state=stored.state,
                resolution_status=stored.resolution_status, analyse_id=stored.analyse_id,
                failure_reason=stored.failure_reason, time_created=stored.time_created,
                time_updated=stored.time_updated,
            )
        except ValueError as error:
            raise StoreCorrupt(f"Folder {folder_id}: {error}") from None
        members[stored.stored_group].append(analysis)
    try:
        # The stored finish order ranks the groups exactly, whatever the workers' clocks said; restore checks the
        # rows with the folder's own rules, so the machines only run on statuses they could have produced.
        return Folder.restore(
            folder_id=folder_id, resolution_status=row.resolution_status, system_resolution=row.system_resolution,
            groups=list(members.items()), settings=settings,
            time_created=row.time_created, time_updated=row.time_updated, finished_order=finished_order,
        )
    except InconsistentFolder as error:
        raise StoreCorrupt(str(error)) from None
    except ValueError as error:
        raise StoreCorrupt(f"Folder {folder_id}: {error}") from None


def write_back(connection: sa.Connection, folder: Folder, before: Snapshot, now: float) -> None:
    """Write what changed in ``folder`` since ``before``; ConcurrentUpdate if the rows moved meanwhile."""
    folder_id = folder.folder_id
    position = 0  # of an analysis in the folder, in submit order
    for group_position, group in enumerate(folder.groups):
        group_id = _group_id(group.group_id)
        if group_id not in before.finished_order:
            connection.execute(groups.insert().values(
                group_id=group_id, folder_id=folder_id, position=group_position, finished_order=group.finished_order))
        elif before.finished_order[group_id] != group.finished_order:
            connection.execute(groups.update().where(groups.c.group_id == group_id)
                               .values(finished_order=group.finished_order))
        for analysis in group.analyses:
            _write_analysis(connection, analysis, group_id, position, before, now)
            position += 1
    changed = connection.execute(
        folders.update()
        .where(folders.c.folder_id == folder_id, folders.c.version == before.version)
        .values(resolution_status=folder.resolution_status, system_resolution=folder.system_resolution,
                version=before.version + 1, time_updated=now))
    if changed.rowcount != 1:
        raise ConcurrentUpdate(f"{folder.describe()} changed after it was read (version {before.version})")


def _write_analysis(connection: sa.Connection, analysis: Analysis, group_id: str, position: int,
                    before: Snapshot, now: float) -> None:
    old = before.analyses.get(analysis.analyse_id)
    new = AnalysisStatus.of(analysis)
    if old is None:
        connection.execute(analyses.insert().values(
            analyse_id=analysis.analyse_id, folder_id=analysis.owner_folder_id, group_id=group_id,
            position=position, type=analysis.type, time_created=now, time_updated=now, **attrs.asdict(new)))
    elif old != new:
        changed = connection.execute(
            analyses.update()
            .where(analyses.c.analyse_id == analysis.analyse_id, analyses.c.state == old.state)
            .values(time_updated=now, **attrs.asdict(new)))
        if changed.rowcount != 1:
            raise ConcurrentUpdate(f"{analysis.describe()} changed while this operation ran")


def _group_id(group_id: str | None) -> str:
    if group_id is None:  # only analyses restored from the API without group_id have no group id
        raise StoreCorrupt("a group without a group_id cannot be stored")
    return group_id
