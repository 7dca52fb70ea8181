# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The nodes' message logic, with real ROS 2 Humble message types from `rosbags` (no rclpy).

Every message the nodes publish is built here from the same fields the nodes use, serialised to
CDR and read back, so a field of the wrong name or type fails here, not on the robot.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from tcvads_ros.nodes import messages
from tcvads_ros.runtime.audio_convert import AudioConversionError
from tcvads_ros.runtime.event_schema import ANOMALY_SCHEMA, read_document
from tcvads_ros.runtime.events import AnomalyEvent, EventConfig, EventStateMachine
from tcvads_ros.runtime.explanation import Explanation
from tcvads_ros.runtime.image_convert import ImageConversionError

REPO = Path(__file__).resolve().parents[2]
# vision_msgs is not in rosbags' stores; its Humble definitions (vision_msgs 4.x) are registered
# from the message text, as on a robot; tcvads_msgs from the package's own .msg files.
VISION_MSGS = {
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/Classification": "std_msgs/Header header\nObjectHypothesis[] results\n",
}
TCVADS_MSGS = {f"tcvads_msgs/msg/{path.stem}": path.read_text()
               for path in sorted((REPO / "interfaces" / "tcvads_msgs" / "msg").glob("*.msg"))}


@pytest.fixture(scope="module")
def ts():
    store = get_typestore(Stores.ROS2_HUMBLE)
    types = {}
    for name, text in {**VISION_MSGS, **TCVADS_MSGS}.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store


def types_of(ts) -> messages.MessageTypes:
    """The message classes of `ts` for the typed messages (float32[] as NumPy, as rosbags wants)."""
    return messages.MessageTypes(
        header=ts.types["std_msgs/msg/Header"], time=ts.types["builtin_interfaces/msg/Time"],
        anomaly_event=ts.types["tcvads_msgs/msg/AnomalyEvent"],
        anomaly_explanation=ts.types["tcvads_msgs/msg/AnomalyExplanation"],
        hypothesis=ts.types["vision_msgs/msg/ObjectHypothesis"],
        float_array=lambda values: np.array(values, dtype=np.float32))


def roundtrip(ts, msg):
    return ts.deserialize_cdr(ts.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)


def header(ts, sec=1_700_000_000, nanosec=250_000_000, frame_id="front_camera"):
    Time = ts.types["builtin_interfaces/msg/Time"]
    return ts.types["std_msgs/msg/Header"](stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def image_msg(ts, rgb, encoding="rgb8", hdr=None):
    data = np.ascontiguousarray(rgb).reshape(-1).view(np.uint8)
    height, width = rgb.shape[:2]
    Image = ts.types["sensor_msgs/msg/Image"]
    return Image(
        header=hdr or header(ts), height=height, width=width, encoding=encoding,
        is_bigendian=0, step=data.size // height, data=data,
    )


def run_events(scores, fps=10.0):
    machine = EventStateMachine(EventConfig(min_duration_s=0.2, merge_gap_s=0.2, update_interval_s=0.5))
    out = []
    for i, score in enumerate(scores):
        out += machine.update(score, 100.0 + i / fps, i)
    return out + machine.close()


def with_header(event, hdr):
    event.source_header = hdr
    return event


def test_anomaly_message_roundtrips_through_cdr_and_reads_back_as_the_same_event(ts):
    events = run_events([0.1] * 5 + [0.6 + 0.01 * i for i in range(20)] + [0.1] * 10)  # peaks as it goes
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and "update" in kinds
    Msg = ts.types["tcvads_msgs/msg/AnomalyEvent"]
    same_frame = 0
    for event in events:
        hdr = header(ts, sec=int(event.stamp), nanosec=round(event.stamp % 1 * 1e9))
        msg = roundtrip(ts, messages.anomaly_message(types_of(ts), with_header(event, hdr)))
        assert msg.kind == event.kind and msg.event_id == events[0].event_id
        assert msg.kind == {"start": Msg.KIND_START, "update": Msg.KIND_UPDATE, "end": Msg.KIND_END}[event.kind]
        assert msg.header.frame_id == "front_camera"
        assert msg.stamp == msg.header.stamp  # the frame's own stamp, to the nanosecond
        for name in ("start_stamp", "end_stamp", "peak_stamp"):  # and every other time of that frame too
            if getattr(event, name) == event.stamp:
                assert getattr(msg, name) == msg.stamp, name
                same_frame += 1
        assert msg.score == pytest.approx(event.score, abs=1e-6)
        assert (msg.end_frame == -1) == (event.kind != "end")
        back, head = messages.event_from_message(msg)
        assert head == {"stamp": {"sec": hdr.stamp.sec, "nanosec": hdr.stamp.nanosec}, "frame_id": "front_camera"}
        for name, value in event.to_dict().items():
            if name in ("header", "record_type", "schema"):
                continue
            assert getattr(back, name) == (pytest.approx(value, abs=1e-6) if isinstance(value, float) else value), name
    assert events[-1].reason == Msg.REASON_SCORE and same_frame


def test_anomaly_message_without_a_source_frame_has_an_empty_header_read_back_as_none(ts):
    end = AnomalyEvent("e1", "end", 0.5, 0.75, 1.0, 2.0, 2.0, 0, 20, 21, 10, reason="crash")  # scores exact in float32
    msg = roundtrip(ts, messages.anomaly_message(types_of(ts), end))
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == (0, 0, "")
    back, head = messages.event_from_message(msg)
    assert back == end and head == {"stamp": None, "frame_id": ""}


def test_anomaly_json_is_the_event_document_with_what_happened_first(ts):
    events = run_events([0.1] * 5 + [0.9] * 20 + [0.1] * 10)
    hdr = header(ts)
    String = ts.types["std_msgs/msg/String"]
    for event in events:
        msg = roundtrip(ts, String(**messages.anomaly_json_fields(with_header(event, hdr))))
        doc = json.loads(msg.data)
        assert list(doc)[:4] == ["kind", "score", "stamp", "event_id"]
        assert doc["schema"] == ANOMALY_SCHEMA == "tcvads.anomaly/2"
        assert doc["event_id"] == events[0].event_id
        assert doc["kind"] == event.kind
        assert doc["header"] == {"stamp": {"sec": 1_700_000_000, "nanosec": 250_000_000}, "frame_id": "front_camera"}
        # The event store's record: nothing lost but float rounding.
        record = event.to_dict()
        assert list(doc) == list(record)
        for key, value in record.items():
            if isinstance(value, float):
                assert doc[key] == pytest.approx(value, abs=1e-4)
            else:
                assert doc[key] == value
        assert "\n" not in msg.data
    # What `ros2 topic echo anomaly/json` shows by default (128 characters) still says kind, score and time.
    shown = messages.anomaly_json_fields(events[0])["data"][:128]
    start = events[0]
    for text in ('"kind": "start"', f'"score": {round(start.score, 4)}', f'"stamp": {round(start.stamp, 4)}',
                 f'"event_id": "{start.event_id}"'):
        assert text in shown


def test_anomaly_json_turns_non_finite_numbers_into_null(ts):
    event = AnomalyEvent("e1", "end", math.nan, 0.9, 1.0, 2.0, 2.0, 0, 20, 21, 10)
    doc = json.loads(messages.anomaly_json_fields(event)["data"])
    assert doc["score"] is None and doc["peak_score"] == 0.9
    assert doc["header"] == {"stamp": None, "frame_id": ""}
    assert math.isnan(roundtrip(ts, messages.anomaly_message(types_of(ts), event)).score)  # NaN in the message


def test_classification_lists_every_class_best_first_with_the_source_header(ts):
    scores = {"Normal": 0.05, "Fighting": 0.7, "Shooting": 0.2, "Arson": 0.05}
    hdr = header(ts, frame_id="cam_left")
    msg = messages.classification_message(
        ts.types["vision_msgs/msg/Classification"], ts.types["vision_msgs/msg/ObjectHypothesis"], hdr, scores
    )
    back = roundtrip(ts, msg)
    assert [r.class_id for r in back.results] == ["Fighting", "Shooting", "Normal", "Arson"]
    assert [r.score for r in back.results] == pytest.approx([0.7, 0.2, 0.05, 0.05])
    assert back.header.frame_id == "cam_left" and back.header.stamp.nanosec == 250_000_000


def test_classification_sorts_nan_last():
    pairs = messages.classification_results({"a": math.nan, "b": 0.1, "c": 0.3})
    assert [name for name, _ in pairs] == ["c", "b", "a"]


def an_explanation(**changes):
    return Explanation(**{
        "event_id": "ab" * 16, "category": "Fighting", "probability": 0.8,
        "class_scores": {"Normal": 0.1, "Fighting": 0.8, "Shooting": 0.1},
        "captions": [("two people fighting in a hallway", 0.31), ("a crowd in a hallway", 0.2)],
        "start_stamp": 10.0, "end_stamp": 14.0, "start_frame": 100, "end_frame": 140,
        "backend": "onnxruntime", "bundle": "bundle-v1", **changes,
    })


def test_explanation_is_published_typed_and_as_json(ts):
    explanation = an_explanation(heatmap_path="/evidence/ab_heatmap.png")
    hdr = header(ts, frame_id="cam_left")
    msg = roundtrip(ts, messages.explanation_message(types_of(ts), explanation, hdr, "/evidence/ab_clip.avi"))
    assert msg.header.frame_id == "cam_left" and msg.header.stamp.nanosec == 250_000_000
    assert (msg.event_id, msg.category, msg.probability) == (explanation.event_id, "Fighting", pytest.approx(0.8))
    assert [h.class_id for h in msg.class_scores] == ["Fighting", "Normal", "Shooting"]  # best first
    assert [h.score for h in msg.class_scores] == pytest.approx([0.8, 0.1, 0.1])
    assert msg.captions == ["two people fighting in a hallway", "a crowd in a hallway"]
    assert list(msg.caption_similarities) == pytest.approx([0.31, 0.2])
    assert (msg.start_stamp.sec, msg.end_stamp.sec, msg.start_frame, msg.end_frame) == (10, 14, 100, 140)
    assert msg.text == explanation.to_text() and msg.text.splitlines()[0].startswith("ANOMALY Fighting p=0.80")
    assert (msg.heatmap_path, msg.evidence_clip_path) == ("/evidence/ab_heatmap.png", "/evidence/ab_clip.avi")
    # the fine anomaly score (1 - p(Normal)) always; no verdict where no fine threshold was given
    assert msg.fine_anomaly_score == pytest.approx(explanation.fine_anomaly_score) == pytest.approx(0.9)
    assert explanation.verdict == "" and msg.verdict == ts.types["tcvads_msgs/msg/AnomalyExplanation"].VERDICT_UNKNOWN
    String = ts.types["std_msgs/msg/String"]
    assert Explanation.from_json(roundtrip(ts, String(**messages.explanation_json_fields(explanation))).data) == explanation


def test_explanation_message_carries_the_fine_stages_second_opinion_where_the_explanation_has_one(ts):
    Msg = ts.types["tcvads_msgs/msg/AnomalyExplanation"]
    explanation = an_explanation()
    opinion = dataclasses.replace(explanation, fine_anomaly_score=0.25, verdict=Msg.VERDICT_DISPUTED, fine_threshold=0.5)
    msg = roundtrip(ts, messages.explanation_message(types_of(ts), opinion, None))
    assert msg.fine_anomaly_score == pytest.approx(0.25) and msg.verdict == "disputed"
    assert (msg.header.stamp.sec, msg.header.frame_id, msg.heatmap_path, msg.evidence_clip_path) == (0, "", "", "")
    assert Msg.VERDICT_CONFIRMED == "confirmed"


def test_heatmap_image_fields_make_an_rgb8_image_that_converts_back(ts):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    hdr = header(ts)
    back = roundtrip(ts, ts.types["sensor_msgs/msg/Image"](**messages.image_fields(hdr, rgb)))
    assert (back.encoding, back.step, back.height, back.width) == ("rgb8", 30, 6, 10)
    frame = messages.frame_from_message(back, index=3)
    np.testing.assert_array_equal(frame.rgb, rgb)
    with pytest.raises(ValueError):
        messages.image_fields(hdr, rgb[..., 0])


def test_ros_bytes_is_the_array_rclpy_stores_uint8_sequences_in():
    data = np.arange(300, dtype=np.int64) % 256
    out = messages.ros_bytes(data.astype(np.uint8))
    assert out.typecode == "B" and list(out) == list(data)


def test_frame_from_image_message_copies_header_and_stamp(ts):
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 0] = 200  # blue in BGR
    frame = messages.frame_from_message(image_msg(ts, bgr, encoding="bgr8"), index=7)
    assert frame.index == 7 and frame.stamp == pytest.approx(1_700_000_000.25)
    assert frame.header.frame_id == "front_camera"
    assert (frame.rgb[..., 2] == 200).all() and (frame.rgb[..., :2] == 0).all()


def test_frame_from_compressed_message(ts):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 255  # red
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    Compressed = ts.types["sensor_msgs/msg/CompressedImage"]
    msg = roundtrip(ts, Compressed(header=header(ts), format="png", data=png.reshape(-1)))
    frame = messages.frame_from_message(msg, index=0)
    np.testing.assert_array_equal(frame.rgb, rgb)


def test_unconvertible_message_raises_a_reason_for_the_counter(ts):
    msg = image_msg(ts, np.zeros((4, 4, 3), np.uint8), encoding="32FC1")
    with pytest.raises(ImageConversionError) as info:
        messages.frame_from_message(msg, index=0)
    assert info.value.reason == "unsupported_encoding"


class FakeBridge:
    """Stands in for cv_bridge.CvBridge: records the call, returns a fixed image or raises."""

    def __init__(self, result=None, error=None):
        self.result, self.error, self.calls = result, error, []

    def imgmsg_to_cv2(self, msg, desired_encoding="passthrough"):
        self.calls.append(desired_encoding)
        if self.error:
            raise self.error
        return self.result


def test_cv_bridge_is_used_for_raw_images_when_given(ts):
    rgb = np.full((4, 4, 3), 9, np.uint8)
    bridge = FakeBridge(result=np.full((4, 4, 3), 7, np.uint8))
    frame = messages.frame_from_message(image_msg(ts, rgb), index=1, bridge=bridge)
    assert bridge.calls == ["rgb8"] and (frame.rgb == 7).all()
    assert frame.stamp == pytest.approx(1_700_000_000.25)


def test_cv_bridge_refusal_falls_back_to_the_numpy_conversion(ts):
    rgb = np.full((4, 4, 3), 9, np.uint8)
    frame = messages.frame_from_message(image_msg(ts, rgb), index=1, bridge=FakeBridge(error=RuntimeError("no")))
    assert (frame.rgb == 9).all()
    bad = image_msg(ts, rgb, encoding="nonsense")
    with pytest.raises(ImageConversionError):
        messages.frame_from_message(bad, index=1, bridge=FakeBridge(error=RuntimeError("no")))


def window(**overrides):
    base = {"window_s": 1.0, "frames_in": 30, "input_rate_hz": 30.0, "processing_rate_hz": 29.0,
            "latency_mean_ms": 12.5, "latency_max_ms": 20.0, "dropped": 0, "rejected": 0}
    return {**base, **overrides}


@pytest.mark.parametrize(
    ("overrides", "level"),
    [({}, "OK"), ({"rejected": 2}, "WARN"), ({"dropped": 3}, "WARN"), ({"frames_in": 0}, "STALE"),
     ({"lost": 1}, "WARN"),  # 1 of 31 lost: over 1 %
     ({"heatmap_failures": 1}, "WARN"), ({"evidence_clip_failures": 2}, "WARN"), ({"fine_errors": 1}, "WARN"),
     ({"frames_in": 300, "lost": 2}, "OK"),  # 2 of 302: within the 1 % budget
     ({"frames_in": 5, "lost": 25, "snippets_missed": 1}, "ERROR"),
     ({"frames_in": 5, "lost": 0, "snippets_missed": 3, "stalls": 1}, "OK")],  # the camera paused: STALE before
)
def test_diagnostic_levels(overrides, level):
    report = messages.diagnostic_report("tcvads coarse_node", "onnxruntime", window(**overrides), {"total_rejected": 4})
    assert report.level == level
    assert report.values["backend"] == "onnxruntime"
    assert report.values["input_rate_hz"] == "30.000" and report.values["total_rejected"] == "4"


def test_records_held_by_a_full_store_raise_the_level_until_written():
    held = messages.diagnostic_report("n", "onnxruntime", window(), {"store_backlog": 3, "store_held": 3})
    assert held.level == "WARN" and "3 record(s) held in memory" in held.message
    written = messages.diagnostic_report("n", "onnxruntime", window(), {"store_backlog": 0, "store_held": 3})
    assert written.level == "OK" and written.values["store_held"] == "3"


def test_diagnostics_name_what_the_frame_clock_did():
    notes = messages.clock_notes(provisional=True, rate_change=(30.0, 15.02))
    assert notes == ["frame rate estimate provisional", "frame rate changed from 30.0 to 15.0 fps"]
    report = messages.diagnostic_report("n", "onnxruntime", window(rate_changes=1), {"fps_provisional": False}, notes[1:])
    assert report.level == "OK" and report.message == "running; frame rate changed from 30.0 to 15.0 fps"
    assert report.values["rate_changes"] == "1" and report.values["fps_provisional"] == "False"
    assert messages.clock_notes(provisional=False, rate_change=None) == []


def test_diagnostic_array_roundtrips_with_the_types_level_constants(ts):
    Status, KeyValue = ts.types["diagnostic_msgs/msg/DiagnosticStatus"], ts.types["diagnostic_msgs/msg/KeyValue"]
    report = messages.diagnostic_report(
        "tcvads coarse_node", "tensorrt", window(rejected=1, latency_mean_ms=math.nan),
        {"rejected_by_reason": {"truncated": 1}},
    )
    status = messages.diagnostic_status(Status, KeyValue, report)
    array = ts.types["diagnostic_msgs/msg/DiagnosticArray"](header=header(ts), status=[status])
    back = roundtrip(ts, array).status[0]
    assert back.level == Status.WARN and back.hardware_id == "tensorrt"
    values = {kv.key: kv.value for kv in back.values}
    assert values["latency_mean_ms"] == "nan" and values["rejected_by_reason"] == "truncated=1"
    with pytest.raises(ValueError):
        messages.DiagnosticReport("x", "FINE", "m").fields()


def test_anomaly_document_reads_back_into_the_same_event(ts):
    hdr = header(ts, sec=100, nanosec=500_000_000)
    for event in run_events([0.1] * 3 + [0.95] * 12 + [0.0] * 6):
        fields, head = read_document(json.loads(messages.anomaly_json_fields(with_header(event, hdr))["data"]))
        assert AnomalyEvent(**fields) == event  # floats survive to 1e-6: stamps still pick the right frames
        assert messages.stamp_seconds(head, default=-1.0) == 100.5
    assert messages.stamp_seconds({"stamp": None}, default=3.0) == 3.0


def test_a_version_1_document_still_reads():
    """What /anomaly carried as JSON before it was typed (schema tcvads.anomaly/1: no stream)."""
    v1 = {"kind": "start", "score": 0.999691, "stamp": 1796541837.282778, "event_id": "cec7cb9d5d634133b110118deb14e8d8",
          "record_type": "event", "peak_score": 0.999691, "start_stamp": 1796541836.616112, "end_stamp": None,
          "start_frame": 48, "frame": 64, "end_frame": None, "peak_frame": 48, "peak_stamp": 1796541836.616112,
          "reason": "", "header": {"stamp": {"sec": 1796541837, "nanosec": 282778368}, "frame_id": "camera"},
          "schema": "tcvads.anomaly/1"}
    fields, head = read_document(v1)
    event = AnomalyEvent(**fields)
    assert (event.kind, event.frame, event.stream) == ("start", 64, "") and head["frame_id"] == "camera"


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"schema": "other/1"}, "not a tcvads.anomaly/2"),
        ([1, 2], "must be a JSON object"),
        ({"schema": ANOMALY_SCHEMA, "kind": "start"}, "lacks score, stamp, event_id"),
    ],
)
def test_unusable_anomaly_documents_are_refused_with_the_reason(document, problem):
    with pytest.raises(ValueError, match=problem):
        read_document(document)
    event = json.loads(messages.anomaly_json_fields(run_events([0.9] * 10)[0])["data"])
    with pytest.raises(ValueError, match="unknown kind"):
        read_document({**event, "kind": "begin"})


def test_unusable_anomaly_messages_are_refused_with_the_reason(ts):
    msg = messages.anomaly_message(types_of(ts), run_events([0.9] * 10)[0])
    msg.kind = "begin"
    with pytest.raises(ValueError, match="unknown kind 'begin'"):
        messages.event_from_message(msg)
    msg.kind, msg.event_id = "start", ""
    with pytest.raises(ValueError, match="empty event_id"):
        messages.event_from_message(msg)


def test_explain_clip_covers_the_clip_and_names_the_event():

    from tcvads_ros.runtime.fine import explain_clip
    from tcvads_ros.runtime.frames import Frame

    event = run_events([0.1] * 3 + [0.9] * 10)[0]
    clip = [Frame(np.zeros((2, 2, 3), np.uint8), 10.0 + i, 16 * i) for i in range(4)]
    result = SimpleNamespace(category="Fighting", probability=0.7, class_scores={"Normal": 0.3, "Fighting": 0.7},
                             captions=[("a fight", 0.3)])
    explanation = explain_clip(event, clip, result, "onnxruntime", "b1", frames_per_sample=16)
    assert (explanation.start_stamp, explanation.end_stamp) == (10.0, 13.0)
    assert (explanation.start_frame, explanation.end_frame) == (0, 64)
    assert explanation.event_id == event.event_id and explanation.coarse_peak_score == event.peak_score
    assert explanation.captions[0].text == "a fight" and explanation.heatmap_path is None


def test_the_header_stamp_is_read_from_serialized_images_without_deserializing():
    from tcvads_ros.nodes.messages import cdr_header_stamp

    ts = get_typestore(Stores.ROS2_HUMBLE)
    Image = ts.types["sensor_msgs/msg/Image"]
    Compressed = ts.types["sensor_msgs/msg/CompressedImage"]
    hdr = header(ts, sec=1_796_125_205, nanosec=123_456_789)
    raw = ts.serialize_cdr(Image(header=hdr, height=1, width=1, encoding="rgb8", is_bigendian=0, step=3,
                                 data=np.zeros(3, np.uint8)), "sensor_msgs/msg/Image")
    assert cdr_header_stamp(bytes(raw)) == pytest.approx(1_796_125_205.123456789)
    big = ts.serialize_cdr(Compressed(header=hdr, format="jpeg", data=np.zeros(2, np.uint8)),
                           "sensor_msgs/msg/CompressedImage", little_endian=False)
    assert cdr_header_stamp(bytes(big)) == pytest.approx(1_796_125_205.123456789)
    assert cdr_header_stamp(b"\x00\x01\x00\x00\x01") is None  # too short to hold a stamp


# -- sound (audio_common_msgs) ----------------------------------------------------------------------
# The stand-in's definitions (interfaces/audio_common_msgs), registered as a robot's would be.
AUDIO_MSGS = {f"audio_common_msgs/msg/{path.stem}": path.read_text()
              for path in sorted((REPO / "interfaces" / "audio_common_msgs" / "msg").glob("*.msg"))}


@pytest.fixture(scope="module")
def ats(ts):
    types = {}
    for name, text in AUDIO_MSGS.items():
        types.update(get_types_from_msg(text, name))
    ts.register(types)
    return ts


def test_the_audio_stand_in_has_audio_commons_fields_and_types(ats):
    """The fields and types of ros-drivers/audio_common's ROS 2 definitions, which make it the
    same message on the wire (a renamed or retyped field fails here)."""
    def fields(name):
        return [(f, t) for f, t in ats.fielddefs[f"audio_common_msgs/msg/{name}"][1]]

    assert set(AUDIO_MSGS) == {f"audio_common_msgs/msg/{n}" for n in ("AudioData", "AudioDataStamped", "AudioInfo")}
    assert [f for f, _ in fields("AudioData")] == ["data"]
    assert [f for f, _ in fields("AudioDataStamped")] == ["header", "audio"]
    assert [f for f, _ in fields("AudioInfo")] == ["channels", "sample_rate", "sample_format", "bitrate",
                                                   "coding_format"]
    info = ats.types["audio_common_msgs/msg/AudioInfo"](channels=255, sample_rate=2 ** 32 - 1, sample_format="S16LE",
                                                         bitrate=2 ** 32 - 1, coding_format="wave")
    assert roundtrip(ats, info).channels == 255  # uint8; uint32 rate and bitrate
    with pytest.raises(Exception):  # noqa: B017, PT011 - out of uint8: rosbags raises its own types
        ats.serialize_cdr(ats.types["audio_common_msgs/msg/AudioInfo"](
            channels=256, sample_rate=1, sample_format="", bitrate=0, coding_format=""), "audio_common_msgs/msg/AudioInfo")


def audio_info(ats, **overrides):
    fields = {**messages.audio_info_fields(16000, 1), **overrides}
    return roundtrip(ats, ats.types["audio_common_msgs/msg/AudioInfo"](**fields))


def audio_stamped(ats, data: bytes, sec: int = 100, nanosec: int = 250_000_000):
    types = ats.types
    msg = types["audio_common_msgs/msg/AudioDataStamped"](
        header=header(ats, sec=sec, nanosec=nanosec),
        audio=types["audio_common_msgs/msg/AudioData"](data=np.frombuffer(data, np.uint8)))
    return roundtrip(ats, msg)


def test_audio_info_lives_beside_its_topic_as_audio_capture_lays_them_out():
    assert messages.audio_info_topic("/audio/audio_stamped") == "/audio/audio_info"
    assert messages.audio_info_topic("/mic") == "/audio_info"
    assert messages.audio_info_topic("robot/mic/stamped/") == "robot/mic/audio_info"
    assert messages.audio_info_topic("audio_stamped") == "audio_info"


def test_a_chunk_becomes_samples_stamped_by_its_header_on_the_cameras_clock(ats):
    rng = np.random.default_rng(0)
    stereo = rng.uniform(-1.0, 1.0, (1600, 2)).astype(np.float32)
    fmt = messages.audio_format(audio_info(ats, channels=2, sample_rate=48000))
    assert fmt == messages.AudioFormat(48000, 2, "S16LE", "wave")
    assert fmt.describe() == "48000 Hz, 2 channel(s), S16LE"
    chunk = messages.audio_chunk(audio_stamped(ats, messages.pcm_s16le(stereo)), fmt)
    assert chunk.rate == 48000 and chunk.samples.shape == (1600, 2) and chunk.samples.dtype == np.float32
    assert chunk.stamp == pytest.approx(100.25, abs=1e-9)
    assert np.abs(chunk.samples - stereo).max() <= 1.0 / 2 ** 15  # S16 quantisation, nothing else
    assert chunk.duration == pytest.approx(1600 / 48000)


def test_pcm_s16le_is_what_pcm_to_float_reads_back_and_clips_at_full_scale():
    from tcvads_ros.runtime.audio_convert import pcm_to_float

    samples = np.array([[-2.0], [-1.0], [-0.5], [0.0], [0.25], [1.0], [3.0]], np.float32)
    raw = messages.pcm_s16le(samples)
    assert len(raw) == 14 and np.frombuffer(raw, "<i2").tolist() == [-32768, -32768, -16384, 0, 8192, 32767, 32767]
    back = pcm_to_float(raw, "S16LE", 1)
    assert back[:, 0].tolist() == pytest.approx([-1.0, -1.0, -0.5, 0.0, 0.25, 32767 / 32768, 32767 / 32768])
    info = messages.audio_info_fields(22050, 2)
    assert info == {"channels": 2, "sample_rate": 22050, "sample_format": "S16LE", "bitrate": 22050 * 2 * 16,
                    "coding_format": "wave"}


@pytest.mark.parametrize(("info", "reason"), [
    ({"coding_format": "mp3"}, "compressed_coding"),  # audio_capture's default format
    ({"sample_format": "S12LE"}, "unsupported_format"),
    ({"channels": 0}, "bad_channels"),
    ({"sample_rate": 0}, "bad_rate"),
])
def test_an_audio_info_whose_chunks_cannot_be_read_says_why(ats, info, reason):
    with pytest.raises(AudioConversionError) as raised:
        messages.audio_format(audio_info(ats, **info))
    assert raised.value.reason == reason


def test_chunks_that_cannot_be_used_are_refused_with_the_reason_to_count(ats):
    fmt = messages.audio_format(audio_info(ats))
    for msg, chunk_format, reason in [
        (audio_stamped(ats, bytes(320)), None, messages.NO_INFO),  # before any AudioInfo
        (audio_stamped(ats, bytes(321)), fmt, "truncated"),  # half a sample
        (audio_stamped(ats, b""), fmt, "empty"),
        (SimpleNamespace(header=None, audio=SimpleNamespace(data=bytes(2))), fmt, messages.BAD_MESSAGE),
    ]:
        with pytest.raises(AudioConversionError) as raised:
            messages.audio_chunk(msg, chunk_format)
        assert raised.value.reason == reason, reason
    # lower-case names as GStreamer users type them are read too
    assert messages.audio_format(audio_info(ats, sample_format="s16le", coding_format="WAVE")).sample_format == "S16LE"


LISTENING = {"audio_topic": "/audio/audio_stamped", "audio_info": "16000 Hz, 1 channel(s), S16LE"}


@pytest.mark.parametrize(("audio", "level", "said"), [
    ({"audio_chunks": 10}, "OK", "running"),
    ({"audio_chunks": 0}, "WARN", "no sound from /audio/audio_stamped in the last window"),
    ({"audio_chunks": 4, "audio_chunks_refused": 4}, "WARN", "all 4 audio chunk(s) from /audio/audio_stamped refused"),
    ({"audio_chunks": 8, "audio_chunks_lost": 2}, "WARN", "audio chunks from /audio/audio_stamped: 2 lost"),
    ({"audio_chunks": 8, "audio_chunks_late": 1, "audio_chunks_refused": 1}, "WARN", "1 late, 1 refused"),
    ({"audio_chunks": 10, "audio_snippets_missing": 2}, "WARN",
     "sound from /audio/audio_stamped; 2 snippet(s) scored without sound"),
])
def test_a_camera_that_listens_warns_when_its_sound_is_not_all_there(audio, level, said):
    report = messages.diagnostic_report("n", "onnxruntime", window(**audio), dict(LISTENING))
    assert report.level == level and said in report.message, report.message
    assert report.values["audio_topic"] == "/audio/audio_stamped"
    if audio["audio_chunks"] == 0:
        assert "(16000 Hz, 1 channel(s), S16LE): scoring from vision only" in report.message


def test_a_camera_that_does_not_listen_is_not_judged_by_sound():
    report = messages.diagnostic_report("n", "onnxruntime", window(audio_chunks=0, audio_snippets_missing=3), {})
    assert report.level == "OK"
    # frames come first: a frame problem is what the status says
    report = messages.diagnostic_report("n", "onnxruntime", window(frames_in=0, audio_chunks=0), dict(LISTENING))
    assert report.level == "STALE"


def test_every_count_of_the_sound_that_diagnostics_can_carry_is_documented():
    """Whatever the sound's counts a camera's status may carry (the buffer's, the pipeline's, the
    refusals by reason, the window's) is named in docs/ros2.md, as the DDS tests check for the
    values a run happened to publish."""
    from tcvads_ros.nodes.stream import AUDIO_WINDOW
    from tcvads_ros.runtime.audio import COUNTERS
    from tcvads_ros.runtime.audio_convert import REASONS

    documented = (REPO / "docs" / "ros2.md").read_text(encoding="utf-8")
    reasons = (*REASONS, messages.NO_INFO, messages.BAD_MESSAGE, "overlap", "bad_stamp")
    names = [*(f"audio.{name}" for name in (*COUNTERS, "chunks_ignored", "nonfinite_features")),
             *(f"audio.refused_{reason}" for reason in reasons),
             *(f"audio_{name}" for name in AUDIO_WINDOW), "audio_topic", "audio_info"]
    assert not [name for name in names if f"`{name}`" not in documented]
