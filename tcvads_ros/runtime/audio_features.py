# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The audio branch's one feature rule: which sound belongs to a snippet, and its log-mel patch.

Training (its audio cache) and every runtime path (`tcvads detect`, coarse_node) call these
functions, so the features a bundle was trained on are the features it is given (docs/audio.md).

- **Which sound** (`snippet_window`): snippet s is represented by its first frame (stamp t, the
  snippet clock of docs/ARCHITECTURE.md); its sound is the `window_s` seconds of the audio
  track ending `lead_s` after t, ``[t + lead_s - window_s, t + lead_s)``, in the audio track's
  own timestamps. With the default ``lead_s = 0`` the sound is what was heard up to the frame,
  so a live stream can score the snippet as its frame arrives; the causal QACM sees the
  snippets before it, and the teacher's alignment window (models/audio.py) absorbs what is left
  of misalignment between the two clocks.
- **Its features** (`log_mel`): mono float samples in [-1, 1] at `AudioSpec.rate`; frames of
  `n_fft` samples every `hop` samples (no padding; a periodic Hann window); the power spectrum
  through `n_mels` triangular filters on the HTK mel scale between `fmin` and `fmax`
  (`mel_filterbank`); then ``log(mel + 1e-6)``. A window of ``window_s`` seconds always gives
  ``AudioSpec.mel_frames`` frames, the audio graph's fixed input.

NumPy and OpenCV (its DFT) only: the edge path imports no torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from tcvads_ros.errors import BundleError

LOG_FLOOR = 1e-6  # added before the log, so silence is a finite floor (log(1e-6) = -13.8)


@dataclass(frozen=True)
class AudioSpec:
    """The audio branch's settings, as the bundle's manifest records them (``manifest.audio``).

    Args:
        rate: samples per second the features are taken at; other rates are resampled to it.
        window_s: seconds of sound per snippet.
        lead_s: where the window ends, relative to the snippet's stamp (0: at its frame).
        n_fft: samples per spectrum frame (25 ms at 16 kHz).
        hop: samples between spectrum frames (10 ms at 16 kHz).
        n_mels: mel filters.
        fmin, fmax: the mel filters' frequency range in Hz (fmax at most rate / 2).
        embedding_dim: size of the audio graph's output, concatenated to the visual feature
            as the QACM's input.
    """

    rate: int = 16000
    window_s: float = 0.64
    lead_s: float = 0.0
    n_fft: int = 400
    hop: int = 160
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float = 8000.0
    embedding_dim: int = 32

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.n_fft <= 0 or self.hop <= 0 or self.n_mels <= 0 or self.embedding_dim <= 0:
            raise ValueError("rate, n_fft, hop, n_mels and embedding_dim must be positive")
        if not 0 <= self.fmin < self.fmax <= self.rate / 2:
            raise ValueError(f"need 0 <= fmin < fmax <= rate / 2 ({self.rate / 2:g} Hz), "
                             f"got fmin {self.fmin:g}, fmax {self.fmax:g}")
        if self.window_samples < self.n_fft:
            raise ValueError(f"window_s {self.window_s:g} s is shorter than one spectrum frame ({self.n_fft} samples)")

    @property
    def window_samples(self) -> int:
        """Samples in one snippet's window."""
        return int(round(self.window_s * self.rate))

    @property
    def mel_frames(self) -> int:
        """Spectrum frames in one snippet's window: the audio graph's time axis."""
        return 1 + (self.window_samples - self.n_fft) // self.hop

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_manifest(cls, audio: dict, where: str = "manifest.json") -> AudioSpec:
        """The spec of a manifest's ``audio`` mapping; `BundleError` naming what is wrong."""
        unknown = sorted(set(audio) - set(cls.__dataclass_fields__))
        if unknown:
            raise BundleError(f"{where}: unknown 'audio' keys {', '.join(unknown)}; re-export the bundle "
                              "with this tcvads_ros")
        try:
            return cls(**audio)
        except (TypeError, ValueError) as exc:
            raise BundleError(f"{where}: 'audio' settings are invalid ({exc}); re-export the bundle") from exc


def snippet_window(stamp: float, spec: AudioSpec) -> tuple[float, float]:
    """The half-open time range ``[start, end)`` (seconds, the stream's clock) of the sound that
    belongs to the snippet whose frame has `stamp`."""
    end = stamp + spec.lead_s
    return end - spec.window_s, end


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """The HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(spec: AudioSpec) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters, peak 1, centres evenly spaced in mel between
    fmin and fmax; filter m rises from centre m-1 to centre m and falls to centre m+1."""
    edges = mel_to_hz(np.linspace(hz_to_mel(spec.fmin), hz_to_mel(spec.fmax), spec.n_mels + 2))
    freqs = np.fft.rfftfreq(spec.n_fft, 1.0 / spec.rate)
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - low) / (centre - low)
    falling = (high - freqs[None, :]) / (high - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


_FILTERS: dict[AudioSpec, tuple[np.ndarray, np.ndarray]] = {}


def _filters(spec: AudioSpec) -> tuple[np.ndarray, np.ndarray]:
    """(Hann window, mel filterbank) of `spec`, made once per spec."""
    if spec not in _FILTERS:
        window = (0.5 - 0.5 * np.cos(2 * math.pi * np.arange(spec.n_fft) / spec.n_fft)).astype(np.float32)
        _FILTERS[spec] = window, mel_filterbank(spec)
    return _FILTERS[spec]


def log_mel(samples: np.ndarray, spec: AudioSpec) -> np.ndarray:
    """(n_mels, frames) float32 log-mel energies of mono float `samples` at ``spec.rate``.

    A snippet's window (`AudioSpec.window_samples` samples) gives `AudioSpec.mel_frames` frames.
    """
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"log_mel takes mono samples (n,), got shape {x.shape}")
    if x.size < spec.n_fft:
        raise ValueError(f"log_mel needs at least {spec.n_fft} samples, got {x.size}")
    window, filters = _filters(spec)
    frames = np.lib.stride_tricks.sliding_window_view(x, spec.n_fft)[:: spec.hop] * window
    # OpenCV's DFT of every row (about 5x NumPy's rfft on these short float32 rows, which is
    # most of a snippet's audio cost on the edge; docs/audio.md); bins 0..n_fft/2 as (re, im).
    spectrum = cv2.dft(np.ascontiguousarray(frames), flags=cv2.DFT_ROWS | cv2.DFT_COMPLEX_OUTPUT)
    half = spectrum[:, : spec.n_fft // 2 + 1]
    power = half[..., 0] ** 2 + half[..., 1] ** 2  # (frames, bins)
    return np.log(filters @ power.T + LOG_FLOOR).astype(np.float32)


def snippet_log_mels(samples: np.ndarray, stamps: np.ndarray, spec: AudioSpec,
                     start_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The (N, n_mels, mel_frames) log-mel patches of the snippets whose frames have `stamps`,
    from a whole track (`samples` at ``spec.rate``, its first sample at `start_s` seconds), and
    the fraction (N,) of each window the track covers. Sound outside the track is silence (zeros)
    in the patch; a caller decides from the coverage whether the snippet was heard at all.
    Training's audio cache and `tcvads detect` on a file use this."""
    x = np.asarray(samples, dtype=np.float32)
    n, mels = spec.window_samples, []
    cover = np.zeros(len(stamps), dtype=np.float32)
    for i, stamp in enumerate(np.asarray(stamps, dtype=np.float64)):
        begin = int(round((snippet_window(float(stamp), spec)[0] - start_s) * spec.rate))
        window = np.zeros(n, dtype=np.float32)
        lo, hi = max(begin, 0), min(begin + n, x.size)
        if hi > lo:
            window[lo - begin: hi - begin] = x[lo:hi]
            cover[i] = (hi - lo) / n
        mels.append(log_mel(window, spec))
    shape = (0, spec.n_mels, spec.mel_frames)
    return (np.stack(mels) if mels else np.zeros(shape, np.float32)), cover
