"""The four ways of running the lifecycles, behind one small interface the scenarios drive."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

import statuses
import statuses.payloads

from . import handwritten as hand
from . import peers


@attrs.frozen
class Approach:
    """How one approach restores, submits, finishes and loads; ``heavy`` ones run smaller sizes."""

    name: str
    restore: Callable[[Sequence[str]], Any]
    new_analysis: Callable[[str], Any]
    """A new PROCESSING analysis of a type spelled as the API does, with a fresh id."""
    new_folder: Callable[[], Any]
    submit: Callable[[Any, Sequence[str]], Any]
    """``submit(folder, types)``: the group, whose ``analyses`` are in request order."""
    finish: Callable[[Any, str], None]
    load_folder: Callable[[Mapping[str, Any]], Any]
    statuses_of: Callable[[Any], tuple[str, str]]
    """A loaded folder's ``(resolution_status, system_resolution)``."""
    illegal: tuple[type[Exception], ...]
    heavy: bool = False
    subscribe: Callable[[Callable[[Any], object]], Any] | None = None
    """``statuses.subscribe``, for an approach that can be listened to."""


def _statuses_of_folder(folder: Any) -> tuple[str, str]:
    return folder.resolution_status.value, folder.system_resolution.value


def package_approach(name: str, package: ModuleType, payloads: ModuleType) -> Approach:
    """This package, or another copy of it (see :func:`load_copy`), as an approach."""
    analysis_class, folder_class = package.Analysis, package.Folder

    def restore(row: Sequence[str]) -> Any:
        analyse_id, kind, state, resolution = row
        return analysis_class.restore(analyse_id=analyse_id, type=kind, state=state, resolution_status=resolution)

    def new_analysis(kind: str) -> Any:
        return analysis_class(type=kind)

    return Approach(name=name, restore=restore, new_analysis=new_analysis, new_folder=folder_class, submit=folder_class.submit,
                    finish=analysis_class.finish, load_folder=payloads.load_folder, statuses_of=_statuses_of_folder,
                    illegal=(package.IllegalTransition,), subscribe=getattr(package, "subscribe", None))


def load_copy(root: Path, alias: str = "statuses_before") -> tuple[ModuleType, ModuleType]:
    """The ``statuses`` package of another checkout (``root/statuses``), imported as ``alias``, and its payloads.

    Its imports are relative, so it loads beside this one: both are measured in one run, taking turns.
    """
    spec = importlib.util.spec_from_file_location(alias, root / "statuses" / "__init__.py",
                                                  submodule_search_locations=[str(root / "statuses")])
    if spec is None or spec.loader is None:
        raise ImportError(f"no statuses package under {root}")
    package = importlib.util.module_from_spec(spec)
    sys.modules[alias] = package
    spec.loader.exec_module(package)
    return package, importlib.import_module(f"{alias}.payloads")


def _statuses_of_peer(folder: Any) -> tuple[str, str]:
    return folder.state, folder.system_resolution


def _statuses_of_hand(folder: hand.HandFolder) -> tuple[str, str]:
    return folder.resolution_status, folder.system_resolution


STATUSES = package_approach("statuses", statuses, statuses.payloads)

BASELINE = Approach(
    name="hand-written",
    restore=hand.restore,
    new_analysis=hand.new_analysis,
    new_folder=lambda: hand.HandFolder(hand.new_id()),
    submit=hand.submit,
    finish=hand.finish,
    load_folder=hand.load_folder,
    statuses_of=_statuses_of_hand,
    illegal=(hand.Illegal,),
)


def _peer(name: str, peer: peers.Peer) -> Approach:
    return Approach(
        name=name, restore=peer.restore, new_analysis=peer.new_analysis, new_folder=peer.new_folder, submit=peer.submit, finish=peer.finish,
        load_folder=peer.load_folder, statuses_of=_statuses_of_peer, illegal=peer.illegal, heavy=True,
    )


ALL = (
    BASELINE,
    STATUSES,
    _peer("transitions (Machine per object)", peers.TRANSITIONS),
    _peer("python-statemachine (instance per object)", peers.STATEMACHINE),
)
"""Every approach, the baseline first: the ratios are to it."""
