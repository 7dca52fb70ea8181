# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A stream's sound between its arrival and the snippets that need it (docs/audio.md).

`AudioBuffer` holds one stream's stamped sound: every `AudioChunk` (a file's track in pieces, a
rosbag's or a topic's messages) is mixed to mono, converted to the bundle's rate
(`AudioSpec.rate`) and placed on the stream's clock by its stamp; a snippet then takes the
window of sound that belongs to it (`audio_features.snippet_window`: the `window_s` seconds
heard up to its frame), zero where nothing was heard, with the share of the window that was
(`AudioWindow.coverage`). Everything that goes wrong is counted in the stream's `Counters`
under ``audio.`` (`COUNTERS`), never raised.

- **Stamps.** A chunk's stamp is the time of its first sample, on the frames' clock. Within a
  run of chunks the samples themselves are the clock: a chunk whose stamp is within
  `max_jitter_s` (and `JITTER_SHARE` of its own length) of where the previous one ended continues the run (stamps of ROS audio are
  taken when a buffer is handed over and jitter; the sample count does not). A chunk that starts
  later than that leaves a gap (``chunks_lost``: the chunks that never arrived, estimated from the
  gap and the chunk's length; ``lost_ms``) and opens a new run at its own stamp; one that starts
  earlier overlaps sound already placed and is refused (``chunks_refused``,
  ``refused_overlap``), unless it is more than `sampling.RESET_S` back: the clock was reset (a
  bag replayed), and the buffer starts afresh (``resets``).
- **Rate.** Chunks at another rate than the bundle's are resampled by libsoxr (`soxr`, a library
  made for streaming resampling; its "HQ" quality), one `soxr.ResampleStream` per run, so a run
  is filtered as one signal (no edge effect at chunk boundaries) and its first output sample is
  its first input sample's (soxr compensates its filter delay; the last few milliseconds of a run
  come out with the next chunk, or when the run ends). Chosen over PyAV's `av.AudioResampler`
  (FFmpeg's libswresample), which the file reader uses anyway, by measurement: the same
  alignment and error, at a third of the time per chunk (docs/audio.md).
- **Content.** A chunk that reaches full scale (``|x| >= CLIP_LEVEL`` in any channel) is counted
  ``clipped_chunks``; it is used as it is. A window heard whose RMS is below `SILENT_DBFS` is
  counted ``silent_snippets`` (a microphone muted, unplugged at the analogue side, or sending
  digital zeros): it is scored as heard, silence is what it heard.
- **Lateness.** A chunk that arrives after a window it belongs to has been taken is counted
  ``chunks_late`` (it still serves later windows). How long the pipeline waits for sound before
  it takes a window is the pipeline's rule (`pipeline.CoarseDetector`, docs/audio.md).
- **Memory** is bounded: sound older than `keep_s` before the newest is dropped, and so are
  the oldest pieces beyond `MAX_PIECES`.

Thread-safe: a node's audio callback pushes while its frame callback takes windows. NumPy and
soxr only (no torch).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from tcvads_ros.runtime.audio_convert import (
    MAX_CHANNELS,
    AudioChunk,
    AudioConversionError,
    check_rate,
)
from tcvads_ros.runtime.audio_features import AudioSpec, snippet_window
from tcvads_ros.runtime.sampling import RESET_S
from tcvads_ros.runtime.stats import Counters

# A sample at or beyond this magnitude is at full scale: the chunk was clipped on its way in.
CLIP_LEVEL = 0.999
# A window quieter than this (RMS, dB relative to full scale) heard nothing: a dead microphone.
# A quiet room through a real microphone is around -60 dBFS; digital silence is -inf.
SILENT_DBFS = -70.0
# How far a chunk's stamp may stray from where the previous chunk ended and still continue it.
MAX_JITTER_S = 0.1
# ... and at most this share of the chunk's own length, so that one missing chunk is a gap.
JITTER_SHARE = 0.75
# Seconds of sound kept behind the newest sample (the windows a stream still needs are the last
# few; a second or so of audio ahead of the frames, plus the pipeline's wait).
KEEP_S = 10.0
MAX_PIECES = 4096
# The names this module counts under the stream's ``audio.`` scope (docs/audio.md).
COUNTERS = ("chunks", "chunks_lost", "lost_ms", "chunks_late", "chunks_refused", "chunks_resampled",
            "clipped_chunks", "resets", "snippets_heard", "snippets_partial", "snippets_missing",
            "silent_snippets")
# The loudest impulse of a window is its loudest block of `IMPULSE_BLOCK_S`; "loud impulse" where
# it stands `IMPULSE_RISE_DB` above the window's median block (its background), else "loudest sound".
IMPULSE_BLOCK_S = 0.01
IMPULSE_RISE_DB = 20.0


def dbfs(power: float) -> float:
    """Mean square (full scale 1) in dB relative to full scale; -inf for silence."""
    return 10.0 * math.log10(power) if power > 0 else -math.inf


@dataclass(frozen=True)
class Impulse:
    """The loudest short sound of a window: when (stream seconds), its sample peak (dBFS) and
    how far its block's energy stands above the window's median block (dB)."""

    stamp: float
    peak_dbfs: float
    rise_db: float

    @property
    def loud(self) -> bool:
        """Whether it stands out of its background as an impulse (`IMPULSE_RISE_DB`)."""
        return self.rise_db >= IMPULSE_RISE_DB


def loudest_impulse(samples: np.ndarray, rate: int, start: float, covered: np.ndarray | None = None) -> Impulse | None:
    """The loudest `IMPULSE_BLOCK_S` block of mono `samples` (the first at stream time `start`),
    among the blocks wholly `covered` (a bool mask; all where None); None where none is."""
    block = max(1, int(round(IMPULSE_BLOCK_S * rate)))
    n = samples.size // block
    if n == 0:
        return None
    blocks = samples[: n * block].reshape(n, block).astype(np.float64)
    power = (blocks ** 2).mean(axis=1)
    usable = np.ones(n, bool) if covered is None else covered[: n * block].reshape(n, block).all(axis=1)
    if not usable.any():
        return None
    power_used = np.where(usable, power, -1.0)
    loudest = int(np.argmax(power_used))
    if power[loudest] <= 0:
        return None
    background = float(np.median(power[usable]))
    rise = dbfs(power[loudest]) - dbfs(background) if background > 0 else math.inf
    peak = float(np.abs(blocks[loudest]).max())
    return Impulse(start + loudest * block / rate, 20.0 * math.log10(peak), min(rise, 200.0))


@dataclass
class AudioWindow:
    """The sound of one snippet: `samples` (window_samples,) mono at the bundle's rate, zero
    where nothing was heard; `coverage` the share heard; [start, end) its stream time; `spans`
    the heard parts, [first, last) sample indices; `level_dbfs` the RMS of what was heard."""

    samples: np.ndarray
    coverage: float
    start: float
    end: float
    spans: list[tuple[int, int]]
    level_dbfs: float = -math.inf

    @property
    def heard(self) -> bool:
        """Whether any of the window was heard; one that was not gets the all-zero audio
        feature ("no sound: score from vision", the bundle's missing-sound convention)."""
        return self.coverage > 0.0

    def impulse(self, rate: int) -> Impulse | None:
        """The window's loudest impulse among what was heard (`loudest_impulse`); asked only
        where an explanation may need it, it costs as much as the log-mel."""
        if not self.spans:
            return None
        covered = np.zeros(self.samples.size, bool)
        for lo, hi in self.spans:
            covered[lo:hi] = True
        return loudest_impulse(self.samples, rate, self.start, covered)


class _Run:
    """Contiguous sound at the bundle's rate: sample i is at ``start + i / rate``."""

    def __init__(self, start: float, rate_in: int, rate: int):
        self.start, self.rate_in, self.rate = start, rate_in, rate
        self.pieces: deque[tuple[int, np.ndarray]] = deque()  # (index of its first sample, samples)
        self.n = 0  # samples placed (index one past the last)
        self.first = 0  # index of the oldest sample still held
        self.samples_in = 0  # input samples received (their clock: where the next chunk goes)
        self.resampler = None
        if rate_in != rate:
            import soxr  # only where a rate differs from the bundle's

            self.resampler = soxr.ResampleStream(rate_in, rate, 1, dtype="float32", quality="HQ")

    @property
    def next_stamp(self) -> float:
        """Where the next input chunk of this run starts."""
        return self.start + self.samples_in / self.rate_in

    @property
    def end(self) -> float:
        """The stamp just after the last sample placed."""
        return self.start + self.n / self.rate

    def add(self, mono: np.ndarray) -> None:
        self.samples_in += mono.size
        self._place(mono if self.resampler is None else self.resampler.resample_chunk(mono))

    def flush(self) -> None:
        """The resampler's last samples (its filter's tail), at the end of the run."""
        if self.resampler is not None:
            self._place(self.resampler.resample_chunk(np.zeros(0, np.float32), last=True))
            self.resampler = None

    def _place(self, samples: np.ndarray) -> None:
        if samples.size:
            self.pieces.append((self.n, np.asarray(samples, np.float32)))
            self.n += samples.size

    def trim(self, before: float) -> None:
        """Drop the pieces that end before stamp `before`."""
        while self.pieces and self.start + (self.pieces[0][0] + self.pieces[0][1].size) / self.rate < before:
            index, piece = self.pieces.popleft()
            self.first = index + piece.size

    def copy_into(self, out: np.ndarray, begin: int) -> None:
        """Copy this run's samples ``[begin, begin + len(out))`` into `out` (indices of this
        run), newest pieces first (windows are near the newest sound)."""
        end = begin + out.size
        for index, piece in reversed(self.pieces):
            if index + piece.size <= begin:
                break
            lo, hi = max(begin, index), min(end, index + piece.size)
            if hi > lo:
                out[lo - begin: hi - begin] = piece[lo - index: hi - index]


class AudioBuffer:
    """The stamped sound of one stream: mono, at the bundle's rate, windows by stamps, counted.

    Args:
        spec: the bundle's audio settings (rate, window).
        stats: where to count (the stream's ``Counters`` scoped ``audio.``; default a new one).
        keep_s: seconds of sound kept behind the newest sample.
        max_jitter_s: how far a chunk's stamp may stray from the end of the one before and
            still continue it (at most `JITTER_SHARE` of the chunk's own length, so a missing chunk is a gap).
    """

    def __init__(self, spec: AudioSpec, stats: Counters | None = None, keep_s: float = KEEP_S,
                 max_jitter_s: float = MAX_JITTER_S):
        if not keep_s > spec.window_s or max_jitter_s < 0:
            raise ValueError("AudioBuffer needs keep_s > the window and max_jitter_s >= 0")
        self.spec = spec
        self.stats = Counters() if stats is None else stats
        self.keep_s, self.max_jitter_s = float(keep_s), float(max_jitter_s)
        self._runs: deque[_Run] = deque()
        self._taken_end = -math.inf  # the end of the latest window taken
        self._lock = threading.Lock()
        self.received = False  # any chunk placed yet
        self._paused = False  # `pause` was called: the next chunk starts a run without counting a gap

    # -- sound in -------------------------------------------------------------------------------
    def push(self, chunk: AudioChunk) -> bool:
        """Place one chunk; False where it was refused (counted, with its reason)."""
        self.stats.add("chunks")
        try:
            mono, rate, stamp, clipped = _readable(chunk)
        except AudioConversionError as exc:
            self._refuse(exc.reason)
            return False
        # A stamp within three quarters of this chunk of where the last one ended continues it
        # (jitter), up to `max_jitter_s`: a whole chunk missing is a gap, never jitter.
        jitter = min(self.max_jitter_s, JITTER_SHARE * mono.size / rate)
        with self._lock:
            run = self._runs[-1] if self._runs else None
            if run is not None:
                shift = stamp - run.next_stamp
                if self._paused and shift >= -jitter:  # listening again after a pause: no loss
                    run.flush()
                    run = None
                elif shift < -RESET_S:  # the clock went back: a new timeline
                    self.stats.add("resets")
                    self._runs.clear()
                    self._taken_end = -math.inf
                    run = None
                elif shift < -jitter:
                    self._refuse("overlap")
                    return False
                elif shift > jitter:
                    self.stats.add_many({"chunks_lost": max(1, round(shift / max(mono.size / rate, 1e-9))),
                                         "lost_ms": int(round(shift * 1000))})
                    run.flush()
                    run = None
                elif rate != run.rate_in:  # the stream's rate changed: a new run, where this chunk goes
                    run.flush()
                    stamp, run = run.next_stamp, None
            if run is None:
                run = _Run(stamp, rate, self.spec.rate)
                self._runs.append(run)
            if run.next_stamp < self._taken_end:
                self.stats.add("chunks_late")
            if clipped:
                self.stats.add("clipped_chunks")
            if rate != self.spec.rate:
                self.stats.add("chunks_resampled")
            run.add(mono)
            self.received, self._paused = True, False
            self._trim()
        return True

    def refuse(self, reason: str) -> None:
        """A chunk that could not be read before it got here (`audio_convert`'s reason): counted
        as the buffer counts its own refusals."""
        self.stats.add("chunks")
        self._refuse(reason)

    def _refuse(self, reason: str) -> None:
        self.stats.add_many({"chunks_refused": 1, f"refused_{reason}": 1})

    def pause(self) -> None:
        """The stream stops listening for a while (a node deactivated): what comes after the pause
        starts a new run where it is stamped, and the time in between is not counted lost."""
        with self._lock:
            if self._runs:
                self._runs[-1].flush()
            self._paused = True

    def flush(self) -> None:
        """The stream's sound has ended (or paused): place what the resampler still holds."""
        with self._lock:
            if self._runs:
                self._runs[-1].flush()

    def _trim(self) -> None:
        newest = self._runs[-1].end
        for run in self._runs:
            run.trim(newest - self.keep_s)
        while self._runs and (not self._runs[0].pieces and self._runs[0] is not self._runs[-1]):
            self._runs.popleft()
        pieces = sum(len(r.pieces) for r in self._runs)
        while pieces > MAX_PIECES:
            oldest = next(r for r in self._runs if r.pieces)
            index, piece = oldest.pieces.popleft()
            oldest.first = index + piece.size
            pieces -= 1

    # -- windows out ----------------------------------------------------------------------------
    @property
    def end(self) -> float:
        """The stamp just after the newest sound placed (-inf before any)."""
        with self._lock:
            return self._runs[-1].end if self._runs else -math.inf

    def covered(self, stamp: float) -> bool:
        """Whether the sound up to the end of `stamp`'s window has arrived (a later window would
        gain nothing by waiting)."""
        return self.end >= snippet_window(stamp, self.spec)[1] - 0.5 / self.spec.rate

    def window(self, stamp: float, count: bool = True) -> AudioWindow:
        """The sound of the snippet whose frame has `stamp`, zero where none was heard.

        With `count` (the pipeline's use: the window is taken for scoring) it is counted as
        heard, partial, missing or silent, and chunks arriving later for it count as late."""
        spec = self.spec
        start, end = snippet_window(stamp, spec)
        n = spec.window_samples
        samples = np.zeros(n, np.float32)
        spans = []
        with self._lock:
            for run in self._runs:
                # the same rounding as `audio_features.snippet_log_mels`, so a whole track and
                # the same track in chunks give the same windows
                begin = int(round((start - run.start) * spec.rate))
                lo, hi = max(begin, run.first), min(begin + n, run.n)
                if hi > lo:
                    run.copy_into(samples[lo - begin: hi - begin], lo)
                    spans.append((lo - begin, hi - begin))
            if count:
                self._taken_end = max(self._taken_end, end)
        covered = sum(hi - lo for lo, hi in spans)  # runs never overlap
        window = AudioWindow(samples, covered / n, start, end, spans)
        if covered:
            energy = sum(float(np.dot(samples[lo:hi], samples[lo:hi])) for lo, hi in spans)
            window.level_dbfs = dbfs(energy / covered)
        if count:
            kind = "missing" if not covered else "heard" if covered == n else "partial"
            changes = {f"snippets_{kind}": 1}
            if covered and window.level_dbfs < SILENT_DBFS:
                changes["silent_snippets"] = 1
            self.stats.add_many(changes)
        return window

    @property
    def nbytes(self) -> int:
        """Bytes of sound held."""
        with self._lock:
            return sum(p.nbytes for r in self._runs for _, p in r.pieces)


def _readable(chunk: AudioChunk) -> tuple[np.ndarray, int, float, bool]:
    """(mono float32 samples, rate, stamp, clipped) of a chunk, or `AudioConversionError`."""
    rate = check_rate(chunk.rate)
    stamp = float(chunk.stamp)
    if not math.isfinite(stamp):
        raise AudioConversionError("bad_stamp", f"audio chunk stamp {chunk.stamp!r}")
    samples = np.asarray(chunk.samples)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or not 1 <= samples.shape[1] <= MAX_CHANNELS:
        raise AudioConversionError("bad_channels", f"audio samples of shape {samples.shape}: need (frames, channels)")
    if samples.shape[0] == 0:
        raise AudioConversionError("empty", "an audio chunk with no samples")
    if samples.dtype.kind != "f":
        raise AudioConversionError("unsupported_format", f"audio samples of dtype {samples.dtype}: need floats "
                                   "in [-1, 1] (audio_convert.pcm_to_float)")
    high, low = float(samples.max()), float(samples.min())
    if not (math.isfinite(high) and math.isfinite(low)):  # a NaN or an infinity anywhere reaches these
        raise AudioConversionError("not_finite", "audio samples that are NaN or infinite")
    clipped = high >= CLIP_LEVEL or low <= -CLIP_LEVEL
    if samples.shape[1] == 1:
        mono = samples[:, 0].astype(np.float32)  # a copy: the caller may reuse its buffer
    else:
        mono = samples.mean(axis=1, dtype=np.float32)
    if high > 1.0 or low < -1.0:
        mono = np.clip(mono, -1.0, 1.0)
    return mono, rate, stamp, clipped
