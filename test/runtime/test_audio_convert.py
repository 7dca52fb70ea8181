# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Raw PCM bytes of every supported format to float samples, against the standard library's own
reading of the same bytes (`wave`/`array`), and the refusals by reason."""

import array
import struct
import sys

import numpy as np
import pytest

from tcvads_ros.runtime.audio_convert import (
    FORMATS,
    REASONS,
    AudioChunk,
    AudioConversionError,
    check_rate,
    pcm_to_float,
)

VALUES = [0, 1, -1, 12345, -32768, 32767, 100, -100]


def test_s16le_matches_the_standard_librarys_reading_and_interleaves_channels():
    data = array.array("h", VALUES)
    if sys.byteorder == "big":
        data.byteswap()
    out = pcm_to_float(data.tobytes(), "S16LE", 2)
    assert out.shape == (4, 2) and out.dtype == np.float32
    assert np.allclose(out.ravel(), np.array(VALUES) / 32768.0)
    assert out[0, 1] == pytest.approx(1 / 32768)  # the second value is the first frame's right channel


@pytest.mark.parametrize("fmt,pack,scale", [
    ("S16BE", ">h", 2 ** 15), ("S32LE", "<i", 2 ** 31), ("S32BE", ">i", 2 ** 31),
    ("F32LE", "<f", 1), ("F64BE", ">d", 1), ("S8", "b", 2 ** 7),
])
def test_each_format_reads_what_struct_packed(fmt, pack, scale):
    values = [0.5, -0.25, 0.0, 0.999] if scale == 1 else [v * scale // 4 for v in (1, -2, 0, 3)]
    data = b"".join(struct.pack(pack, int(v) if scale != 1 else v) for v in values)
    assert np.allclose(pcm_to_float(data, fmt, 1).ravel(), np.array(values, dtype=np.float64) / scale, atol=1e-7)


def test_unsigned_and_24_bit_samples():
    assert np.allclose(pcm_to_float(bytes([128, 0, 255]), "U8", 1).ravel(), [0.0, -1.0, 127 / 128])
    # 24-bit little endian: 0x7FFFFF (max), 0x800000 (min), 0x000001
    data = bytes([0xFF, 0xFF, 0x7F, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00])
    assert np.allclose(pcm_to_float(data, "S24LE", 1).ravel(), [(2 ** 23 - 1) / 2 ** 23, -1.0, 1 / 2 ** 23])
    big = bytes([0x7F, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x00, 0x01])
    assert np.allclose(pcm_to_float(big, "S24BE", 1), pcm_to_float(data, "S24LE", 1))


@pytest.mark.parametrize("args,reason", [
    ((b"\x00\x00", "MP3", 1), "unsupported_format"),
    ((b"\x00\x00", "S16LE", 1, "mp3"), "compressed_coding"),
    ((b"\x00\x00", "S16LE", 0), "bad_channels"),
    ((b"\x00\x00\x00", "S16LE", 1), "truncated"),
    ((b"\x00\x00", "S16LE", 2), "truncated"),
    ((b"", "S16LE", 1), "empty"),
    ((struct.pack("<f", float("nan")), "F32LE", 1), "not_finite"),
])
def test_refusals_name_a_stable_reason(args, reason):
    with pytest.raises(AudioConversionError) as err:
        pcm_to_float(*args)
    assert err.value.reason == reason and reason in REASONS


def test_rates_and_chunks():
    assert check_rate(16000) == 16000
    for bad in (0, -1, 10 ** 7):
        with pytest.raises(AudioConversionError, match="sample rate") as err:
            check_rate(bad)
        assert err.value.reason == "bad_rate"
    chunk = AudioChunk(np.zeros((1600, 1), np.float32), 16000, 2.0)
    assert chunk.duration == pytest.approx(0.1) and chunk.end == pytest.approx(2.1)
    assert set(FORMATS) >= {"S16LE", "F32LE", "S32LE", "U8"}


def test_float_samples_beyond_full_scale_are_clipped():
    data = struct.pack("<2f", 1.5, -3.0)
    assert np.allclose(pcm_to_float(data, "F32LE", 1).ravel(), [1.0, -1.0])
