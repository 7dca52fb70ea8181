# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A file's sound: the audio stream of a video (or audio) file, or the WAV beside a video.

`read_audio_track(path)` returns the whole track as an `AudioTrack` ((n, channels) float32 in
[-1, 1], its rate, and `start_s`: where its first sample lies on the video's clock, the clock of
the frames' stamps), or None where the file has no sound. It reads, in this order:

1. the file's own audio stream (MP4, MKV, AVI, MOV ... with sound, or an audio file: WAV, FLAC,
   Ogg, MP3), decoded with PyAV (FFmpeg's libraries);
2. for a video without one, the WAV with the same stem beside it (``videos/<name>.wav``, what
   `tcvads synth --audio` writes).

PyAV was chosen over soundfile by measurement (docs/audio.md, "Reading a file's sound"):
soundfile (libsndfile) reads WAV, FLAC and Ogg but not the sound muxed into an MP4 or MKV, which
is where cameras and phones put it; PyAV reads both, and resamples (`audio.AudioBuffer`).

`AudioTrack.chunks(seconds)` cuts the track into `AudioChunk`s on the video's clock, the form in
which sound enters the runtime (`tcvads detect` feeds them ahead of the frames, camera_player
publishes them); `TrackFeeder` hands them out by the frames' stamps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tcvads_ros.errors import SourceError
from tcvads_ros.runtime.audio_convert import AudioChunk

# Files that are sound alone: no sidecar is looked for beside them.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac")
SIDECAR_SUFFIX = ".wav"
CHUNK_S = 0.1  # the length of the chunks a track is cut into (a ROS audio driver's order)
AHEAD_S = 1.0  # how far ahead of the frames a file's sound is fed (`TrackFeeder`)


@dataclass
class AudioTrack:
    """A whole sound track: `samples` (n, channels) float32 in [-1, 1] at `rate`, the first
    one at `start_s` seconds on the video's clock; `path` the file it was read from."""

    samples: np.ndarray
    rate: int
    start_s: float = 0.0
    path: str = ""

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        return self.samples.shape[0] / self.rate

    def chunks(self, seconds: float = CHUNK_S) -> Iterator[AudioChunk]:
        """The track in chunks of `seconds` (the last one shorter), stamped on the video's clock."""
        step = max(1, int(round(seconds * self.rate)))
        for first in range(0, self.samples.shape[0], step):
            yield AudioChunk(self.samples[first:first + step], self.rate, self.start_s + first / self.rate)


def read_audio_track(path: str | Path) -> AudioTrack | None:
    """The sound of a video or audio file (its own audio stream, else the WAV beside a video);
    None where it has none. `SourceError` where the file cannot be read or its sound decoded."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    track = _decode(path)
    if track is None and path.suffix.lower() not in AUDIO_SUFFIXES:
        sidecar = path.with_suffix(SIDECAR_SUFFIX)
        if sidecar.is_file() and sidecar != path:
            track = _decode(sidecar)
    return track


def _decode(path: Path) -> AudioTrack | None:
    """The first audio stream of a file (PyAV), or None where it has none."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: FFmpeg cannot open it ({exc}); convert it, e.g. "
                          "`ffmpeg -i IN -c:v libx264 -c:a aac OUT.mp4`") from exc
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        video_start = 0.0
        if container.streams.video:
            video = container.streams.video[0]
            if video.start_time is not None and video.time_base is not None:
                video_start = float(video.start_time * video.time_base)
        pieces, first_time, resampler, bad = [], None, None, 0
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:  # a damaged packet: its sound is lost, the rest is read
                bad += 1
                continue
            for frame in frames:
                if resampler is None:  # to planar float, whatever the stream's sample format
                    resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=frame.sample_rate)
                    first_time = frame.time
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray())
        if resampler is not None:
            pieces += [out.to_ndarray() for out in resampler.resample(None)]
        if not pieces:
            if bad:
                raise SourceError(f"{path}: its sound cannot be decoded ({bad} damaged packets)")
            return None
        samples = np.clip(np.concatenate(pieces, axis=1).T, -1.0, 1.0).astype(np.float32)
        if samples.shape[0] == 0:
            return None
        start = (float(first_time) if first_time is not None else 0.0) - video_start
        return AudioTrack(np.ascontiguousarray(samples), int(stream.rate or resampler.rate), start, str(path))


def frames_with_sound(source, listener) -> Iterator:
    """`source`'s frames, each after the sound to be heard before it has been handed to
    `listener` (a `TwoStagePipeline` or `CoarseDetector`: ``push_audio``, ``audio_refused``,
    ``audio_ended``): the source's `audio_until` (a chunk, or the reason one could not be read),
    and its `audio_rest` when the frames end. `tcvads detect` and `tcvads calibrate` feed a
    source's sound so, ahead of its frames by stamps."""

    def hear(items) -> None:
        for item in items:
            if isinstance(item, str):
                listener.audio_refused(item)
            else:
                listener.push_audio(item)

    for frame in source:
        hear(source.audio_until(frame.stamp))
        if source.audio_finished:
            listener.audio_ended()
        yield frame
    hear(source.audio_rest())
    listener.audio_ended()


class TrackFeeder:
    """A track's chunks handed out by the frames' stamps: `until(stamp)` gives the chunks that
    start before ``stamp + ahead_s`` not yet given, so the sound of a snippet is in the buffer
    when its frame is fed (a file's sound is all there; nothing needs to wait for it)."""

    def __init__(self, track: AudioTrack, seconds: float = CHUNK_S, ahead_s: float = AHEAD_S):
        self.track, self.ahead_s = track, float(ahead_s)
        self._chunks = track.chunks(seconds)
        self._next: AudioChunk | None = next(self._chunks, None)

    def until(self, stamp: float) -> list[AudioChunk]:
        out = []
        while self._next is not None and self._next.stamp < stamp + self.ahead_s:
            out.append(self._next)
            self._next = next(self._chunks, None)
        return out

    @property
    def done(self) -> bool:
        """Whether every chunk has been given."""
        return self._next is None

    def rest(self) -> list[AudioChunk]:
        """Every chunk not yet given (the frames have ended)."""
        out = [] if self._next is None else [self._next]
        out += list(self._chunks)
        self._next = None
        return out
