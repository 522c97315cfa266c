"""The API's status vocabularies, and what each value means in each column.

Every status string of the package lives here and nowhere else.  The enums are
``str`` enums whose values are the API's upper-case spellings, so they compare
equal to the strings the API sends (``Resolution.SUCCESS == "SUCCESS"``).

The seed document's status table has four columns (``analyse.state``,
``analyse.resolution_status``, ``folder.resolution_status`` and
``system_resolution``); :data:`STATUS_COLUMNS` describes them and each member
can say what it means in each column it may appear in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import TypeVar

import attrs

from .values import short_repr

_E = TypeVar("_E", bound="ApiEnum")


class ApiEnum(str, enum.Enum):
    """A ``str`` enum whose value is the API's spelling of the member."""

    def __str__(self) -> str:
        return str.__str__(self)

    @classmethod
    def parse(cls: type[_E], raw: object) -> _E:
        """Return the member spelled ``raw``, in any letter case.

        Raises ``ValueError`` naming the accepted spellings otherwise.
        """
        if isinstance(raw, cls):
            return raw
        if isinstance(raw, str):
            spellings = cls.spellings()
            member = spellings.get(raw)  # the API's own spelling: one lookup
            if member is None:
                member = spellings.get(raw.upper())
            if member is not None:
                return member
        accepted = ", ".join(member.value for member in cls)
        raise ValueError(f"{short_repr(raw)} is not one of {accepted}")

    @classmethod
    def spellings(cls: type[_E]) -> Mapping[str, _E]:
        """Every upper-case spelling of a member: its value, and the aliases old clients send.

        The one map of the enum's spellings: :meth:`parse`, the JSON layer and
        the rules page all read it.

        >>> AnalysisType.spellings()["LIVENESS"]
        <AnalysisType.QUALITY: 'QUALITY'>
        """
        found = _SPELLINGS.get(cls)
        if found is None:
            found = _SPELLINGS[cls] = {**{member.value: member for member in cls}, **_ALIASES.get(cls, {})}
        return found  # type: ignore[return-value]  # keyed by class: each class maps to its own members

    @property
    def meanings(self) -> dict[str, str]:
        """What this value means in each column of the status table it can occur in.

        >>> Resolution.SUCCESS.meanings
        {'analyse.resolution_status': 'check succeeded', 'system_resolution': 'check succeeded'}
        """
        return {
            column.field: meaning
            for column in STATUS_COLUMNS
            if column.values is type(self) and (meaning := column.meaning(self)) is not None
        }


def spell(value: object) -> str:
    """A status as messages write it: the API's spelling, or the repr of a stranger."""
    return value.value if isinstance(value, ApiEnum) else repr(value)


class AnalysisType(ApiEnum):
    """What an analysis checks."""

    BIOMETRY = "BIOMETRY"
    """Face match."""
    QUALITY = "QUALITY"
    """Liveness; old clients call it ``liveness``."""
    DOCUMENTS = "DOCUMENTS"
    """Document check."""
    COLLECTION = "COLLECTION"
    """Match against a collection (a blacklist, say)."""


_SPELLINGS: dict[type[ApiEnum], dict[str, ApiEnum]] = {}
"""Each enum's spellings, built on first use by :meth:`ApiEnum.spellings`."""

_ALIASES: dict[type[ApiEnum], dict[str, ApiEnum]] = {AnalysisType: {"LIVENESS": AnalysisType.QUALITY}}
"""Spellings other than a member's value, by enum."""


class AnalysisState(ApiEnum):
    """``analyse.state``: where an analysis is in its processing."""

    PROCESSING = "PROCESSING"
    FAILED = "FAILED"
    FINISHED = "FINISHED"


class FolderStatus(ApiEnum):
    """``folder.resolution_status``: where a folder is in its processing."""

    INITIAL = "INITIAL"
    PROCESSING = "PROCESSING"
    FAILED = "FAILED"
    FINISHED = "FINISHED"


class Resolution(ApiEnum):
    """A result: ``analyse.resolution_status`` and ``folder.system_resolution``.

    Members are ranked from the worst (INITIAL) to the best (SUCCESS); a
    group's result is the worst of its analyses' results.
    """

    rank: int
    """0 for the worst result (INITIAL) up to 5 for the best (SUCCESS): the declaration order.
    An attribute of each member rather than a property, since the folder reads it on every ended analysis."""

    INITIAL = "INITIAL"
    PROCESSING = "PROCESSING"
    FAILED = "FAILED"
    DECLINED = "DECLINED"
    OPERATOR_REQUIRED = "OPERATOR_REQUIRED"
    SUCCESS = "SUCCESS"

    @classmethod
    def worst(cls, results: Iterable[Resolution]) -> Resolution:
        """The worst of ``results``; ``ValueError`` if there are none."""
        worst: Resolution | None = None
        for raw in results:
            result = raw if type(raw) is Resolution else Resolution.parse(raw)
            if worst is None or result.rank < worst.rank:
                worst = result
        if worst is None:
            raise ValueError("Resolution.worst() needs at least one result")
        return worst

    @property
    def is_verdict(self) -> bool:
        """Whether a finished analysis may carry this result."""
        return self in VERDICTS


for _rank, _member in enumerate(Resolution):  # declaration order is the rank: INITIAL the worst, SUCCESS the best
    _member.rank = _rank

VERDICTS: tuple[Resolution, ...] = (Resolution.SUCCESS, Resolution.DECLINED, Resolution.OPERATOR_REQUIRED)
"""The results a FINISHED analysis (and so a FINISHED folder) carries, best first."""


@attrs.frozen
class StatusColumn:
    """One column of the API's status table: a field and what its values mean."""

    field: str
    """The field's name as the API's documentation writes it."""
    values: type[ApiEnum]
    meanings: Mapping[ApiEnum, str]
    """What each value that can occur in this field means there."""

    def meaning(self, value: ApiEnum) -> str | None:
        """What ``value`` means in this column; None if it cannot occur here."""
        return self.meanings.get(value)


_STARTING = "starting state"
_IN_PROGRESS = "analyses in progress"
_SYSTEM_ERROR = "system error"
_FINISHED = "finished successfully"
_CHECK_FAILED = "check failed"
_CHECK_NEEDED = "additional check is needed"
_CHECK_SUCCEEDED = "check succeeded"

_VERDICT_MEANINGS: dict[ApiEnum, str] = {
    Resolution.DECLINED: _CHECK_FAILED,
    Resolution.OPERATOR_REQUIRED: _CHECK_NEEDED,
    Resolution.SUCCESS: _CHECK_SUCCEEDED,
}

STATUS_COLUMNS: tuple[StatusColumn, ...] = (
    StatusColumn(
        "analyse.state",
        AnalysisState,
        {
            AnalysisState.PROCESSING: _STARTING,
            AnalysisState.FAILED: _SYSTEM_ERROR,
            AnalysisState.FINISHED: _FINISHED,
        },
    ),
    StatusColumn(
        "analyse.resolution_status",
        Resolution,
        {Resolution.PROCESSING: _STARTING, Resolution.FAILED: _SYSTEM_ERROR, **_VERDICT_MEANINGS},
    ),
    StatusColumn(
        "folder.resolution_status",
        FolderStatus,
        {
            FolderStatus.INITIAL: _STARTING,
            FolderStatus.PROCESSING: _IN_PROGRESS,
            FolderStatus.FAILED: _SYSTEM_ERROR,
            FolderStatus.FINISHED: _FINISHED,
        },
    ),
    StatusColumn(
        "system_resolution",
        Resolution,
        {
            Resolution.INITIAL: _STARTING,
            Resolution.PROCESSING: _IN_PROGRESS,
            Resolution.FAILED: _SYSTEM_ERROR,
            **_VERDICT_MEANINGS,
        },
    ),
)
"""The seed document's status table, column by column."""

STATUS_ROWS: tuple[str, ...] = tuple(
    dict.fromkeys(member.value for member in [*FolderStatus, *Resolution])
)
"""The table's rows: every status value once, in the seed document's order."""
