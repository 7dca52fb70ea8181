# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""ROS image messages -> RGB: pixels checked against OpenCV and an independent BT.601 formula."""

from __future__ import annotations

import array
import struct
import zlib
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from tcvads_ros.errors import TcvadsError
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.image_convert import (
    ENCODINGS,
    MAX_SIDE,
    REASONS,
    ImageConversionError,
    compressed_to_rgb,
    image_to_rgb,
    message_to_frame,
    message_to_rgb,
)

RNG = np.random.default_rng(0)
H, W = 6, 10
RGB = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)


def pad_rows(pixels: np.ndarray, step: int, fill: int = 0xAB) -> bytes:
    """Lay out (H, row_bytes) rows with `step` bytes per row; padding is garbage."""
    rows = pixels.reshape(pixels.shape[0], -1).view(np.uint8)
    out = np.full((rows.shape[0], step), fill, np.uint8)
    out[:, : rows.shape[1]] = rows
    return out.tobytes()


def convert(
    encoding: str, pixels: np.ndarray, step: int | None = None, big: bool = False
) -> np.ndarray:
    row_bytes = pixels.reshape(pixels.shape[0], -1).view(np.uint8).shape[1]
    step = row_bytes if step is None else step
    return image_to_rgb(
        encoding, pixels.shape[0], pixels.shape[1], step, big, pad_rows(pixels, step)
    )


@pytest.mark.parametrize(
    "encoding, make",
    [
        ("rgb8", lambda rgb: rgb),
        ("bgr8", lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)),
        ("rgba8", lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)),
        ("bgra8", lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA)),
    ],
)
@pytest.mark.parametrize("padding", [0, 3, 17])
def test_colour_encodings_round_trip_exactly(encoding, make, padding):
    pixels = make(RGB)
    step = W * pixels.shape[2] + padding
    out = convert(encoding, pixels, step)
    assert out.dtype == np.uint8 and out.shape == (H, W, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, RGB)


def test_mono8_is_grey_in_all_channels():
    grey = RNG.integers(0, 256, (H, W), dtype=np.uint8)
    out = convert("mono8", grey[..., None], W + 5)
    np.testing.assert_array_equal(out, np.repeat(grey[..., None], 3, axis=2))


@pytest.mark.parametrize("big", [False, True])
def test_mono16_scaled_to_8_bit_honours_endianness(big):
    # Every 16-bit value, against round(v * 255 / 65535) computed in exact integers.
    values = np.arange(65536, dtype=np.int64).reshape(256, 256)
    expected = ((values * 255 + 32767) // 65535).astype(np.uint8)
    raw = values.astype(">u2" if big else "<u2")
    out = image_to_rgb(
        "mono16", 256, 256, 256 * 2 + 4, int(big), pad_rows(raw[..., None], 256 * 2 + 4)
    )
    np.testing.assert_array_equal(out[..., 0], expected)
    np.testing.assert_array_equal(out[..., 2], expected)
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255


@pytest.mark.parametrize("encoding", ["rgb16", "bgr16"])
@pytest.mark.parametrize("big", [False, True])
def test_16_bit_colour(encoding, big):
    values16 = RGB.astype(np.uint16) * 257  # exact 8-bit values in 16-bit range
    pixels = values16 if encoding == "rgb16" else values16[..., ::-1]
    raw = np.ascontiguousarray(pixels).astype(">u2" if big else "<u2")
    out = convert(encoding, raw, W * 6 + 2, big)
    np.testing.assert_array_equal(out, RGB)


def test_wrong_endianness_flag_changes_the_picture():
    values = (RGB.astype(np.uint16) * 257 + 1).astype("<u2")  # low byte differs from high byte
    right = convert("rgb16", values, big=False)
    wrong = convert("rgb16", values, big=True)
    np.testing.assert_array_equal(right, RGB)
    assert not np.array_equal(wrong, right)


def bt601_yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Studio-swing BT.601 YCbCr -> RGB, written out independently of OpenCV."""
    y, u, v = (np.asarray(a, np.float64) for a in (y, u, v))
    c, d, e = 1.164 * (y - 16.0), u - 128.0, v - 128.0
    rgb = np.stack([c + 1.596 * e, c - 0.392 * d - 0.813 * e, c + 2.017 * d], axis=-1)
    return np.clip(np.round(rgb), 0, 255)


@pytest.mark.parametrize(
    "encoding, order",
    [("yuv422", "uyvy"), ("uyvy", "uyvy"), ("yuv422_yuy2", "yuyv"), ("yuyv", "yuyv")],
)
def test_yuv422_packed_matches_bt601_formula(encoding, order):
    y = RNG.integers(16, 236, (H, W), dtype=np.uint8)
    u = RNG.integers(16, 241, (H, W // 2), dtype=np.uint8)
    v = RNG.integers(16, 241, (H, W // 2), dtype=np.uint8)
    packed = np.empty((H, W // 2, 4), np.uint8)
    if order == "uyvy":
        packed[..., 0], packed[..., 1], packed[..., 2], packed[..., 3] = (
            u,
            y[:, 0::2],
            v,
            y[:, 1::2],
        )
    else:
        packed[..., 0], packed[..., 1], packed[..., 2], packed[..., 3] = (
            y[:, 0::2],
            u,
            y[:, 1::2],
            v,
        )
    out = image_to_rgb(encoding, H, W, W * 2 + 6, 0, pad_rows(packed.reshape(H, W, 2), W * 2 + 6))
    expected = bt601_yuv_to_rgb(y, np.repeat(u, 2, axis=1), np.repeat(v, 2, axis=1))
    assert np.abs(out.astype(int) - expected).max() <= 2


def test_ros_yuv422_is_uyvy_and_matches_opencv_encoder():
    # Encode with OpenCV (RGB -> UYVY), decode as ROS "yuv422": colours survive up to chroma loss.
    smooth = np.repeat(np.repeat(RGB[:3, :5], 2, axis=0), 2, axis=1)  # 2x2 blocks: chroma-friendly
    uyvy = cv2.cvtColor(smooth, cv2.COLOR_RGB2YUV_UYVY)
    out = image_to_rgb("yuv422", 6, 10, 20, 0, uyvy.tobytes())
    assert np.abs(out.astype(int) - smooth.astype(int)).mean() < 3
    yuyv = cv2.cvtColor(smooth, cv2.COLOR_RGB2YUV_YUY2)
    np.testing.assert_array_equal(image_to_rgb("yuv422_yuy2", 6, 10, 20, 0, yuyv.tobytes()), out)


def test_output_does_not_alias_the_message_buffer():
    data = bytearray(RGB.tobytes())
    out = image_to_rgb("rgb8", H, W, W * 3, 0, data)
    data[:] = bytes(len(data))
    np.testing.assert_array_equal(out, RGB)


@pytest.mark.parametrize(
    "args, reason",
    [
        (("rgb9", H, W, W * 3, 0, RGB.tobytes()), "unsupported_encoding"),
        (("8UC3", H, W, W * 3, 0, RGB.tobytes()), "unsupported_encoding"),
        ((None, H, W, W * 3, 0, RGB.tobytes()), "bad_message"),
        (("rgb8", "6", W, W * 3, 0, RGB.tobytes()), "bad_message"),
        (("rgb8", H, W, W * 3, 0, "not bytes"), "bad_message"),
        (("rgb8", H, W, W * 3, 0, np.zeros(H * W * 3, np.float32)), "bad_message"),
        (("rgb8", -1, W, W * 3, 0, b""), "bad_dimensions"),
        (("yuv422", H, 9, 18, 0, bytes(H * 18)), "bad_dimensions"),
        (("rgb8", 0, W, W * 3, 0, b""), "zero_size"),
        (("rgb8", H, 0, 0, 0, b""), "zero_size"),
        (("mono8", MAX_SIDE + 1, 1, 1, 0, bytes(MAX_SIDE + 1)), "too_large"),
        (("rgb8", H, W, W * 3 - 1, 0, RGB.tobytes()), "bad_step"),
        (("rgb8", H, W, W * 3, 0, RGB.tobytes()[:-1]), "truncated"),
        (("rgb8", H, W, W * 3, 0, b""), "truncated"),
        (("rgb8", H, W, W * 3, 0, RGB.tobytes() + b"\0"), "size_mismatch"),
        (("mono16", H, W, W * 2, 0, bytes(H * W)), "truncated"),
    ],
)
def test_rejections_carry_a_stable_reason(args, reason):
    with pytest.raises(ImageConversionError) as info:
        image_to_rgb(*args)
    assert info.value.reason == reason
    assert isinstance(info.value, TcvadsError) and str(info.value).startswith(reason)


def test_unknown_reason_code_is_a_programming_error():
    with pytest.raises(ValueError):
        ImageConversionError("something_new")
    assert len(set(REASONS)) == len(REASONS)


def encode(ext: str, rgb: np.ndarray, *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), list(params))
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize(
    "fmt", ["png", "PNG", "rgb8; png compressed bgr8", "bgr8; png compressed bgr8", ""]
)
def test_png_decodes_exactly(fmt):
    np.testing.assert_array_equal(compressed_to_rgb(fmt, encode(".png", RGB)), RGB)


def test_jpeg_decodes_close_to_the_source():
    smooth = cv2.GaussianBlur(cv2.resize(RGB, (64, 48), interpolation=cv2.INTER_NEAREST), (7, 7), 0)
    out = compressed_to_rgb(
        "rgb8; jpeg compressed bgr8", encode(".jpg", smooth, cv2.IMWRITE_JPEG_QUALITY, 98)
    )
    assert out.shape == smooth.shape
    error = np.abs(out.astype(int) - smooth.astype(int)).mean()
    swapped = np.abs(out[..., ::-1].astype(int) - smooth.astype(int)).mean()
    assert error < 6 and swapped > 5 * error  # lossy, but the channel order is right


def test_compressed_rgb8_target_keeps_channel_order():
    # A codec that stored RGB in OpenCV's BGR slots: no swap on the way out.
    ok, buf = cv2.imencode(".png", RGB)
    np.testing.assert_array_equal(
        compressed_to_rgb("rgb8; png compressed rgb8", buf.tobytes()), RGB
    )


@pytest.mark.parametrize(
    "fmt, data, reason",
    [
        ("h264", b"\x00\x00\x00\x01" * 10, "unsupported_format"),
        ("16UC1; compressedDepth png", b"x" * 20, "unsupported_format"),
        ("jpeg", b"", "zero_size"),
        ("png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "decode_failed"),
        ("jpeg", b"not an image at all", "decode_failed"),
        (None, b"abc", "bad_message"),
    ],
)
def test_compressed_rejections(fmt, data, reason):
    with pytest.raises(ImageConversionError) as info:
        compressed_to_rgb(fmt, data)
    assert info.value.reason == reason


def test_truncated_png_is_decode_failed():
    png = encode(".png", RGB)
    with pytest.raises(ImageConversionError) as info:
        compressed_to_rgb("png", png[: len(png) // 2])
    assert info.value.reason == "decode_failed"


TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)


def rosbags_image(encoding: str, pixels: np.ndarray, sec: int = 12, nanosec: int = 500_000_000):
    types = TYPESTORE.types
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id="cam"
    )
    data = np.ascontiguousarray(pixels).reshape(-1).view(np.uint8)
    return types["sensor_msgs/msg/Image"](
        header=header,
        height=pixels.shape[0],
        width=pixels.shape[1],
        encoding=encoding,
        is_bigendian=0,
        step=data.size // pixels.shape[0],
        data=data,
    )


def test_rosbags_messages_after_a_cdr_round_trip():
    msg = rosbags_image("bgr8", cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR))
    raw = TYPESTORE.serialize_cdr(msg, "sensor_msgs/msg/Image")
    back = TYPESTORE.deserialize_cdr(raw, "sensor_msgs/msg/Image")
    frame = message_to_frame(back, index=7)
    assert isinstance(frame, Frame) and frame.index == 7 and frame.header.frame_id == "cam"
    assert frame.stamp == pytest.approx(12.5)
    np.testing.assert_array_equal(frame.rgb, RGB)

    types = TYPESTORE.types
    compressed = types["sensor_msgs/msg/CompressedImage"](
        header=msg.header, format="png", data=np.frombuffer(encode(".png", RGB), np.uint8)
    )
    np.testing.assert_array_equal(message_to_rgb(compressed), RGB)


def test_rclpy_style_message_with_array_data():
    # rclpy hands uint8[] fields over as array.array('B').
    header = SimpleNamespace(stamp=SimpleNamespace(sec=3, nanosec=250_000_000), frame_id="cam")
    msg = SimpleNamespace(
        header=header,
        height=H,
        width=W,
        encoding="rgb8",
        is_bigendian=0,
        step=W * 3,
        data=array.array("B", RGB.tobytes()),
    )
    frame = message_to_frame(msg, index=0)
    assert frame.stamp == pytest.approx(3.25)
    np.testing.assert_array_equal(frame.rgb, RGB)
    assert message_to_frame(msg, index=1, stamp=9.0).stamp == 9.0


def test_message_without_fields_is_bad_message():
    with pytest.raises(ImageConversionError) as info:
        message_to_rgb(SimpleNamespace(encoding="rgb8", height=1))
    assert info.value.reason == "bad_message"
    with pytest.raises(ImageConversionError) as info:
        message_to_frame(SimpleNamespace(format="png", data=encode(".png", RGB)), index=0)
    assert info.value.reason == "bad_message"  # no header stamp


def test_every_encoding_has_a_test_here():
    tested = {
        "rgb8",
        "bgr8",
        "rgba8",
        "bgra8",
        "mono8",
        "mono16",
        "rgb16",
        "bgr16",
        "yuv422",
        "uyvy",
        "yuv422_yuy2",
        "yuyv",
    }
    assert tested <= set(ENCODINGS)
    # rgba16 / bgra16 go through the same path as rgb16; check one pixel layout here.
    values16 = cv2.cvtColor(RGB, cv2.COLOR_RGB2BGRA).astype(np.uint16) * 257
    np.testing.assert_array_equal(convert("bgra16", values16.astype("<u2")), RGB)
    values16 = cv2.cvtColor(RGB, cv2.COLOR_RGB2RGBA).astype(np.uint16) * 257
    np.testing.assert_array_equal(convert("rgba16", values16.astype(">u2"), big=True), RGB)


def test_grey_and_16_bit_png_payloads_become_grey_rgb():
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    ok, png = cv2.imencode(".png", grey)
    out = compressed_to_rgb("mono8; png compressed mono8", png.tobytes())
    np.testing.assert_array_equal(out, np.repeat(grey[..., None], 3, axis=2))
    deep = grey.astype(np.uint16) * 257
    ok, png16 = cv2.imencode(".png", deep)
    out = compressed_to_rgb("mono16; png compressed mono16", png16.tobytes())
    np.testing.assert_array_equal(out[..., 0], grey)


def png_declaring(width: int, height: int) -> bytes:
    """A small, well-formed PNG whose IHDR declares `width` x `height` (the pixels are absent)."""
    png = bytearray(encode(".png", RGB))
    ihdr = png[12:29]  # chunk type + 13 data bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    png[12:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(png)


def jpeg_declaring(width: int, height: int) -> bytes:
    jpeg = bytearray(encode(".jpg", RGB))
    sof = jpeg.index(b"\xff\xc0")  # baseline start-of-frame: length, precision, height, width
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(jpeg)


@pytest.mark.parametrize(
    "payload", [png_declaring(60000, 60000), jpeg_declaring(60000, 40000), png_declaring(9000, 2)]
)
def test_a_header_declaring_a_huge_image_is_refused_before_decoding(payload):
    with pytest.raises(ImageConversionError) as info:
        compressed_to_rgb("", payload)
    assert info.value.reason == "too_large" and "declares" in str(info.value)


def test_a_real_image_over_the_limit_is_refused():
    wide = np.zeros((2, MAX_SIDE + 1, 3), np.uint8)
    with pytest.raises(ImageConversionError) as info:
        compressed_to_rgb("png", encode(".png", wide))
    assert info.value.reason == "too_large"
    assert compressed_to_rgb("png", encode(".png", wide[:, :MAX_SIDE])).shape == (2, MAX_SIDE, 3)
