"""Every exception the package defines survives pickle: same type, message and attributes.

Exceptions cross process boundaries (a worker pool, a task queue), so each one
must unpickle.  The classes are found by walking the package, not listed by
hand: a new exception without a sample below fails the first test.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
from collections.abc import Callable
from typing import Any

import pytest

import statuses
from statuses.payloads import Problem


def _modules() -> list[str]:
    """Every module of the package, imported; ``statuses.testing`` ones only if their extras are installed."""
    names = []
    for module in pkgutil.walk_packages(statuses.__path__, "statuses."):
        if module.name.endswith(".__main__"):  # a script: importing it runs the command line
            continue
        try:
            importlib.import_module(module.name)
        except ImportError:
            if not module.name.startswith("statuses.testing."):  # the toolkit's hypothesis parts are optional
                raise
            continue
        names.append(module.name)
    return names


def _defined_exceptions() -> dict[str, type[BaseException]]:
    """Each public exception class, by its qualified name, from the module that defines it."""
    found: dict[str, type[BaseException]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == name
                    and not value.__name__.startswith("_")):  # a private one never leaves its module
                found[f"{name}.{value.__qualname__}"] = value
    return found


EXCEPTIONS = _defined_exceptions()

Sample = Callable[[Any], BaseException]

SAMPLES: dict[str, Sample] = {
    "statuses.errors.IllegalTransition": lambda cls: cls(
        "Analysis a1 (QUALITY)", "FINISHED", "observe", "cannot go back to PROCESSING (the snapshot says so)"),
    "statuses.errors.InconsistentFolder": lambda cls: cls("Folder f-1", [
        statuses.errors.Inconsistency("resolution_status", "FINISHED but 1 analysis is still PROCESSING: 'a1'"),
        statuses.errors.Inconsistency("group_id", "'g2', but the folder has 'a1' in group 'g1'", "a1")]),
    "statuses.errors.NoTransition": lambda cls: cls("Analysis a1 (QUALITY)", "FINISHED", "finish", ["PROCESSING"]),
    "statuses.errors.GuardRefused": lambda cls: cls(
        "Analysis a1 (QUALITY)", "PROCESSING", "finish",
        [("operator_review_not_for_liveness", "OPERATOR_REQUIRED is never the verdict of a QUALITY analysis"),
         ("verdict_is_final", "'maybe' is not a verdict")]),
    "statuses.errors.InvalidArgument": lambda cls: cls("Analysis a1 (QUALITY)", "finish(verdict)",
                                                       "'maybe' is not a verdict"),
    "statuses.errors.ListenerError": lambda cls: cls(
        [statuses.Transition("analysis", "a1", "f1", "g1", "finish", statuses.AnalysisState.PROCESSING,
                             statuses.AnalysisState.FINISHED, statuses.Resolution.SUCCESS, statuses.Resolution.SUCCESS)],
        [RuntimeError("the broker is down")]),
    "statuses.errors.InvalidDefinition": lambda cls: cls("analysis", ["a state is declared twice",
                                                                      "event 'finish' has no edge"]),
    "statuses.diagrams.dot.RenderUnavailable": lambda cls: cls("install Graphviz to get them"),
    "statuses.testing.stateful.Refused": lambda cls: cls("the service answered 409"),
    "statuses.payloads.PayloadError": lambda cls: cls([
        Problem("analyses[0].state", "'FINISHD' is not one of PROCESSING, FAILED, FINISHED"),
        Problem("", "the folder has no analyses")]),
    "statuses.store.errors.StoreError": lambda cls: cls("something the store could not do"),
    "statuses.store.errors.NotFound": lambda cls: cls("folder", "f1", "load"),
    "statuses.store.errors.AlreadyExists": lambda cls: cls("Store.create_folder(): folder 'f1' exists already"),
    "statuses.store.errors.ConcurrentUpdate": lambda cls: cls("Folder f1 changed under 3 attempts"),
    "statuses.store.errors.IdempotencyConflict": lambda cls: cls("key 'k1' was used for another event"),
    "statuses.store.errors.StoreUnavailable": lambda cls: cls("connection lost during COMMIT"),
    "statuses.store.errors.SchemaMismatch": lambda cls: cls("schema version 7, this code runs on 2"),
    "statuses.store.errors.StoreCorrupt": lambda cls: cls("Folder f1: stored settings None"),
    "statuses.store.errors.StoreBusy": lambda cls: cls("Store.finish(): no connection came free within 30 s"),
}
"""One instance of each exception class, made as its ``__init__`` requires."""


def _public_attributes(error: BaseException) -> dict[str, Any]:
    return {name: _comparable(value) for name, value in vars(error).items() if not name.startswith("_")}


def _comparable(value: Any) -> Any:
    """Exceptions held by an exception (a ListenerError's) as their type and args: they compare by identity."""
    if isinstance(value, BaseException):
        return (type(value), value.args)
    if isinstance(value, tuple):
        return tuple(_comparable(item) for item in value)
    return value


def test_every_exception_of_the_package_has_a_sample() -> None:
    assert "statuses.errors.GuardRefused" in EXCEPTIONS and "statuses.store.errors.NotFound" in EXCEPTIONS
    missing = sorted(set(EXCEPTIONS) - set(SAMPLES))
    assert not missing, f"add a sample to SAMPLES for {', '.join(missing)}"
    gone = sorted(set(SAMPLES) - set(EXCEPTIONS))
    assert not gone, f"SAMPLES names classes the package no longer defines: {', '.join(gone)}"


@pytest.mark.parametrize("name", sorted(EXCEPTIONS))
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_an_exception_survives_pickle(name: str, protocol: int) -> None:
    cls = EXCEPTIONS[name]
    if name not in SAMPLES:
        pytest.fail(f"no sample for {name} (see the test above)")
    error = SAMPLES[name](cls)
    assert type(error) is cls
    error.add_note("raised while testing")
    copied = pickle.loads(pickle.dumps(error, protocol=protocol))
    assert type(copied) is cls
    assert str(copied) == str(error)
    assert copied.args == error.args
    assert _public_attributes(copied) == _public_attributes(error)
    assert copied.__notes__ == ["raised while testing"]


def test_a_refusal_raised_by_a_machine_survives_pickle() -> None:
    """The real thing, not a sample: a GuardRefused raised by the analysis machine."""
    analysis = statuses.Analysis(type="quality", analyse_id="a1")
    with pytest.raises(statuses.GuardRefused) as raised:
        analysis.finish("OPERATOR_REQUIRED")
    copied = pickle.loads(pickle.dumps(raised.value))
    assert (type(copied), str(copied)) == (statuses.GuardRefused, str(raised.value))
    assert (copied.guard, copied.reason, copied.refusals) == (raised.value.guard, raised.value.reason,
                                                              raised.value.refusals)
