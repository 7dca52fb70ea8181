# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""SnippetSampler and FrameClock against brute-force statements of what they should do."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcvads_ros.runtime.sampling import FrameClock, SnippetSampler, estimate_period


def test_sampler_takes_multiples_of_every_from_a_complete_stream():
    sampler = SnippetSampler(16)
    assert [i for i in range(100) if sampler.select(i)] == [0, 16, 32, 48, 64, 80, 96]
    assert sampler.stats["missing_frames"] == 0 and sampler.stats["snippets_missed"] == 0


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0, 400), min_size=1), st.integers(1, 20))
def test_sampler_picks_the_first_received_frame_of_each_snippet(received, every):
    indexes = sorted(received)
    sampler = SnippetSampler(every)
    chosen = [i for i in indexes if sampler.select(i)]
    # Independently: per snippet k, the smallest received index in [k*every, (k+1)*every).
    expected = sorted({min(i for i in indexes if i // every == k) for k in {i // every for i in indexes}})
    assert chosen == expected
    assert sampler.stats["frames"] == len(indexes)
    assert sampler.stats["missing_frames"] == indexes[-1] - indexes[0] + 1 - len(indexes)
    snippets = sorted({i // every for i in indexes})
    assert sampler.stats["snippets_missed"] == snippets[-1] - snippets[0] + 1 - len(snippets)


def test_sampler_restarts_when_numbers_go_back():
    sampler = SnippetSampler(16)
    assert [sampler.select(i) for i in (0, 5, 16, 20)] == [True, False, True, False]
    assert sampler.select(3) and sampler.stats["restarts"] == 1
    assert not sampler.select(4) and sampler.select(16)


def stream(fps, n, keep, jitter, seed):
    """(true frame indexes, stamps) of the frames that arrive from an n-frame camera stream."""
    rng = np.random.default_rng(seed)
    kept = np.flatnonzero(rng.random(n) < keep)
    kept = kept if kept[0] == 0 else np.concatenate([[0], kept])
    stamps = 1_700_000_000.0 + kept / fps + rng.uniform(-jitter, jitter, kept.size) / fps
    return kept, stamps


@pytest.mark.parametrize("keep", [1.0, 0.5, 0.18])
def test_clock_with_a_given_rate_numbers_frames_as_captured(keep):
    truth, stamps = stream(fps=30.0, n=600, keep=keep, jitter=0.2, seed=1)
    clock = FrameClock(fps=30.0)
    numbers = [clock.number(s) for s in stamps]
    assert numbers == list(truth)
    # The newest skipped numbers are still pending (a late burst frame, or one stamped out of order,
    # may yet stand for one: counted lost at once, those broke the balance).
    assert clock.stats["lost"] + clock.pending["lost"] == truth[-1] + 1 - truth.size


@pytest.mark.parametrize(("fps", "keep"), [(24.0, 1.0), (30.0, 0.5), (24.0, 0.18), (10.0, 0.3)])
def test_clock_estimates_the_rate_despite_lost_frames_and_jitter(fps, keep):
    truth, stamps = stream(fps=fps, n=900, keep=keep, jitter=0.1, seed=2)
    clock = FrameClock(calibration_frames=24)
    numbers = np.array([clock.number(s) for s in stamps])
    assert clock.calibrated and clock.fps == pytest.approx(fps, rel=0.005)
    # Once calibrated, the numbering advances exactly as the camera's frames did.
    later = slice(40, None)
    assert np.array_equal(np.diff(numbers[later]), np.diff(truth[later]))


def test_clock_with_a_nominal_rate_does_not_drift_from_the_real_one():
    truth, stamps = stream(fps=29.97, n=30 * 600, keep=0.5, jitter=0.1, seed=3)  # ten minutes
    clock = FrameClock(fps=30.0)
    assert [clock.number(s) for s in stamps] == list(truth)


def test_estimate_period_reads_intervals_as_whole_periods():
    assert estimate_period([0.1, 0.2, 0.1, 0.3, 0.1001, 0.0999]) == pytest.approx(0.1, rel=1e-3)
    with pytest.raises(ValueError):
        estimate_period([0.0, -1.0])


def test_clock_counts_a_stall_apart_from_lost_frames():
    clock = FrameClock(fps=10.0, stall_s=1.0)
    numbers = [clock.number(t) for t in (0.0, 0.1, 0.3, 5.3, 5.4)]
    assert numbers == [0, 1, 3, 53, 54]
    # Skipped numbers settle as lost or stalled once the numbering has moved on (see above).
    settled = {k: clock.stats[k] + clock.pending[k] for k in ("lost", "stalled")}
    assert settled == {"lost": 1, "stalled": 49} and clock.stats["stalls"] == 1
    assert clock.stats["stalled_s"] == pytest.approx(5.0)


def test_clock_restarts_on_a_jump_back_and_keeps_order_under_jitter():
    clock = FrameClock(fps=10.0, reset_s=1.0)
    assert [clock.number(t) for t in (100.0, 100.1, 100.2)] == [0, 1, 2]
    assert clock.number(100.14) == 2 and clock.stats["repeated"] == 1  # a little back: jitter
    assert clock.number(100.2) == 2 and clock.stats["repeated"] == 2  # a repeated stamp
    assert clock.number(3.0) == 0 and clock.stats["resets"] == 1  # a bag replayed
    assert clock.number(3.1) == 1


def test_clock_number_at_agrees_with_number_and_refuses_bad_rates():
    clock = FrameClock(fps=25.0)
    clock.number(10.0)
    assert clock.number_at(11.0) == 25 and clock.number(11.0) == 25
    assert FrameClock().number_at(1.0) is None
    assert clock.number(math.nan) == 25  # a stamp that is no number keeps the last number
    for bad in (-1.0, math.inf):
        with pytest.raises(ValueError, match="fps"):
            FrameClock(fps=bad)
