"""Threads finishing and failing the analyses of shared folders: nothing lost, nothing applied twice.

Every event is delivered twice, by two threads walking the same share of the
events side by side, while the other pairs of threads end other analyses of
the same folders, with the interpreter switching threads as often as it can;
afterwards every folder must equal a recomputation from its analyses.  Without the folder's
lock this fails (lost decrements leave folders PROCESSING, or an analysis
is ended twice).
"""

from __future__ import annotations

import copy
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest

import statuses
from statuses import Analysis, AnalysisState, Folder, FolderStatus, IllegalTransition, Resolution, Settings

THREADS = 8
FOLDERS = 200
GROUPS = ([["biometry", "quality"], ["documents", "collection", "biometry"]],
          [["quality"], ["biometry", "documents"], ["collection", "quality"]])
VERDICTS = ("SUCCESS", "DECLINED", "OPERATOR_REQUIRED")

Event = tuple[Analysis, str, object]


PACKAGE = str(Path(statuses.__file__).parent)


def _yield_inside_statuses(frame: FrameType, event: str, argument: object) -> None:
    """On entering a function of the package, give the other threads a turn (as often as not)."""
    if event == "call" and frame.f_code.co_filename.startswith(PACKAGE) and random.random() < 0.5:
        time.sleep(0)  # releases the GIL


@pytest.fixture
def frequent_switches() -> Iterator[None]:
    """Make threads switch as often as possible, inside the package above all, to provoke races."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    threading.setprofile(_yield_inside_statuses)  # for the threads started from now on
    try:
        yield
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
        sys.setswitchinterval(before)


def planned_events(folders: list[Folder], rng: random.Random) -> list[Event]:
    """One ending per analysis (a verdict or a failure), shuffled."""
    events: list[Event] = []
    for folder in folders:
        for analysis in folder.analyses:
            if rng.random() < 0.25:
                event: Event = (analysis, "fail", "engine timeout")
            else:
                verdicts = VERDICTS if analysis.type != "QUALITY" else VERDICTS[:2]
                event = (analysis, "finish", rng.choice(verdicts))
            events.append(event)
    rng.shuffle(events)
    return events


def deliver(events: list[Event]) -> tuple[Counter[int], list[BaseException]]:
    """Send each event twice, from two threads at once; how often each analysis's event was applied."""
    applied: Counter[int] = Counter()
    unexpected: list[BaseException] = []
    start = threading.Barrier(THREADS)
    pairs = THREADS // 2
    in_step = [threading.Barrier(2) for _ in range(pairs)]

    def worker(share: list[Event], together: threading.Barrier) -> None:
        start.wait()
        for analysis, event, argument in share:
            together.wait()  # both deliveries of this event start at the same moment
            try:
                getattr(analysis, event)(argument)
            except IllegalTransition:
                continue
            except BaseException as error:  # anything else is a bug the main thread must see
                unexpected.append(error)
                continue
            applied[id(analysis)] += 1  # one key per analysis: only a double application races here

    threads = [threading.Thread(target=worker, args=(events[index % pairs::pairs], in_step[index % pairs]))
               for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return applied, unexpected


def expected_statuses(folder: Folder) -> tuple[FolderStatus, Resolution]:
    """The folder's statuses recomputed from its analyses and the order its groups finished."""
    last = max(folder.groups, key=lambda group: group.finished_order or 0)
    result = Resolution.worst(analysis.resolution_status for analysis in last.analyses)
    return (FolderStatus.FAILED if result is Resolution.FAILED else FolderStatus.FINISHED), result


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_concurrent_endings_lose_nothing_and_apply_once(seed: int, frequent_switches: None) -> None:
    rng = random.Random(seed)
    folders = []
    for index in range(FOLDERS):
        folder = Folder(settings=Settings(operator_required=True))
        for types in GROUPS[index % 2]:
            folder.submit(types)  # every group is submitted before any ends: they all overlap
        folders.append(folder)
    events = planned_events(folders, rng)

    applied, unexpected = deliver(events)

    assert not unexpected, unexpected[:3]
    analyses = [analysis for folder in folders for analysis in folder.analyses]
    assert [applied[id(analysis)] for analysis in analyses] == [1] * len(analyses), "an event applied twice or never"
    planned = {id(analysis): (event, argument) for analysis, event, argument in events}
    assert len(planned) == len(analyses)
    for analysis in analyses:
        event, argument = planned[id(analysis)]
        assert analysis.state is (AnalysisState.FAILED if event == "fail" else AnalysisState.FINISHED)
        assert analysis.resolution_status == (Resolution.FAILED if event == "fail" else argument)
    for folder in folders:
        assert folder.analyses_in_progress == 0
        orders = sorted(group.finished_order or 0 for group in folder.groups)
        assert orders == list(range(1, len(folder.groups) + 1)), f"group completions {orders}"
        for group in folder.groups:
            assert group.result is Resolution.worst(analysis.resolution_status for analysis in group.analyses)
        assert folder.last_finished_group is max(folder.groups, key=lambda group: group.finished_order or 0)
        assert (folder.resolution_status, folder.system_resolution) == expected_statuses(folder)


def test_each_folder_has_its_own_reentrant_lock() -> None:
    one, two = Folder(), Folder()
    assert one.lock is not two.lock
    with one.lock:
        group = one.submit(["biometry"])  # re-entrant: submit takes the lock the caller holds
        group.analyses[0].finish("SUCCESS")  # and settle runs inside finish, under it too
    assert one.resolution_status is FolderStatus.FINISHED


def test_concurrent_submits_and_endings_on_one_folder(frequent_switches: None) -> None:
    """Threads submitting groups to one folder and ending them at once: every group counted, once."""
    folder = Folder()
    rounds = 40
    start = threading.Barrier(THREADS)

    def worker(number: int) -> None:
        start.wait()
        for round_ in range(rounds):
            group = folder.submit(["biometry", "documents"])
            first, second = group.analyses
            first.finish("SUCCESS")
            second.fail() if (number + round_) % 5 == 0 else second.finish("DECLINED")

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(folder.groups) == THREADS * rounds and folder.analyses_in_progress == 0
    assert sorted(group.finished_order or 0 for group in folder.groups) == list(range(1, THREADS * rounds + 1))
    assert (folder.resolution_status, folder.system_resolution) == expected_statuses(folder)


def waits_for_the_lock(folder: Folder, action: Callable[[], object], meanwhile: Callable[[], None] = lambda: None
                       ) -> object:
    """Run ``action`` in a thread while another holds ``folder.lock``: it must wait, then finish; its result."""
    held, release, done = threading.Event(), threading.Event(), threading.Event()
    results: list[object] = []

    def hold_the_lock() -> None:
        with folder.lock:
            held.set()
            release.wait(10)

    def act() -> None:
        results.append(action())
        done.set()

    holder, actor = threading.Thread(target=hold_the_lock), threading.Thread(target=act)
    holder.start()
    held.wait(10)
    actor.start()
    try:
        # Only a failure can be fast here: the action finishing while the lock is held elsewhere.
        assert not done.wait(0.2), "it ran while another thread held the folder's lock"
        meanwhile()
    finally:
        release.set()
        holder.join(10)
        actor.join(10)
    assert done.is_set()
    return results[0]


def test_observe_called_directly_waits_for_the_folders_lock() -> None:
    from statuses.payloads import dump_folder, observe

    folder = Folder()
    (analysis,) = folder.submit(["biometry"]).analyses
    newer = dump_folder(folder)
    newer.update(resolution_status="FINISHED", system_resolution="SUCCESS", time_updated=2)
    newer["analyses"][0].update(state="FINISHED", resolution_status="SUCCESS", time_updated=2)

    def still_processing() -> None:
        assert analysis.state is AnalysisState.PROCESSING

    waits_for_the_lock(folder, lambda: observe(folder, newer), still_processing)
    assert folder.resolution_status is FolderStatus.FINISHED


@pytest.mark.parametrize("copy_of", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
def test_a_copy_waits_for_the_folders_lock(copy_of: Callable[[Folder], Folder]) -> None:
    """A copy taken while another thread is mid-event would hold half of it: copies take the lock."""
    folder = Folder()
    folder.submit(["biometry"])
    copied = waits_for_the_lock(folder, lambda: copy_of(folder))
    assert isinstance(copied, Folder) and copied.analyses_in_progress == 1
