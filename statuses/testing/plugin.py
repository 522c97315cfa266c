"""The pytest plugin: entities in any state as fixtures, and the matrix as one test per pair.

It is registered under pytest's ``pytest11`` entry point, so installing the
package is enough.  The fixtures hand out the factories of
:mod:`statuses.testing.factories`:

* ``analysis_factory(state, result, *, type, settings, in_folder)``
* ``folder_factory(state, result, *, types, settings)``
* ``entity_factory(expectation, *, in_folder)``, for a row of the matrix.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ..analysis import ANALYSIS_DEFINITION, Analysis
from ..folder import FOLDER_DEFINITION, Folder
from .factories import make_analysis, make_entity, make_folder
from .paths import MachineLike, transition_matrix


def parametrize_matrix(*machines: MachineLike, argname: str = "transition") -> pytest.MarkDecorator:
    """Parametrise a test with every row of the machines' matrices, one test per row.

    Without machines, both of the package's.  Each test receives an
    :class:`~statuses.testing.Expectation` under ``argname`` and is named by its
    id, such as ``analysis-FINISHED-finish-illegal``.
    """
    rows = [row for machine in machines or (ANALYSIS_DEFINITION, FOLDER_DEFINITION)
            for row in transition_matrix(machine)]
    return pytest.mark.parametrize(argname, rows, ids=[row.id for row in rows])


@pytest.fixture
def analysis_factory() -> Callable[..., Analysis]:
    """:func:`~statuses.testing.make_analysis`: an analysis taken to the state asked for."""
    return make_analysis


@pytest.fixture
def folder_factory() -> Callable[..., Folder]:
    """:func:`~statuses.testing.make_folder`: a folder taken to the state asked for."""
    return make_folder


@pytest.fixture
def entity_factory() -> Callable[..., Analysis | Folder]:
    """:func:`~statuses.testing.make_entity`: an entity in the state of a matrix row."""
    return make_entity
