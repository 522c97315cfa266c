"""Entities in a chosen state, reached through their machines rather than made up.

Each factory starts a new entity and walks a shortest path of its machine to
the state asked for, so what it hands back is a state the package can really
reach, with its group and folder bookkept as they would be in a service.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ..analysis import ANALYSIS_DEFINITION, Analysis
from ..definition import MachineDefinition
from ..enums import AnalysisState, AnalysisType, ApiEnum, FolderStatus, Resolution
from ..folder import FOLDER_DEFINITION, Folder
from ..settings import DEFAULT_SETTINGS, Settings
from .assertions import assert_reaches
from .paths import Expectation, Path, shortest_paths


def make_analysis(
    state: AnalysisState | str = AnalysisState.PROCESSING,
    result: Resolution | str | None = None,
    *,
    type: AnalysisType | str = AnalysisType.BIOMETRY,
    settings: Settings | None = None,
    in_folder: bool = False,
) -> Analysis:
    """An analysis of ``type`` in ``state``, with ``result`` as its ``resolution_status`` if given.

    ``in_folder=True`` submits it, alone, to a new folder first, so that
    ending it moves the folder too.  Without ``settings``, operator review
    is enabled only when ``result`` is OPERATOR_REQUIRED.
    """
    target = AnalysisState.parse(state)
    verdict = _result_in(ANALYSIS_DEFINITION, target, result)
    chosen = _settings_for(settings, verdict)
    if in_folder:
        analysis = Folder(settings=chosen).submit([type]).analyses[0]
    else:
        analysis = Analysis(type=type, settings=chosen)
    _walk(analysis, _path_to(ANALYSIS_DEFINITION, target, verdict))
    return analysis


def make_folder(
    state: FolderStatus | str = FolderStatus.INITIAL,
    result: Resolution | str | None = None,
    *,
    types: Sequence[AnalysisType | str] = (AnalysisType.BIOMETRY,),
    settings: Settings | None = None,
) -> Folder:
    """A folder in ``state``, with ``result`` as its ``system_resolution`` if given.

    Beyond INITIAL it holds one group of ``types``, ended (with ``result``)
    when ``state`` is FINISHED or FAILED.  Without ``settings``, operator
    review is enabled only when ``result`` is OPERATOR_REQUIRED.
    """
    target = FolderStatus.parse(state)
    verdict = _result_in(FOLDER_DEFINITION, target, result)
    folder = Folder(settings=_settings_for(settings, verdict))
    path = _path_to(FOLDER_DEFINITION, target, verdict)
    steps = tuple(attrs.evolve(step, args=(tuple(types),)) if step.event == "submit" else step for step in path)
    _walk(folder, attrs.evolve(path, steps=steps))
    return folder


def _result_in(definition: MachineDefinition, state: ApiEnum, result: Resolution | str | None) -> Resolution | None:
    """The result asked for, checked to be one the machine allows in ``state``."""
    spec = definition.state(state)
    if result is None:
        return None
    verdict = Resolution.parse(result)
    if verdict not in spec.results:
        legal = ", ".join(value.value for value in spec.results)
        raise ValueError(f"{definition.entity} in {state.value} cannot have {definition.result_field} "
                         f"{verdict.value} (it can have {legal})")
    return verdict


def _settings_for(settings: Settings | None, result: Resolution | None) -> Settings:
    if settings is not None:
        return settings
    return Settings(operator_required=True) if result is Resolution.OPERATOR_REQUIRED else DEFAULT_SETTINGS


def _path_to(definition: MachineDefinition, state: ApiEnum, result: Resolution | None) -> Path:
    """A shortest path to ``state``; its last step picks ``result`` where the state allows several."""
    path = shortest_paths(definition)[state]
    if result is None or len(definition.state(state).results) < 2 or not path.steps:
        return path
    last = attrs.evolve(path.steps[-1], args=(result,))
    return attrs.evolve(path, steps=(*path.steps[:-1], last))


def _walk(entity: Analysis | Folder, path: Path) -> None:
    try:
        assert_reaches(entity, path, path.dest)
    except AssertionError as error:
        raise ValueError(f"cannot make {entity.describe()}: {error}") from None


def make_entity(expectation: Expectation, *, in_folder: bool = False) -> Analysis | Folder:
    """A fresh entity in the state of ``expectation``, a row of :func:`transition_matrix`.

    An analysis is made standalone unless ``in_folder``; ending it then moves
    its folder too.
    """
    if expectation.machine == ANALYSIS_DEFINITION.name:
        return make_analysis(expectation.state, in_folder=in_folder)
    if expectation.machine == FOLDER_DEFINITION.name:
        return make_folder(expectation.state)
    raise ValueError(f"{expectation.id}: no factory for machine {expectation.machine!r} "
                     f"(the package's are {ANALYSIS_DEFINITION.name!r} and {FOLDER_DEFINITION.name!r})")
