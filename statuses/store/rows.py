"""A folder's rows read whole into a :class:`~statuses.Folder`: for ``load``, ``observe`` and upgrades.

An event does not read the folder whole: see :mod:`statuses.store.operations`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import attrs
import sqlalchemy as sa

from ..analysis import Analysis
from ..errors import InconsistentFolder
from ..folder import Folder
from ..settings import Settings
from .errors import StoreCorrupt
from .schema import analyses, folders, groups


def settings_json(settings: Settings) -> dict[str, Any]:
    return attrs.asdict(settings)


def read_settings(folder_id: str, stored: Any) -> Settings:
    """The folder's settings from their stored JSON (a dict, or its text where the driver leaves it so).

    Kept by their stored form, since every event reads them and a store holds a handful of distinct ones.
    """
    key = stored if isinstance(stored, str) else _settings_key(stored)
    found = _SETTINGS_READ.get(key) if key is not None else None
    if found is not None:
        return found
    try:
        settings = Settings(**(json.loads(stored) if isinstance(stored, str) else stored))
    except (TypeError, ValueError) as error:
        raise StoreCorrupt(f"Folder {folder_id}: stored settings {stored!r}: {error}") from None
    if key is not None and len(_SETTINGS_READ) < _SETTINGS_KEPT:
        _SETTINGS_READ[key] = settings
    return settings


_SETTINGS_READ: dict[Any, Settings] = {}
_SETTINGS_KEPT = 256
"""At most this many distinct stored settings are kept read (Settings are frozen: one object serves all)."""


def _settings_key(stored: Any) -> Any:
    """A hashable key for settings a driver gave as a dict of plain values; None if it holds anything else."""
    if not isinstance(stored, dict):
        return None
    try:
        key = tuple(sorted(stored.items()))
        hash(key)
    except TypeError:
        return None
    return key


def members_query(folder_id: str) -> sa.Select[Any]:
    """The folder's groups with their analyses, in submit order: what :func:`read_folder` reads."""
    # From the groups, not the analyses: a group is read as it was stored, and the folder's rules judge it.
    return (sa.select(groups.c.group_id.label("stored_group"), groups.c.finished_order, analyses)
            .select_from(groups.outerjoin(analyses, analyses.c.group_id == groups.c.group_id))
            .where(groups.c.folder_id == folder_id).order_by(groups.c.position, analyses.c.position))


def read_folder(row: Any, rows: Iterable[Any]) -> Folder:
    """The folder of ``row`` (from ``statuses_folders``) with its groups and analyses (:func:`members_query`'s rows)."""
    folder_id = row.folder_id
    settings = read_settings(folder_id, row.settings)
    finished_order: dict[str | None, int] = {}
    members: dict[str, list[Analysis]] = {}  # group id to its analyses; groups in submit order
    for stored in rows:
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
                time_updated=stored.time_updated, extra=stored.extra,
                spellings=None if stored.spellings is None else tuple(stored.spellings),
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
            extra=row.extra,
        )
    except InconsistentFolder as error:
        raise StoreCorrupt(str(error)) from None
    except ValueError as error:
        raise StoreCorrupt(f"Folder {folder_id}: {error}") from None

