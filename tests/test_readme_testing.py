"""README's "Testing your service" example is a real test file: run it as a user would."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


FIND_ONLY = """
from hypothesis import Phase, settings

settings.register_profile("find-only", phases=[Phase.generate], database=None, derandomize=True)
"""
"""A profile for a run that must fail: find the failure, the same one every time, and skip shrinking it."""


def example(first_line: str) -> str:
    """The README code block that starts with ``first_line``."""
    for block in re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S):
        if block.startswith(first_line):
            return str(block)
    raise AssertionError(f"README.md has no python block starting with {first_line!r}")


def test_the_webhook_service_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_webhooks=example("# test_webhooks.py\n"))
    result = pytester.runpytest("-v", "-W", "ignore::pytest.PytestAssertRewriteWarning")
    result.assert_outcomes(passed=6 + 1)
    result.stdout.re_match_lines([re.escape("test_webhooks.py::test_every_webhook_in_every_state"
                                            "[analysis-FINISHED-finish-illegal] PASSED"),
                                  re.escape("test_webhooks.py::TestWebhooks::runTest PASSED")])


def test_the_example_would_catch_a_service_that_reopens_a_finished_analysis(pytester: pytest.Pytester) -> None:
    broken = "from statuses import AnalysisState, Resolution\n" + example("# test_webhooks.py\n").replace(
        '''        if payload["event"] == "finish":''',
        '''        if payload["event"] == "finish" and analysis.state == "FINISHED":
            # re-opened behind the machine's back, in the slots under its read-only fields
            object.__setattr__(analysis, "_state", AnalysisState.PROCESSING)
            object.__setattr__(analysis, "_resolution_status", Resolution.PROCESSING)
        elif payload["event"] == "finish":''')
    assert broken != example("# test_webhooks.py\n")
    pytester.makepyfile(test_webhooks=broken)
    pytester.makeconftest(FIND_ONLY)
    result = pytester.runpytest("-W", "ignore::pytest.PytestAssertRewriteWarning", "--hypothesis-profile=find-only")
    result.assert_outcomes(passed=5, failed=2)
    result.stdout.re_match_lines([
        re.escape("FAILED test_webhooks.py::test_every_webhook_in_every_state[analysis-FINISHED-finish-illegal]"),
        re.escape("FAILED test_webhooks.py::TestWebhooks::runTest - AssertionError: the service"),
    ])
