"""A toolkit for testing code that embeds the machines, read from their definitions.

* :func:`transition_matrix`, :func:`shortest_paths`, :func:`edge_cover` and
  :func:`simple_paths` turn a definition into test cases;
* :func:`assert_illegal` and :func:`assert_reaches` check one move or a path;
* :func:`make_analysis` and :func:`make_folder` give entities in any state
  (the pytest plugin serves them as ``analysis_factory`` and ``folder_factory``);
* :mod:`statuses.testing.strategies` holds hypothesis strategies, and
  :class:`FolderMachineTest` a rule-based test to point at your own service.

The hypothesis and pytest parts are imported on first use, so the rest works
without them.

>>> from statuses import ANALYSIS_DEFINITION
>>> [row.id for row in transition_matrix(ANALYSIS_DEFINITION)]  # doctest: +NORMALIZE_WHITESPACE
['analysis-PROCESSING-finish-FINISHED', 'analysis-PROCESSING-fail-FAILED',
 'analysis-FAILED-finish-illegal', 'analysis-FAILED-fail-illegal',
 'analysis-FINISHED-finish-illegal', 'analysis-FINISHED-fail-illegal']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .assertions import assert_expectation, assert_illegal, assert_reaches, changes, snapshot
from .drivers import ANALYSIS_DRIVER, FOLDER_DRIVER, Driver, driver_for
from .factories import make_analysis, make_entity, make_folder
from .paths import Expectation, Path, Step, edge_cover, shortest_paths, simple_paths, transition_matrix

if TYPE_CHECKING:
    from .plugin import parametrize_matrix
    from .stateful import Action, CreateFolder, Fail, Fetch, Finish, FolderMachineTest, Refused, Submit
    from .strategies import analyses, api_folders, events, folders

_LAZY = {
    "parametrize_matrix": "plugin",
    **dict.fromkeys(["analyses", "api_folders", "events", "folders"], "strategies"),
    **dict.fromkeys(["Action", "CreateFolder", "Fail", "Fetch", "Finish", "FolderMachineTest", "Refused", "Submit"],
                    "stateful"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "ANALYSIS_DRIVER",
    "FOLDER_DRIVER",
    "Action",
    "CreateFolder",
    "Driver",
    "Expectation",
    "Fail",
    "Fetch",
    "Finish",
    "FolderMachineTest",
    "Path",
    "Refused",
    "Step",
    "Submit",
    "analyses",
    "api_folders",
    "assert_expectation",
    "assert_illegal",
    "assert_reaches",
    "changes",
    "driver_for",
    "edge_cover",
    "events",
    "folders",
    "make_analysis",
    "make_entity",
    "make_folder",
    "parametrize_matrix",
    "shortest_paths",
    "simple_paths",
    "snapshot",
    "transition_matrix",
]
