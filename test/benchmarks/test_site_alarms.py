# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`benchmarks/site_alarms.py` (docs/calibration.md): an event is found where it overlaps an
episode, with both read half-open (`[start, end)` in frames), as everywhere else."""

from __future__ import annotations

from types import SimpleNamespace

from benchmarks.site_alarms import overlaps
from tcvads_ros.data.annotations import Segment


def event(start: int, end: int) -> SimpleNamespace:
    return SimpleNamespace(start_frame=start, end_frame=end)


def test_an_event_overlaps_an_episode_half_open():
    episode = [Segment("fighting", 100, 200)]
    assert overlaps(event(150, 250), episode)
    assert overlaps(event(50, 101), episode)
    assert not overlaps(event(50, 100), episode)  # ends where the episode starts
    assert not overlaps(event(200, 300), episode)  # starts where the episode ends
    assert not overlaps(event(0, 10), [])
