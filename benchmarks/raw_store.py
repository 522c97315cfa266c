"""The baseline for the store's throughput: a hand-written store, SQL straight on the drivers.

Not the product, the ruler.  It does what any correct store of the statuses
must do, and nothing more, with ``sqlite3`` or ``psycopg`` directly (no
SQLAlchemy, no machines).  Its tables (prefix ``raw_``) hold what
:mod:`statuses.store`'s do: a folder row with its status, result, the count
of analyses in progress and the last-finished group (id, order, result); a
row per group with its count in progress, the worst result so far and its
``finished_order``; a row per analysis; an append-only log (one row per move,
the folder's ``settle`` included, with the transaction id on PostgreSQL for an
outbox); and the idempotency keys.

``finish``/``fail`` are each one transaction:

1. lock the folder: ``SELECT … FOR UPDATE`` on the row of the analysis's
   folder (PostgreSQL), or ``BEGIN IMMEDIATE`` (SQLite, which then holds the
   database's write lock);
2. with a key, claim it (``INSERT … ON CONFLICT DO NOTHING``); a key claimed
   before returns the first outcome, read from the log, and writes nothing;
3. update the analysis ``WHERE state = 'PROCESSING'`` (no row: it has ended,
   and the event is refused);
4. update its group's counters (and its ``finished_order`` when its last
   analysis ends) and the folder's; when the folder's last analysis in progress
   ends, the folder settles: FAILED if the last-finished group's worst result is
   FAILED, else FINISHED, with that result;
5. insert the log row(s), commit.

Results rank worst first: FAILED < DECLINED < OPERATOR_REQUIRED < SUCCESS
(:attr:`statuses.Resolution.rank`).  No retries: one lock per transaction
cannot deadlock, and SQLite waits up to 30 s for its write lock, as the
product does.  SQLite runs as the product sets it up: WAL,
``synchronous=NORMAL``, foreign keys on, pysqlite's own transactions off.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from statuses.enums import AnalysisState, AnalysisType, FolderStatus, Resolution

RANK = {member.value: member.rank for member in Resolution}
FAILED, PROCESSING = Resolution.FAILED.value, AnalysisState.PROCESSING.value
SQLITE_BUSY_SECONDS = 30.0
T = TypeVar("T")

Move = tuple[str, str, str, str, str, str]
"""A log row as returned: (entity, entity id, event, source, dest, result)."""


def _check(column: str, values: Iterable[str]) -> str:
    return f"CHECK ({column} IN ({', '.join(repr(value) for value in values)}))"


_STATES, _FOLDER_STATUSES = [s.value for s in AnalysisState], [s.value for s in FolderStatus]
_RESULTS, _TYPES = list(RANK), [t.value for t in AnalysisType]

SCHEMA = f"""
CREATE TABLE raw_folders (
    folder_id TEXT PRIMARY KEY,
    status TEXT NOT NULL {_check('status', _FOLDER_STATUSES)},
    result TEXT NOT NULL {_check('result', _RESULTS)},
    in_progress INTEGER NOT NULL,
    groups_submitted INTEGER NOT NULL,
    groups_finished INTEGER NOT NULL,
    last_group_id TEXT,
    last_group_order INTEGER,
    last_group_result TEXT,
    version INTEGER NOT NULL,
    time_created FLOAT NOT NULL,
    time_updated FLOAT NOT NULL);
CREATE TABLE raw_groups (
    group_id TEXT PRIMARY KEY,
    folder_id TEXT NOT NULL REFERENCES raw_folders (folder_id),
    position INTEGER NOT NULL,
    in_progress INTEGER NOT NULL,
    worst TEXT,
    worst_rank INTEGER,
    finished_order INTEGER,
    UNIQUE (folder_id, position),
    UNIQUE (folder_id, finished_order));
CREATE TABLE raw_analyses (
    analysis_id TEXT PRIMARY KEY,
    folder_id TEXT NOT NULL REFERENCES raw_folders (folder_id),
    group_id TEXT NOT NULL REFERENCES raw_groups (group_id),
    type TEXT NOT NULL {_check('type', _TYPES)},
    state TEXT NOT NULL {_check('state', _STATES)},
    result TEXT NOT NULL {_check('result', _RESULTS)},
    failure_reason TEXT,
    time_created FLOAT NOT NULL,
    time_updated FLOAT NOT NULL);
CREATE INDEX raw_analyses_by_folder ON raw_analyses (folder_id);
CREATE TABLE raw_log (
    seq {{serial}} PRIMARY KEY,
    txid BIGINT NOT NULL,
    folder_id TEXT NOT NULL REFERENCES raw_folders (folder_id),
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    event TEXT NOT NULL,
    source TEXT NOT NULL,
    dest TEXT NOT NULL,
    result TEXT NOT NULL,
    arguments {{json}} NOT NULL,
    idempotency_key TEXT,
    time FLOAT NOT NULL);
CREATE INDEX raw_log_by_folder ON raw_log (folder_id, seq);
CREATE INDEX raw_log_outbox ON raw_log (txid, seq);
CREATE TABLE raw_keys (
    idempotency_key TEXT PRIMARY KEY,
    folder_id TEXT NOT NULL REFERENCES raw_folders (folder_id),
    entity_id TEXT NOT NULL,
    event TEXT NOT NULL,
    request {{json}} NOT NULL,
    time FLOAT NOT NULL);
"""

_LOCK_FOLDER_OF = ("SELECT folder_id, in_progress, groups_finished, last_group_id, last_group_order, "
                   "last_group_result FROM raw_folders "
                   "WHERE folder_id = (SELECT folder_id FROM raw_analyses WHERE analysis_id = %s)")
_CLAIM = ("INSERT INTO raw_keys (idempotency_key, folder_id, entity_id, event, request, time) "
          "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING idempotency_key")
_FIRST_USE = "SELECT entity_id, event FROM raw_keys WHERE idempotency_key = %s"
_REPLAY = ("SELECT entity, entity_id, event, source, dest, result FROM raw_log "
           "WHERE folder_id = %s AND idempotency_key = %s ORDER BY seq")
_END_ANALYSIS = ("UPDATE raw_analyses SET state = %s, result = %s, failure_reason = %s, time_updated = %s "
                 "WHERE analysis_id = %s AND state = 'PROCESSING' RETURNING group_id")
_END_IN_GROUP = ("UPDATE raw_groups SET in_progress = in_progress - 1, "
                 "worst = CASE WHEN worst_rank IS NULL OR worst_rank > %(rank)s THEN %(result)s ELSE worst END, "
                 "worst_rank = CASE WHEN worst_rank IS NULL OR worst_rank > %(rank)s "
                 "THEN %(rank)s ELSE worst_rank END, "
                 "finished_order = CASE WHEN in_progress = 1 THEN %(order)s END "
                 "WHERE group_id = %(group_id)s RETURNING in_progress, worst")
_UPDATE_FOLDER = ("UPDATE raw_folders SET status = %s, result = %s, in_progress = %s, groups_finished = %s, "
                  "last_group_id = %s, last_group_order = %s, last_group_result = %s, version = version + 1, "
                  "time_updated = %s WHERE folder_id = %s")
_LOG = ("INSERT INTO raw_log (txid, folder_id, entity, entity_id, group_id, event, source, dest, result, "
        "arguments, idempotency_key, time) VALUES ({txid}, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")


class Refused(ValueError):
    """The event does not apply: the analysis has ended, or the key was first used for another event."""


class RawStore:
    """The hand-written store on ``sqlite:///path`` or ``postgresql[+psycopg]://…``: one connection, one thread.

    :meth:`create_tables` makes the tables (once, before the workers start).
    """

    def __init__(self, url: str) -> None:
        self.postgresql = url.startswith("postgresql")
        self._connection: Any
        if self.postgresql:
            import psycopg

            self._connection = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1),
                                               autocommit=True)  # transaction() issues BEGIN and COMMIT
            self._sql = dict(_STATEMENTS)
            self._log = _LOG.format(txid="pg_current_xact_id()::text::bigint")
            self._lock = _LOCK_FOLDER_OF + " FOR UPDATE OF raw_folders"
        else:
            if not url.startswith("sqlite:///"):
                raise ValueError(f"RawStore: sqlite:///path or postgresql://…, not {url!r}")
            self._connection = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=SQLITE_BUSY_SECONDS,
                                               isolation_level=None)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
                self._connection.execute(f"PRAGMA {pragma}")
            self._sql = {name: _sqlite(sql) for name, sql in _STATEMENTS.items()}
            self._log = _sqlite(_LOG.format(txid="0"))
            self._lock = _sqlite(_LOCK_FOLDER_OF)

    def create_tables(self) -> None:
        if self.postgresql:
            schema = SCHEMA.format(serial="BIGSERIAL", json="JSON")
            with self._connection.transaction():
                self._connection.execute(schema)
        else:
            self._connection.executescript(f"BEGIN;\n{SCHEMA.format(serial='INTEGER', json='TEXT')}\nCOMMIT;")

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> RawStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Populating

    def create_folder(self) -> str:
        folder_id, now = str(uuid.uuid4()), time.time()
        self._run(lambda: self._execute(
            "INSERT INTO raw_folders (folder_id, status, result, in_progress, groups_submitted, groups_finished, "
            "version, time_created, time_updated) VALUES (%s, 'INITIAL', 'INITIAL', 0, 0, 0, 1, %s, %s)",
            (folder_id, now, now)))
        return folder_id

    def submit(self, folder_id: str, types: Sequence[AnalysisType | str]) -> list[str]:
        """A group of analyses, one per type, PROCESSING; the folder PROCESSING too.  Returns their ids."""
        group_id, ids, now = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in types], time.time()

        def submit() -> list[str]:
            folder = self._execute("SELECT status, groups_submitted FROM raw_folders WHERE folder_id = %s"
                                   + (" FOR UPDATE" if self.postgresql else ""), (folder_id,)).fetchone()
            if folder is None:
                raise KeyError(folder_id)
            self._execute("INSERT INTO raw_groups (group_id, folder_id, position, in_progress) "
                          "VALUES (%s, %s, %s, %s)", (group_id, folder_id, folder[1], len(ids)))
            for analysis_id, kind in zip(ids, types):
                self._execute("INSERT INTO raw_analyses (analysis_id, folder_id, group_id, type, state, result, "
                              "time_created, time_updated) VALUES (%s, %s, %s, %s, 'PROCESSING', 'PROCESSING', "
                              "%s, %s)", (analysis_id, folder_id, group_id, AnalysisType(kind).value, now, now))
            self._execute("UPDATE raw_folders SET status = 'PROCESSING', result = 'PROCESSING', "
                          "in_progress = in_progress + %s, groups_submitted = groups_submitted + 1, "
                          "version = version + 1, time_updated = %s WHERE folder_id = %s",
                          (len(ids), now, folder_id))
            arguments = json.dumps({"types": [AnalysisType(kind).value for kind in types], "group_id": group_id,
                                    "analysis_ids": ids})
            self._execute(self._log, (folder_id, "folder", folder_id, group_id, "submit", folder[0],
                                      "PROCESSING", "PROCESSING", arguments, None, now))
            return ids

        return self._run(submit)

    # The events

    def finish(self, analysis_id: str, verdict: str, key: str | None = None) -> list[Move]:
        """End the analysis FINISHED with ``verdict``; returns the log rows written (or, replayed, first written)."""
        if verdict not in ("SUCCESS", "DECLINED", "OPERATOR_REQUIRED"):
            raise ValueError(f"not a verdict: {verdict!r}")
        return self._run(lambda: self._end(analysis_id, "finish", AnalysisState.FINISHED.value, verdict, None,
                                           {"verdict": verdict}, key))

    def fail(self, analysis_id: str, reason: str | None = None, key: str | None = None) -> list[Move]:
        """End the analysis FAILED; returns the log rows as :meth:`finish` does."""
        return self._run(lambda: self._end(analysis_id, "fail", AnalysisState.FAILED.value, FAILED, reason,
                                           {"reason": reason}, key))

    def _end(self, analysis_id: str, event: str, state: str, result: str, reason: str | None,
             request: dict[str, Any], key: str | None) -> list[Move]:
        sql, now = self._sql, time.time()
        folder = self._execute(self._lock, (analysis_id,)).fetchone()
        if folder is None:
            raise KeyError(analysis_id)
        folder_id, in_progress, groups_finished, last_id, last_order, last_result = folder
        if key is not None and self._execute(sql["claim"], (key, folder_id, analysis_id, event, json.dumps(request),
                                                            now)).fetchone() is None:
            first = self._execute(sql["first_use"], (key,)).fetchone()
            if first != (analysis_id, event):
                raise Refused(f"key {key!r} was first used for {first[1]} of {first[0]}")
            return [tuple(row) for row in self._execute(sql["replay"], (folder_id, key)).fetchall()]
        ended = self._execute(sql["end_analysis"], (state, result, reason, now, analysis_id)).fetchone()
        if ended is None:
            raise Refused(f"analysis {analysis_id} has ended: {event} refused")
        group_id = ended[0]
        left_in_group, worst = self._execute(sql["end_in_group"], {
            "rank": RANK[result], "result": result, "order": groups_finished + 1, "group_id": group_id}).fetchone()
        if left_in_group == 0:  # the group has ended: it is the folder's last-finished one
            groups_finished += 1
            last_id, last_order, last_result = group_id, groups_finished, worst
        in_progress -= 1
        status, folder_result = PROCESSING, PROCESSING
        if in_progress == 0:  # the folder settles on its last-finished group's result
            status, folder_result = (FAILED if last_result == FAILED else "FINISHED"), last_result
        self._execute(sql["update_folder"], (status, folder_result, in_progress, groups_finished, last_id,
                                             last_order, last_result, now, folder_id))
        moves: list[Move] = [("analysis", analysis_id, event, PROCESSING, state, result)]
        self._execute(self._log, (folder_id, "analysis", analysis_id, group_id, event, PROCESSING, state, result,
                                  json.dumps(request), key, now))
        if in_progress == 0:
            moves.append(("folder", folder_id, "settle", PROCESSING, status, folder_result))
            self._execute(self._log, (folder_id, "folder", folder_id, last_id, "settle", PROCESSING, status,
                                      folder_result, "{}", key, now))
        return moves

    # One transaction

    def _execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any]) -> Any:
        if not self.postgresql and "%s" in sql:
            sql = _sqlite(sql)
        return self._connection.execute(sql, parameters)

    def _run(self, work: Callable[[], T]) -> T:
        """``work()`` in one transaction: committed if it returns, rolled back if it raises."""
        if self.postgresql:
            with self._connection.transaction():
                return work()
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            outcome = work()
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")
        return outcome


_STATEMENTS = {"claim": _CLAIM, "first_use": _FIRST_USE, "replay": _REPLAY, "end_analysis": _END_ANALYSIS,
               "end_in_group": _END_IN_GROUP, "update_folder": _UPDATE_FOLDER}


def _sqlite(sql: str) -> str:
    """A statement in psycopg's placeholders (``%s``, ``%(name)s``) in sqlite3's (``?``, ``:name``)."""
    return re.sub(r"%\((\w+)\)s", r":\1", sql).replace("%s", "?")
