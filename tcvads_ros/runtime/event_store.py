"""Durable store of events and explanations: SQLite in WAL mode, each append committed and synced.

`EventStore.append(record)` returns only after the record is on disk (``journal_mode=WAL`` with
``synchronous=FULL`` fsyncs the write-ahead log at every commit), so the pipeline writes an event
here *before* it announces it: a process killed at any moment loses nothing it announced.
SQLite replays or discards the log when the file is next opened, so the store always opens
cleanly after a crash. Records are JSON documents; events carry ``record_type: event``,
explanations ``record_type: explanation`` (see `AnomalyEvent.to_dict`, `Explanation.to_dict`).
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from tcvads_ros.errors import TcvadsError

RECORD_TYPES = ("event", "explanation")

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

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
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

    def append(self, record: Any) -> int:
        """Write one record durably; returns its sequence number once it is on disk.

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
        with self._lock:
            try:
                cursor = self._db.execute(
                    "INSERT INTO records (record_type, event_id, written, body) VALUES (?, ?, ?, ?)",
                    (record_type, None if event_id is None else str(event_id), time.time(), body),
                )
            except sqlite3.Error as exc:
                raise EventStoreError(f"{self.path}: cannot write a record ({exc})") from exc
        return int(cursor.lastrowid)

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
        with self._lock:
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
