# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Durable store of events and explanations: SQLite in WAL mode, each append committed and synced.

`EventStore.append(record)` returns only after the record is on disk (``journal_mode=WAL`` with
``synchronous=FULL`` fsyncs the write-ahead log at every commit), so the pipeline writes an event
here *before* it announces it: a process killed at any moment loses nothing it announced.
SQLite replays or discards the log when the file is next opened, so the store always opens
cleanly after a crash. Records are JSON documents; events carry ``record_type: event``,
explanations ``record_type: explanation`` (see `AnomalyEvent.to_dict`, `Explanation.to_dict`).
Event records follow `event_schema` (``schema: tcvads.anomaly/2``); the records of stores
written before it had no ``schema`` key and no ``stream``, and are read the same way.

When the disk refuses a write (full, an I/O error), the record is not dropped and the caller is
not stopped (an event's start must still be announced, or its later update and end would refer
to a start nobody saw): the record is *held* in memory, in order, and written before the next
record, or at `retry()`, once the disk takes writes again. The backlog is bounded
(`backlog_limit`); beyond it the oldest held record is dropped. Both are counted (`counts`) and
logged once per outage, so a node can report them; only records held at a crash are lost.

`open_events()` lists the events whose last stored record is not an ``end``: a process that was
killed while an event was open. `crash_ends` makes their ends (reason ``crash``) for a restarted
node to store and announce.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
import time
from collections import Counter, deque
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from tcvads_ros.errors import TcvadsError
from tcvads_ros.runtime.events import AnomalyEvent

RECORD_TYPES = ("event", "explanation")
# Records held in memory while the disk refuses writes (an event's records are a few hundred bytes).
BACKLOG_LIMIT = 10_000

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_type TEXT NOT NULL,
    event_id TEXT,
    written REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_event ON records (event_id);
"""


class EventStoreError(TcvadsError):
    """The event database cannot be opened or written."""


def _json_safe(value: Any) -> Any:
    """NaN / inf are not JSON: store them as null rather than writing invalid documents."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


class EventStore:
    """Append-only, crash-safe store of event and explanation records.

    Safe to share between threads (the coarse loop appends events, the fine worker
    explanations): one connection guarded by a lock.
    """

    def __init__(self, path: str | Path, backlog_limit: int = BACKLOG_LIMIT) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.backlog_limit = int(backlog_limit)
        self._backlog: deque[tuple[str, str | None, float, str]] = deque()  # held rows, oldest first
        self._counts: Counter = Counter()
        self._last_seq = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None
            )
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"journal_mode is {mode}, WAL is not available here")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise EventStoreError(
                f"{self.path}: cannot open the event store ({exc}); if the file is not an event "
                "database, move it aside or choose another --events path"
            ) from exc

    def append(self, record: Any) -> int | None:
        """Write one record durably; returns its sequence number once it is on disk, or None
        when the disk refused it and it is held in memory (module doc).

        `record` is a dict with ``record_type`` in `RECORD_TYPES` (default ``event``), or an
        object with ``to_dict()`` (`AnomalyEvent`, `Explanation`).
        """
        if hasattr(record, "to_dict"):
            record = record.to_dict()
        if not isinstance(record, dict):
            raise TypeError(
                f"EventStore.append takes a dict or an object with to_dict(), got {type(record).__name__}"
            )
        record_type = record.get("record_type", "event")
        if record_type not in RECORD_TYPES:
            raise ValueError(f"record_type must be one of {RECORD_TYPES}, got {record_type!r}")
        body = json.dumps(_json_safe(record), allow_nan=False, sort_keys=False)
        event_id = record.get("event_id")
        row = (record_type, None if event_id is None else str(event_id), time.time(), body)
        with self._lock:
            self._write_backlog()  # held records go first, in order
            if self._backlog:
                self._hold(row)
                return None
            try:
                return self._insert(row)
            except sqlite3.OperationalError as exc:
                self._counts["write_failures"] += 1
                log.warning("%s: cannot write a record (%s); holding records in memory until it can",
                            self.path, exc)
                self._hold(row)
                return None

    def _insert(self, row: tuple) -> int:  # (with the lock held)
        try:
            cursor = self._db.execute(
                "INSERT INTO records (record_type, event_id, written, body) VALUES (?, ?, ?, ?)", row)
        except sqlite3.OperationalError:
            raise  # the disk refused it: held by the caller
        except sqlite3.Error as exc:
            raise EventStoreError(f"{self.path}: cannot write a record ({exc})") from exc
        self._last_seq = int(cursor.lastrowid)
        return self._last_seq

    def _hold(self, row: tuple) -> None:  # (with the lock held)
        self._backlog.append(row)
        self._counts["held"] += 1
        if len(self._backlog) > self.backlog_limit:
            self._backlog.popleft()
            self._counts["dropped"] += 1

    def _write_backlog(self) -> None:  # (with the lock held)
        while self._backlog:
            try:
                self._insert(self._backlog[0])
            except sqlite3.OperationalError:
                self._counts["write_failures"] += 1
                return
            self._backlog.popleft()
            self._counts["written_late"] += 1
            if not self._backlog:
                log.warning("%s: writing again; every held record is stored", self.path)

    def retry(self) -> int:
        """Try to write the held records now (a node calls this periodically, so a backlog is
        written without waiting for the next record); returns how many are still held."""
        with self._lock:
            self._write_backlog()
            return len(self._backlog)

    def counts(self) -> dict[str, int]:
        """``backlog`` (records held in memory now), ``held`` (records that had to wait),
        ``written_late`` (of those, written since), ``dropped`` (held beyond `backlog_limit`:
        lost), ``write_failures`` (writes the disk refused)."""
        with self._lock:
            return {"backlog": len(self._backlog),
                    **{k: self._counts[k] for k in ("held", "written_late", "dropped", "write_failures")}}

    def open_events(self) -> list[dict]:
        """The last stored record of every event that has no ``end`` record, in the order written. Only
        each event's last record is read (by the event index), not the whole store: a node asks
        at every start."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM records WHERE seq IN (SELECT MAX(seq) FROM records"
                " WHERE record_type = 'event' AND event_id IS NOT NULL GROUP BY event_id) ORDER BY seq"
            ).fetchall()
        return [r for r in (json.loads(body) for (body,) in rows) if r.get("kind") != "end"]

    def _select(self, record_type: str, event_id: str | None) -> list[dict]:
        query = "SELECT body FROM records WHERE record_type = ?"
        args: tuple = (record_type,)
        if event_id is not None:
            query += " AND event_id = ?"
            args += (event_id,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY seq", args).fetchall()
        return [json.loads(body) for (body,) in rows]

    def events(self, event_id: str | None = None) -> list[dict]:
        """Event records in the order written (only those of `event_id` when given)."""
        return self._select("event", event_id)

    def explanations(self, event_id: str | None = None) -> list[dict]:
        """Explanation records in the order written (only those of `event_id` when given)."""
        return self._select("explanation", event_id)

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` for a sound database."""
        with self._lock:
            return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        """Write what is held if the disk takes it now (counted as dropped if not), and close."""
        with self._lock:
            self._write_backlog()
            if self._backlog:
                log.error("%s: %d held record(s) could not be written before closing", self.path, len(self._backlog))
                self._counts["dropped"] += len(self._backlog)
                self._backlog.clear()
            self._db.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RecordStore(Protocol):
    """EventStore, or anything else that durably appends a record before returning."""

    def append(self, record: Any) -> Any: ...


class RecordStores:
    """Appends each record to every store in turn, one record at a time: the coarse stage's
    events and the fine stage's explanations come from different threads."""

    def __init__(self, stores: list[RecordStore] | None = None) -> None:
        self.stores = list(stores or [])
        self._lock = threading.Lock()

    def append(self, record: Any) -> None:
        with self._lock:
            for store in self.stores:
                store.append(record)


def crash_ends(store: EventStore, reason: str = "crash") -> list[AnomalyEvent]:
    """The ends of the events a killed process left open in `store` (`open_events`), stored
    there and returned for announcing: each ends where its last stored record was (the last
    stamp and frame known), with `reason`. A restarted coarse node calls this before it takes
    frames, so no start stays without an end."""
    ends = []
    for last in store.open_events():
        end = replace(AnomalyEvent.from_dict(last), kind="end", reason=reason,
                      end_stamp=last["stamp"], end_frame=int(last["frame"]) + 1)
        store.append(end)
        ends.append(end)
    return ends
