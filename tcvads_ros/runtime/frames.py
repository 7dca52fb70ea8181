"""The frame that flows through the streaming core: an RGB image with its time and position.

Every source (video file, image folder, camera, rosbag2, ROS topic) produces `Frame`s; the
models only ever see RGB `uint8` arrays of shape (H, W, 3) (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
