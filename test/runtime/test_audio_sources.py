# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A file's sound: muxed in MP4 / MKV / AVI, a WAV beside a video, a WAV given directly; on the
video's clock; cut into chunks and fed by stamps."""

from __future__ import annotations

import numpy as np
import pytest
from audio_files import bangs, write_av, write_wav

from tcvads_ros.data.synthetic_audio import read_wav
from tcvads_ros.data.synthetic_audio import write_wav as synth_write_wav
from tcvads_ros.errors import SourceError
from tcvads_ros.runtime.audio import loudest_impulse
from tcvads_ros.runtime.audio_sources import AudioTrack, TrackFeeder, read_audio_track

FRAMES = [np.full((48, 64, 3), 10 * (i % 20), np.uint8) for i in range(50)]  # 2 s at 25 fps


@pytest.mark.parametrize("name, video, audio, rate", [
    ("h264_aac.mp4", "libx264", "aac", 16000),
    ("h264_pcm.mkv", "libx264", "pcm_s16le", 44100),
    ("mpeg4_opus.mkv", "mpeg4", "libopus", 48000),
    ("mpeg4_aac.mp4", "mpeg4", "aac", 44100),
    ("mpeg4_pcm.avi", "mpeg4", "pcm_s16le", 16000),
])
def test_the_sound_muxed_in_a_video_is_read_on_the_videos_clock(tmp_path, name, video, audio, rate):
    path = write_av(tmp_path / name, FRAMES, bangs(2.0, [1.2], rate), rate, video_codec=video, audio_codec=audio)
    track = read_audio_track(path)
    assert track is not None and track.rate == rate and track.channels == 1 and track.path == str(path)
    assert track.samples.dtype == np.float32 and np.abs(track.samples).max() <= 1.0
    assert abs(track.start_s) < 0.03 and 1.99 <= track.duration <= 2.1
    impulse = loudest_impulse(track.samples[:, 0], track.rate, track.start_s)
    assert impulse.stamp == pytest.approx(1.2, abs=0.011) and impulse.loud


def test_a_sound_that_starts_late_keeps_its_start(tmp_path):
    path = write_av(tmp_path / "late.mkv", FRAMES, bangs(1.0, [0.3]), audio_codec="pcm_s16le", audio_start_s=0.5)
    track = read_audio_track(path)
    assert track.start_s == pytest.approx(0.5, abs=1e-3)
    assert loudest_impulse(track.samples[:, 0], track.rate, track.start_s).stamp == pytest.approx(0.8, abs=0.011)


def test_stereo_keeps_its_channels(tmp_path):
    x = bangs(1.0, [0.5])
    track = read_audio_track(write_wav(tmp_path / "s.wav", np.stack([x, -x], 1)))
    assert track.channels == 2 and np.allclose(track.samples[:, 0], -track.samples[:, 1], atol=1e-4)


def test_a_video_without_sound_reads_the_wav_beside_it_or_none(tmp_path):
    video = write_av(tmp_path / "clip.mp4", FRAMES, None)
    assert read_audio_track(video) is None
    pcm = (bangs(2.0, [0.7]) * 32767).astype(np.int16)
    synth_write_wav(tmp_path / "clip.wav", pcm)  # what `tcvads synth --audio` writes beside a video
    track = read_audio_track(video)
    assert track.path == str(tmp_path / "clip.wav") and track.rate == 16000 and track.start_s == 0.0
    assert np.array_equal(track.samples[:, 0], read_wav(tmp_path / "clip.wav")[0])


def test_a_wav_given_directly_and_an_unreadable_file(tmp_path):
    x = bangs(1.0, [0.5])
    assert np.allclose(read_audio_track(write_wav(tmp_path / "a.wav", x)).samples[:, 0], x, atol=1e-4)
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all" * 10)
    with pytest.raises(SourceError, match="FFmpeg cannot open"):
        read_audio_track(tmp_path / "bad.mp4")
    with pytest.raises(SourceError, match="no such file"):
        read_audio_track(tmp_path / "missing.mp4")


def test_chunks_cover_the_track_on_its_clock_and_the_feeder_keeps_ahead_of_the_frames():
    track = AudioTrack(np.arange(16000 * 2, dtype=np.float32)[:, None] / 1e5, 16000, start_s=0.25)
    chunks = list(track.chunks(0.1))
    assert len(chunks) == 20 and chunks[3].stamp == pytest.approx(0.55)
    assert np.array_equal(np.concatenate([c.samples for c in chunks]), track.samples)
    feeder = TrackFeeder(track, 0.1, ahead_s=1.0)
    first = feeder.until(0.0)
    assert [round(c.stamp, 2) for c in first] == [0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95]
    assert feeder.until(0.0) == [] and len(feeder.until(0.5)) == 5
    assert len(feeder.rest()) == 7 and feeder.rest() == []
