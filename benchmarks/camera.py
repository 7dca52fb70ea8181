# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A synthetic camera that publishes frames the way a ROS 2 driver does (bgr8 sensor_msgs/Image).

The payloads are made once and reused, so the benchmarks time the detector, not the drawing.
Imports no torch (the coarse-only memory probe uses it).
"""

from __future__ import annotations

import numpy as np

from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.image_convert import image_to_rgb

CAMERA_SIZE = (720, 1280)  # (height, width): a 720p camera
FPS = 30.0


def camera_messages(count: int, size: tuple[int, int] = CAMERA_SIZE, seed: int = 0) -> list[bytes]:
    """`count` distinct bgr8 payloads of a `size` camera (a bright square moving over noise)."""
    rng = np.random.default_rng(seed)
    h, w = size
    out = []
    for i in range(count):
        image = rng.integers(0, 96, (h, w, 3), dtype=np.uint8)
        x = (i * 97) % (w - 200)
        image[h // 3 : h // 3 + 200, x : x + 200] = 230
        out.append(image.tobytes())
    return out


def to_frame(payload: bytes, index: int, stamp: float | None = None,
             size: tuple[int, int] = CAMERA_SIZE) -> Frame:
    """A bgr8 payload -> Frame through the project's image conversion (as the ROS node does)."""
    h, w = size
    rgb = image_to_rgb("bgr8", h, w, 3 * w, False, payload)
    return Frame(rgb, index / FPS if stamp is None else stamp, index)
