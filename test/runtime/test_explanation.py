# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Explanation document: validated, JSON round trip, readable text with a 128-character headline."""

from __future__ import annotations

import datetime
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcvads_ros.errors import TcvadsError
from tcvads_ros.runtime.explanation import (
    HEADLINE_CHARS,
    SCHEMA_VERSION,
    Explanation,
    ExplanationError,
    RetrievedCaption,
    SoundEvidence,
    format_time,
)

FIELDS = dict(
    event_id="3f2a9c0d4b5e6f708192a3b4c5d6e7f8",
    category="Fighting",
    probability=0.87,
    class_scores={"Normal": 0.05, "Fighting": 0.87, "Abuse": 0.08},
    captions=[
        ("two people pushing each other", 0.31),
        {"text": "a crowd in a street", "similarity": 0.22},
    ],
    start_stamp=12.4,
    end_stamp=15.9,
    start_frame=310,
    end_frame=398,
    backend="onnxruntime",
    bundle="xd-tiny 0.1.0",
    heatmap_path="events/3f2a9c0d.png",
    peak_frame=331,
    coarse_peak_score=0.93,
)


def make(**changes) -> Explanation:
    return Explanation(**{**FIELDS, **changes})


def test_json_round_trip_and_record_type():
    doc = make()
    data = json.loads(doc.to_json())
    assert data["record_type"] == "explanation" and data["schema_version"] == SCHEMA_VERSION
    assert data["captions"][1] == {"text": "a crowd in a street", "similarity": 0.22}
    assert Explanation.from_json(doc.to_json()) == doc
    assert Explanation.from_dict(data) == doc
    assert doc.captions[0] == RetrievedCaption("two people pushing each other", 0.31)


def test_text_reads_well_and_headline_survives_ros2_topic_echo_truncation():
    doc = make()
    text = doc.to_text()
    lines = text.split("\n")
    headline = lines[0]
    assert len(headline) <= HEADLINE_CHARS == 128
    for needle in ("Fighting", "p=0.87", "12.40", "15.90", "310", "398", "3f2a9c0d"):
        assert needle in headline
    assert any(
        line.startswith("scores:")
        and line.index("Fighting") < line.index("Abuse") < line.index("Normal")
        for line in lines
    )
    assert '"two people pushing each other" (similarity 0.310)' in text
    assert "events/3f2a9c0d.png" in text and "onnxruntime" in text and "frames [310, 398)" in text
    # Long names cannot push the headline past the limit.
    long = make(category="X" * 300, class_scores={"X" * 300: 0.9}, probability=0.9)
    assert len(long.headline()) == HEADLINE_CHARS and long.headline().endswith("...")
    assert "scene:      no caption retrieved" in make(captions=[]).to_text()


def test_wall_clock_stamps_read_as_utc_times():
    # 2026-12-01 11:04:12.08 UTC to 11:04:22.58 UTC, as a camera's header stamps give them.
    start = datetime.datetime(2026, 12, 1, 11, 4, 12, 80000, tzinfo=datetime.timezone.utc).timestamp()
    doc = make(start_stamp=start, end_stamp=start + 10.5)
    assert "t=11:04:12.08-11:04:22.58UTC" in doc.headline() and len(doc.headline()) <= HEADLINE_CHARS
    assert "time:       2026-12-01 11:04:12.08 UTC to 2026-12-01 11:04:22.58 UTC (10.50 s)" in doc.to_text()
    assert format_time(12.4) == "12.40s" and format_time(12.4, full=True) == "12.400 s"


@pytest.mark.parametrize(
    "changes, needle",
    [
        (dict(event_id=""), "event_id"),
        (dict(probability=1.5), "probability"),
        (dict(probability=float("nan")), "probability"),
        (dict(class_scores={}), "class_scores"),
        (dict(class_scores={"Normal": 0.1, "Fighting": float("inf")}), "Fighting"),
        (dict(category="Riot"), "Riot"),
        (dict(captions=[("x", 1.7)]), "similarity"),
        (dict(captions=[("x",)]), "captions[0]"),
        (dict(captions="a caption"), "captions"),
        (dict(end_stamp=10.0), "end_stamp"),
        (dict(end_frame=300), "end_frame"),
        (dict(start_frame=-1), "start_frame"),
        (dict(start_frame=1.5), "start_frame"),
        (dict(backend=""), "backend"),
        (dict(heatmap_path=3), "heatmap_path"),
        (dict(schema_version=SCHEMA_VERSION + 1), "upgrade"),
        (dict(fine_anomaly_score=1.2), "fine_anomaly_score"),
        (dict(verdict="maybe", fine_threshold=0.5), "verdict"),
        (dict(verdict="confirmed"), "fine_threshold"),
        (dict(fine_threshold=0.5), "fine_threshold"),
        (dict(verdict="disputed", fine_threshold=0.5), "contradicts"),
        (dict(verdict="confirmed", fine_threshold=float("nan")), "fine_threshold"),
    ],
)
def test_invalid_documents_are_refused_with_the_field_named(changes, needle):
    with pytest.raises(
        ExplanationError, match=needle.replace("[", r"\[").replace("]", r"\]")
    ) as info:
        make(**changes)
    assert isinstance(info.value, TcvadsError)


def test_reading_back_checks_the_document():
    data = make().to_dict()
    with pytest.raises(ExplanationError, match="missing"):
        Explanation.from_dict({k: v for k, v in data.items() if k != "category"})
    with pytest.raises(ExplanationError, match="unknown fields"):
        Explanation.from_dict({**data, "colour": "red"})
    with pytest.raises(ExplanationError, match="schema_version"):
        Explanation.from_dict({k: v for k, v in data.items() if k != "schema_version"})
    with pytest.raises(ExplanationError, match="newer|upgrade"):
        Explanation.from_dict({**data, "schema_version": SCHEMA_VERSION + 1, "colour": "red"})
    with pytest.raises(ExplanationError, match="JSON"):
        Explanation.from_json("{not json")
    with pytest.raises(ExplanationError, match="object"):
        Explanation.from_json("[1, 2]")


def test_optional_fields_may_be_absent():
    doc = make(heatmap_path=None, peak_frame=None, coarse_peak_score=None)
    assert "heat map:   none" in doc.to_text() and "coarse:" not in doc.to_text()
    assert Explanation.from_json(doc.to_json()) == doc


names = st.text(min_size=1, max_size=40)
documents = st.builds(
    lambda scores, pick, captions, t0, dt, f0, df: make(
        category=sorted(scores)[pick % len(scores)],
        probability=scores[sorted(scores)[pick % len(scores)]],
        class_scores=scores,
        captions=captions,
        start_stamp=t0,
        end_stamp=t0 + dt,
        start_frame=f0,
        end_frame=f0 + df,
    ),
    scores=st.dictionaries(names, st.floats(0.0, 1.0), min_size=1, max_size=8),
    pick=st.integers(0, 100),
    captions=st.lists(st.tuples(names, st.floats(-1.0, 1.0)), max_size=4),
    t0=st.floats(-1e9, 1e9),
    dt=st.floats(0.0, 1e6),
    f0=st.integers(0, 10**9),
    df=st.integers(0, 10**6),
)


@settings(max_examples=200, deadline=None)
@given(doc=documents)
def test_any_valid_document_round_trips_and_keeps_a_short_headline(doc):
    assert Explanation.from_json(doc.to_json()) == doc
    assert len(doc.to_text().split("\n")[0]) <= HEADLINE_CHARS


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(sorted(FIELDS)), value=json_values)
def test_a_corrupted_field_is_accepted_or_refused_cleanly(field, value):
    data = {**make().to_dict(), field: value}
    try:
        doc = Explanation.from_dict(data)
    except ExplanationError:
        return
    assert Explanation.from_json(doc.to_json()) == doc


def test_the_second_opinion_is_one_minus_p_normal_and_its_verdict_is_shown():
    doc = make(verdict="confirmed", fine_threshold=0.5)
    assert doc.fine_anomaly_score == pytest.approx(0.95)  # 1 - p(Normal), derived
    back = Explanation.from_json(doc.to_json())
    assert (back.fine_anomaly_score, back.verdict, back.fine_threshold) == (pytest.approx(0.95), "confirmed", 0.5)
    assert doc.headline().startswith("ANOMALY Fighting p=0.87 confirmed t=12.40-15.90s")
    assert "verdict:    confirmed (fine anomaly score 0.950 >= fine threshold 0.500)" in doc.to_text()
    disputed = make(class_scores={"Normal": 0.7, "Fighting": 0.87}, verdict="disputed", fine_threshold=0.5)
    assert disputed.fine_anomaly_score == pytest.approx(0.3)
    assert "p=0.87 DISPUTED t=" in disputed.headline() and len(disputed.headline()) <= HEADLINE_CHARS
    assert "verdict:    disputed (fine anomaly score 0.300 < fine threshold 0.500)" in disputed.to_text()
    # no Normal class: nothing speaks for "no anomaly"
    assert make(class_scores={"Fighting": 0.87}).fine_anomaly_score == 1.0


def test_version_one_records_are_still_read_with_the_score_derived_and_no_verdict():
    old = {k: v for k, v in make().to_dict().items()
           if k not in ("fine_anomaly_score", "verdict", "fine_threshold", "sound")}
    old["schema_version"] = 1
    doc = Explanation.from_dict(json.loads(json.dumps(old)))
    assert doc.schema_version == SCHEMA_VERSION == 3
    assert (doc.fine_anomaly_score, doc.verdict, doc.fine_threshold) == (pytest.approx(0.95), "", None)
    assert "verdict:    none" in doc.to_text() and doc.headline().startswith("ANOMALY Fighting p=0.87 t=")
    with pytest.raises(ExplanationError, match="unknown fields"):  # version 1 never had them
        Explanation.from_dict({**old, "verdict": "confirmed"})


def test_version_two_records_are_read_without_sound_and_may_not_carry_it():
    old = {k: v for k, v in make(verdict="confirmed", fine_threshold=0.5).to_dict().items() if k != "sound"}
    old["schema_version"] = 2
    doc = Explanation.from_dict(json.loads(json.dumps(old)))
    assert doc.schema_version == 3 and doc.sound is None and doc.verdict == "confirmed"
    assert "sound:" not in doc.to_text()
    with pytest.raises(ExplanationError, match="unknown fields"):  # version 2 never had it
        Explanation.from_dict({**old, "sound": {"heard": 1.0}})


def test_the_sound_evidence_round_trips_and_says_when_the_sound_drove_the_score():
    impulse = {"stamp": 12.34, "peak_dbfs": -3.2, "rise_db": 31.0}
    doc = make(sound=SoundEvidence(heard=0.75, score=0.91, score_without_sound=0.42, impulse=impulse))
    assert doc.sound.drove and doc.sound.contribution == pytest.approx(0.49)
    back = Explanation.from_json(doc.to_json())
    assert back.sound == doc.sound and back.to_dict()["sound"]["drove"] is True
    text = doc.to_text()
    assert ("sound:      drove the score: score 0.91 as heard, 0.42 without sound; loud impulse at 12.34s "
            "(-3 dBFS, 31 dB above the background)") in text
    assert "sound@12.34s" in doc.headline() and len(doc.headline()) <= HEADLINE_CHARS
    # the sound barely moved the score: heard, not driving; a quiet rise is the loudest sound, no impulse
    quiet = make(sound=SoundEvidence(heard=1.0, score=0.91, score_without_sound=0.88,
                                     impulse={**impulse, "rise_db": 6.0}))
    assert not quiet.sound.drove and "sound@" not in quiet.headline()
    assert "sound:      heard in 100% of the clip: score 0.91 as heard, 0.88 without sound; loudest sound at" \
        in quiet.to_text()
    assert "nothing heard" in make(sound=SoundEvidence(heard=0.0)).to_text()


@pytest.mark.parametrize("sound, match", [
    ({"heard": 1.5}, "sound.heard"),
    ({"heard": 1.0, "score": 0.9, "score_without_sound": 0.1, "drove": False}, "contradicts"),
    ({"heard": 1.0, "impulse": {"stamp": 1.0}}, "sound.impulse"),
    ({"heard": 1.0, "impulse": {"stamp": 1.0, "peak_dbfs": 3.0, "rise_db": 1.0}}, "peak_dbfs"),
    ({"loud": True}, "'sound'"),
])
def test_malformed_sound_evidence_is_refused(sound, match):
    data = make().to_dict()
    with pytest.raises(ExplanationError, match=match):
        Explanation.from_dict({**data, "sound": sound})
