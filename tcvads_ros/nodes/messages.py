# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Message logic of the nodes, as plain functions (no ROS import): tested without rclpy.

The nodes only call these with their message classes (`MessageTypes`) and publish what comes
back, e.g. ``anomaly_message(TYPES, event)``. Field values are plain Python (and a NumPy array for
`uint8[]` data, which `ros_bytes` turns into what rclpy wants), so the same functions build
rclpy messages on a robot and `rosbags` messages in the tests.

Topic formats (relative to the nodes' namespace):

- ``anomaly`` (tcvads_msgs/AnomalyEvent): one typed message per event transition, with the
  header of the camera frame that caused it; its fields are `runtime.event_schema.FIELDS`, so
  `ros2 topic echo anomaly --field score`, message_filters, rosbag2 and Foxglove read them.
- ``anomaly/json`` (std_msgs/String): the same transition as the JSON document of
  `event_schema` (schema ``tcvads.anomaly/2``), which is also what the event store keeps and
  `tcvads detect` writes as JSON lines: for scripts (`--field data | jq`).
- ``anomaly/category`` (vision_msgs/Classification): the fine stage's class scores, best first,
  with the header of the frame that announced the event's start, so time synchronisers can pair
  it with the camera.
- ``anomaly/explanation`` (tcvads_msgs/AnomalyExplanation): the explanation, typed, with its
  readable text (headline first) in `text`; ``anomaly/explanation/json`` (std_msgs/String): the
  same document as JSON (versioned schema).
- ``anomaly/heatmap`` (sensor_msgs/Image, rgb8): the coarse stage's CAM over the frame.
- ``/diagnostics`` (diagnostic_msgs/DiagnosticArray): rates, latency, drops, rejections, backend,
  and the sound's counts where a camera listens.

Sound in (coarse_node's ``audio_topic``): audio_common_msgs/AudioDataStamped chunks of raw PCM, read
with the AudioInfo on ``audio_info`` beside the topic (`audio_info_topic`, `audio_format`), become
the runtime's `AudioChunk`s stamped by their header (`audio_chunk`); camera_player builds the same
messages from a file's sound (`pcm_s16le`, `audio_info_fields`).
"""

from __future__ import annotations

import array
import json
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tcvads_ros.runtime import event_schema
from tcvads_ros.runtime.audio_convert import (
    FORMATS,
    MAX_CHANNELS,
    PCM_CODINGS,
    AudioChunk,
    AudioConversionError,
    check_rate,
    pcm_to_float,
)
from tcvads_ros.runtime.event_schema import header_fields
from tcvads_ros.runtime.events import AnomalyEvent
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.image_convert import ImageConversionError, header_stamp, message_to_frame

# diagnostic_msgs/DiagnosticStatus level names; the node maps them onto the message's constants
# (bytes in rclpy, int in rosbags) with getattr(DiagnosticStatus, level).
LEVELS = ("OK", "WARN", "ERROR", "STALE")


def _plain(value: Any, digits: int = 6) -> Any:
    """JSON-ready value: floats rounded to microseconds / 1e-6 (stamps stay exact enough to
    match frames), NaN/inf as null, NumPy scalars unwrapped."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, digits) for v in value]
    return value


def to_json(document: Mapping[str, Any]) -> str:
    """One-line JSON in the given key order: readable in `ros2 topic echo`, parseable by jq."""
    return json.dumps(_plain(document), separators=(", ", ": "), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True)
class MessageTypes:
    """The message classes the typed messages are built of: rclpy's in the nodes, rosbags' in
    the tests (`float_array` makes a float32[] field's value: array('f') for rclpy)."""

    header: type
    time: type
    anomaly_event: type
    anomaly_explanation: type
    hypothesis: type
    float_array: Callable[[list[float]], Any] = lambda values: array.array("f", values)


def anomaly_json_fields(event: AnomalyEvent) -> dict[str, str]:
    """std_msgs/String fields for ``anomaly/json``: the event's JSON document (`AnomalyEvent.to_dict`,
    the record the event store keeps and `tcvads detect` writes, with the header of the frame that
    caused it) as one line. Its first keys say what happened (kind, score, stamp, event id):
    `ros2 topic echo` cuts strings at 128 characters unless given `--full-length`."""
    return {"data": to_json(event.to_dict())}


def anomaly_message(types: MessageTypes, event: AnomalyEvent) -> Any:
    """The tcvads_msgs/AnomalyEvent of an event transition: `event_schema.message_fields`, with
    the header of the frame that caused it (an empty one where none did: a crash end)."""
    fields = event_schema.message_fields(event)
    header = event.source_header
    exact = header is not None and event_schema.time_to_seconds(header.stamp) == event.stamp
    for name, value in fields.items():
        if not event_schema.BY_NAME[name].is_time:
            continue
        if exact and getattr(event, name) == event.stamp:
            # the frame's own stamp, to the nanosecond (float seconds keep about 0.2 µs of it)
            value = {"sec": int(header.stamp.sec), "nanosec": int(header.stamp.nanosec)}
        fields[name] = types.time(**value)
    if header is None:
        header = types.header(stamp=types.time(sec=0, nanosec=0), frame_id="")
    return types.anomaly_event(header=header, **fields)


def event_from_message(msg: Any) -> tuple[AnomalyEvent, dict[str, Any]]:
    """Read a tcvads_msgs/AnomalyEvent back: (the event, its header as plain data, as
    `header_fields` gives it; a zero stamp is none). Raises ValueError naming what is wrong (an
    unknown kind, an empty event id), so a subscriber can count and log a message it cannot use."""
    event = AnomalyEvent(**event_schema.fields_from_message(msg))
    header = header_fields(msg.header)
    if header["stamp"] == {"sec": 0, "nanosec": 0}:
        header["stamp"] = None
    return event, header


def header_from_fields(header_type: Any, data: Mapping[str, Any] | None) -> Any:
    """A std_msgs/Header of `header_type` from `header_fields`' plain data (an empty one for None)."""
    data = data or {}
    header = header_type(frame_id=str(data.get("frame_id", "")))
    if data.get("stamp"):
        header.stamp.sec = int(data["stamp"]["sec"])
        header.stamp.nanosec = int(data["stamp"]["nanosec"])
    return header


def stamp_seconds(header: Mapping[str, Any], default: float) -> float:
    """Seconds of a header dict from `header_fields` (`default` when it has no stamp)."""
    stamp = header.get("stamp")
    if not stamp:
        return default
    return int(stamp["sec"]) + int(stamp["nanosec"]) * 1e-9


def cdr_header_stamp(raw: bytes) -> float | None:
    """Seconds of the header stamp of a serialized sensor_msgs/Image or CompressedImage (both
    begin with std_msgs/Header, whose first field is builtin_interfaces/Time): CDR's 4-byte
    encapsulation header (byte 1: 1 = little endian), then int32 sec and uint32 nanosec. None
    when the buffer is too short to hold them. The camera callback reads only this, so frames
    the model skips are never deserialized."""
    if len(raw) < 12:
        return None
    order = "<" if raw[1] & 1 else ">"
    sec, nanosec = struct.unpack_from(order + "iI", raw, 4)
    return sec + nanosec * 1e-9


def explanation_message(types: MessageTypes, explanation: Any, header: Any, evidence_clip_path: str = "") -> Any:
    """The tcvads_msgs/AnomalyExplanation of an `Explanation`, with `header` (that of the frame
    that announced the event's start; an empty one for None) and the evidence clip's path (empty:
    none was written). `fine_anomaly_score` and `verdict` are read where the explanation has them
    (NaN and "" where it does not)."""
    if header is None:
        header = types.header(stamp=types.time(sec=0, nanosec=0), frame_id="")
    fine_score = getattr(explanation, "fine_anomaly_score", None)
    return types.anomaly_explanation(
        header=header,
        event_id=explanation.event_id,
        category=explanation.category,
        probability=float(explanation.probability),
        class_scores=[types.hypothesis(class_id=name, score=score)
                      for name, score in classification_results(explanation.class_scores)],
        captions=[c.text for c in explanation.captions],
        caption_similarities=types.float_array([float(c.similarity) for c in explanation.captions]),
        start_stamp=types.time(**event_schema.seconds_to_time(explanation.start_stamp)),
        end_stamp=types.time(**event_schema.seconds_to_time(explanation.end_stamp)),
        start_frame=int(explanation.start_frame),
        end_frame=int(explanation.end_frame),
        text=explanation.to_text(),
        heatmap_path=explanation.heatmap_path or "",
        evidence_clip_path=evidence_clip_path,
        fine_anomaly_score=math.nan if fine_score is None else float(fine_score),
        verdict=str(getattr(explanation, "verdict", "") or ""),
    )


def explanation_json_fields(explanation: Any) -> dict[str, str]:
    """std_msgs/String fields of ``anomaly/explanation/json``: the explanation's JSON document
    (`to_json()`, carrying `schema_version`), for programs."""
    return {"data": explanation.to_json()}


def classification_results(class_scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """(class_id, score) pairs, best first: the vision_msgs/ObjectHypothesis list of a category.

    Every class is listed (the set is small), so a subscriber sees the runner-up too. Ties keep
    the bundle's class order. NaN scores sort last.
    """
    def key(item: tuple[int, tuple[str, float]]) -> tuple[float, int]:
        index, (_, score) = item
        return (-score if math.isfinite(score) else math.inf, index)

    pairs = [(str(name), float(score)) for name, score in class_scores.items()]
    return [pair for _, pair in sorted(enumerate(pairs), key=key)]


def classification_fields(header: Any, class_scores: Mapping[str, float]) -> dict[str, Any]:
    """vision_msgs/Classification fields; `results` holds ObjectHypothesis field dicts."""
    return {
        "header": header,
        "results": [
            {"class_id": name, "score": score} for name, score in classification_results(class_scores)
        ],
    }


def classification_message(classification_type: Any, hypothesis_type: Any, header: Any, class_scores: Mapping[str, float]) -> Any:
    """A vision_msgs/Classification built from `classification_fields` with the given classes."""
    fields = classification_fields(header, class_scores)
    results = [hypothesis_type(**r) for r in fields["results"]]
    return classification_type(header=header, results=results)


def image_fields(header: Any, rgb: np.ndarray) -> dict[str, Any]:
    """sensor_msgs/Image fields of an RGB uint8 (H, W, 3) array (rgb8, no row padding)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB array (H, W, 3), got shape {rgb.shape}")
    height, width = rgb.shape[:2]
    return {
        "header": header,
        "height": int(height),
        "width": int(width),
        "encoding": "rgb8",
        "is_bigendian": 0,
        "step": int(width * 3),
        "data": rgb.reshape(-1),
    }


def ros_bytes(data: np.ndarray) -> array.array:
    """A uint8 array as the `array('B')` rclpy stores `uint8[]` fields in (no per-byte checks)."""
    return array.array("B", np.ascontiguousarray(data, dtype=np.uint8).tobytes())


def frame_from_message(msg: Any, index: int, bridge: Any = None) -> Frame:
    """A `Frame` from a sensor_msgs/Image or CompressedImage message.

    With `bridge` (a cv_bridge.CvBridge) raw images go through ``imgmsg_to_cv2(msg,
    desired_encoding='rgb8')``; the project's NumPy conversion is used otherwise, and also when
    cv_bridge refuses a message, so that the refusal carries one of the conversion's stable
    reasons. Raises `ImageConversionError`; callers count it by its reason (`StreamStats.reject`).
    """
    if bridge is not None and hasattr(msg, "encoding"):
        try:
            rgb = np.ascontiguousarray(bridge.imgmsg_to_cv2(msg, desired_encoding="rgb8"))
        except Exception:  # noqa: BLE001 - cv_bridge raises several types; the fallback names the reason
            rgb = None
        if rgb is not None and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3:
            return Frame(rgb=rgb, stamp=header_stamp(msg.header), index=index, header=msg.header)
    return message_to_frame(msg, index)


# -- sound (audio_common_msgs) ------------------------------------------------------------------
# audio_capture (audio_common) publishes, in its namespace, AudioDataStamped on ``audio_stamped``
# and AudioInfo on ``audio_info`` (transient-local, depth 1, again every 5 s).
AUDIO_INFO = "audio_info"
# Why a chunk was refused before it reached the pipeline, besides `audio_convert.REASONS`: no
# AudioInfo has come yet (its rate and format are unknown), or the message had no usable stamp.
NO_INFO, BAD_MESSAGE = "no_info", "bad_message"
# What camera_player publishes: 16-bit little-endian PCM, interleaved (audio_capture's default).
PLAYER_FORMAT = "S16LE"


def audio_info_topic(audio_topic: str) -> str:
    """The AudioInfo topic of an AudioDataStamped topic: ``audio_info`` beside it, as audio_capture
    lays them out (``/audio/audio_stamped`` -> ``/audio/audio_info``; ``/mic`` -> ``/audio_info``)."""
    head, sep, _ = audio_topic.rstrip("/").rpartition("/")
    return f"{head}{sep}{AUDIO_INFO}"


@dataclass(frozen=True)
class AudioFormat:
    """What an AudioInfo says about the chunks of its topic."""

    rate: int
    channels: int
    sample_format: str
    coding_format: str

    def describe(self) -> str:
        return f"{self.rate} Hz, {self.channels} channel(s), {self.sample_format}"


def audio_format(info: Any) -> AudioFormat:
    """The `AudioFormat` of an audio_common_msgs/AudioInfo; `AudioConversionError` (its reason one
    of `audio_convert.REASONS`) where its chunks could not be read: every chunk is then refused
    with that reason until a readable AudioInfo comes."""
    rate = check_rate(int(info.sample_rate))
    channels = int(info.channels)
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioConversionError("bad_channels", f"AudioInfo says {channels} channels (1 to {MAX_CHANNELS} are read)")
    sample_format = str(info.sample_format).strip().upper()
    coding = str(info.coding_format).strip().lower()
    if coding not in PCM_CODINGS:
        raise AudioConversionError("compressed_coding", f"AudioInfo says coding '{info.coding_format}', not raw PCM "
                                   "(audio_capture: pass format:=wave)")
    if sample_format not in FORMATS:
        raise AudioConversionError("unsupported_format", f"AudioInfo says sample format '{info.sample_format}' "
                                   f"(read: {', '.join(FORMATS)})")
    return AudioFormat(rate, channels, sample_format, coding)


def audio_chunk(msg: Any, fmt: AudioFormat | None) -> AudioChunk:
    """The `AudioChunk` of an audio_common_msgs/AudioDataStamped read with its topic's `fmt`,
    stamped by its header (the time of its first sample, on the camera's clock). Raises
    `AudioConversionError` with the reason to count it by: `NO_INFO` while no AudioInfo came,
    `BAD_MESSAGE` without a stamp, else `audio_convert`'s."""
    if fmt is None:
        raise AudioConversionError(NO_INFO, "no AudioInfo yet: the chunk's rate and format are unknown")
    try:
        stamp = header_stamp(msg.header)
    except ImageConversionError as error:
        raise AudioConversionError(BAD_MESSAGE, f"audio chunk: {error}") from error
    samples = pcm_to_float(bytes(msg.audio.data), fmt.sample_format, fmt.channels, fmt.coding_format)
    return AudioChunk(samples=samples, rate=fmt.rate, stamp=stamp)


def pcm_s16le(samples: np.ndarray) -> bytes:
    """(frames, channels) float samples in [-1, 1] as interleaved S16LE bytes (what
    `pcm_to_float` reads back: full scale 2**15, clipped)."""
    values = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 2.0 ** 15), -(2 ** 15), 2 ** 15 - 1)
    return values.astype("<i2").tobytes()


def audio_info_fields(rate: int, channels: int) -> dict[str, Any]:
    """audio_common_msgs/AudioInfo fields of the raw S16LE sound camera_player publishes."""
    return {"channels": int(channels), "sample_rate": int(rate), "sample_format": PLAYER_FORMAT,
            "bitrate": int(rate) * int(channels) * 16, "coding_format": "wave"}


@dataclass
class DiagnosticReport:
    """One diagnostic_msgs/DiagnosticStatus, as plain data."""

    name: str
    level: str
    message: str
    hardware_id: str = ""
    values: dict[str, str] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        """DiagnosticStatus fields; `values` holds KeyValue field dicts, `level` a name in LEVELS."""
        if self.level not in LEVELS:
            raise ValueError(f"diagnostic level must be one of {LEVELS}, got {self.level!r}")
        return {
            "level": self.level,
            "name": self.name,
            "message": self.message,
            "hardware_id": self.hardware_id,
            "values": [{"key": k, "value": v} for k, v in self.values.items()],
        }


def diagnostic_status(status_type: Any, key_value_type: Any, report: DiagnosticReport) -> Any:
    """A diagnostic_msgs/DiagnosticStatus; the level is the type's own constant (bytes in rclpy)."""
    fields = report.fields()
    fields["level"] = getattr(status_type, fields["level"])
    fields["values"] = [key_value_type(**kv) for kv in fields["values"]]
    return status_type(**fields)


# Frames lost in transport above this share of what the camera sent make the status WARN.
LOSS_WARN = 0.01


def clock_notes(provisional: bool, rate_change: tuple[float, float] | None) -> list[str]:
    """What the frame clock (`runtime.sampling.FrameClock`) adds to the status message: its
    estimate of the camera's rate is still provisional, or the rate changed (from, to fps)."""
    notes = ["frame rate estimate provisional"] if provisional else []
    if rate_change is not None:
        notes.append(f"frame rate changed from {rate_change[0]:.1f} to {rate_change[1]:.1f} fps")
    return notes


# What a managed node that is not active says in /diagnostics (lifecycle state -> message).
PAUSED = {"inactive": "paused (inactive): not taking camera frames",
          "unconfigured": "unconfigured: no model loaded, not taking camera frames",
          "finalized": "shut down"}


def diagnostic_report(
    name: str, backend: str, window: Mapping[str, Any], totals: Mapping[str, Any], notes: Sequence[str] = ()
) -> DiagnosticReport:
    """The node's status from one measurement window of `StreamStats` and its running totals;
    `notes` (`clock_notes`) follow the message, and leave the level alone.

    - OK with "paused" / "unconfigured": a managed node that is not active takes no frames on
      purpose (``lifecycle_state`` in `totals`: inactive, unconfigured);
    - ERROR: the settings cannot work on this stream (``config_problem`` in `totals`: a
      gap_timeout_s shorter than its snippets allow), or
      the camera's publisher is matched but no frame came for a while, even through a
      new subscription (``camera_stuck_s`` in `totals`: `CameraWatchdog`);
    - STALE: no frame arrived in the window (the camera stopped);
    - ERROR: the input is too sparse for the model: whole snippets got no frame while the camera
      was running (frames lost in transport faster than one per snippet arrives);
    - WARN: more than `LOSS_WARN` of the camera's frames were lost in transport, the event store
      holds records in memory (its disk refuses writes), the fine stage failed to explain a clip
      or to write a heat map or evidence clip (``fine_errors``, ``heatmap_failures``,
      ``evidence_clip_failures`` in the window), or frames were rejected (could not be
      converted) or dropped (the model was slower than the input), or the sound of a camera
      that listens is not all there (`audio_problem`);
    - OK otherwise. Every figure is also listed as a key/value pair.
    """
    lost, received = window.get("lost", 0), window["frames_in"]
    sent = lost + received
    state = totals.get("lifecycle_state", "active")
    if state != "active":
        level, message = "OK", PAUSED.get(state, state)
    elif "config_problem" in totals:
        level, message = "ERROR", str(totals["config_problem"])
    elif "camera_stuck_s" in totals:
        level, message = "ERROR", (f"no camera frame for {float(totals['camera_stuck_s']):.0f} s although its "
                                   "publisher is matched; a new subscription did not help")
    elif received == 0:
        level, message = "STALE", "no camera frames in the last window"
    elif window.get("snippets_missed", 0) and not window.get("stalls", 0):
        level, message = "ERROR", (f"input too sparse for the model: {window['snippets_missed']} snippet(s) got "
                                   f"no frame; {lost} of {sent} camera frames lost in transport")
    elif lost > LOSS_WARN * sent:
        level, message = "WARN", f"{lost} of {sent} camera frames lost in transport"
    elif int(totals.get("store_backlog", 0)):
        level, message = "WARN", (f"{totals['store_backlog']} record(s) held in memory: the event store "
                                  "cannot write (disk full?)")
    elif failed := sum(int(window.get(k, 0)) for k in ("fine_errors", "heatmap_failures", "evidence_clip_failures")):
        level, message = "WARN", f"{failed} fine-stage failure(s) (explanation, heat map or evidence clip): see the log"
    elif window["rejected"]:
        level, message = "WARN", f"{window['rejected']} frame(s) could not be converted"
    elif window["dropped"]:
        level, message = "WARN", f"{window['dropped']} frame(s) dropped: processing slower than input"
    elif problem := audio_problem(window, totals):
        level, message = "WARN", problem
    else:
        level, message = "OK", "running"
    message = "; ".join([message, *notes])
    values = {"backend": backend}
    for key, value in {**window, **totals}.items():
        values[key] = _format(value)
    return DiagnosticReport(name=name, level=level, message=message, hardware_id=backend, values=values)


def audio_problem(window: Mapping[str, Any], totals: Mapping[str, Any]) -> str | None:
    """What is wrong with the sound in this window of a camera that listens (``audio_topic`` in
    `totals`; ``audio_info`` what its AudioInfo said, or why it is missing), or None: no chunk
    came, chunks were refused, lost in transport or came too late for their snippet, or
    snippets were scored without sound (vision only)."""
    topic = totals.get("audio_topic")
    if not topic:
        return None
    chunks, refused = int(window.get("audio_chunks", 0)), int(window.get("audio_chunks_refused", 0))
    if chunks <= refused:  # none came, or none could be used (``audio_chunks`` counts the refused too)
        why = f"all {refused} audio chunk(s) from {topic} refused" if refused else f"no sound from {topic}"
        return f"{why} in the last window ({totals.get('audio_info', '')}): scoring from vision only"
    parts = [f"{count} {what}" for what, count in (
        ("lost", int(window.get("audio_chunks_lost", 0))), ("late", int(window.get("audio_chunks_late", 0))),
        ("refused", refused)) if count]
    missing = int(window.get("audio_snippets_missing", 0))
    if not parts and not missing:
        return None
    said = f"audio chunks from {topic}: {', '.join(parts)}" if parts else f"sound from {topic}"
    return said + (f"; {missing} snippet(s) scored without sound" if missing else "")


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if math.isfinite(value) else "nan"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    return str(value)
