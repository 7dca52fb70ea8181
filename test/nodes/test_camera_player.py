# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""camera_player's play of a file's frames and sound: one schedule, so that a chunk of sound is
stamped on the clock of the frames it belongs to, whatever the rate, the pauses and the cycling."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="camera_player is a ROS 2 program (no ROS 2 on this machine)")

from tcvads_ros.nodes.camera_player import parse_args, schedule  # noqa: E402
from tcvads_ros.runtime.audio_convert import AudioChunk  # noqa: E402

FPS, RATE = 10.0, 1000


def sound(seconds: float, chunk_s: float = 0.1, start: float = 0.0) -> list[AudioChunk]:
    n = int(round(chunk_s * RATE))
    return [AudioChunk(np.zeros((n, 1), np.float32), RATE, start + i * chunk_s)
            for i in range(int(round(seconds / chunk_s)))]


def stamps(items, kind):
    return [(round(item.stamp, 6), item.index) for item in items if item.kind == kind]


def test_frames_and_sound_share_one_clock_and_sound_is_sent_once_heard():
    items = list(schedule(count=10, n_frames=10, fps=FPS, speed=1.0, pauses={}, chunks=sound(1.0)))
    assert stamps(items, "frame") == [(k / FPS, k) for k in range(10)]
    assert stamps(items, "audio") == [(i / 10, i) for i in range(10)]  # chunk i starts with frame i
    for item in items:
        assert item.send == pytest.approx(item.stamp + (0.1 if item.kind == "audio" else 0.0))
    assert [item.send for item in items] == sorted(item.send for item in items)
    # at a tie a frame goes first: chunk 0 is sent with frame 1, after it
    assert [(item.kind, item.index) for item in items[:3]] == [("frame", 0), ("frame", 1), ("audio", 0)]


def test_sound_follows_the_frames_through_speed_pauses_and_cycles():
    chunks = sound(1.0, chunk_s=0.25)  # 4 chunks over the 10 frames of one cycle
    items = list(schedule(count=25, n_frames=10, fps=FPS, speed=2.0, pauses={12: 3.0}, chunks=chunks))
    frames = stamps(items, "frame")
    assert frames[11] == (11 / FPS / 2, 1) and frames[12] == (12 / FPS / 2 + 3.0, 2)  # held 3 s before frame 12
    audio = stamps(items, "audio")
    # cycle 0: 0, 0.25, 0.5, 0.75 s of file; cycle 1 from 1.0 s (1.25 >= 1.2 s: after the pause);
    # cycle 2 ends with frame 24 (2.5 s of file), so only its first two chunks play
    file_s = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25]
    assert [index for _, index in audio] == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert [s for s, _ in audio] == pytest.approx([t / 2 + (3.0 if t >= 1.2 else 0.0) for t in file_s])
    assert all(item.send == pytest.approx(item.stamp + 0.125) for item in items if item.kind == "audio")


def test_sound_before_or_past_the_files_frames_is_not_played():
    items = list(schedule(count=5, n_frames=5, fps=FPS, speed=1.0, pauses={}, chunks=sound(1.0, start=-0.2)))
    assert stamps(items, "audio") == [(0.0, 2), (0.1, 3), (0.2, 4), (0.3, 5), (0.4, 6)]


def test_audio_options_are_checked():
    args = parse_args(["video.avi", "--audio-topic", "/audio/audio_stamped", "--drop-audio", "5"])
    assert (args.audio_topic, args.audio_chunk, args.drop_audio, args.audio_offset) == ("/audio/audio_stamped", 0.1, 5, 0.0)
    for bad in (["--audio-chunk", "0"], ["--drop-audio", "-1"]):
        with pytest.raises(SystemExit):
            parse_args(["video.avi", *bad])


def test_the_play_is_made_as_it_is_played():
    # a soak plays `--count 1000000000` frames: the schedule must not be built up front
    items = schedule(count=10**9, n_frames=10, fps=FPS, speed=1.0, pauses={}, chunks=sound(1.0))
    first = [next(items) for _ in range(30)]
    assert [item.send for item in first] == sorted(item.send for item in first)
    assert sum(item.kind == "audio" for item in first) >= 10
