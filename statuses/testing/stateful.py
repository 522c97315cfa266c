"""A rule-based hypothesis test of one folder, to point at your own service.

Theory of operation
-------------------
:class:`FolderMachineTest` creates a folder, then submits groups and finishes
or fails analyses at random, including moves the rules refuse (an empty
group, a verdict that is not one, ending an analysis twice).  Every action
goes through one method, :meth:`FolderMachineTest.perform`, which by default
drives an in-memory :class:`~statuses.Folder`; override it to drive your
service instead (an HTTP client, a worker's handler) and every check stays.

Beside the service the test keeps a *reference*: a :class:`~statuses.Folder`
of this package, given the same actions.  The reference says which actions
must be accepted and which refused, and what the folder must look like after.
After every step the service's folder, as the API's JSON, must

* read back cleanly (:func:`statuses.payloads.load_folder` checks every
  (state, result) pair and that the folder agrees with its analyses);
* equal the reference: the folder's statuses, and each analysis's type,
  group, state and result;
* keep the spec's invariants, computed here from the analyses alone and the
  order in which the test saw groups finish: INITIAL without analyses,
  PROCESSING while any analysis is, otherwise decided by the worst result of
  the group that finished last;
* never change an analysis that has ended.

A refused action must leave the service's folder exactly as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from ..analysis import ANALYSIS_DEFINITION, Analysis
from ..enums import AnalysisState, AnalysisType, FolderStatus, Resolution
from ..errors import REFUSALS, Refusal
from ..folder import FOLDER_MACHINE, Folder, Group
from ..payloads import PayloadError, dump_folder, load_folder
from ..settings import Settings
from .paths import show_argument
from .strategies import REASONS, START, TYPE_SPELLINGS, VERDICT_SPELLINGS, Clock


class Refused(Exception):
    """Raised by an adapter when the service refused an action (say, an HTTP 409)."""


@attrs.frozen
class CreateFolder:
    """Create the folder under test, with these settings; the first action of every run."""

    settings: Settings


@attrs.frozen
class Submit:
    """Submit one group of analyses of these types (possibly none, which must be refused)."""

    types: tuple[AnalysisType | str, ...]

    def __str__(self) -> str:
        return f"submit({show_argument(self.types)})"


@attrs.frozen
class Finish:
    """Finish an analysis with a verdict (or with something that is not one)."""

    analysis_id: str
    verdict: Resolution | str

    def __str__(self) -> str:
        return f"finish({self.analysis_id}, {show_argument(self.verdict)})"


@attrs.frozen
class Fail:
    """Fail an analysis, with an optional reason."""

    analysis_id: str
    reason: str | None

    def __str__(self) -> str:
        return f"fail({self.analysis_id}, {self.reason!r})"


@attrs.frozen
class Fetch:
    """Read the folder, changing nothing."""


Action = CreateFolder | Submit | Finish | Fail | Fetch

View = tuple[str, str, frozenset[tuple[str, str, str | None, str, str]]]
"""A folder as compared: its statuses and each analysis's (id, type, group, state, result)."""


def _view(folder: Folder) -> View:
    return (
        folder.resolution_status.value,
        folder.system_resolution.value,
        frozenset((a.analyse_id, a.type.value, a.group.group_id if a.group else None, a.state.value,
                   a.resolution_status.value) for a in folder.analyses),
    )


_LEGAL_ANALYSIS_PAIRS = frozenset((state.value, result.value) for state, result in ANALYSIS_DEFINITION.legal_pairs())


class FolderMachineTest(RuleBasedStateMachine):
    """Drives one folder at random and checks the rules after every step.

    Subclass it and override :meth:`perform` to test your own service; use
    ``YourTest.TestCase`` as the pytest/unittest test.
    """

    def __init__(self) -> None:
        super().__init__()
        self.reference = Folder()
        self.observed = Folder()
        self.finish_order: list[frozenset[str]] = []
        """The groups, as their analyses' ids, in the order the test saw them finish."""
        self.ended: dict[str, tuple[str, str]] = {}
        """Each ended analysis's (state, result) when it ended."""
        self._service: Folder | None = None
        self._clock = Clock(START)

    # The adapter ---------------------------------------------------------

    def perform(self, action: Action) -> Mapping[str, Any]:
        """Do ``action`` on the service under test; return its folder afterwards, as the API's JSON.

        Raise :class:`Refused` (or :class:`~statuses.IllegalTransition`, :class:`~statuses.InvalidArgument`) when
        the service refuses the action.  This default drives an in-memory
        :class:`~statuses.Folder`, stamping times as a service would.
        """
        if isinstance(action, CreateFolder):
            self._service = Folder(settings=action.settings, time_created=self._clock.tick())
        service = self._service
        assert service is not None, "CreateFolder comes first"
        if isinstance(action, Submit):
            now = self._clock.tick()
            for analysis in service.submit(action.types).analyses:
                analysis.time_created = analysis.time_updated = now
        elif isinstance(action, (Finish, Fail)):
            analysis = next(a for a in service.analyses if a.analyse_id == action.analysis_id)
            if isinstance(action, Finish):
                analysis.finish(action.verdict)
            else:
                analysis.fail(action.reason)
            analysis.time_updated = self._clock.tick()
        return dump_folder(service)

    # Rules ---------------------------------------------------------------

    @initialize(operator_required=st.booleans())
    def create_folder(self, operator_required: bool) -> None:
        settings = Settings(operator_required=operator_required)
        document = self.perform(CreateFolder(settings))
        self.reference = Folder(settings=settings, folder_id=str(document.get("folder_id")))
        self._accept(document, "create_folder")

    @rule(types=st.lists(st.sampled_from(TYPE_SPELLINGS), max_size=3))
    def submit(self, types: list[AnalysisType | str]) -> None:
        action = Submit(tuple(types))
        refusal = _refusal_of_submit(self.reference, types)
        document = self._attempt(action, refusal)
        if document is None:
            return
        observed = self._read(document, str(action))
        FOLDER_MACHINE.fire(self.reference, "submit", self._new_group(observed, types))
        self._check(observed, str(action))

    @precondition(lambda self: self.reference.analyses_in_progress > 0)
    @rule(data=st.data(), verdict=st.sampled_from(VERDICT_SPELLINGS))
    def finish_one(self, data: st.DataObject, verdict: Resolution | str) -> None:
        analysis = data.draw(st.sampled_from(self._running()), label="analysis")
        self._end(analysis, Finish(analysis.analyse_id, verdict))

    @precondition(lambda self: self.reference.analyses_in_progress > 0)
    @rule(data=st.data(), reason=REASONS)
    def fail_one(self, data: st.DataObject, reason: str | None) -> None:
        analysis = data.draw(st.sampled_from(self._running()), label="analysis")
        self._end(analysis, Fail(analysis.analyse_id, reason))

    @precondition(lambda self: bool(self.ended))
    @rule(data=st.data(), verdict=st.sampled_from(VERDICT_SPELLINGS), fail=st.booleans())
    def end_again(self, data: st.DataObject, verdict: Resolution | str, fail: bool) -> None:
        """Ending an analysis that has ended must be refused."""
        analysis_id = data.draw(st.sampled_from(list(self.ended)), label="ended analysis")
        analysis = self._reference_analysis(analysis_id)
        self._end(analysis, Fail(analysis_id, "again") if fail else Finish(analysis_id, verdict))

    # Checks --------------------------------------------------------------

    def _end(self, analysis: Analysis, action: Finish | Fail) -> None:
        try:
            if isinstance(action, Finish):
                analysis.finish(action.verdict)
            else:
                analysis.fail(action.reason)
        except REFUSALS as refusal:
            self._attempt(action, refusal)
            return
        document = self._attempt(action, None)
        assert document is not None
        group = analysis.group
        if isinstance(group, Group) and group.finished:
            self.finish_order.append(frozenset(a.analyse_id for a in group.analyses))
        self._accept(document, str(action))

    def _attempt(self, action: Action, refusal: Refusal | None) -> Mapping[str, Any] | None:
        """Perform ``action``; None when the service refused it, as it had to."""
        try:
            document = self.perform(action)
        except (Refused, *REFUSALS) as error:
            if refusal is None:
                raise AssertionError(f"the service refused {action}, which the rules allow: {error}") from error
            after = self.perform(Fetch())
            if _view(self._read(after, f"fetch after the refused {action}")) != _view(self.observed):
                raise AssertionError(f"the service refused {action} but its folder changed") from error
            return None
        if refusal is not None:
            raise AssertionError(f"the service accepted {action}, which the rules refuse: {refusal}")
        return document

    def _accept(self, document: Mapping[str, Any], after: str) -> None:
        """Check the service's folder after an action it accepted: every rule of the module's doc."""
        self._check(self._read(document, after), after)

    def _check(self, observed: Folder, after: str) -> None:
        ours, theirs = _view(self.reference), _view(observed)
        if ours != theirs:
            raise AssertionError(f"after {after}, the service's folder differs from the rules':\n"
                                 f"  expected {_describe_view(ours)}\n  got      {_describe_view(theirs)}")
        self._check_invariants(observed, after)
        self.observed = observed

    def _read(self, document: Mapping[str, Any], after: str) -> Folder:
        try:
            return load_folder(document, settings=self.reference.settings)
        except PayloadError as error:
            raise AssertionError(f"after {after}, the service's folder breaks the rules: {error}") from None

    def _check_invariants(self, folder: Folder, after: str) -> None:
        # Independent of statuses.folder on purpose: an oracle that reused the folder's own checker would agree with
        # any bug in it.
        analyses = list(folder.analyses)
        where = f"after {after}, {folder.describe()}"
        for analysis in analyses:
            pair = (analysis.state.value, analysis.resolution_status.value)
            assert pair in _LEGAL_ANALYSIS_PAIRS, f"{where}: {analysis.describe()} is {pair}"
            if analysis.analyse_id in self.ended:
                assert pair == self.ended[analysis.analyse_id], (
                    f"{where}: {analysis.describe()} ended as {self.ended[analysis.analyse_id]}, now {pair}")
            elif analysis.ended:
                self.ended[analysis.analyse_id] = pair
        statuses = (folder.resolution_status, folder.system_resolution)
        if not analyses:
            expected = (FolderStatus.INITIAL, Resolution.INITIAL)
        elif any(a.state is AnalysisState.PROCESSING for a in analyses):
            expected = (FolderStatus.PROCESSING, Resolution.PROCESSING)
        else:
            last = self.finish_order[-1]
            deciding = Resolution.worst(a.resolution_status for a in analyses if a.analyse_id in last)
            expected = (FolderStatus.FAILED if deciding is Resolution.FAILED else FolderStatus.FINISHED, deciding)
        assert statuses == expected, (f"{where} is {statuses[0].value}/{statuses[1].value}, "
                                      f"the rules say {expected[0].value}/{expected[1].value}")

    def _new_group(self, observed: Folder, types: list[AnalysisType | str]) -> Any:
        """The reference's group for the analyses the service just made, under the service's ids."""
        known = {a.analyse_id for a in self.reference.analyses}
        new = [a for a in observed.analyses if a.analyse_id not in known]
        groups = {a.group.group_id if a.group else None for a in new}
        wanted = [AnalysisType.parse(kind) for kind in types]
        if len(new) != len(wanted) or len(groups) != 1:
            raise AssertionError(f"submit({show_argument(types)}) made {len(new)} analyses in "
                                 f"{len(groups)} groups; expected {len(wanted)} in one new group")
        ids: list[str] = []
        for kind in wanted:
            match = next((a for a in new if a.type is kind), None)
            if match is None:
                raise AssertionError(f"submit({show_argument(types)}) made types "
                                     f"{sorted(a.type.value for a in new)}")
            new.remove(match)
            ids.append(match.analyse_id)
        return self.reference.new_group(wanted, group_id=groups.pop(), analysis_ids=ids)

    def _running(self) -> list[Analysis]:
        return [a for a in self.reference.analyses if a.state is AnalysisState.PROCESSING]

    def _reference_analysis(self, analysis_id: str) -> Analysis:
        return next(a for a in self.reference.analyses if a.analyse_id == analysis_id)


def _refusal_of_submit(reference: Folder, types: list[AnalysisType | str]) -> Refusal | None:
    try:
        FOLDER_MACHINE.check(reference, "submit", reference.new_group(types))
    except REFUSALS as refusal:
        return refusal
    return None


def _describe_view(view: View) -> str:
    status, result, analyses = view
    listed = ", ".join(f"{id_[:8]} {kind} {state}/{res}" for id_, kind, _, state, res in sorted(analyses))
    return f"{status}/{result} [{listed}]"
