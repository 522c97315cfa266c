"""The arguments that take each edge of the package's own machines.

Read by :mod:`statuses.testing.paths` (the matrices and paths of a machine
given without arguments) and :mod:`statuses.testing.drivers` (how tests move
the entities), which both import this module and not each other.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..analysis import ANALYSIS_DEFINITION
from ..definition import MachineDefinition
from ..enums import AnalysisState, AnalysisType, ApiEnum, FolderStatus, Resolution
from ..folder import FOLDER_DEFINITION

Arguments = Mapping[tuple[str, ApiEnum], tuple[object, ...]]
"""``(event, dest) -> args`` that take each edge: the guards accept them and lead to ``dest``."""

ANALYSIS_ARGUMENTS: Arguments = {
    ("finish", AnalysisState.FINISHED): (Resolution.SUCCESS,),
    ("fail", AnalysisState.FAILED): ("engine timeout",),
}
"""``finish(verdict)`` and ``fail(reason)``."""

FOLDER_ARGUMENTS: Arguments = {
    ("submit", FolderStatus.PROCESSING): ((AnalysisType.BIOMETRY,),),
    ("settle", FolderStatus.FAILED): (Resolution.FAILED,),
    ("settle", FolderStatus.FINISHED): (Resolution.SUCCESS,),
}
"""``submit(types)``; a ``settle`` step's argument is how the analyses in progress end (the drive's events)."""


def default_arguments(definition: MachineDefinition) -> Arguments:
    """The arguments for one of the package's machines; empty for any other."""
    if definition is ANALYSIS_DEFINITION:
        return ANALYSIS_ARGUMENTS
    if definition is FOLDER_DEFINITION:
        return FOLDER_ARGUMENTS
    return {}
