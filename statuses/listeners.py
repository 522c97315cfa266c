"""What a service hears of the machines: one :class:`Transition` record per move.

(The subscription machinery that delivers them lands next; the record is
fixed first so that everything reporting transitions can build on it.)
"""

from __future__ import annotations

from typing import Literal

import attrs

from .enums import AnalysisState, FolderStatus, Resolution


@attrs.frozen
class Transition:
    """One move of one entity as its machine took it: what listeners receive and every report lists.

    The same record reports a move everywhere: to listeners, from
    :meth:`statuses.Folder.catch_up` and :func:`statuses.payloads.observe`,
    and from the store (its return values, ``history`` and ``changes``).
    """

    entity: Literal["analysis", "folder"]
    """Which machine moved."""
    id: str
    """The analysis's ``analyse_id`` or the folder's ``folder_id``."""
    folder_id: str | None
    """The folder it belongs to (its own id for a folder); None for a standalone analysis of no known folder."""
    group_id: str | None
    """An analysis's group; for ``submit`` the group submitted, for ``settle`` the last-finished group that decided."""
    event: str
    """``finish``, ``fail``, ``submit`` or ``settle``."""
    source: AnalysisState | FolderStatus
    """The state it left."""
    dest: AnalysisState | FolderStatus
    """The state it entered."""
    result: Resolution
    """The entity's result field after the move: an analysis's ``resolution_status``, a folder's ``system_resolution``."""
    argument: Resolution | str | None = None
    """The event's argument: ``finish``'s verdict, ``fail``'s reason; None for the folder's events."""
