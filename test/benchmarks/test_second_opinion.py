# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`benchmarks/second_opinion.py` (docs/results.md): false alarms and recall counted for every
alarm and for the confirmed ones, an alarm with no verdict kept, and the AUC of its rules."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.second_opinion import Fine, Recording, auc, measure
from tcvads_ros.data.annotations import Segment
from tcvads_ros.runtime.alarm_budget import ScoreTrace
from tcvads_ros.runtime.events import EventConfig
from tcvads_ros.runtime.frames import Frame

FPS = 25.0 / 16  # one scored snippet per 16 frames at 25 fps


def recording(name: str, bursts: list[tuple[int, int]], episodes=()) -> Recording:
    n = 90
    high = np.zeros(n, bool)
    for a, b in bursts:
        high[a:b] = True
    stamps = np.arange(n) / FPS
    samples = [Frame(np.zeros((2, 2, 3), np.uint8), float(t), 16 * i) for i, t in enumerate(stamps)]
    trace = ScoreTrace(name, np.where(high, 0.9, 0.1), stamps, np.arange(n) * 16, n / FPS, samples)
    return Recording(trace, list(episodes))


class StubFine:
    """The fine stage says 0.9 on the abnormal recordings' clips, 0.2 on the normal ones'."""

    def scores(self, name, frames):
        return dict.fromkeys(Fine.RULES, 0.9 if name.startswith("ab") else 0.2)


def test_confirmed_alarms_drop_the_disputed_false_ones_and_keep_the_found_episodes():
    recordings = {
        "test_normal": [recording("n0", [(10, 20), (50, 60)]), recording("n1", [(30, 40)])],
        "test_abnormal": [recording("ab0", [(20, 30), (70, 80)], [Segment("Riot", 16 * 20, 16 * 30)]),
                          recording("ab1", [], [Segment("Abuse", 16 * 40, 16 * 50)])],
    }
    cfg = EventConfig(threshold_on=0.5, threshold_off=0.4, min_duration_s=0.5, update_interval_s=0)
    row = measure(recordings, cfg, StubFine(), clip_len=6, fine_threshold=0.5)
    hours = 2 * 90 / FPS / 3600
    assert row["coarse"]["false_alarms"] == 3 and row["coarse"]["false_alarms_per_hour"] == pytest.approx(3 / hours)
    assert row["confirmed"]["false_alarms"] == 0
    assert row["coarse"]["recall"] == row["confirmed"]["recall"] == 0.5  # the abuse was never alarmed
    assert row["coarse"]["stray_in_abnormal"] == row["confirmed"]["stray_in_abnormal"] == 1  # 0.9 there
    assert len(row["normal_scores"]) == 3 and len(row["episode_scores"]) == 1
    assert max(row["held_seconds"]) <= 3 / FPS + 1e-9  # half the clip after the start, at most


def test_auc():
    assert auc([0.1, 0.2], [0.8, 0.9]) == 1.0 and auc([0.5], [0.5]) == 0.5
    assert np.isnan(auc([], [0.3]))
