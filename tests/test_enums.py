"""The vocabularies: spellings, the rank of results, the status table's meanings."""

from __future__ import annotations

import itertools

import pytest

from statuses import STATUS_COLUMNS, AnalysisState, AnalysisType, FolderStatus, Resolution

# The spec's rank, worst first, typed here independently of the enum's order.
RANK_WORST_FIRST = ["INITIAL", "PROCESSING", "FAILED", "DECLINED", "OPERATOR_REQUIRED", "SUCCESS"]


def test_values_are_the_api_spellings() -> None:
    assert Resolution.SUCCESS == "SUCCESS"
    assert [m.value for m in AnalysisState] == ["PROCESSING", "FAILED", "FINISHED"]
    assert [m.value for m in FolderStatus] == ["INITIAL", "PROCESSING", "FAILED", "FINISHED"]
    assert {m.value for m in AnalysisType} == {"BIOMETRY", "QUALITY", "DOCUMENTS", "COLLECTION"}
    assert str(Resolution.OPERATOR_REQUIRED) == "OPERATOR_REQUIRED"
    assert f"{FolderStatus.FINISHED}" == "FINISHED"


@pytest.mark.parametrize("a, b", list(itertools.product(RANK_WORST_FIRST, repeat=2)))
def test_worst_of_every_pair(a: str, b: str) -> None:
    expected = a if RANK_WORST_FIRST.index(a) <= RANK_WORST_FIRST.index(b) else b
    assert Resolution.worst([Resolution(a), Resolution(b)]) is Resolution(expected)
    assert (Resolution(a).rank < Resolution(b).rank) == (RANK_WORST_FIRST.index(a) < RANK_WORST_FIRST.index(b))


def test_worst_of_one_and_of_none() -> None:
    assert Resolution.worst(iter([Resolution.DECLINED])) is Resolution.DECLINED
    with pytest.raises(ValueError, match="at least one"):
        Resolution.worst([])


@pytest.mark.parametrize(
    "raw, member",
    [
        ("quality", AnalysisType.QUALITY),
        ("liveness", AnalysisType.QUALITY),
        ("LIVENESS", AnalysisType.QUALITY),
        ("Biometry", AnalysisType.BIOMETRY),
        (AnalysisType.COLLECTION, AnalysisType.COLLECTION),
    ],
)
def test_analysis_type_spellings(raw: str, member: AnalysisType) -> None:
    assert AnalysisType.parse(raw) is member


@pytest.mark.parametrize("raw", ["FINISHD", "", None, 3, "liveness "])
def test_unknown_spelling_names_the_accepted_ones(raw: object) -> None:
    with pytest.raises(ValueError, match="is not one of PROCESSING, FAILED, FINISHED"):
        AnalysisState.parse(raw)


def test_liveness_is_not_a_resolution() -> None:
    with pytest.raises(ValueError):
        Resolution.parse("liveness")


def test_columns_cover_exactly_the_values_that_occur() -> None:
    columns = {column.field: column for column in STATUS_COLUMNS}
    assert set(columns["analyse.state"].meanings) == set(AnalysisState)
    assert set(columns["analyse.resolution_status"].meanings) == set(Resolution) - {Resolution.INITIAL}
    assert set(columns["folder.resolution_status"].meanings) == set(FolderStatus)
    assert set(columns["system_resolution"].meanings) == set(Resolution)
    assert columns["analyse.resolution_status"].meaning(Resolution.INITIAL) is None


def test_each_enum_has_one_spelling_map_which_every_reader_holds() -> None:
    """parse, the JSON layer and finish() read the same map object: a new spelling is added in one place."""
    from statuses import analysis, payloads
    from statuses.enums import ApiEnum

    for kind in ApiEnum.__subclasses__():
        assert kind.spellings() is kind.spellings()
        assert payloads._EXACT_SPELLINGS.get(kind, kind.spellings()) is kind.spellings()
        for spelling, member in kind.spellings().items():
            assert kind.parse(spelling) is member and kind.parse(spelling.lower()) is member
    assert analysis._RESOLUTION_SPELLINGS is Resolution.spellings()
    assert AnalysisType.parse("Liveness") is AnalysisType.QUALITY
