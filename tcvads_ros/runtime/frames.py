# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The frame that flows through the streaming core: an RGB image with its time and position.

Every source (video file, image folder, camera, rosbag2, ROS topic) produces `Frame`s; the
models only ever see RGB `uint8` arrays of shape (H, W, 3) (see docs/ARCHITECTURE.md), brought
to a graph's input size by `resize_rgb`, the one resize that training and the runtime share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np


@dataclass
class Frame:
    """One camera frame.

    Args:
        rgb: the image, `uint8` array of shape (H, W, 3), channels in RGB order.
        stamp: capture time in seconds (the ROS header stamp, or position in a file).
        index: frame number in the source (0-based, original frame rate).
        header: the source message's header, copied onto everything published about the frame.
    """

    rgb: np.ndarray
    stamp: float
    index: int
    header: Any = None

    def __post_init__(self) -> None:
        rgb = self.rgb
        if (
            not isinstance(rgb, np.ndarray)
            or rgb.dtype != np.uint8
            or rgb.ndim != 3
            or rgb.shape[2] != 3
        ):
            shape = getattr(rgb, "shape", None)
            dtype = getattr(rgb, "dtype", type(rgb).__name__)
            raise ValueError(
                f"Frame.rgb must be a uint8 array of shape (H, W, 3), got {dtype} {shape}"
            )

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """RGB uint8 frame -> (height, width) = `size`: the one resize of the detector's input,
    used by training too (training/frame_cache.py `sample_snippet_frames`), so that the deployed
    model sees the pixels it was trained on.

    A large shrink first averages whole blocks (OpenCV's fast integer-factor INTER_AREA path),
    then resizes the rest (a factor below 2) bilinearly: on a 720p frame to 224 px that is
    2-8x faster than one fractional INTER_AREA and within ~2 grey levels of it on average
    (docs/performance.md).
    """
    h, w = size
    if rgb.shape[:2] == (h, w):
        return rgb
    fy, fx = max(rgb.shape[0] // h, 1), max(rgb.shape[1] // w, 1)
    if fy > 1 or fx > 1:
        rgb = cv2.resize(rgb, (rgb.shape[1] // fx, rgb.shape[0] // fy), interpolation=cv2.INTER_AREA)
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
