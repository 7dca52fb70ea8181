# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The event record's one table of fields: the JSON document, the typed message and their docs.

An event transition (`events.AnomalyEvent`) leaves the detector in three forms that must never
drift apart: the JSON document (schema `ANOMALY_SCHEMA`) that the event store keeps, that
`tcvads detect --events` writes as JSON lines and that coarse_node publishes on ``anomaly/json``
for scripts; the typed ``tcvads_msgs/AnomalyEvent`` on ``anomaly``; and the field list in
docs/ros2.md. All three come from `FIELDS`: `document` builds the JSON, `message_fields` the
message (nodes/messages.py constructs it), `msg_definition` is the text of
interfaces/tcvads_msgs/msg/AnomalyEvent.msg and `markdown` the docs' table (tests hold the file
and the page to them: ``python -m tcvads_ros.runtime.event_schema --msg | --markdown``).

Schema history: ``tcvads.anomaly/1`` (std_msgs/String on ``/anomaly``) had every key of version
2 but ``stream``, ``verdict`` and ``fine_anomaly_score``; `read_document` reads both, and the event stores written with either (whose
records had no ``schema`` key before version 2).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ANOMALY_SCHEMA = "tcvads.anomaly/2"
# What `read_document` accepts: this version and the one before (same keys, no ``stream``).
READABLE_SCHEMAS = ("tcvads.anomaly/1", ANOMALY_SCHEMA)
KINDS = ("start", "update", "end")
REASONS = ("score", "gap", "clock_reset", "shutdown", "paused", "crash")
# The message's value for a frame number that is not known yet (end_frame before the end).
NO_FRAME = -1


@dataclass(frozen=True)
class EventField:
    """One field of the event record.

    Args:
        name: the JSON key, the message field and the `AnomalyEvent` attribute.
        msg_type: its type in the .msg file; ``builtin_interfaces/Time`` fields are float
            seconds in JSON (null where unset) and a Time in the message (zero where unset).
        description: what it means, for the .msg comment and the docs.
        optional: unset (JSON null) until the event ends; in the message zero or `NO_FRAME`.
        nullable: a float that may be unset (JSON null): NaN in the message, read back as None.
    """

    name: str
    msg_type: str
    description: str
    optional: bool = False
    nullable: bool = False

    @property
    def is_time(self) -> bool:
        return self.msg_type == "builtin_interfaces/Time"


# In JSON order: what happened first (kind, score, time, event id), because `ros2 topic echo`
# cuts a string at 128 characters unless given --full-length.
FIELDS = (
    EventField("kind", "string", "start, update or end (the KIND_ constants)"),
    EventField("score", "float32", "the coarse stage's anomaly probability at `stamp` (NaN: not finite)"),
    EventField("stamp", "builtin_interfaces/Time", "the camera time of this transition (the frame that caused it)"),
    EventField("event_id", "string", "one id (32 hex digits) from the start through the updates to the end"),
    EventField("peak_score", "float32", "the highest score of the event so far"),
    EventField("start_stamp", "builtin_interfaces/Time", "the camera time of the event's first frame"),
    EventField("end_stamp", "builtin_interfaces/Time", "on end: the camera time of its last frame", optional=True),
    EventField("start_frame", "int64", "the event's first frame number"),
    EventField("frame", "int64", "the frame number of this transition"),
    EventField("end_frame", "int64", "on end: one past the event's last frame (half-open)", optional=True),
    EventField("peak_frame", "int64", "the frame number of the peak score"),
    EventField("peak_stamp", "builtin_interfaces/Time", "the camera time of the peak score"),
    EventField("reason", "string", "on end: why it ended (the REASON_ constants); empty before"),
    EventField("stream", "string", "the camera topic or source the event is from"),
    EventField("verdict", "string", "with confirm_with_fine: the fine stage's second opinion on the event (the "
               "VERDICT_ constants); empty where the announcement did not wait for one or none came"),
    EventField("fine_anomaly_score", "float32", "with the verdict: the fine stage's anomaly score, 1 - p(Normal) "
               "(NaN: none)", nullable=True),
)
VERDICTS = ("confirmed", "disputed")
BY_NAME = {f.name: f for f in FIELDS}

# The message's header: that of the camera frame that caused the transition; in JSON a
# {"stamp": {"sec", "nanosec"} | null, "frame_id"} object (null stamp: no frame caused it, as
# on a crash end).
HEADER_DESCRIPTION = "the header of the camera frame that caused this transition (zero stamp: none did)"


def header_fields(header: Any) -> dict[str, Any]:
    """A std_msgs/Header (rclpy's, rosbags', or anything with stamp.sec/.nanosec and frame_id) as
    JSON data; None (no frame caused the transition) as a null stamp."""
    if header is None:
        return {"stamp": None, "frame_id": ""}
    stamp = header.stamp
    return {"stamp": {"sec": int(stamp.sec), "nanosec": int(stamp.nanosec)}, "frame_id": str(header.frame_id)}


def document(event: Any) -> dict[str, Any]:
    """The JSON document of an `AnomalyEvent` (plain Python values; NaN left to the writer):
    the fields in table order, its source header, ``record_type: event`` and the schema."""
    body = {f.name: getattr(event, f.name) for f in FIELDS}
    return {**body, "header": header_fields(event.source_header), "record_type": "event",
            "schema": ANOMALY_SCHEMA}


def read_document(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The event fields and the header of a document of a `READABLE_SCHEMAS` version, or of an
    event store record written before version 2 (no ``schema`` key): (fields, header data).

    Raises ValueError naming what is wrong (another schema, a missing field, an unknown kind).
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"an event document must be a JSON object, got {type(data).__name__}")
    schema = data.get("schema", READABLE_SCHEMAS[0] if data.get("record_type") == "event" else None)
    if schema not in READABLE_SCHEMAS:
        raise ValueError(f"not a {ANOMALY_SCHEMA} document (schema {schema!r}; this tcvads_ros reads "
                         f"{', '.join(READABLE_SCHEMAS)})")
    missing = [f.name for f in FIELDS if f.name not in data and not f.optional and f.name not in _ADDED_IN_2]
    if missing:
        raise ValueError(f"event document lacks {', '.join(missing)}")
    fields = {f.name: data.get(f.name, _ADDED_IN_2.get(f.name)) for f in FIELDS}
    if fields["kind"] not in KINDS:
        raise ValueError(f"event document has unknown kind {fields['kind']!r} (expected one of {', '.join(KINDS)})")
    return fields, dict(data.get("header") or {})


# Fields version 2 added, with the value a version 1 record stands for.
_ADDED_IN_2 = {"stream": "", "verdict": "", "fine_anomaly_score": None}


def seconds_to_time(seconds: float | None) -> dict[str, int]:
    """builtin_interfaces/Time fields of float seconds (zero for None or a non-finite value)."""
    if seconds is None or not math.isfinite(seconds):
        return {"sec": 0, "nanosec": 0}
    sec = math.floor(seconds)
    nanosec = round((seconds - sec) * 1e9)
    if nanosec >= 1_000_000_000:
        sec, nanosec = sec + 1, nanosec - 1_000_000_000
    return {"sec": int(sec), "nanosec": int(nanosec)}


def time_to_seconds(stamp: Any) -> float:
    """Float seconds of a builtin_interfaces/Time."""
    return int(stamp.sec) + int(stamp.nanosec) * 1e-9


def message_fields(event: Any) -> dict[str, Any]:
    """The tcvads_msgs/AnomalyEvent fields of an event, header aside: Time fields as
    {sec, nanosec} (the caller makes its Time type of them), unset ones zero or `NO_FRAME`."""
    out: dict[str, Any] = {}
    for f in FIELDS:
        value = getattr(event, f.name)
        if f.is_time:
            out[f.name] = seconds_to_time(value)
        elif f.msg_type == "int64":
            out[f.name] = NO_FRAME if value is None else int(value)
        elif f.msg_type == "float32":
            out[f.name] = float(value) if value is not None else math.nan
        else:
            out[f.name] = str(value)
    return out


def fields_from_message(msg: Any) -> dict[str, Any]:
    """The event fields of a tcvads_msgs/AnomalyEvent (the inverse of `message_fields`): Time
    as float seconds; the end's fields None before the end. Raises ValueError for an unknown kind
    or an empty event id."""
    kind = str(msg.kind)
    if kind not in KINDS:
        raise ValueError(f"AnomalyEvent has unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    if not msg.event_id:
        raise ValueError("AnomalyEvent has an empty event_id")
    out: dict[str, Any] = {}
    for f in FIELDS:
        value = getattr(msg, f.name)
        if f.optional and kind != "end":
            out[f.name] = None
        elif f.is_time:
            out[f.name] = time_to_seconds(value)
        elif f.msg_type == "int64":
            out[f.name] = int(value)
        elif f.msg_type == "float32":
            out[f.name] = None if f.nullable and math.isnan(value) else float(value)
        else:
            out[f.name] = str(value)
    return out


def _constant(prefix: str, value: str) -> str:
    return f'string {prefix}_{value.upper()}="{value}"'


def msg_definition() -> str:
    """The text of interfaces/tcvads_msgs/msg/AnomalyEvent.msg."""
    lines = [
        "# One transition (start, update, end) of an anomaly event of tcvads_ros's coarse stage,",
        "# published on `anomaly`. The same fields, as JSON (schema " + ANOMALY_SCHEMA + "), are on",
        "# `anomaly/json`, in the event store and in `tcvads detect --events`.",
        "# Generated from tcvads_ros/runtime/event_schema.py (python -m tcvads_ros.runtime.event_schema --msg).",
        "",
        *(_constant("KIND", kind) for kind in KINDS),
        *(_constant("REASON", reason) for reason in REASONS),
        *(_constant("VERDICT", verdict) for verdict in VERDICTS),
        "",
        f"# {HEADER_DESCRIPTION}",
        "std_msgs/Header header",
    ]
    for f in FIELDS:
        unset = " (zero before the end)" if f.optional and f.is_time else \
            f" ({NO_FRAME} before the end)" if f.optional else ""
        lines += ["", f"# {f.description}{unset}", f"{f.msg_type} {f.name}"]
    return "\n".join(lines) + "\n"


def markdown() -> str:
    """The docs' table of the record's fields (docs/ros2.md, between its events markers)."""
    rows = ["| field | message type | JSON | meaning |", "|---|---|---|---|",
            f"| `header` | std_msgs/Header | object: `stamp` {{`sec`, `nanosec`}} or null, `frame_id` | {HEADER_DESCRIPTION} |"]
    for f in FIELDS:
        if f.is_time:
            json_form = "seconds" + (", null before the end" if f.optional else "")
        elif f.msg_type == "int64":
            json_form = "integer" + (", null before the end" if f.optional else "")
        elif f.msg_type == "float32":
            json_form = "number (null: not finite)"
        else:
            json_form = "string"
        unset = f" (message: {'zero' if f.is_time else NO_FRAME} before the end)" if f.optional else ""
        rows.append(f"| `{f.name}` | {f.msg_type} | {json_form} | {f.description}{unset} |")
    rows.append(f'| `record_type`, `schema` | (JSON only) | `"event"`, `"{ANOMALY_SCHEMA}"` | what the document is |')
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    form = parser.add_mutually_exclusive_group(required=True)
    form.add_argument("--msg", action="store_true", help="print interfaces/tcvads_msgs/msg/AnomalyEvent.msg")
    form.add_argument("--markdown", action="store_true", help="print the docs' table of fields")
    args = parser.parse_args(argv)
    sys.stdout.write(msg_definition() if args.msg else markdown())


if __name__ == "__main__":
    main()
