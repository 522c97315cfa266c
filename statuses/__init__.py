"""The status lifecycle of the Oz API's folders and analyses, as state machines.

>>> from statuses import AnalysisType, Folder, Resolution, Settings
>>> folder = Folder(settings=Settings(operator_required=True))
>>> group = folder.submit([AnalysisType.QUALITY, AnalysisType.BIOMETRY])
>>> folder.resolution_status
<FolderStatus.PROCESSING: 'PROCESSING'>
"""

from .analysis import ANALYSIS_DEFINITION, ANALYSIS_MACHINE, Analysis
from .definition import Drive, Edge, EventSpec, Guard, MachineDefinition, StateSpec
from .engine import StatusMachine
from .enums import STATUS_COLUMNS, VERDICTS, AnalysisState, AnalysisType, FolderStatus, Resolution
from .errors import (GuardRefused, IllegalTransition, Inconsistency, InconsistentFolder, InvalidArgument, InvalidDefinition,
                     ListenerError, NoTransition)
from .folder import FOLDER_DEFINITION, FOLDER_MACHINE, Folder, Group, consolidate
from .listeners import Subscription, Transition, subscribe
from .settings import Settings
from . import diagrams  # noqa: F401  registers the notebook pictures of Folder, Analysis and MachineDefinition

__version__ = "0.2.0"

__all__ = [
    "ANALYSIS_DEFINITION",
    "ANALYSIS_MACHINE",
    "FOLDER_DEFINITION",
    "FOLDER_MACHINE",
    "STATUS_COLUMNS",
    "VERDICTS",
    "Analysis",
    "AnalysisState",
    "AnalysisType",
    "Drive",
    "Edge",
    "EventSpec",
    "Folder",
    "FolderStatus",
    "Group",
    "Guard",
    "GuardRefused",
    "IllegalTransition",
    "Inconsistency",
    "InconsistentFolder",
    "InvalidArgument",
    "InvalidDefinition",
    "ListenerError",
    "MachineDefinition",
    "NoTransition",
    "Resolution",
    "Settings",
    "StateSpec",
    "StatusMachine",
    "Subscription",
    "Transition",
    "__version__",
    "consolidate",
    "subscribe",
]
