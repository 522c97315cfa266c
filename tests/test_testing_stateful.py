"""FolderMachineTest: the package passes it, and broken services are caught.

Each broken service below is the in-memory default with one fault; the test
must find it within its bounded run.  ``database=None`` keeps one run from
replaying another's failures, so each is found afresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from .conftest import force
from statuses import AnalysisState, Resolution
from statuses.payloads import dump_folder
from statuses.testing import Action, Fail, Finish, FolderMachineTest, Refused, Submit

SUITE = settings(max_examples=100, stateful_step_count=25, deadline=None)
"""The rule-based run in the suite: bounded so that CI stays fast."""

HUNT = settings(max_examples=300, stateful_step_count=25, deadline=None, database=None, derandomize=True,
                phases=[Phase.generate], suppress_health_check=[HealthCheck.too_slow])
"""Looking for a planted fault: up to 300 runs, the same on every run of the suite, stopping at
the first failure, unshrunk."""


class TestThePackageKeepsTheRules(FolderMachineTest.TestCase):  # type: ignore[misc, name-defined]
    settings = SUITE


class _Broken(FolderMachineTest):
    """The default in-memory service, for faults to be planted in."""

    def service_analysis(self, analysis_id: str) -> Any:
        assert self._service is not None
        return next(a for a in self._service.analyses if a.analyse_id == analysis_id)


class FinishedGoesBackToProcessing(_Broken):
    def perform(self, action: Action) -> Mapping[str, Any]:
        if isinstance(action, Finish):
            analysis = self.service_analysis(action.analysis_id)
            if analysis.state is AnalysisState.FINISHED:  # "re-opens" it instead of refusing
                force(analysis, state=AnalysisState.PROCESSING, resolution_status=Resolution.PROCESSING)
                assert self._service is not None
                return dump_folder(self._service)
        return super().perform(action)


class RefusesOperatorReview(_Broken):
    def perform(self, action: Action) -> Mapping[str, Any]:
        if isinstance(action, Finish) and str(action.verdict).upper() == "OPERATOR_REQUIRED":
            raise Refused("409: operator review is switched off here")
        return super().perform(action)


class FailsWithoutSayingSo(_Broken):
    def perform(self, action: Action) -> Mapping[str, Any]:
        document = super().perform(action)
        if isinstance(action, Fail):
            return {**document, "system_resolution": "SUCCESS", "resolution_status": "FINISHED"}
        return document


class RefusalThatChangesTheFolder(_Broken):
    def perform(self, action: Action) -> Mapping[str, Any]:
        if isinstance(action, Submit) and not action.types:
            assert self._service is not None
            self._service.submit(["biometry"])  # a half-done request
            raise Refused("400: empty group")
        return super().perform(action)


@pytest.mark.parametrize("broken, message", [
    (FinishedGoesBackToProcessing, r"the service accepted finish\(.*\), which the rules refuse: "
                                   r"Analysis .* is FINISHED: event 'finish' has no edge from FINISHED"),
    (RefusesOperatorReview, r"the service refused finish\(.*, (OPERATOR_REQUIRED|'operator_required')\), "
                            r"which the rules allow: 409"),
    (FailsWithoutSayingSo, r"after fail\(.*\), the service's folder breaks the rules: "
                           r"1 problem in the payload:\n  (system_resolution|resolution_status): "),
    (RefusalThatChangesTheFolder, r"the service refused submit\(\[\]\) but its folder changed"),
], ids=lambda value: value.__name__ if isinstance(value, type) else "")
def test_a_broken_service_is_caught(broken: type[FolderMachineTest], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        run_state_machine_as_test(broken, settings=HUNT)
