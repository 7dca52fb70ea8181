# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The pipeline with sound: each snippet's audio feature from its own window, zeros where
nothing was heard; waiting for late sound by stamps; a bundle without sound unchanged; a silent
source scored from vision with one notice; every fault counted and the stream going on; the
explanation saying when the sound drove the score."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from audio_files import bangs
from hearing_bundle import make_hearing_bundle
from tiny_bundle import TINY_AUDIO, make_tiny_bundle

from tcvads_ros.runtime.audio_convert import AudioChunk
from tcvads_ros.runtime.audio_features import log_mel, snippet_log_mels
from tcvads_ros.runtime.audio_sources import AudioTrack, TrackFeeder
from tcvads_ros.runtime.backends.onnxruntime import OnnxRuntimeBackend
from tcvads_ros.runtime.events import EventConfig
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.multi_stream import MultiStreamPipeline
from tcvads_ros.runtime.pipeline import QUIET_NOTICE_SNIPPETS, PipelineConfig, TwoStagePipeline

FPS = 25.0
RATE = TINY_AUDIO.rate
SNIPPET_S = 16 / FPS


@pytest.fixture(scope="module")
def audio_bundle(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("audio") / "b", audio=TINY_AUDIO.to_dict())[0]


@pytest.fixture(scope="module")
def plain_bundle(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("plain") / "b")[0]


@pytest.fixture(scope="module")
def hearing(tmp_path_factory):
    return make_hearing_bundle(tmp_path_factory.mktemp("hearing") / "b")


def scene(seconds, start=0):
    rng = np.random.default_rng(0)
    for i in range(start, int(round(seconds * FPS))):
        yield Frame(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8), i / FPS, i)


def noise(seconds, level=0.05, seed=1, rate=RATE):
    return (level * np.random.default_rng(seed).standard_normal(int(round(seconds * rate)))).astype(np.float32)


def pipeline(bundle, **cfg):
    cfg = {"fine": False, "stream": "cam", **cfg}
    return TwoStagePipeline(bundle, OnnxRuntimeBackend(bundle), PipelineConfig(**cfg))


def run(p, seconds, track=None, ahead=1.0, chunk_s=0.1, drop=(), edit=None, end=True):
    """Frames of `seconds`, the track's chunks fed `ahead` seconds ahead of them (negative:
    behind, a late microphone); chunk indices in `drop` never arrive; `edit(chunk)` changes a chunk."""
    updates = []
    feeder = None if track is None else TrackFeeder(track, chunk_s, ahead_s=ahead)
    pieces = 0
    for frame in scene(seconds):
        for chunk in [] if feeder is None else feeder.until(frame.stamp):
            if pieces not in drop:
                p.push_audio(edit(chunk) if edit else chunk)
            pieces += 1
        updates.append(p.feed([frame]))
    if end:
        if feeder is not None:
            for chunk in feeder.rest():
                p.push_audio(chunk)
        updates.append(p.end())
    return updates


def notices(updates):
    return [n for u in updates for n in u.notices]


def audio_rows(p):
    """The audio part of the QACM's window (oldest first)."""
    return p.coarse.features.latest()[:, p.bundle.manifest.feature_dim:]


def expected_rows(bundle, backend, x, stamps, start_s=0.0):
    """The audio features the one feature rule gives for a whole track (zeros: unheard)."""
    mels, cover = snippet_log_mels(x, stamps, bundle.audio, start_s)
    out = backend.run("coarse_audio", {"mel": mels})["features"]
    return np.where(cover[:, None] > 0, out, 0.0)


def test_each_snippet_gets_its_own_windows_audio_feature(audio_bundle):
    x = noise(4.0)
    p = pipeline(audio_bundle)
    run(p, 4.0, AudioTrack(x[:, None], RATE))
    window = audio_bundle.manifest.window
    stamps = np.arange(0, 4.0, SNIPPET_S)[-window:]
    assert np.allclose(audio_rows(p), expected_rows(audio_bundle, p.backend, x, stamps), atol=1e-5)
    assert p.coarse.features.latest().shape[1] == audio_bundle.manifest.feature_dim + TINY_AUDIO.embedding_dim
    stats = p.stats
    assert stats["processed"] == 7 and stats["events_samples"] == 7
    assert stats["audio.snippets_missing"] == 1 and stats["audio.snippets_heard"] == 6  # 0 s: before the sound


def test_a_bundle_without_sound_ignores_pushed_sound_and_says_so_once(plain_bundle):
    quiet, loud = pipeline(plain_bundle), pipeline(plain_bundle)
    run(quiet, 3.0)
    updates = run(loud, 3.0, AudioTrack(noise(3.0)[:, None], RATE))
    assert loud.stats["audio.chunks_ignored"] == 30 and not any(k.startswith("audio.snippets") for k in loud.stats)
    said = notices(updates)
    assert len(said) == 1 and "no audio branch" in said[0]
    assert np.array_equal(quiet.coarse.features.latest(), loud.coarse.features.latest())
    assert [s.score for s in quiet.coarse.snippets] == [s.score for s in loud.coarse.snippets]


def test_an_audio_bundle_on_a_source_without_sound_scores_from_vision_says_so_once(audio_bundle):
    p = pipeline(audio_bundle)
    p.no_sound("the file has no audio track")
    updates = run(p, 6.0)
    said = notices(updates)
    assert len(said) == 1 and "has no sound (the file has no audio track)" in said[0]
    assert not audio_rows(p).any() and p.stats["audio.snippets_missing"] == p.stats["processed"] == 10
    assert p.stats["events_samples"] == 10  # every snippet scored, none left waiting


def test_a_live_stream_that_never_has_sound_is_told_once_and_never_waits(audio_bundle):
    p = pipeline(audio_bundle)
    updates = run(p, 10.0, end=False)
    assert p.coarse.pending == 0 and p.stats["events_samples"] == p.stats["processed"] == 16
    said = notices(updates)
    assert len(said) == 1 and "has had no sound so far" in said[0]
    assert sum(bool(u.notices) for u in updates) == 1
    assert [i for i, u in enumerate(updates) if u.notices][0] == 16 * (QUIET_NOTICE_SNIPPETS - 1)


def test_late_sound_is_waited_for_by_stamps_and_scores_as_if_on_time(audio_bundle):
    # sound fed 0.3 s behind the frames (a microphone's chunks arriving after the frames): each
    # snippet waits until its window is covered; the features are those of sound fed ahead
    x = noise(5.0, seed=3)
    on_time, late = pipeline(audio_bundle), pipeline(audio_bundle)
    run(on_time, 5.0, AudioTrack(x[:, None], RATE))
    feeder, scored_at = TrackFeeder(AudioTrack(x[:, None], RATE), 0.1, ahead_s=-0.3), []
    for frame in scene(5.0):
        for chunk in feeder.until(frame.stamp):
            late.push_audio(chunk)
        before = late.stats["events_samples"]
        late.feed([frame])
        scored_at += [frame.index] * (late.stats["events_samples"] - before)
    late.end()
    assert np.array_equal(audio_rows(late), audio_rows(on_time))
    assert [s.score for s in late.coarse.snippets] == [s.score for s in on_time.coarse.snippets]
    assert late.stats["audio.chunks_late"] == 0 and late.stats["audio.snippets_partial"] == 0
    # the snippet at frame 16 k is scored when the chunk holding its stamp has come (it is handed
    # over 0.3 s after its own start): 5-10 frames later; the first, heard by nobody, at once
    assert scored_at[0] == 0 and len(scored_at) == 8
    assert all(5 <= at - 16 * k <= 10 for k, at in enumerate(scored_at) if k), scored_at


def test_sound_later_than_the_wait_is_scored_partial_and_its_chunks_counted_late(audio_bundle):
    x = noise(5.0, seed=4)
    p = pipeline(audio_bundle, audio_wait_s=0.2)
    run(p, 5.0, AudioTrack(x[:, None], RATE), ahead=-0.5)
    stats = p.stats
    assert stats["audio.snippets_partial"] >= 5 and stats["audio.chunks_late"] >= 5
    assert stats["events_samples"] == stats["processed"] == 8


@pytest.mark.parametrize("offset", [-0.5, 0.5])
def test_sound_offset_by_half_a_second_is_windowed_by_its_stamps(audio_bundle, offset):
    x = noise(5.0, seed=5)
    p = pipeline(audio_bundle)
    run(p, 5.0, AudioTrack(x[:, None], RATE, start_s=offset))
    stamps = np.arange(0, 5.0, SNIPPET_S)[-audio_bundle.manifest.window:]
    assert np.allclose(audio_rows(p), expected_rows(audio_bundle, p.backend, x, stamps, offset), atol=1e-5)
    # early: the first window [-0.64, 0) is heard from -0.5 on; late: the one at 0.64 s from 0.5 on
    cover = snippet_log_mels(x, np.arange(0, 5.0, SNIPPET_S), audio_bundle.audio, offset)[1]
    assert p.stats["audio.snippets_partial"] == int(((cover > 0) & (cover < 1)).sum()) == 1
    assert p.stats["audio.snippets_missing"] == int((cover == 0).sum()) == (1 if offset > 0 else 0)


def test_dropped_chunks_are_counted_lost_and_the_stream_goes_on(audio_bundle):
    p = pipeline(audio_bundle)
    run(p, 6.0, AudioTrack(noise(6.0)[:, None], RATE), drop=set(range(20, 28)) | {45})
    stats = p.stats
    assert stats["audio.chunks_lost"] == 9 and stats["audio.lost_ms"] == 900
    assert stats["audio.snippets_partial"] >= 2 and stats["events_samples"] == stats["processed"] == 10


def test_a_microphone_that_goes_silent_mid_stream_is_counted_and_scoring_goes_on(audio_bundle):
    x = noise(12.0, seed=6)
    x[int(4.0 * RATE):] = 0.0
    p = pipeline(audio_bundle)
    updates = run(p, 12.0, AudioTrack(x[:, None], RATE))
    stats = p.stats
    assert stats["audio.silent_snippets"] == 11 and stats["events_samples"] == stats["processed"] == 19
    said = notices(updates)
    assert len(said) == 1 and "silent since 4.48 s" in said[0]


def test_clipping_is_counted(audio_bundle):
    x = np.clip(noise(3.0, level=0.05) * 40, -1, 1)
    p = pipeline(audio_bundle)
    run(p, 3.0, AudioTrack(x[:, None], RATE))
    assert p.stats["audio.clipped_chunks"] == 30 and p.stats["audio.snippets_heard"] == 4


def test_another_rate_and_stereo_give_the_bundle_rates_features(audio_bundle):
    t44 = np.arange(int(4 * 44100)) / 44100
    t16 = np.arange(int(4 * RATE)) / RATE
    mono16 = (0.3 * np.sin(2 * np.pi * 1000 * t16)).astype(np.float32)[:, None]
    stereo44 = np.stack([0.3 * np.sin(2 * np.pi * 1000 * t44)] * 2, 1).astype(np.float32)
    reference, resampled = pipeline(audio_bundle), pipeline(audio_bundle)
    run(reference, 4.0, AudioTrack(mono16, RATE))
    run(resampled, 4.0, AudioTrack(stereo44, 44100))
    assert resampled.stats["audio.chunks_resampled"] == 40
    assert np.allclose(audio_rows(resampled), audio_rows(reference), atol=1e-3)


def test_sound_pushed_from_another_thread(audio_bundle):
    x = noise(8.0, seed=7)
    p = pipeline(audio_bundle)
    chunks = list(AudioTrack(x[:, None], RATE).chunks(0.02))

    def microphone():
        for chunk in chunks:
            p.push_audio(chunk)

    thread = threading.Thread(target=microphone)
    thread.start()
    for frame in scene(8.0):
        p.feed([frame])
    thread.join()
    p.end()
    assert p.stats["audio.chunks"] == 400 and not p.stats["audio.chunks_lost"] and not p.stats["audio.chunks_refused"]
    assert p.stats["events_samples"] == p.stats["processed"] == 13


def test_each_stream_of_a_multi_stream_pipeline_hears_its_own_sound(audio_bundle):
    x, y = noise(4.0, seed=8), noise(4.0, level=0.2, seed=9)
    alone = pipeline(audio_bundle)
    run(alone, 4.0, AudioTrack(y[:, None], RATE))
    backend = OnnxRuntimeBackend(audio_bundle)
    streams = {i: TwoStagePipeline(audio_bundle, backend, PipelineConfig(fine=False, stream=f"cam{i}"))
               for i in (0, 1)}
    multi = MultiStreamPipeline(backend, streams)
    for i, track in ((0, x), (1, y)):
        for chunk in AudioTrack(track[:, None], RATE).chunks():
            multi.push_audio(i, chunk)
    for frame in scene(4.0):
        multi.feed([(0, frame), (1, frame)])
    multi.end()
    assert np.allclose(audio_rows(streams[1]), audio_rows(alone), atol=1e-6)
    assert not np.allclose(audio_rows(streams[0]), audio_rows(streams[1]))


def test_the_explanation_says_the_sound_drove_the_score_and_names_the_impulse(hearing):
    # quiet noise with a bang at 3.1 s: only the sound can raise this bundle's score
    x = bangs(8.0, [3.1], RATE)
    p = pipeline(hearing, fine=True, events=EventConfig(threshold_on=0.5, min_duration_s=0.0))
    updates = run(p, 8.0, AudioTrack(x[:, None], RATE))
    starts = [e for u in updates for e in u.events if e.kind == "start"]
    assert len(starts) == 1 and 3.1 <= starts[0].start_stamp <= 3.1 + SNIPPET_S + 1e-6
    explanation = [e for u in updates for e, _ in u.explanations][0]
    sound = explanation.sound
    assert sound.drove and sound.score > 0.9 and sound.score_without_sound < 0.01
    assert sound.impulse["stamp"] == pytest.approx(3.1, abs=0.011) and sound.impulse["rise_db"] > 20
    text = explanation.to_text()
    assert "sound:      drove the score" in text and "loud impulse at 3.10s" in text
    assert "sound@3.10s" in explanation.headline()


def test_without_the_sound_the_same_bang_stays_quiet(hearing):
    p = pipeline(hearing, fine=True, events=EventConfig(threshold_on=0.5, min_duration_s=0.0))
    p.no_sound("muted")
    updates = run(p, 8.0)
    assert not [e for u in updates for e in u.events]


def test_heard_windows_log_mel_is_the_graphs_input(audio_bundle):
    # the feature the pipeline writes is the graph on `log_mel` of the window, nothing else
    x = noise(3.0, seed=10)
    p = pipeline(audio_bundle)
    run(p, 3.0, AudioTrack(x[:, None], RATE))
    last = p.coarse.snippets.newest()
    window = p.coarse.audio.window(last.stamp, count=False)
    graph = p.backend.run("coarse_audio", {"mel": log_mel(window.samples, audio_bundle.audio)[None]})["features"][0]
    assert np.allclose(audio_rows(p)[-1], graph, atol=1e-6)
    assert last.sound is not None and last.sound.coverage == 1.0


def test_chunks_refused_by_the_buffer_are_counted_under_the_stream(audio_bundle):
    p = pipeline(audio_bundle)
    p.push_audio(AudioChunk(np.full((160, 1), np.nan, np.float32), RATE, 0.0))
    p.push_audio(AudioChunk(np.zeros((160, 1), np.float32), RATE, 0.0))
    p.push_audio(AudioChunk(np.zeros((160, 1), np.float32), RATE, -0.5))
    assert p.stats["audio.chunks_refused"] == 2 and p.stats["audio.refused_not_finite"] == 1
    assert p.stats["audio.refused_overlap"] == 1 and p.stats["audio.chunks"] == 3


def test_sound_in_bursts_scores_as_sound_on_time(audio_bundle):
    # a driver that hands over 0.4 s of sound at once, every 0.4 s (10 frames): snippets wait
    # for their sound by stamps and get the features of sound fed ahead
    x = noise(6.0, seed=11)
    on_time, bursty = pipeline(audio_bundle), pipeline(audio_bundle)
    run(on_time, 6.0, AudioTrack(x[:, None], RATE))
    chunks = list(AudioTrack(x[:, None], RATE).chunks(0.1))
    for frame in scene(6.0):
        if frame.index % 10 == 0:  # every 0.4 s: the chunks that ended by now
            while chunks and chunks[0].end <= frame.stamp + 1e-9:
                bursty.push_audio(chunks.pop(0))
        bursty.feed([frame])
    for chunk in chunks:
        bursty.push_audio(chunk)
    bursty.end()
    assert np.array_equal(audio_rows(bursty), audio_rows(on_time))
    assert bursty.stats["audio.snippets_partial"] == 0 and bursty.stats["audio.chunks_late"] == 0


def test_sound_on_another_clock_than_the_frames_is_named(audio_bundle):
    # sound stamped with the wall clock, frames from 0: no window ever hears anything
    p = pipeline(audio_bundle)
    chunks = AudioTrack(noise(10.0)[:, None], RATE, start_s=1.7e9).chunks()
    updates = []
    for frame in scene(8.0):
        if frame.index % 2 == 0:  # a chunk every 0.08 s, as the microphone sends them
            p.push_audio(next(chunks))
        updates.append(p.feed([frame]))
    updates.append(p.end())
    said = notices(updates)
    assert len(said) == 1 and "are sound and frames stamped on one clock?" in said[0]
    assert p.stats["audio.snippets_missing"] == p.stats["processed"] == 13
