# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Raw PCM audio, as ROS 2 audio messages carry it, to float samples, without ROS.

`audio_common_msgs` (the ecosystem's audio messages) sends a chunk as ``AudioDataStamped``
(a header whose stamp is the time of the chunk's first sample, and ``audio.data``, raw bytes) and
describes the stream once in ``AudioInfo`` (``channels``, ``sample_rate``, ``sample_format`` in
GStreamer's names such as ``S16LE``, ``coding_format``). `pcm_to_float` turns such bytes into a
(frames, channels) float32 array in [-1, 1]; an `AudioChunk` is that array with its rate and stamp,
the one form in which sound enters the runtime (files, rosbags and topics alike).

A chunk that cannot be read raises `AudioConversionError` whose ``.reason`` is one of the stable
codes in `REASONS`, so a node or source can count refusals by reason and keep going (as
`image_convert` does for frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tcvads_ros.errors import TcvadsError

# GStreamer's raw audio formats -> (numpy dtype, full scale). 24-bit packed samples are read
# separately (`_s24`). Unsigned formats are centred on their midpoint.
FORMATS = {
    "S8": ("i1", 2.0 ** 7),
    "U8": ("u1", 2.0 ** 7),
    "S16LE": ("<i2", 2.0 ** 15),
    "S16BE": (">i2", 2.0 ** 15),
    "U16LE": ("<u2", 2.0 ** 15),
    "U16BE": (">u2", 2.0 ** 15),
    "S24LE": (None, 2.0 ** 23),
    "S24BE": (None, 2.0 ** 23),
    "S32LE": ("<i4", 2.0 ** 31),
    "S32BE": (">i4", 2.0 ** 31),
    "F32LE": ("<f4", 1.0),
    "F32BE": (">f4", 1.0),
    "F64LE": ("<f8", 1.0),
    "F64BE": (">f8", 1.0),
}
# Codings that are raw PCM (AudioInfo.coding_format); audio_capture's "mp3" is not.
PCM_CODINGS = ("", "wave", "wav", "pcm", "raw")
MAX_CHANNELS = 64
MAX_RATE = 384_000

REASONS = (
    "unsupported_format",  # sample_format not in FORMATS
    "compressed_coding",  # coding_format is not raw PCM (mp3, opus ...)
    "bad_channels",  # 0 or more than MAX_CHANNELS channels
    "bad_rate",  # sample rate 0, negative or above MAX_RATE
    "truncated",  # the bytes are not a whole number of frames
    "empty",  # no samples
    "not_finite",  # float samples that are NaN or infinite
)


class AudioConversionError(TcvadsError):
    """An audio chunk that cannot be turned into samples; ``.reason`` is one of `REASONS`."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class AudioChunk:
    """Samples (frames, channels) float32 in [-1, 1] at `rate`, the first one at `stamp` seconds
    on the stream's clock (the same clock as the frames' stamps)."""

    samples: np.ndarray
    rate: int
    stamp: float

    @property
    def duration(self) -> float:
        return self.samples.shape[0] / self.rate

    @property
    def end(self) -> float:
        """The stamp just after the last sample."""
        return self.stamp + self.duration


def _s24(data: bytes, big_endian: bool) -> np.ndarray:
    raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
    lo, mid, hi = (raw[:, 2], raw[:, 1], raw[:, 0]) if big_endian else (raw[:, 0], raw[:, 1], raw[:, 2])
    value = lo | (mid << 8) | (hi << 16)
    return np.where(value >= 1 << 23, value - (1 << 24), value)


def pcm_to_float(data: bytes, sample_format: str, channels: int, coding_format: str = "") -> np.ndarray:
    """(frames, channels) float32 samples in [-1, 1] from interleaved raw PCM bytes."""
    fmt = str(sample_format).strip().upper()
    if str(coding_format).strip().lower() not in PCM_CODINGS:
        raise AudioConversionError("compressed_coding", f"coding format '{coding_format}' is not raw PCM "
                                   "(publish raw audio: audio_capture with format 'wave')")
    if fmt not in FORMATS:
        raise AudioConversionError("unsupported_format", f"sample format '{sample_format}' is not supported "
                                   f"(supported: {', '.join(FORMATS)})")
    if not 1 <= int(channels) <= MAX_CHANNELS:
        raise AudioConversionError("bad_channels", f"{channels} channels (1 to {MAX_CHANNELS} are read)")
    dtype, scale = FORMATS[fmt]
    width = 3 if dtype is None else np.dtype(dtype).itemsize
    if not data:
        raise AudioConversionError("empty", "an audio chunk with no samples")
    if len(data) % (width * channels):
        raise AudioConversionError(
            "truncated", f"{len(data)} bytes are not whole frames of {channels} x {width}-byte {fmt} samples")
    if dtype is None:
        values = _s24(data, fmt.endswith("BE")).astype(np.float64)
    else:
        values = np.frombuffer(data, dtype=dtype).astype(np.float64)
        if fmt.startswith("U"):
            values -= scale
    if not np.all(np.isfinite(values)):
        raise AudioConversionError("not_finite", f"{fmt} samples that are NaN or infinite")
    return np.clip(values / scale, -1.0, 1.0).astype(np.float32).reshape(-1, channels)


def check_rate(rate: int) -> int:
    """`rate` as an int, or `AudioConversionError` ("bad_rate")."""
    if not 0 < int(rate) <= MAX_RATE:
        raise AudioConversionError("bad_rate", f"sample rate {rate} Hz (1 to {MAX_RATE} are read)")
    return int(rate)
