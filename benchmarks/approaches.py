"""The four ways of running the lifecycles, behind one small interface the scenarios drive."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from statuses import Analysis, Folder, IllegalTransition
from statuses.payloads import load_folder

from . import handwritten as hand
from . import peers


@attrs.frozen
class Approach:
    """How one approach restores, submits, finishes and loads; ``heavy`` ones run smaller sizes."""

    name: str
    restore: Callable[[Sequence[str]], Any]
    new_folder: Callable[[], Any]
    submit: Callable[[Any, Sequence[str]], Any]
    """``submit(folder, types)``: the group, whose ``analyses`` are in request order."""
    finish: Callable[[Any, str], None]
    load_folder: Callable[[Mapping[str, Any]], Any]
    statuses_of: Callable[[Any], tuple[str, str]]
    """A loaded folder's ``(resolution_status, system_resolution)``."""
    illegal: tuple[type[Exception], ...]
    heavy: bool = False


def _restore_analysis(row: Sequence[str]) -> Analysis:
    analyse_id, kind, state, resolution = row
    return Analysis.restore(analyse_id=analyse_id, type=kind, state=state, resolution_status=resolution)


def _statuses_of_folder(folder: Any) -> tuple[str, str]:
    return folder.resolution_status.value, folder.system_resolution.value


def _statuses_of_peer(folder: Any) -> tuple[str, str]:
    return folder.state, folder.system_resolution


def _statuses_of_hand(folder: hand.HandFolder) -> tuple[str, str]:
    return folder.resolution_status, folder.system_resolution


STATUSES = Approach(
    name="statuses",
    restore=_restore_analysis,
    new_folder=Folder,
    submit=Folder.submit,
    finish=Analysis.finish,
    load_folder=load_folder,
    statuses_of=_statuses_of_folder,
    illegal=(IllegalTransition,),
)

BASELINE = Approach(
    name="hand-written",
    restore=hand.restore,
    new_folder=lambda: hand.HandFolder(hand.new_id()),
    submit=hand.submit,
    finish=hand.finish,
    load_folder=hand.load_folder,
    statuses_of=_statuses_of_hand,
    illegal=(hand.Illegal,),
)


def _peer(name: str, peer: peers.Peer) -> Approach:
    return Approach(
        name=name, restore=peer.restore, new_folder=peer.new_folder, submit=peer.submit, finish=peer.finish,
        load_folder=peer.load_folder, statuses_of=_statuses_of_peer, illegal=peer.illegal, heavy=True,
    )


ALL = (
    BASELINE,
    STATUSES,
    _peer("transitions (Machine per object)", peers.TRANSITIONS),
    _peer("python-statemachine (instance per object)", peers.STATEMACHINE),
)
"""Every approach, the baseline first: the ratios are to it."""
