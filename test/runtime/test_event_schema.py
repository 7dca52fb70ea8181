# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The event record's one table of fields (`event_schema.FIELDS`) against everything made from it:
AnomalyEvent.msg, the docs' table, the JSON document, and event stores written before version 2."""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import fields
from pathlib import Path

import pytest

from tcvads_ros.runtime import event_schema
from tcvads_ros.runtime.event_store import EventStore, crash_ends
from tcvads_ros.runtime.events import AnomalyEvent

REPO = Path(__file__).resolve().parents[2]


def test_the_msg_file_is_the_generated_one():
    path = REPO / "interfaces" / "tcvads_msgs" / "msg" / "AnomalyEvent.msg"
    assert path.read_text(encoding="utf-8") == event_schema.msg_definition(), (
        f"{path.relative_to(REPO)} is out of date: python -m tcvads_ros.runtime.event_schema --msg > {path.relative_to(REPO)}"
    )


def test_the_docs_table_is_the_generated_one():
    text = (REPO / "docs" / "ros2.md").read_text(encoding="utf-8")
    table = text.split("<!-- events:begin -->\n", 1)[1].split("<!-- events:end -->", 1)[0]
    assert table.strip() == event_schema.markdown().strip(), (
        "docs/ros2.md event table is out of date: python -m tcvads_ros.runtime.event_schema --markdown"
    )


def test_every_event_attribute_is_a_field_of_the_table():
    attributes = [f.name for f in fields(AnomalyEvent) if f.name != "source_header"]
    assert sorted(attributes) == sorted(event_schema.BY_NAME)


def test_the_document_has_the_fields_in_table_order_then_header_and_schema():
    event = AnomalyEvent("e1", "end", 0.5, 0.75, 1.0, 2.0, 2.0, 0, 20, 21, 10, 1.5, "score", "/camera/image_raw")
    document = event.to_dict()
    assert list(document) == [f.name for f in event_schema.FIELDS] + ["header", "record_type", "schema"]
    assert document["schema"] == event_schema.ANOMALY_SCHEMA and document["stream"] == "/camera/image_raw"
    assert AnomalyEvent.from_dict(json.loads(json.dumps(document))) == event


@pytest.mark.parametrize(("seconds", "expected"), [
    (1796541837.25, {"sec": 1796541837, "nanosec": 250_000_000}),
    (0.9999999999, {"sec": 1, "nanosec": 0}),  # rounding carries into the seconds
    (None, {"sec": 0, "nanosec": 0}),
    (math.nan, {"sec": 0, "nanosec": 0}),
])
def test_seconds_become_a_time(seconds, expected):
    assert event_schema.seconds_to_time(seconds) == expected


def test_an_event_store_written_before_version_2_still_opens_and_its_open_event_ends(tmp_path):
    """Records of the earlier format (no schema, no stream, no header) are read as they were."""
    path = tmp_path / "old.sqlite"
    with EventStore(path):
        pass
    old = {"record_type": "event", "event_id": "a" * 32, "kind": "start", "score": 0.9, "peak_score": 0.9,
           "start_stamp": 10.0, "stamp": 10.5, "end_stamp": None, "start_frame": 160, "frame": 168,
           "end_frame": None, "peak_frame": 160, "peak_stamp": 10.0, "reason": ""}
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO records (record_type, event_id, written, body) VALUES ('event', ?, 0, ?)",
                   (old["event_id"], json.dumps(old)))
    with EventStore(path) as store:
        assert AnomalyEvent.from_dict(store.events()[0]).frame == 168
        (end,) = crash_ends(store)
        assert (end.kind, end.reason, end.end_frame, end.stream) == ("end", "crash", 169, "")
        assert store.events()[-1]["schema"] == event_schema.ANOMALY_SCHEMA  # new records: version 2
        assert store.open_events() == []
