"""The peers used the usual way: a transitions ``Machine`` per object, a python-statemachine instance per object.

Both drive the same two lifecycles as ``statuses`` with the same checks; the
group and folder consolidation that neither library offers is the
hand-written one (:mod:`benchmarks.handwritten`), so what differs is the
machinery around each entity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed
from transitions import Machine, MachineError

from . import handwritten as hand

ANALYSIS_STATES = ["PROCESSING", "FAILED", "FINISHED"]
FOLDER_STATES = ["INITIAL", "PROCESSING", "FAILED", "FINISHED"]


class PeerAnalysis:
    """An analysis whose machine (``self.machine``) is its own."""

    def __init__(self, analyse_id: str, kind: str, state: str, resolution: str,
                 group: PeerGroup | None = None) -> None:
        self.analyse_id, self.type, self.resolution_status = analyse_id, kind, resolution
        self.group = group
        self.failure_reason: str | None = None
        self.state = state

    def verdict_ok(self, verdict: str) -> bool:
        if verdict not in hand.VERDICTS:
            return False
        if verdict == "OPERATOR_REQUIRED":
            group = self.group
            return self.type != "QUALITY" and group is not None and group.folder.operator_required
        return True

    def record_verdict(self, verdict: str) -> None:
        self.resolution_status = verdict
        self.ended()

    def record_failure(self, reason: str | None = None) -> None:
        self.resolution_status, self.failure_reason = "FAILED", reason
        self.ended()

    def ended(self) -> None:
        group = self.group
        if group is not None and hand.note_end(group, self.resolution_status):
            group.folder.settle_now()


class PeerGroup:
    def __init__(self, folder: PeerFolder, group_id: str | None) -> None:
        self.folder, self.group_id = folder, group_id
        self.analyses: list[Any] = []
        self.in_progress = 0
        self.worst = "SUCCESS"
        self.finished_order: int | None = None


class PeerFolder:
    def __init__(self, folder_id: str, status: str = "INITIAL", result: str = "INITIAL") -> None:
        self.folder_id, self.system_resolution = folder_id, result
        self.operator_required = False
        self.groups: list[PeerGroup] = []
        self.in_progress = 0
        self.last_finished: PeerGroup | None = None
        self.state = status

    def last_failed(self) -> bool:
        return self.last_finished is not None and self.last_finished.worst == "FAILED"

    def adopt_result(self) -> None:
        assert self.last_finished is not None
        self.system_resolution = self.last_finished.worst

    def attach(self, group: PeerGroup) -> None:
        self.groups.append(group)
        self.in_progress += len(group.analyses)
        self.system_resolution = "PROCESSING"

    def settle_now(self) -> None:
        raise NotImplementedError


# transitions: a Machine per object.

_T_ANALYSIS = [
    {"trigger": "finish", "source": "PROCESSING", "dest": "FINISHED", "conditions": "verdict_ok",
     "after": "record_verdict"},
    {"trigger": "fail", "source": "PROCESSING", "dest": "FAILED", "after": "record_failure"},
]
_T_FOLDER = [
    {"trigger": "submit", "source": "*", "dest": "PROCESSING", "after": "attach"},
    {"trigger": "settle", "source": "PROCESSING", "dest": "FAILED", "conditions": "last_failed",
     "after": "adopt_result"},
    {"trigger": "settle", "source": "PROCESSING", "dest": "FINISHED", "unless": "last_failed",
     "after": "adopt_result"},
]


class TransitionsAnalysis(PeerAnalysis):
    def __init__(self, analyse_id: str, kind: str, state: str, resolution: str,
                 group: PeerGroup | None = None) -> None:
        super().__init__(analyse_id, kind, state, resolution, group)
        self.machine = Machine(model=self, states=ANALYSIS_STATES, transitions=_T_ANALYSIS, initial=state,
                               auto_transitions=False)


class TransitionsFolder(PeerFolder):
    def __init__(self, folder_id: str, status: str = "INITIAL", result: str = "INITIAL") -> None:
        super().__init__(folder_id, status, result)
        self.machine = Machine(model=self, states=FOLDER_STATES, transitions=_T_FOLDER, initial=status,
                               auto_transitions=False)

    def settle_now(self) -> None:
        self.settle()  # type: ignore[attr-defined]  # added by the Machine


# python-statemachine: an instance per object, over the same model objects.


class AnalysisChart(StateMachine):
    processing = State(value="PROCESSING", initial=True)
    failed = State(value="FAILED", final=True)
    finished = State(value="FINISHED", final=True)
    finish = processing.to(finished, cond="verdict_ok", after="record_verdict")
    fail = processing.to(failed, after="record_failure")


class FolderChart(StateMachine):
    initial = State(value="INITIAL", initial=True)
    processing = State(value="PROCESSING")
    failed = State(value="FAILED")
    finished = State(value="FINISHED")
    submit = initial.to(processing, after="attach") | processing.to.itself(after="attach") \
        | failed.to(processing, after="attach") | finished.to(processing, after="attach")
    settle = processing.to(failed, cond="last_failed", after="adopt_result") \
        | processing.to(finished, unless="last_failed", after="adopt_result")


class ChartAnalysis(PeerAnalysis):
    def __init__(self, analyse_id: str, kind: str, state: str, resolution: str,
                 group: PeerGroup | None = None) -> None:
        super().__init__(analyse_id, kind, state, resolution, group)
        self.machine = AnalysisChart(self)

    def finish(self, verdict: str) -> None:
        self.machine.send("finish", verdict)

    def fail(self, reason: str | None = None) -> None:
        self.machine.send("fail", reason)


class ChartFolder(PeerFolder):
    def __init__(self, folder_id: str, status: str = "INITIAL", result: str = "INITIAL") -> None:
        super().__init__(folder_id, status, result)
        self.machine = FolderChart(self)

    def submit(self, group: PeerGroup) -> None:
        self.machine.send("submit", group)

    def settle_now(self) -> None:
        self.machine.send("settle")


class Peer:
    """One peer library, driven through its own analysis and folder classes."""

    def __init__(self, analysis: type[PeerAnalysis], folder: type[PeerFolder],
                 illegal: tuple[type[Exception], ...]) -> None:
        self.analysis_cls, self.folder_cls, self.illegal = analysis, folder, illegal

    def restore(self, row: Sequence[str]) -> PeerAnalysis:
        analyse_id, kind, state, resolution = row
        hand.restore(row)  # the same checks as the baseline; the peers have none of their own for this
        return self.analysis_cls(analyse_id, kind, state, resolution)

    def new_analysis(self, kind: str) -> PeerAnalysis:
        hand.new_analysis(kind)  # the baseline's check; the peers have none of their own for this
        return self.analysis_cls(hand.new_id(), kind, "PROCESSING", "PROCESSING")

    def new_folder(self) -> PeerFolder:
        return self.folder_cls(hand.new_id())

    def submit(self, folder: PeerFolder, types: Sequence[str]) -> PeerGroup:
        if not types:
            raise hand.Illegal("a group needs one analysis or more")
        group = PeerGroup(folder, hand.new_id())
        group.analyses = [self.analysis_cls(hand.new_id(), kind, "PROCESSING", "PROCESSING", group)
                          for kind in types]
        group.in_progress = len(types)
        folder.submit(group)  # type: ignore[attr-defined]
        return group

    def finish(self, analysis: Any, verdict: str) -> None:
        if analysis.finish(verdict) is False:  # transitions answers False when a condition refuses
            raise hand.Illegal(f"Analysis {analysis.analyse_id}: finish({verdict!r}) refused")

    def load_folder(self, doc: Mapping[str, Any]) -> PeerFolder:
        """The baseline's checked load, then each entity given its own machine."""
        loaded = hand.load_folder(doc)
        folder = self.folder_cls(loaded.folder_id, loaded.resolution_status, loaded.system_resolution)
        for hand_group in loaded.groups:
            group = PeerGroup(folder, hand_group.group_id)
            group.in_progress, group.worst = hand_group.in_progress, hand_group.worst
            group.finished_order = hand_group.finished_order
            group.analyses = [self.analysis_cls(a.analyse_id, a.type, a.state, a.resolution_status, group)
                              for a in hand_group.analyses]
            folder.groups.append(group)
        folder.in_progress = loaded.in_progress
        return folder


TRANSITIONS = Peer(TransitionsAnalysis, TransitionsFolder, (MachineError,))
STATEMACHINE = Peer(ChartAnalysis, ChartFolder, (TransitionNotAllowed,))
