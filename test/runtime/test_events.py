# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Event state machine: targeted cases, then properties over random (faulty) score streams."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tcvads_ros.configuration import from_mapping
from tcvads_ros.errors import ConfigError
from tcvads_ros.runtime.events import AnomalyEvent, EventConfig, EventStateMachine

CFG = EventConfig(
    threshold_on=0.6,
    threshold_off=0.4,
    min_duration_s=0.3,
    cooldown_s=1.0,
    merge_gap_s=0.5,
    update_interval_s=0.5,
    gap_timeout_s=3.0,
)
DT = 0.1


def feed(machine, scores, t0=0.0, frame0=0, dt=DT):
    out = []
    for i, score in enumerate(scores):
        out += machine.update(score, t0 + i * dt, frame0 + i)
    return out


def kinds(events):
    return [e.kind for e in events]


def test_blip_shorter_than_min_duration_starts_nothing():
    machine = EventStateMachine(CFG)
    assert feed(machine, [0.1] * 5 + [0.9, 0.9] + [0.1] * 10) == []
    assert machine.stats["blips"] == 1 and machine.active_event_id is None


def test_sustained_score_gives_start_updates_and_end_with_one_id():
    machine = EventStateMachine(CFG)
    events = feed(machine, [0.1] * 10 + [0.9] * 20 + [0.1] * 10)
    assert kinds(events) == ["start", "update", "update", "update", "end"]
    assert len({e.event_id for e in events}) == 1
    start, end = events[0], events[-1]
    assert start.start_stamp == pytest.approx(1.0) and start.start_frame == 10
    assert start.stamp == pytest.approx(1.3)  # announced once min_duration has passed
    assert [e.stamp for e in events[1:4]] == pytest.approx([1.8, 2.3, 2.8])
    # Ends once the score has stayed low for merge_gap; covers frames [10, 30).
    assert end.stamp == pytest.approx(3.5) and end.reason == "score"
    assert end.end_stamp == pytest.approx(2.9) and end.end_frame == 30
    assert end.duration == pytest.approx(1.9) and end.peak_score == 0.9
    assert machine.active_event_id is None


def test_peak_is_tracked():
    machine = EventStateMachine(CFG)
    events = feed(machine, [0.7, 0.8, 0.95, 0.8, 0.7, 0.7] + [0.0] * 10)
    end = events[-1]
    assert end.peak_score == 0.95 and end.peak_frame == 2 and end.peak_stamp == pytest.approx(0.2)


def test_short_dip_merges_into_the_same_event():
    machine = EventStateMachine(CFG)
    events = feed(machine, [0.9] * 10 + [0.1] * 3 + [0.9] * 10 + [0.1] * 10)
    assert kinds(events).count("start") == 1 and kinds(events).count("end") == 1
    assert machine.stats["merged"] == 1
    assert events[-1].end_frame == 23


def test_hysteresis_between_thresholds():
    machine = EventStateMachine(CFG)
    # 0.5 is between off and on: it never opens an event...
    assert feed(machine, [0.5] * 20) == []
    # ...but keeps an open one open.
    events = feed(machine, [0.9] * 5 + [0.5] * 30, t0=10.0)
    assert kinds(events)[0] == "start" and "end" not in kinds(events)
    # A closing event needs threshold_on, not threshold_off, to resume.
    events = feed(machine, [0.1, 0.1, 0.5, 0.5, 0.5, 0.5], t0=13.5)
    assert kinds(events) == ["end"]


def test_cooldown_suppresses_a_new_event_right_after_an_end():
    machine = EventStateMachine(CFG)
    first = feed(machine, [0.9] * 10 + [0.1] * 6)
    assert kinds(first)[-1] == "end"
    ended_at = first[-1].stamp
    # High again immediately: suppressed until cooldown_s after the end.
    later = feed(machine, [0.9] * 30, t0=ended_at + DT, frame0=100)
    starts = [e for e in later if e.kind == "start"]
    assert len(starts) == 1 and starts[0].event_id != first[0].event_id
    assert starts[0].start_stamp >= ended_at + CFG.cooldown_s - 1e-9
    assert machine.stats["suppressed_in_cooldown"] > 0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_scores_are_counted_and_skipped(bad):
    machine = EventStateMachine(CFG)
    events = feed(machine, [0.9, 0.9, bad, 0.9, bad, 0.9, 0.9, 0.9] + [0.1] * 10)
    assert machine.stats["non_finite_score"] == 2
    assert kinds(events) == ["start", "end"]
    assert all(math.isfinite(e.score) and math.isfinite(e.peak_score) for e in events)


def test_bad_stamps_and_inputs_are_counted():
    machine = EventStateMachine(CFG)
    assert machine.update(0.9, math.nan, 0) == [] and machine.stats["bad_stamp"] == 1
    assert machine.update("high", 1.0, 0) == [] and machine.stats["bad_input"] == 1
    assert machine.update(None, 1.0, 0) == [] and machine.stats["bad_input"] == 2
    assert machine.update(0.9, 1.0, None) == [] and machine.stats["bad_input"] == 3
    assert machine.stats["samples"] == 0


def test_small_backward_jump_is_dropped_and_time_catches_up():
    machine = EventStateMachine(CFG)
    feed(machine, [0.1] * 10)  # t = 0.0 .. 0.9
    assert machine.update(0.9, 0.5, 10) == []
    assert machine.stats["time_backwards"] == 1
    events = feed(machine, [0.9] * 5, t0=1.0, frame0=11)
    assert kinds(events) == ["start"] and events[0].start_stamp == pytest.approx(1.0)


def test_clock_reset_closes_the_event_at_its_last_good_stamp():
    machine = EventStateMachine(CFG)
    started = feed(machine, [0.9] * 6, t0=100.0)  # open event, last good stamp 100.5
    assert kinds(started) == ["start"]
    events = machine.update(0.9, 5.0, 10)  # clock jumped back by ~95 s
    assert kinds(events) == ["end"] and events[0].reason == "clock_reset"
    assert events[0].end_stamp == pytest.approx(100.5) and events[0].stamp == pytest.approx(100.5)
    assert machine.stats["clock_resets"] == 1
    # The new timeline works normally: the sample at 5.0 opened a candidate.
    more = feed(machine, [0.9] * 5, t0=5.1, frame0=11)
    assert kinds(more) == ["start"] and more[0].start_stamp == pytest.approx(5.0)
    assert more[0].event_id != started[0].event_id


def test_source_gap_closes_the_event_and_recovers():
    machine = EventStateMachine(CFG)
    started = feed(machine, [0.9] * 10)
    events = machine.update(0.9, 3600.0, 10)  # the camera came back an hour later
    assert kinds(events) == ["end"] and events[0].reason == "gap"
    assert events[0].end_stamp == pytest.approx(0.9) and events[0].end_frame == 10
    assert events[0].event_id == started[0].event_id
    more = feed(machine, [0.9] * 5, t0=3600.1, frame0=11)
    assert kinds(more) == ["start"] and more[0].start_stamp == pytest.approx(3600.0)


def test_gap_while_closing_ends_at_the_last_frame_inside_the_event():
    machine = EventStateMachine(CFG)
    feed(machine, [0.9] * 10 + [0.1] * 2)
    events = machine.update(0.1, 100.0, 12)
    assert events[0].end_stamp == pytest.approx(0.9) and events[0].stamp == pytest.approx(1.1)


def test_repeated_stamps_in_a_burst():
    machine = EventStateMachine(CFG)
    events = []
    for i in range(20):
        events += machine.update(0.9, 1.0 + (i // 10) * 0.5, i)  # ten frames share each stamp
    assert machine.stats["repeated_stamps"] == 18
    assert kinds(events) == ["start"] and events[0].stamp == pytest.approx(1.5)


def test_close_ends_the_open_event_and_is_idempotent():
    machine = EventStateMachine(CFG)
    started = feed(machine, [0.9] * 10)
    ended = machine.close(stamp=50.0)
    assert kinds(ended) == ["end"] and ended[0].reason == "shutdown"
    assert ended[0].event_id == started[0].event_id
    assert ended[0].end_stamp == pytest.approx(0.9) and ended[0].stamp == 50.0
    assert machine.close() == [] and machine.flush() == []
    # An unannounced candidate is dropped, not announced.
    feed(machine, [0.9], t0=60.0)
    assert machine.close() == []


def test_zero_durations_and_no_updates():
    cfg = EventConfig(
        threshold_on=0.5, threshold_off=0.5, min_duration_s=0, merge_gap_s=0, update_interval_s=0
    )
    machine = EventStateMachine(cfg)
    events = feed(machine, [0.9, 0.1])
    assert kinds(events) == ["start", "end"]
    assert events[0].stamp == events[0].start_stamp == 0.0
    assert events[1].end_stamp == 0.0 and events[1].end_frame == 1


def test_event_dict_is_json():
    machine = EventStateMachine(CFG)
    events = feed(machine, [0.9] * 10 + [0.1] * 10)
    record = json.loads(json.dumps(events[-1].to_dict()))
    assert (
        record["record_type"] == "event" and record["kind"] == "end" and record["end_frame"] == 10
    )


def test_config_validation_names_the_problem():
    with pytest.raises(ValueError, match="threshold_off"):
        EventConfig(threshold_on=0.4, threshold_off=0.6)
    with pytest.raises(ValueError, match="cooldown_s"):
        EventConfig(cooldown_s=-1)
    with pytest.raises(ValueError, match="gap_timeout_s"):
        EventConfig(gap_timeout_s=0)
    with pytest.raises(ValueError, match="min_duration_s"):
        EventConfig(min_duration_s=math.nan)
    with pytest.raises(ConfigError, match="threshold_off"):
        from_mapping(EventConfig, {"threshold_on": 0.3, "threshold_off": 0.5})
    with pytest.raises(ConfigError, match="threshold_of"):
        from_mapping(EventConfig, {"threshold_of": 0.3})
    assert from_mapping(EventConfig, {"threshold_on": 0.7}).threshold_on == 0.7


# ---------------------------------------------------------------- properties over faulty streams

configs = st.builds(
    lambda on, width, min_d, cool, merge, upd, gap: EventConfig(
        threshold_on=on,
        threshold_off=on - width,
        min_duration_s=min_d,
        cooldown_s=cool,
        merge_gap_s=merge,
        update_interval_s=upd,
        gap_timeout_s=gap,
    ),
    on=st.floats(0.2, 0.9),
    width=st.floats(0.0, 0.15),  # threshold_off >= 0.05, so a score of 0 ends an event
    min_d=st.floats(0.0, 1.0),
    cool=st.floats(0.0, 2.0),
    merge=st.floats(0.0, 1.0),
    upd=st.floats(0.0, 1.0),
    gap=st.floats(0.5, 10.0),
)

# A stream is a list of blocks: a time fault at the block's start, then `length` frames whose
# scores sit at `level` with noise; some scores are NaN / inf.
TIME_FAULTS = [
    "none",
    "none",
    "none",
    "repeat",
    "back_small",
    "back_large",
    "forward_hours",
    "burst",
]
blocks = st.lists(
    st.tuples(
        st.sampled_from(TIME_FAULTS),
        st.integers(1, 25),
        st.floats(0.0, 1.0),
        st.sampled_from([0.0, 0.0, 0.05, 0.2]),
        st.sampled_from([None, None, None, math.nan, math.inf]),
    ),
    min_size=1,
    max_size=12,
)


def stream(blocks_, seed):
    import random

    rng = random.Random(seed)
    t, frame = 0.0, 0
    for fault, length, level, noise, bad in blocks_:
        if fault == "back_small":
            t -= rng.uniform(0.01, 0.5)
        elif fault == "back_large":
            t -= rng.uniform(20.0, 5000.0)
        elif fault == "forward_hours":
            t += rng.uniform(3600.0, 30000.0)
        for i in range(length):
            score = min(1.0, max(0.0, level + rng.uniform(-noise, noise)))
            if bad is not None and rng.random() < 0.2:
                score = bad
            yield score, t, frame
            frame += 1
            if fault == "repeat" and i < length // 2:
                continue
            t += 0.0 if fault == "burst" and i % 5 else rng.uniform(0.02, 0.15)


def check_invariants(events: list[AnomalyEvent], cfg: EventConfig) -> None:
    open_id: str | None = None
    seen: set[str] = set()
    last = None
    for e in events:
        assert e.kind in ("start", "update", "end")
        for value in (e.score, e.peak_score, e.start_stamp, e.stamp):
            assert math.isfinite(value)
        assert e.start_stamp <= e.stamp
        assert e.peak_score >= cfg.threshold_on
        assert e.start_stamp <= e.peak_stamp <= e.stamp
        if e.kind == "start":
            assert open_id is None, "a start while another event is open"
            assert e.event_id not in seen, "event id reused"
            assert e.stamp - e.start_stamp >= cfg.min_duration_s - 1e-9
            assert e.end_stamp is None and e.end_frame is None
            open_id, last = e.event_id, e
            seen.add(e.event_id)
        else:
            assert open_id == e.event_id, f"{e.kind} for an event that is not open"
            assert e.start_stamp == last.start_stamp and e.start_frame == last.start_frame
            assert e.stamp >= last.stamp, "announcements of one event went back in time"
            assert e.peak_score >= last.peak_score
            if e.kind == "end":
                assert e.end_stamp is not None and e.end_frame is not None
                assert e.start_stamp <= e.end_stamp <= e.stamp, "negative duration"
                assert e.end_frame > e.start_frame and e.duration >= 0
                assert e.reason in ("score", "gap", "clock_reset", "shutdown")
                open_id = None
            last = e
    assert open_id is None, "an event was started and never ended"


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs, blocks_=blocks, seed=st.integers(0, 2**32 - 1))
def test_every_event_is_consistent_and_the_machine_recovers(cfg, blocks_, seed):
    machine = EventStateMachine(cfg)
    events: list[AnomalyEvent] = []
    max_stamp = 0.0
    frame = 0
    for score, stamp, frame in stream(blocks_, seed):
        events += machine.update(score, stamp, frame)
        max_stamp = max(max_stamp, stamp)
    # Recovery: after whatever happened, a clean anomaly after a pause is detected as one event.
    before = len(events)
    faults = {
        k: machine.stats[k] for k in ("non_finite_score", "time_backwards", "clock_resets", "gaps")
    }
    t0 = max_stamp + cfg.gap_timeout_s + 1.0
    n_high = int((cfg.min_duration_s + 1.0) / 0.05) + 1
    n_low = int((cfg.merge_gap_s + 0.5) / 0.05) + 1
    for i, score in enumerate([0.99] * n_high + [0.0] * n_low):
        events += machine.update(score, t0 + i * 0.05, frame + 1 + i)
    events += machine.close()
    check_invariants(events, cfg)
    tail = events[before:]
    tail_kinds = [e.kind for e in tail]
    # The pause may first close an event left open by the random part.
    if tail_kinds and tail_kinds[0] == "end" and tail[0].reason == "gap":
        tail = tail[1:]
    assert [e.kind for e in tail if e.kind != "update"] == ["start", "end"]
    assert tail[0].start_stamp == pytest.approx(t0) and tail[-1].reason == "score"
    event(f"events in random part: {min(sum(e.kind == 'start' for e in events[:before]), 3)}")
    for name, count in faults.items():
        if count:
            event(f"exercised {name}")


def test_a_gap_timeout_shorter_than_the_samples_allow_is_named_with_the_least_that_works():
    from tcvads_ros.runtime.events import gap_problem

    snippet = 16 / 24  # one scored sample per 16-frame snippet at 24 fps
    problem = gap_problem(0.5, snippet)
    assert "gap_timeout_s (0.5 s)" in problem and "at least 1.00 s" in problem
    assert gap_problem(1.0, snippet) is None and gap_problem(5.0, 16 / 5) is None
    assert gap_problem(5.0, 16 / 3) is not None  # a 3 fps camera: 5.3 s snippets
    # And it is the rule: below it, the state machine on such samples never opens an event.
    machine = EventStateMachine(EventConfig(min_duration_s=1.0, gap_timeout_s=0.5))
    announced = [e for i in range(60) for e in machine.update(0.9, i * snippet, 16 * i)]
    assert announced == [] and machine.stats["gaps"] > 0
