"""How tests move the package's entities: one :class:`Driver` per machine.

A driver knows what a definition does not: how a caller triggers each event
(the entity's public method, such as ``Analysis.finish``), which arguments
take each edge, and how to bring about an event that no caller fires (the
folder's ``settle`` happens when its last analysis in progress ends).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..analysis import ANALYSIS_MACHINE, Analysis
from ..definition import MachineDefinition
from ..engine import StatusMachine
from ..enums import AnalysisState, Resolution
from ..folder import FOLDER_DEFINITION, FOLDER_MACHINE, Folder
from .defaults import ANALYSIS_ARGUMENTS, FOLDER_ARGUMENTS, Arguments
from .paths import Step

Action = Callable[..., Any]
"""``action(entity, *args, **kwargs)``."""


@attrs.frozen
class Driver:
    """How to trigger a machine's events on its entities, and with what."""

    machine: StatusMachine
    arguments: Arguments = attrs.field(factory=dict)
    """``(event, dest) -> args`` that take each edge (see :mod:`statuses.testing.paths`)."""
    methods: Mapping[str, Action] = attrs.field(factory=dict)
    """The public way to trigger an event; events not listed are fired on the machine."""
    checks: Mapping[str, Callable[..., bool]] = attrs.field(factory=dict)
    """The public way to ask whether a method call would be accepted (``may_finish``)."""
    automatic: Mapping[str, Action] = attrs.field(factory=dict)
    """Events the entity fires by itself, and what to do so that one fires."""

    @property
    def definition(self) -> MachineDefinition:
        return self.machine.definition

    def call(self, entity: object, event: str, *args: Any, **kwargs: Any) -> None:
        """Trigger ``event`` as a caller would; raises what the machine raises."""
        method = self.methods.get(event)
        if method is None:
            self.machine.fire(entity, event, *args, **kwargs)  # type: ignore[arg-type]
        else:
            method(entity, *args, **kwargs)

    def allows(self, entity: object, event: str, *args: Any, **kwargs: Any) -> bool:
        """Whether :meth:`call` would be accepted now; changes nothing."""
        check = self.checks.get(event)
        if check is not None:
            return check(entity, *args, **kwargs)
        return self.machine.allows(entity, event, *args, **kwargs)  # type: ignore[arg-type]

    def take(self, entity: object, step: Step) -> None:
        """Take ``step`` from the entity's current state."""
        action = self.automatic.get(step.event)
        if action is not None:
            action(entity, *step.args)
        else:
            self.call(entity, step.event, *step.args)

    def state_of(self, entity: object) -> Any:
        return getattr(entity, self.definition.state_field)

    def result_of(self, entity: object) -> Any:
        return getattr(entity, self.definition.result_field)


def _end_analyses_in_progress(folder: Folder, outcome: Resolution) -> None:
    """End every analysis in progress with ``outcome`` (a verdict, or FAILED), which drives the folder's event."""
    for analysis in [a for a in folder.analyses if a.state is AnalysisState.PROCESSING]:
        if outcome is Resolution.FAILED:
            analysis.fail("ended by a test path")
        else:
            analysis.finish(outcome)


ANALYSIS_DRIVER = Driver(
    ANALYSIS_MACHINE,
    arguments=ANALYSIS_ARGUMENTS,
    methods={"finish": Analysis.finish, "fail": Analysis.fail},
    checks={"finish": Analysis.may_finish, "fail": lambda analysis, reason=None: analysis.may_fail()},
)
"""Analyses: ``finish(verdict)`` and ``fail(reason)`` are their own methods."""

FOLDER_DRIVER = Driver(
    FOLDER_MACHINE,
    arguments=FOLDER_ARGUMENTS,
    methods={"submit": Folder.submit},
    checks={"submit": Folder.may_submit},
    # The events the definition says other machines drive: brought about by ending the analyses in progress.
    automatic={drive.event: _end_analyses_in_progress for drive in FOLDER_DEFINITION.drives},
)
"""Folders: ``submit(types)``; a ``settle`` step ends the analyses in progress with its argument."""

_DRIVERS = (ANALYSIS_DRIVER, FOLDER_DRIVER)


def driver_for(entity: object) -> Driver:
    """The driver of an :class:`Analysis` or a :class:`Folder`; :class:`TypeError` otherwise."""
    if isinstance(entity, Analysis):
        return ANALYSIS_DRIVER
    if isinstance(entity, Folder):
        return FOLDER_DRIVER
    raise TypeError(f"expected an Analysis or a Folder, got {type(entity).__name__}")
