# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Property tests: any image message either converts to the right RGB frame or is rejected with
a specific, counted reason; nothing else ever escapes (docs/failures.md).

The expected pixels are computed independently of the converter (numpy channel indexing, a
float 16 -> 8 bit rescale, the BT.601 formula for YUV 4:2:2), so a wrong channel order, a wrong
endianness or a step mistake shows up as a pixel mismatch, not just as "did not crash".
Several thousand examples per run; `--hypothesis-show-statistics` prints the counts.
"""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tcvads_ros.runtime.image_convert import (
    ENCODINGS,
    MAX_SIDE,
    REASONS,
    ImageConversionError,
    compressed_to_rgb,
    image_to_rgb,
    message_to_rgb,
)


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


# (channels, bytes per channel, channel -> RGB index map or "yuv" / "uyvy" order)
LAYOUT = {
    "rgb8": (3, 1, [0, 1, 2]),
    "bgr8": (3, 1, [2, 1, 0]),
    "rgba8": (4, 1, [0, 1, 2]),
    "bgra8": (4, 1, [2, 1, 0]),
    "mono8": (1, 1, [0, 0, 0]),
    "mono16": (1, 2, [0, 0, 0]),
    "rgb16": (3, 2, [0, 1, 2]),
    "bgr16": (3, 2, [2, 1, 0]),
    "rgba16": (4, 2, [0, 1, 2]),
    "bgra16": (4, 2, [2, 1, 0]),
    "yuv422": (2, 1, "uyvy"),
    "uyvy": (2, 1, "uyvy"),
    "yuv422_yuy2": (2, 1, "yuyv"),
    "yuyv": (2, 1, "yuyv"),
}


def test_layout_table_covers_every_supported_encoding():
    assert set(LAYOUT) == set(ENCODINGS)


def bt601(y, u, v):
    # Studio-swing BT.601; luma below the foot (16) counts as black, as in OpenCV.
    c, d, e = 1.164 * np.maximum(y - 16.0, 0.0), u - 128.0, v - 128.0
    return np.clip(np.stack([c + 1.596 * e, c - 0.392 * d - 0.813 * e, c + 2.017 * d], -1), 0, 255)


def expected_rgb(encoding, height, width, step, big, data):
    """Independent reference decoding of a well-formed message, as float RGB."""
    channels, depth, order = LAYOUT[encoding]
    rows = np.frombuffer(data, np.uint8).reshape(height, step)[:, : width * channels * depth]
    if depth == 2:
        values = np.ascontiguousarray(rows).view(">u2" if big else "<u2").astype(np.float64)
        pixels = np.rint(values * 255.0 / 65535.0).reshape(height, width, channels)
    else:
        pixels = rows.astype(np.float64).reshape(height, width, channels)
    if isinstance(order, list):
        return pixels[..., order]
    quads = pixels.reshape(height, width // 2, 4)
    if order == "uyvy":
        u, y0, v, y1 = (quads[..., i] for i in range(4))
    else:
        y0, u, y1, v = (quads[..., i] for i in range(4))
    y = np.stack([y0, y1], -1).reshape(height, width)
    return bt601(y, np.repeat(u, 2, 1), np.repeat(v, 2, 1))


def expected_reason(encoding, height, width, step, size):
    """The rejection the contract promises, in the converter's documented order; None = valid."""
    layout = LAYOUT.get(encoding.strip().lower())
    if layout is None:
        return "unsupported_encoding"
    channels, depth, order = layout
    if height < 0 or width < 0:
        return "bad_dimensions"
    if height == 0 or width == 0:
        return "zero_size"
    if height > MAX_SIDE or width > MAX_SIDE:
        return "too_large"
    if isinstance(order, str) and width % 2:
        return "bad_dimensions"
    if step < width * channels * depth:
        return "bad_step"
    if size < step * height:
        return "truncated"
    if size > step * height:
        return "size_mismatch"
    return None


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy, percent_good: int) -> st.SearchStrategy:
    """`good` about `percent_good` % of the time, else `bad` (so valid messages get tested too)."""
    return st.integers(0, 99).flatmap(lambda roll: good if roll < percent_good else bad)


encodings = mostly(
    st.sampled_from(sorted(ENCODINGS)),
    st.one_of(
        st.sampled_from(
            ["RGB8", " bgr8 ", "Mono16", "bayer_rggb8", "8UC3", "32FC1", "nv12", "", "yuv420"]
        ),
        st.text(max_size=12),
    ),
    75,
)
sides = mostly(
    st.integers(1, 24),
    st.one_of(st.just(0), st.integers(-3, -1), st.sampled_from([MAX_SIDE, MAX_SIDE + 1, 10**9])),
    85,
)


@fuzz(3000)
@given(
    encoding=encodings,
    height=sides,
    width=sides,
    padding=mostly(st.integers(0, 13), st.integers(-9, -1), 85),
    big=st.sampled_from([0, 1, True, False, 255]),
    size_delta=mostly(st.just(0), st.integers(-40, 40), 70),
    seed=st.integers(0, 2**32 - 1),
)
def test_raw_images_convert_correctly_or_are_rejected_with_their_reason(
    encoding, height, width, padding, big, size_delta, seed
):
    layout = LAYOUT.get(encoding.strip().lower(), (3, 1, None))
    row_bytes = max(width, 0) * layout[0] * layout[1]
    step = row_bytes + padding
    # Never allocate absurd payloads: huge headers are rejected before the data is looked at.
    size = max(0, min(step * max(height, 0), 64 * 64 * 8) + size_delta)
    data = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    reason = expected_reason(encoding, height, width, step, len(data))
    event(reason or "converted")
    try:
        out = image_to_rgb(encoding, height, width, step, big, data)
    except ImageConversionError as error:
        assert error.reason == reason, f"got {error.reason}, expected {reason}: {error}"
        return
    assert reason is None, f"converted although the contract says {reason}"
    assert out.dtype == np.uint8 and out.shape == (height, width, 3) and out.flags.c_contiguous
    reference = expected_rgb(encoding.strip().lower(), height, width, step, big, data)
    tolerance = 2 if isinstance(layout[2], str) else 0  # OpenCV's fixed-point BT.601
    assert np.abs(out.astype(np.float64) - reference).max() <= tolerance


def encoded(ext: str, rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


@fuzz(700)
@given(
    codec=st.sampled_from([".png", ".jpg"]),
    fmt=st.sampled_from(
        ["png", "jpeg", "rgb8; jpeg compressed bgr8", "bgr8; png compressed bgr8", ""]
    ),
    height=st.integers(1, 24),
    width=st.integers(1, 24),
    mutation=st.sampled_from(["none", "truncate", "flip", "garbage", "empty", "prefix"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_compressed_images_decode_or_fail_as_decode_failed(
    codec, fmt, height, width, mutation, seed
):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    payload = bytearray(encoded(codec, rgb))
    if mutation == "truncate":
        payload = payload[: int(rng.integers(0, len(payload)))]
    elif mutation == "flip":
        for index in rng.integers(0, len(payload), size=int(rng.integers(1, 8))):
            payload[index] ^= int(rng.integers(1, 256))
    elif mutation == "garbage":
        payload = bytearray(
            rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8).tobytes()
        )
    elif mutation == "empty":
        payload = bytearray()
    elif mutation == "prefix":
        payload = bytearray(b"\x00\x01junk") + payload
    try:
        out = compressed_to_rgb(fmt, bytes(payload))
    except ImageConversionError as error:
        event(f"{mutation}: {error.reason}")
        if not payload:
            expected = {"zero_size"}
        elif mutation in ("flip", "garbage"):  # a flipped header may declare a huge size
            expected = {"decode_failed", "too_large"}
        else:
            expected = {"decode_failed"}
        assert error.reason in expected, f"{mutation}: got {error.reason}: {error}"
        assert mutation != "none", f"an intact {codec} payload was refused: {error}"
        return
    event(f"{mutation}: converted")
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3 and out.flags.c_contiguous
    if mutation == "none":
        assert out.shape == rgb.shape
        if codec == ".png":
            np.testing.assert_array_equal(out, rgb)


ATTRIBUTES = ["header", "height", "width", "encoding", "is_bigendian", "step", "data", "format"]
junk_values = st.one_of(
    st.none(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.binary(max_size=64),
    st.lists(st.integers(-5, 300), max_size=32),
    st.booleans(),
)


@fuzz(600)
@given(fields=st.dictionaries(st.sampled_from(ATTRIBUTES), junk_values, max_size=len(ATTRIBUTES)))
def test_arbitrary_message_objects_never_escape_the_conversion_error(fields):
    try:
        result = message_to_rgb(SimpleNamespace(**fields))
    except ImageConversionError as error:  # what a node or source counts by its reason
        assert error.reason in REASONS
    else:
        assert result.dtype == np.uint8 and result.shape[2] == 3
