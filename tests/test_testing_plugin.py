"""The pytest plugin, run the way a user's project runs it: through pytest's own pytester."""

from __future__ import annotations

import re

import pytest

from statuses.testing import plugin

# In-process runs see the package imported already, so pytest cannot rewrite its asserts; a user's run can.
QUIET = ("-W", "ignore::pytest.PytestAssertRewriteWarning")

USER_TESTS = '''
from statuses import ANALYSIS_DEFINITION, FOLDER_DEFINITION, Resolution
from statuses.testing import assert_expectation, parametrize_matrix


@parametrize_matrix(ANALYSIS_DEFINITION)
def test_every_analysis_pair(transition, entity_factory):
    assert_expectation(entity_factory(transition, in_folder=True), transition)


@parametrize_matrix(FOLDER_DEFINITION, argname="row")
def test_every_folder_pair(row, entity_factory):
    assert_expectation(entity_factory(row), row)


def test_factories(analysis_factory, folder_factory):
    assert analysis_factory("FINISHED", "DECLINED").resolution_status is Resolution.DECLINED
    assert folder_factory("FAILED").system_resolution is Resolution.FAILED
'''


def test_the_plugin_is_registered_by_installing_the_package(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.is_registered(plugin)
    assert "statuses" in {name for name, _ in pytestconfig.pluginmanager.list_name_plugin()}


def test_fixtures_and_one_test_per_pair_with_readable_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_service=USER_TESTS)
    result = pytester.runpytest("-v", *QUIET)
    result.assert_outcomes(passed=6 + 9 + 1)
    result.stdout.re_match_lines([re.escape(f"test_service.py::{name} PASSED") for name in [
        "test_every_analysis_pair[analysis-PROCESSING-finish-FINISHED]",
        "test_every_analysis_pair[analysis-FINISHED-finish-illegal]",
        "test_every_folder_pair[folder-INITIAL-settle-illegal]",
        "test_every_folder_pair[folder-PROCESSING-settle-FAILED]",
    ]])


def test_asserting_that_a_legal_move_is_illegal_fails_clearly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_wrong='''
from statuses.testing import assert_illegal


def test_finishing_a_running_analysis_is_refused(analysis_factory):
    assert_illegal(analysis_factory(in_folder=True), "finish", "SUCCESS")
''')
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*AssertionError: expected Analysis * (BIOMETRY) in PROCESSING/PROCESSING to refuse finish('SUCCESS'), "
        "but it was accepted: Analysis * (BIOMETRY).state: PROCESSING -> FINISHED; *",
    ])


def test_without_the_plugin_the_fixtures_are_missing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_service=USER_TESTS)
    result = pytester.runpytest("-p", "no:statuses", *QUIET)
    result.assert_outcomes(errors=6 + 9 + 1)
    result.stdout.fnmatch_lines(["*fixture 'entity_factory' not found*"])
