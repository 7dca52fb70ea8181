# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Event store: durable, ordered, thread-safe, and nothing announced is lost to SIGKILL."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tcvads_ros.runtime.event_store import EventStore, EventStoreError, crash_ends
from tcvads_ros.runtime.events import EventConfig, EventStateMachine
from tcvads_ros.runtime.explanation import Explanation

REPO = Path(__file__).resolve().parents[2]


def explanation(event_id: str) -> Explanation:
    return Explanation(
        event_id=event_id,
        category="Fighting",
        probability=0.8,
        class_scores={"Normal": 0.2, "Fighting": 0.8},
        captions=[("two people fighting", 0.3)],
        start_stamp=1.0,
        end_stamp=2.0,
        start_frame=10,
        end_frame=20,
        backend="onnxruntime",
        bundle="tiny",
    )


def test_append_and_read_back_in_order(tmp_path):
    machine = EventStateMachine(
        EventConfig(min_duration_s=0.0, update_interval_s=0.0, merge_gap_s=0.0, cooldown_s=0.0)
    )
    events = [
        e for i, s in enumerate([0.9, 0.9, 0.1, 0.9, 0.1]) for e in machine.update(s, i * 0.1, i)
    ]
    with EventStore(tmp_path / "events.db") as store:
        for e in events:
            store.append(e)
        store.append(explanation(events[0].event_id))
        store.append({"record_type": "event", "event_id": "x", "kind": "start", "score": math.nan})
    with EventStore(tmp_path / "events.db") as store:  # reopened: everything is still there
        stored = store.events()
        assert [r["kind"] for r in stored] == ["start", "end", "start", "end", "start"]
        assert stored[0] == json.loads(json.dumps(events[0].to_dict()))
        assert stored[-1]["score"] is None  # NaN is not JSON: stored as null
        assert len(store.events(events[0].event_id)) == 2
        (doc,) = store.explanations()
        assert Explanation.from_dict(doc) == explanation(events[0].event_id)
        assert store.explanations("nope") == []
        assert store.integrity_check() == "ok"


def test_store_runs_in_wal_mode_with_full_sync(tmp_path):
    store = EventStore(tmp_path / "e.db")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


def test_bad_records_are_refused(tmp_path):
    with EventStore(tmp_path / "e.db") as store:
        with pytest.raises(ValueError, match="record_type"):
            store.append({"record_type": "telemetry"})
        with pytest.raises(TypeError):
            store.append(["not", "a", "dict"])
        assert store.events() == []


def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path):
    path = tmp_path / "events.db"
    path.write_bytes(b"this is a text file, not SQLite" * 100)
    with pytest.raises(EventStoreError, match="events.db"):
        EventStore(path)


def test_concurrent_appends_from_two_threads(tmp_path):
    store = EventStore(tmp_path / "e.db")

    def write(tag: str) -> None:
        for i in range(100):
            store.append({"event_id": f"{tag}{i}", "kind": "start"})

    threads = [threading.Thread(target=write, args=(tag,)) for tag in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [r["event_id"] for r in store.events()]
    assert len(ids) == 200 and len(set(ids)) == 200
    assert [i for i in ids if i[0] == "a"] == [f"a{i}" for i in range(100)]  # per-writer order kept
    store.close()


# The writer: appends records in a loop and announces each id on stdout only after append
# returned, exactly as the pipeline announces an event only after it is stored.
WRITER = r"""
import sys, uuid
from tcvads_ros.runtime.event_store import EventStore
store = EventStore(sys.argv[1])
print("ready", flush=True)
payload = "x" * int(sys.argv[2])
while True:
    event_id = uuid.uuid4().hex
    store.append({"record_type": "event", "event_id": event_id, "kind": "start", "pad": payload})
    sys.stdout.write(event_id + "\n")
    sys.stdout.flush()
"""

KILLS = 30


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_announced_event(tmp_path):
    path = tmp_path / "events.db"
    rng = random.Random(1234)
    announced: list[str] = []
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed_mid_stream = 0
    for kill in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(rng.choice([10, 2000, 20000]))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert child.stdout.readline() == b"ready\n", child.stderr.read().decode()
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL
        lines = out.decode().split("\n")
        complete = lines[:-1]  # the last piece has no newline: not (fully) announced
        killed_mid_stream += bool(complete)
        announced += complete
        # Every restart opens cleanly and holds everything announced so far.
        with EventStore(path) as store:
            stored = {r["event_id"] for r in store.events()}
            assert store.integrity_check() == "ok"
        missing = set(announced) - stored
        assert not missing, f"after kill {kill + 1}: {len(missing)} announced events lost"
    assert killed_mid_stream >= KILLS // 2, "the writer was rarely killed while writing"
    assert len(announced) >= KILLS
    # An independent reader agrees: a plain sqlite3 connection sees a sound database.
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM records").fetchone()[0] >= len(announced)
    print(f"{KILLS} SIGKILLs survived, {len(announced)} announced events all stored")


def fill(store: EventStore, pages: int) -> None:
    """Make the database refuse writes beyond `pages` pages, as a full disk does (SQLITE_FULL)."""
    store._db.execute(f"PRAGMA max_page_count={pages}")


def test_a_full_disk_holds_records_in_order_and_writes_them_once_it_can(tmp_path, caplog):
    store = EventStore(tmp_path / "e.db", backlog_limit=50)
    assert store.append({"event_id": "a", "kind": "start"}) == 1
    fill(store, store._db.execute("PRAGMA page_count").fetchone()[0])
    pad = "x" * 4000  # a page or more per record: the next write needs a new page
    held = [store.append({"event_id": "a", "kind": "update", "n": i, "pad": pad}) for i in range(5)]
    assert held == [None] * 5 and store.retry() == 5
    assert store.counts() == {"backlog": 5, "held": 5, "written_late": 0, "dropped": 0,
                              "write_failures": store.counts()["write_failures"]}
    assert store.counts()["write_failures"] >= 5
    assert "cannot write a record (database or disk is full)" in caplog.text
    assert [r["kind"] for r in store.events()] == ["start"]  # nothing half-written
    fill(store, 100_000)  # space again
    assert store.append({"event_id": "a", "kind": "end"}) is not None
    assert [(r["kind"], r.get("n")) for r in store.events()] == [
        ("start", None), *[("update", i) for i in range(5)], ("end", None)]
    assert store.counts()["backlog"] == 0 and store.counts()["written_late"] == 5
    store.close()


def test_retry_writes_the_backlog_without_a_new_record_and_the_limit_drops_the_oldest(tmp_path):
    store = EventStore(tmp_path / "e.db", backlog_limit=3)
    fill(store, store._db.execute("PRAGMA page_count").fetchone()[0])
    for i in range(5):
        store.append({"event_id": f"e{i}", "kind": "start", "pad": "x" * 4000})
    assert store.counts()["backlog"] == 3 and store.counts()["dropped"] == 2
    fill(store, 100_000)
    assert store.retry() == 0
    assert [r["event_id"] for r in store.events()] == ["e2", "e3", "e4"]  # the newest kept, in order
    store.close()


def test_records_still_held_at_close_are_counted_as_dropped(tmp_path, caplog):
    store = EventStore(tmp_path / "e.db")
    fill(store, store._db.execute("PRAGMA page_count").fetchone()[0])
    store.append({"event_id": "e", "kind": "start", "pad": "x" * 4000})
    store.close()
    assert "1 held record(s) could not be written before closing" in caplog.text


def test_a_restart_ends_the_events_a_killed_process_left_open(tmp_path):
    machine = EventStateMachine(EventConfig(min_duration_s=0.0, update_interval_s=0.0, merge_gap_s=0.0,
                                            cooldown_s=0.0))
    with EventStore(tmp_path / "e.db") as store:
        for i, score in enumerate([0.9, 0.1, 0.9, 0.95]):  # one event ended, one left open
            for event in machine.update(score, 10 + i * 0.5, 16 * i):
                store.append(event)
    with EventStore(tmp_path / "e.db") as store:  # the restarted process
        (opened,) = store.open_events()
        (end,) = crash_ends(store)
        assert (end.kind, end.reason, end.event_id) == ("end", "crash", opened["event_id"])
        assert (end.end_stamp, end.end_frame) == (opened["stamp"], opened["frame"] + 1)
        assert end.peak_score == opened["peak_score"] and end.start_stamp == opened["start_stamp"]
        assert store.open_events() == [] and crash_ends(store) == []  # stored: a second restart adds none
        assert [r["kind"] for r in store.events(opened["event_id"])][-1] == "end"


def test_a_streams_name_survives_the_store_and_a_crash_end(tmp_path):
    """Events of a node's named camera carry its name (`stream`), also through a crash end."""
    cfg = EventConfig(min_duration_s=0.0, update_interval_s=0.0, merge_gap_s=0.0, cooldown_s=0.0)
    start = EventStateMachine(cfg).update(0.9, 0.0, 0)[0]
    start.stream = "front"
    with EventStore(tmp_path / "events.db") as store:
        store.append(start)
    with EventStore(tmp_path / "events.db") as store:
        (end,) = crash_ends(store)
    assert (end.stream, end.reason) == ("front", "crash")
