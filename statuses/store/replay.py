"""A folder's log taken again by the machines in memory: the :class:`~statuses.Transition` of each row.

What upgrading the log to schema version 2 needs: the rows of version 1 say
which event moved which entity from where to where, but not the group nor the
result a :class:`~statuses.Transition` carries.  Rather than guess them, the
events the rows record (``submit`` with its ids, ``finish`` with its verdict,
``fail`` with its reason) are taken again, in ``seq`` order, by the same
machines on a new folder of the stored settings, and each row gets the record
of its own move.  A log the machines do not take again move for move is
refused: nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ..analysis import Analysis
from ..errors import REFUSALS
from ..folder import Folder
from ..listeners import Transition
from ..settings import Settings
from ..values import short_repr
from .errors import StoreCorrupt

T = TypeVar("T")


def taken(folder: Folder, move: Callable[[], T]) -> tuple[T, list[Transition]]:
    """Run ``move`` (an event on ``folder`` or one of its analyses): what it returns, and the transitions it took.

    The records come from the machines, in the order taken: an analysis's
    end, then the folder's ``settle`` it caused.  No listener hears them
    here: the store delivers them once its transaction has committed.
    """
    with folder.lock, folder.hub().hold(deliver_after=False) as records:
        outcome = move()
    return outcome, records


def replay(folder_id: str, settings: Settings, rows: Iterable[Any]) -> list[Transition]:
    """The transition of each of a folder's log rows, in order, as the machines take the logged events again.

    ``rows`` have the log's columns of version 1 (``seq``, ``entity``,
    ``entity_id``, ``event``, ``source``, ``dest``, ``arguments``), in
    ``seq`` order.  Raises :class:`StoreCorrupt` naming the first row that
    does not replay: an event the machines refuse, arguments that are not
    the store's, a row that is not the move the machines took, a ``settle``
    no end caused, or one missing.
    """
    folder = Folder(settings=settings, folder_id=folder_id)
    analyses: dict[str, Analysis] = {}
    records: list[Transition] = []
    caused: list[Transition] = []   # moves the last event took that no row has claimed yet
    for row in rows:
        where = f"folder {folder_id!r}: log row {row.seq} ({row.entity} {row.entity_id} {row.event})"
        if not caused:
            if row.event == "settle":
                raise StoreCorrupt(f"{where}: a settle that no end of an analysis caused")
            try:
                caused = taken(folder, _event(folder, analyses, row))[1]
            except REFUSALS as refused:
                raise StoreCorrupt(f"{where}: the machines refuse it: {refused}") from None
            except (KeyError, TypeError, ValueError) as error:
                raise StoreCorrupt(f"{where}: arguments {short_repr(row.arguments)} are not the store's: "
                                   f"{short_repr(error)}") from None
        record = caused.pop(0)
        logged = _move(row.entity, row.entity_id, row.event, row.source, row.dest)
        if logged != _moved(record):
            raise StoreCorrupt(f"{where}: logs {logged} where the machines took {_moved(record)}")
        records.append(record)
    if caused:
        raise StoreCorrupt(f"folder {folder_id!r}: the log ends without the move its last event caused, "
                           f"{_moved(caused[0])}")
    return records


def _event(folder: Folder, analyses: dict[str, Analysis], row: Any) -> Callable[[], object]:
    """The event a log row records, to be taken on ``folder``; StoreCorrupt if the store logs no such event.

    Arguments the store does not write (a key missing, a value of another
    type) raise KeyError, TypeError or ValueError when the event is taken.
    """
    arguments = row.arguments
    if row.entity == "folder" and row.event == "submit":
        def submit() -> None:
            group = folder.submit(arguments["types"], group_id=arguments["group_id"],
                                  analysis_ids=arguments["analysis_ids"])
            analyses.update((analysis.analyse_id, analysis) for analysis in group.analyses)
        return submit
    if row.entity == "analysis" and row.event in ("finish", "fail"):
        analysis = analyses.get(row.entity_id)
        if analysis is None:
            raise StoreCorrupt(f"folder {folder.folder_id!r}: log row {row.seq} ends analysis {row.entity_id}, "
                               "which no submit before it logged")
        if row.event == "finish":
            return lambda: analysis.finish(arguments["verdict"])
        return lambda: analysis.fail(arguments["reason"])
    raise StoreCorrupt(f"folder {folder.folder_id!r}: log row {row.seq}: no event {row.event!r} of "
                       f"an {row.entity!r} is logged by the store")


def _move(entity: str, entity_id: str, event: str, source: str, dest: str) -> str:
    return f"{entity} {entity_id} {event} {source}->{dest}"


def _moved(record: Transition) -> str:
    return _move(record.entity, record.id, record.event, record.source.value, record.dest.value)
