# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""ROS-style image messages to RGB numpy frames, without ROS and without cv_bridge.

`image_to_rgb` reads the fields of a `sensor_msgs/Image` (encoding, height, width, step,
is_bigendian, data) and `compressed_to_rgb` those of a `sensor_msgs/CompressedImage` (format,
data). Both always return a C-contiguous `uint8` array of shape (H, W, 3) in RGB order, or raise
`ImageConversionError` whose `.reason` is one of the stable codes in `REASONS`, so a node or a
source can count rejections by reason and keep running.

Encodings follow `sensor_msgs/image_encodings.hpp`: note that ROS's ``yuv422`` is UYVY byte
order (U0 Y0 V0 Y1) and ``yuv422_yuy2`` is YUYV (Y0 U0 Y1 V0); Jazzy adds the explicit names
``uyvy`` and ``yuyv``. The colour maths is OpenCV's (`cv2.cvtColor`, BT.601), the same as
cv_bridge, so both paths give the same pixels. 16-bit channels are scaled to 8 bit by
``round(v * 255 / 65535)`` (full range to full range).

A compressed payload's declared size is read from its header (Pillow, without decoding) and
refused before OpenCV would allocate it, so a corrupt or hostile header cannot ask for gigabytes.

The data must be exactly ``step * height`` bytes (the sensor_msgs/Image contract); anything else
says the header and the payload disagree and is refused rather than guessed at.
"""

from __future__ import annotations

import array
import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

from tcvads_ros.errors import TcvadsError
from tcvads_ros.runtime.frames import Frame

# Largest accepted image side in pixels: larger headers are almost certainly corrupt and would
# ask for gigabytes of memory.
MAX_SIDE = 8192

REASONS = (
    "bad_message",  # a field is missing or has the wrong type
    "unsupported_encoding",  # encoding not in ENCODINGS
    "bad_dimensions",  # negative size, or odd width for a YUV 4:2:2 encoding
    "zero_size",  # height or width is 0, or an empty compressed payload
    "too_large",  # a side longer than MAX_SIDE
    "bad_step",  # step shorter than one row of pixels
    "truncated",  # fewer bytes than step * height
    "size_mismatch",  # more bytes than step * height
    "unsupported_format",  # compressed format that OpenCV cannot decode (e.g. h264)
    "decode_failed",  # compressed payload is corrupt or truncated
)


class ImageConversionError(TcvadsError):
    """An image message that cannot be turned into an RGB frame.

    Attributes:
        reason: a short stable code from `REASONS`, for counters and diagnostics.
    """

    def __init__(self, reason: str, message: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown image conversion reason {reason!r}")
        self.reason = reason
        super().__init__(f"{reason}: {message}" if message else reason)


@dataclass(frozen=True)
class _Layout:
    channels: int
    depth: int  # bytes per channel
    to_rgb: Callable[[np.ndarray], np.ndarray]  # (H, W, channels) uint8 -> (H, W, 3) RGB
    even_width: bool = False


def _cvt(code: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda pixels: cv2.cvtColor(pixels, code)


def _identity(pixels: np.ndarray) -> np.ndarray:
    return pixels


ENCODINGS: dict[str, _Layout] = {
    "rgb8": _Layout(3, 1, _identity),
    "bgr8": _Layout(3, 1, _cvt(cv2.COLOR_BGR2RGB)),
    "rgba8": _Layout(4, 1, _cvt(cv2.COLOR_RGBA2RGB)),
    "bgra8": _Layout(4, 1, _cvt(cv2.COLOR_BGRA2RGB)),
    "mono8": _Layout(1, 1, _cvt(cv2.COLOR_GRAY2RGB)),
    "mono16": _Layout(1, 2, _cvt(cv2.COLOR_GRAY2RGB)),
    "rgb16": _Layout(3, 2, _identity),
    "bgr16": _Layout(3, 2, _cvt(cv2.COLOR_BGR2RGB)),
    "rgba16": _Layout(4, 2, _cvt(cv2.COLOR_RGBA2RGB)),
    "bgra16": _Layout(4, 2, _cvt(cv2.COLOR_BGRA2RGB)),
    "yuv422": _Layout(2, 1, _cvt(cv2.COLOR_YUV2RGB_UYVY), even_width=True),
    "uyvy": _Layout(2, 1, _cvt(cv2.COLOR_YUV2RGB_UYVY), even_width=True),
    "yuv422_yuy2": _Layout(2, 1, _cvt(cv2.COLOR_YUV2RGB_YUY2), even_width=True),
    "yuyv": _Layout(2, 1, _cvt(cv2.COLOR_YUV2RGB_YUY2), even_width=True),
}

# Codecs cv2.imdecode reads, as they appear in CompressedImage.format ("jpeg", "png",
# "rgb8; jpeg compressed bgr8", ...).
_CODECS = {"jpeg", "jpg", "png", "tiff", "tif", "bmp", "webp"}
# "compressed rgb8" means the codec stored RGB in the slots OpenCV reads as BGR.
_STORED_RGB = re.compile(r"compressed\s+rgba?(8|16)\b")


def _as_uint8(data: Any) -> np.ndarray:
    """The payload as a 1-D uint8 array, without copying where the buffer allows."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ImageConversionError("bad_message", f"data must hold uint8, got {data.dtype}")
        return data.reshape(-1)
    if isinstance(data, array.array):
        if data.itemsize != 1:
            raise ImageConversionError(
                "bad_message", f"data array has item size {data.itemsize}, expected 1"
            )
        return np.frombuffer(data, dtype=np.uint8)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return np.frombuffer(data, dtype=np.uint8)
    if isinstance(data, (list, tuple)):
        try:
            values = np.asarray(data, dtype=np.int64).reshape(-1)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ImageConversionError(
                "bad_message", f"data is not a list of bytes: {exc}"
            ) from exc
        if values.size and (values.min() < 0 or values.max() > 255):
            raise ImageConversionError("bad_message", "data list holds values outside 0..255")
        return values.astype(np.uint8)
    raise ImageConversionError(
        "bad_message", f"data must be bytes or a uint8 array, got {type(data).__name__}"
    )


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ImageConversionError("bad_message", f"{name} must be an integer, got {value!r}")
    return int(value)


def _scale_16_to_8(values: np.ndarray) -> np.ndarray:
    """round(v * 255 / 65535) of native uint16 (H, N); v / 257 never lands on .5, so no ties."""
    return cv2.convertScaleAbs(values, alpha=255.0 / 65535.0)


def image_to_rgb(
    encoding: str, height: int, width: int, step: int, is_bigendian: Any, data: Any
) -> np.ndarray:
    """Convert the fields of a `sensor_msgs/Image` to an RGB uint8 array (H, W, 3).

    Raises:
        ImageConversionError: with `.reason` in `REASONS` when the message cannot be converted.
    """
    if not isinstance(encoding, str):
        raise ImageConversionError("bad_message", f"encoding must be a string, got {encoding!r}")
    height, width, step = _as_int("height", height), _as_int("width", width), _as_int("step", step)
    layout = ENCODINGS.get(encoding.strip().lower())
    if layout is None:
        raise ImageConversionError(
            "unsupported_encoding",
            f"encoding {encoding!r} is not supported (supported: {', '.join(ENCODINGS)})",
        )
    if height < 0 or width < 0:
        raise ImageConversionError("bad_dimensions", f"negative size {width}x{height}")
    if height == 0 or width == 0:
        raise ImageConversionError("zero_size", f"image is {width}x{height}")
    if height > MAX_SIDE or width > MAX_SIDE:
        raise ImageConversionError(
            "too_large", f"image is {width}x{height}; the limit is {MAX_SIDE} per side"
        )
    if layout.even_width and width % 2:
        raise ImageConversionError("bad_dimensions", f"{encoding} needs an even width, got {width}")
    row_bytes = width * layout.channels * layout.depth
    if step < row_bytes:
        raise ImageConversionError(
            "bad_step",
            f"step {step} is shorter than one row ({row_bytes} bytes for {width} px of {encoding})",
        )
    buffer = _as_uint8(data)
    expected = step * height
    if buffer.size < expected:
        raise ImageConversionError(
            "truncated", f"{buffer.size} bytes, expected step*height = {expected}"
        )
    if buffer.size > expected:
        raise ImageConversionError(
            "size_mismatch", f"{buffer.size} bytes, expected step*height = {expected}"
        )

    rows = buffer.reshape(height, step)[:, :row_bytes]
    if layout.depth == 2:
        dtype = ">u2" if is_bigendian else "<u2"
        native = np.ascontiguousarray(rows).view(dtype).astype(np.uint16)
        pixels = _scale_16_to_8(native)
    else:
        pixels = np.ascontiguousarray(rows)
    rgb = layout.to_rgb(pixels.reshape(height, width, layout.channels))
    # Always hand out memory we own: the message buffer may be reused by the middleware.
    return rgb.copy() if np.shares_memory(rgb, buffer) else np.ascontiguousarray(rgb)


def _declared_size(buffer: np.ndarray) -> tuple[int, int] | None:
    """(width, height) that the payload's header declares, or None when Pillow cannot tell."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(buffer.tobytes())) as image:
                return image.size
    except Image.DecompressionBombError:
        return (MAX_SIDE + 1, MAX_SIDE + 1)
    except Exception:  # any header Pillow cannot read: OpenCV, below, has the final word
        return None


def compressed_to_rgb(format: str, data: Any) -> np.ndarray:  # noqa: A002 - the ROS field name
    """Decode the fields of a `sensor_msgs/CompressedImage` to an RGB uint8 array (H, W, 3).

    Raises:
        ImageConversionError: with `.reason` in `REASONS` when the payload cannot be decoded.
    """
    if not isinstance(format, str):
        raise ImageConversionError("bad_message", f"format must be a string, got {format!r}")
    fmt = format.strip().lower()
    tokens = set(re.split(r"[^a-z0-9]+", fmt)) - {""}
    if "compresseddepth" in tokens or (tokens and not tokens & _CODECS):
        raise ImageConversionError(
            "unsupported_format",
            f"compressed format {format!r} is not an image codec OpenCV decodes ({', '.join(sorted(_CODECS))})",
        )
    buffer = _as_uint8(data)
    if buffer.size == 0:
        raise ImageConversionError("zero_size", "empty compressed payload")
    declared = _declared_size(buffer)
    if declared is not None and max(declared) > MAX_SIDE:
        raise ImageConversionError(
            "too_large",
            f"the header declares {declared[0]}x{declared[1]}; the limit is {MAX_SIDE} per side",
        )
    try:
        decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageConversionError(
            "decode_failed", f"OpenCV could not decode the {format or 'image'} payload: {exc}"
        ) from exc
    if decoded is None or decoded.size == 0:
        raise ImageConversionError(
            "decode_failed",
            f"OpenCV could not decode {buffer.size} bytes as {format or 'an image'}",
        )
    height, width = decoded.shape[:2]
    if height > MAX_SIDE or width > MAX_SIDE:
        raise ImageConversionError(
            "too_large", f"image is {width}x{height}; the limit is {MAX_SIDE} per side"
        )
    if _STORED_RGB.search(fmt):
        return np.ascontiguousarray(decoded)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def _field(msg: Any, name: str) -> Any:
    try:
        return getattr(msg, name)
    except AttributeError:
        raise ImageConversionError(
            "bad_message", f"{type(msg).__name__} has no field '{name}'"
        ) from None


def message_to_rgb(msg: Any) -> np.ndarray:
    """Convert any object with `sensor_msgs/Image` or `CompressedImage` fields to RGB.

    Works with rclpy messages, rosbags' deserialised classes and plain namespaces alike:
    a message with a ``format`` field and no ``encoding`` is treated as compressed.
    """
    if hasattr(msg, "format") and not hasattr(msg, "encoding"):
        return compressed_to_rgb(_field(msg, "format"), _field(msg, "data"))
    return image_to_rgb(
        _field(msg, "encoding"),
        _field(msg, "height"),
        _field(msg, "width"),
        _field(msg, "step"),
        _field(msg, "is_bigendian"),
        _field(msg, "data"),
    )


def header_stamp(header: Any) -> float:
    """Seconds of a `std_msgs/Header` stamp (``stamp.sec`` + ``stamp.nanosec`` * 1e-9)."""
    try:
        stamp = header.stamp
        return int(stamp.sec) + int(stamp.nanosec) * 1e-9
    except (AttributeError, TypeError, ValueError) as exc:
        raise ImageConversionError("bad_message", f"header has no usable stamp: {exc}") from exc


def message_to_frame(msg: Any, index: int, stamp: float | None = None) -> Frame:
    """A `Frame` from an image message; the stamp comes from its header unless given."""
    header = getattr(msg, "header", None)
    rgb = message_to_rgb(msg)
    return Frame(
        rgb=rgb,
        stamp=header_stamp(header) if stamp is None else float(stamp),
        index=index,
        header=header,
    )
