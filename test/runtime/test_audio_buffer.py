# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The stream's sound buffer: windows by stamps equal to the whole-track rule, resampling, mono,
and every fault counted (gaps, late, refused, clipping, silence, resets), memory bounded."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tcvads_ros.runtime.audio import (
    CLIP_LEVEL,
    KEEP_S,
    MAX_JITTER_S,
    AudioBuffer,
    loudest_impulse,
)
from tcvads_ros.runtime.audio_convert import AudioChunk
from tcvads_ros.runtime.audio_features import AudioSpec, log_mel, snippet_log_mels
from tcvads_ros.runtime.stats import Counters

SPEC = AudioSpec()
RATE = SPEC.rate


def noise(seconds, rate=RATE, level=0.1, seed=0):
    return (level * np.random.default_rng(seed).standard_normal(int(round(seconds * rate)))).astype(np.float32)


def tone(seconds, rate, freq=1000.0, level=0.5):
    t = np.arange(int(round(seconds * rate))) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chunks(x, rate=RATE, seconds=0.1, start=0.0, channels=1):
    n = int(round(seconds * rate))
    for first in range(0, len(x), n):
        piece = x[first:first + n, None]
        yield AudioChunk(np.repeat(piece, channels, 1) if channels > 1 else piece, rate, start + first / rate)


def fill(x, rate=RATE, start=0.0, **kw):
    buffer = AudioBuffer(SPEC, Counters())
    for chunk in chunks(x, rate, start=start, **kw):
        assert buffer.push(chunk)
    return buffer


STAMPS = np.arange(0, 4.5, 0.64)


def test_windows_are_the_whole_track_rule_in_pieces():
    x = noise(5.0)
    buffer = fill(x)
    mels, cover = snippet_log_mels(x, STAMPS, SPEC)
    for i, stamp in enumerate(STAMPS):
        window = buffer.window(stamp)
        assert window.coverage == pytest.approx(cover[i])
        assert np.array_equal(log_mel(window.samples, SPEC), mels[i])
    counts = buffer.stats
    assert counts["snippets_missing"] == 1 and counts["snippets_heard"] == len(STAMPS) - 1  # 0 s: before the sound
    assert counts["chunks"] == 50 and not counts["chunks_lost"] and not counts["chunks_refused"]


@pytest.mark.parametrize("offset", [-0.5, -0.2, 0.3, 0.5])
def test_an_offset_track_is_windowed_by_its_stamps(offset):
    # sound stamped `offset` seconds later than the frames (or earlier): windows follow the stamps
    x = noise(5.0, seed=1)
    buffer = fill(x, start=offset)
    mels, cover = snippet_log_mels(x, STAMPS, SPEC, start_s=offset)
    for i, stamp in enumerate(STAMPS):
        window = buffer.window(stamp)
        assert window.coverage == pytest.approx(cover[i])
        assert np.array_equal(log_mel(window.samples, SPEC), mels[i])
    partial = int(((cover > 0) & (cover < 1)).sum())
    assert buffer.stats["snippets_partial"] == partial and partial >= 1


@pytest.mark.parametrize("rate", [44100, 48000, 22050, 8000])
def test_another_rate_is_resampled_to_the_same_log_mel(rate):
    # a 1 kHz tone at `rate` gives the log-mel of the same tone at the bundle's 16 kHz
    reference = log_mel(fill(tone(3.0, RATE)).window(2.0).samples, SPEC)
    buffer = fill(tone(3.0, rate), rate)
    window = buffer.window(2.0)
    assert window.coverage == 1.0
    mel = log_mel(window.samples, SPEC)
    strong = reference > reference.max() - 14  # the bands the tone is in (a 14-nepers range, ~60 dB)
    assert np.abs(mel - reference)[strong].max() < 1e-3
    assert np.abs(mel - reference).max() < 0.2
    assert buffer.stats["chunks_resampled"] == buffer.stats["chunks"] == 30


def test_resampling_keeps_time_a_click_stays_where_it_was():
    # a click 1.5 s into a 44.1 kHz stream is found at 1.5 s at 16 kHz (no filter delay)
    x = np.zeros(int(3 * 44100), np.float32)
    x[int(1.5 * 44100)] = 0.9
    window = fill(x, 44100).window(1.9)
    impulse = window.impulse(RATE)
    assert impulse is not None and abs(impulse.stamp - 1.5) <= 0.011


def test_stereo_is_mixed_to_mono():
    x = noise(2.0)
    stereo = AudioBuffer(SPEC)
    for chunk in chunks(x):
        both = np.concatenate([chunk.samples, -0.5 * chunk.samples], axis=1)  # mean: 0.25 x
        stereo.push(AudioChunk(both, RATE, chunk.stamp))
    assert np.allclose(stereo.window(1.5).samples, 0.25 * fill(x).window(1.5).samples, atol=1e-7)


def test_dropped_chunks_are_counted_lost_and_the_rest_is_placed_by_stamp():
    x = noise(5.0, seed=2)
    buffer = AudioBuffer(SPEC)
    for i, chunk in enumerate(chunks(x)):
        if i not in (20, 21, 22):  # 2.0-2.3 s never arrive
            buffer.push(chunk)
    assert buffer.stats["chunks_lost"] == 3 and buffer.stats["lost_ms"] == 300
    window = buffer.window(2.56)  # [1.92, 2.56)
    assert window.coverage == pytest.approx(1 - 0.3 / 0.64, abs=1e-3)
    lo = int(round(0.08 * RATE))
    assert np.array_equal(window.samples[:lo], x[int(1.92 * RATE):int(2.0 * RATE)])
    assert not window.samples[lo:lo + int(0.3 * RATE)].any()
    assert np.array_equal(window.samples[lo + int(0.3 * RATE):], x[int(2.3 * RATE):int(2.56 * RATE)])
    assert buffer.window(4.0).coverage == 1.0  # after the gap, sound again
    assert buffer.stats["snippets_partial"] == 1 and buffer.stats["snippets_heard"] == 1


@pytest.mark.parametrize("seconds", [0.02, 0.1, 0.2])
def test_one_missing_chunk_is_a_gap_whatever_the_chunks_length(seconds):
    # a tolerance for jitter as long as a chunk would take one missing chunk for jitter and
    # place the next one a chunk early
    x = noise(3.0, seed=7)
    buffer = AudioBuffer(SPEC)
    pieces = list(chunks(x, seconds=seconds))
    for i, chunk in enumerate(pieces):
        if i != len(pieces) // 2:
            buffer.push(chunk)
    assert buffer.stats["chunks_lost"] == 1 and buffer.stats["lost_ms"] == round(seconds * 1000)
    last = pieces[-1]
    assert buffer.end == pytest.approx(last.end)


def test_a_pause_in_listening_is_not_sound_lost():
    x = noise(5.0, seed=8)
    buffer = AudioBuffer(SPEC)
    for chunk in chunks(x[: 2 * RATE]):
        buffer.push(chunk)
    buffer.pause()  # a node deactivated for a second and a half
    for chunk in chunks(x[int(3.5 * RATE):], start=3.5):
        assert buffer.push(chunk)
    assert not buffer.stats["chunks_lost"] and not buffer.stats["chunks_refused"]
    assert buffer.window(4.0 + 0.2).coverage == 1.0 and buffer.window(2.0).coverage == 1.0
    # after the first chunk, a gap is a gap again
    buffer.push(AudioChunk(noise(0.1)[:, None], RATE, 5.5))
    assert buffer.stats["chunks_lost"] == 5  # 5.0-5.5 s


def test_jittered_and_bursty_stamps_continue_the_run():
    # stamps wander by up to 30 ms around the truth (taken when a driver hands a buffer over);
    # the samples are the clock: nothing is lost, refused or moved
    x = noise(4.0, seed=3)
    rng = np.random.default_rng(3)
    buffer = AudioBuffer(SPEC)
    for chunk in chunks(x):
        assert buffer.push(AudioChunk(chunk.samples, RATE, chunk.stamp + rng.uniform(-0.03, 0.03)))
    assert not buffer.stats["chunks_lost"] and not buffer.stats["chunks_refused"]
    mels, _ = snippet_log_mels(x, STAMPS[1:6], SPEC, start_s=buffer._runs[0].start)
    for i, stamp in enumerate(STAMPS[1:6]):
        assert np.array_equal(log_mel(buffer.window(stamp).samples, SPEC), mels[i])


def test_backwards_and_overlapping_chunks_are_refused_a_clock_reset_starts_afresh():
    x = noise(3.0, seed=4)
    buffer = fill(x)
    before = buffer.window(2.0, count=False).samples.copy()
    assert not buffer.push(AudioChunk(noise(0.1, seed=9)[:, None], RATE, 2.5))  # overlaps 2.5-2.6
    assert not buffer.push(AudioChunk(noise(0.1, seed=9)[:, None], RATE, 2.9 - MAX_JITTER_S - 0.05))
    assert buffer.stats["chunks_refused"] == buffer.stats["refused_overlap"] == 2
    assert np.array_equal(buffer.window(2.0, count=False).samples, before)
    # a bag replayed from its start: a new timeline
    assert buffer.push(AudioChunk(noise(0.1, seed=5)[:, None], RATE, 0.0))
    assert buffer.stats["resets"] == 1 and buffer.end == pytest.approx(0.1)


@pytest.mark.parametrize("samples, reason", [
    (np.full((160, 1), np.nan, np.float32), "not_finite"),
    (np.zeros((0, 1), np.float32), "empty"),
    (np.zeros((160, 1), np.int16), "unsupported_format"),
    (np.zeros((2, 3, 4), np.float32), "bad_channels"),
])
def test_unreadable_chunks_are_refused_by_reason(samples, reason):
    buffer = AudioBuffer(SPEC)
    assert not buffer.push(AudioChunk(samples, RATE, 0.0))
    assert not buffer.push(AudioChunk(np.zeros((160, 1), np.float32), 0, 0.0))
    assert buffer.stats[f"refused_{reason}"] == 1 and buffer.stats["refused_bad_rate"] == 1
    assert buffer.stats["chunks_refused"] == 2 and buffer.end == -np.inf and not buffer.received


def test_clipping_is_counted_and_the_sound_used():
    x = noise(2.0, level=0.1, seed=6)
    x[int(0.55 * RATE):int(0.65 * RATE)] = np.clip(x[int(0.55 * RATE):int(0.65 * RATE)] * 30, -1, 1)
    buffer = fill(x)
    assert buffer.stats["clipped_chunks"] == 2  # 0.5-0.6 and 0.6-0.7
    assert np.abs(buffer.window(1.0).samples).max() >= CLIP_LEVEL


def test_a_microphone_that_goes_silent_is_counted_silent():
    x = noise(6.0, seed=7)
    x[int(3.0 * RATE):] = 0.0  # digital silence from 3 s on
    buffer = fill(x)
    for stamp in STAMPS:
        buffer.window(stamp)
    silent = [s for s in STAMPS if s - SPEC.window_s >= 3.0]
    assert buffer.stats["silent_snippets"] == len(silent) >= 2
    assert buffer.stats["snippets_heard"] == len(STAMPS) - 1


def test_late_chunks_are_counted():
    x = noise(3.0, seed=8)
    buffer = AudioBuffer(SPEC)
    pieces = list(chunks(x))
    for chunk in pieces[:15]:
        buffer.push(chunk)
    window = buffer.window(1.92)  # [1.28, 1.92): 1.5-1.92 not yet here
    assert 0 < window.coverage < 1 and buffer.stats["snippets_partial"] == 1
    for chunk in pieces[15:]:
        buffer.push(chunk)
    assert buffer.stats["chunks_late"] == 5  # 1.5 ... 1.9 belonged to the window already taken


def test_memory_is_bounded():
    buffer = AudioBuffer(SPEC, keep_s=KEEP_S)
    for i in range(600):  # a minute in 0.1 s chunks
        buffer.push(AudioChunk(noise(0.1, seed=i)[:, None], RATE, i * 0.1))
    assert buffer.nbytes <= (KEEP_S + 0.2) * RATE * 4
    assert buffer.window(59.0).coverage == 1.0 and buffer.window(40.0).coverage == 0.0


def test_pushing_and_taking_from_two_threads():
    x = noise(20.0, seed=10)
    buffer = AudioBuffer(SPEC)
    errors = []

    def take():
        try:
            for stamp in np.arange(0.64, 20, 0.32):
                buffer.window(float(stamp), count=False)
        except Exception as exc:  # pragma: no cover - the failure this test looks for
            errors.append(exc)

    reader = threading.Thread(target=take)
    reader.start()
    for chunk in chunks(x, seconds=0.02):
        buffer.push(chunk)
    reader.join()
    assert not errors and buffer.stats["chunks"] == 1000 and not buffer.stats["chunks_lost"]


def test_loudest_impulse_finds_a_bang_in_noise():
    x = noise(0.64, level=0.01, seed=11)
    x[5000:5080] = 0.8
    impulse = loudest_impulse(x, RATE, 10.0)
    assert impulse.stamp == pytest.approx(10.0 + 5000 / RATE, abs=0.011)
    assert impulse.loud and impulse.rise_db > 30 and impulse.peak_dbfs == pytest.approx(20 * np.log10(0.8), abs=0.01)
    steady = loudest_impulse(noise(0.64, level=0.1, seed=12), RATE, 0.0)
    assert not steady.loud
