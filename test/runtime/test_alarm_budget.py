# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The alarm-budget arithmetic of `tcvads calibrate`: counted alarms, the Poisson bound, the choice."""

from __future__ import annotations

import numpy as np
import pytest

from tcvads_ros.runtime.alarm_budget import (
    BudgetPoint,
    ScoreTrace,
    candidate_thresholds,
    choose,
    count_alarms,
    off_threshold,
    poisson_upper_rate,
    sweep,
)
from tcvads_ros.runtime.events import HYSTERESIS, EventConfig


def trace(scores, fps_snippets=1.5):
    """Scores one snippet apart (1.5 snippets per second, like 24 fps / 16)."""
    scores = np.asarray(scores, dtype=np.float64)
    stamps = np.arange(len(scores)) / fps_snippets
    return ScoreTrace("t", scores, stamps, np.arange(len(scores)) * 16, len(scores) / fps_snippets)


@pytest.mark.parametrize("count", [0, 1, 2, 5, 20])
@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95])
def test_poisson_bound_is_garwoods(count, confidence):
    from scipy.stats import chi2

    expected = chi2.ppf(confidence, 2 * (count + 1)) / 2 / 0.5
    assert poisson_upper_rate(count, 0.5, confidence) == pytest.approx(expected, rel=1e-9)


def test_poisson_bound_refuses_nonsense():
    with pytest.raises(ValueError, match="hours"):
        poisson_upper_rate(0, 0.0, 0.95)
    with pytest.raises(ValueError, match="confidence"):
        poisson_upper_rate(0, 1.0, 1.0)


def test_alarms_are_the_state_machines_starts():
    # Two long excursions and a one-snippet blip (shorter than min_duration_s: never an alarm).
    scores = [0.1] * 10 + [0.9] * 5 + [0.1] * 10 + [0.8] * 5 + [0.1] * 10 + [0.95] + [0.1] * 10
    cfg = EventConfig(min_duration_s=0.5, cooldown_s=0.0, merge_gap_s=1.0)
    assert count_alarms([trace(scores)], cfg.with_threshold(0.5)) == 2
    assert count_alarms([trace(scores)], cfg.with_threshold(0.85)) == 1
    assert count_alarms([trace(scores)], cfg.with_threshold(0.99)) == 0
    # Each recording is a stream of its own: the same footage twice is twice the alarms.
    assert count_alarms([trace(scores), trace(scores)], cfg.with_threshold(0.5)) == 4


def test_candidates_sit_just_above_observed_scores_and_keep_the_top():
    rng = np.random.default_rng(0)
    t = trace(rng.random(5000))
    candidates = candidate_thresholds([t], limit=100)
    assert len(candidates) <= 100 and np.all(np.diff(candidates) > 0)
    top = np.sort(t.scores)[-20:]
    assert np.all(np.isin(np.nextafter(top, np.inf), candidates))  # the highest scores all tried
    assert candidates[-1] > t.scores.max()  # and one above everything: no alarm at all


def test_hysteresis_follows_the_normal_level_within_the_default_band():
    assert off_threshold(0.9, 0.2) == pytest.approx(HYSTERESIS * 0.9)
    assert off_threshold(0.9, 0.85) == 0.85
    assert off_threshold(0.9, 0.95) == 0.9


def test_choice_is_the_lowest_threshold_from_which_every_higher_one_fits():
    points = [BudgetPoint(t, t, 0, 0.0, upper) for t, upper in
              [(0.1, 50.0), (0.2, 4.0), (0.3, 9.0), (0.4, 3.0), (0.5, 2.0)]]
    assert choose(points, budget=5.0).threshold_on == 0.4  # 0.2 dips under, but 0.3 does not
    assert choose(points, budget=10.0).threshold_on == 0.2
    assert choose(points, budget=1.0) is None


def test_sweep_bounds_fall_with_the_threshold_and_the_top_has_no_alarm():
    scores = [0.1] * 30 + [0.7] * 4 + [0.1] * 30 + [0.9] * 4 + [0.2] * 30
    points = sweep([trace(scores)], EventConfig(cooldown_s=0.0), confidence=0.95)
    assert points[-1].alarms == 0 and points[0].alarms == 2
    assert all(a.alarms >= b.alarms for a, b in zip(points, points[1:]))
    hours = len(scores) / 1.5 / 3600
    assert points[-1].upper_per_hour == pytest.approx(poisson_upper_rate(0, hours, 0.95))


def test_the_fine_threshold_keeps_confirmed_alarms_within_their_budget():
    from tcvads_ros.runtime.alarm_budget import calibrate_fine

    scores = [0.2, 0.6, 0.9, 0.95]  # four false alarms in one hour; bounds: k=0 3.0, k=1 4.74, k=3 7.75
    found = calibrate_fine(scores, 1.0, budget=5.0, confidence=0.95, floor=0.5)
    assert found.chosen.confirmed == 1 and 0.9 < found.chosen.fine_threshold <= 0.95
    loose = calibrate_fine(scores, 1.0, budget=100.0, confidence=0.95, floor=0.5)
    assert loose.chosen.fine_threshold == 0.5 and loose.chosen.confirmed == 3  # never below the floor
    assert calibrate_fine(scores, 1.0, budget=2.0, confidence=0.95).chosen is None  # 3.0/h at best
    assert calibrate_fine([1.0], 1.0, budget=4.0, confidence=0.95).chosen is None  # cannot dispute 1.0


def test_alarm_clips_are_cut_as_the_pipeline_cuts_them():
    from tcvads_ros.runtime.alarm_budget import ScoreTrace, alarm_clips
    from tcvads_ros.runtime.frames import Frame

    n, fps = 60, 25.0 / 16
    scores = np.where((np.arange(n) >= 20) & (np.arange(n) < 30), 0.9, 0.1)
    stamps = np.arange(n) / fps
    samples = [Frame(np.zeros((2, 2, 3), np.uint8), float(t), 16 * i) for i, t in enumerate(stamps)]
    trace = ScoreTrace("t", scores, stamps, np.arange(n) * 16, n / fps, samples)
    cfg = EventConfig(threshold_on=0.5, threshold_off=0.4, min_duration_s=0.5, update_interval_s=0)
    events, clips = alarm_clips(trace, cfg, length=6)
    start = next(e for e in events if e.kind == "start")
    (clip,) = clips
    assert clip.event_ids == [start.event_id] and len(clip.frames) == 6
    # three up to and including the start's frame, three after; cut when the third has arrived
    assert [f.index for f in clip.frames] == [start.frame + 16 * k for k in range(-2, 4)]
    assert clip.cut_stamp == pytest.approx(start.stamp + 3 / fps)
    with pytest.raises(ValueError, match="keep_size"):
        alarm_clips(ScoreTrace("t", scores, stamps, np.arange(n) * 16, n / fps), cfg, 6)
