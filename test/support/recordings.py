# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Camera-like recordings for the source and detect tests, encoded here with OpenCV or ffmpeg.

OpenCV's bundled FFmpeg writes MJPEG, XVID and MPEG-4 Part 2 but has no H.264 encoder here, so
H.264 files are written with the ffmpeg (libx264) that imageio-ffmpeg ships.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest


def frame_at(i: int, size: tuple[int, int], bright=()) -> np.ndarray:
    """A BGR frame: dark grey street with a moving block, a bright patch during `bright` ranges."""
    h, w = size
    image = np.full((h, w, 3), 50, np.uint8)
    x = (i * 7) % max(1, w - w // 8)
    image[h // 2 : h // 2 + h // 8, x : x + w // 8] = (90, 140, 90)
    if any(a <= i < b for a, b in bright):
        image[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = (40, 60, 250)
    return image


def write_opencv(path: Path, fourcc: str, fps: float, size: tuple[int, int], n: int, bright=()) -> Path:
    h, w = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc}"
    for i in range(n):
        writer.write(frame_at(i, size, bright))
    writer.release()
    return path


def write_h264(path: Path, fps: float, size: tuple[int, int], n: int, bright=()) -> Path:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="imageio-ffmpeg (H.264 encoder) not installed")
    h, w = size
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
        "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", str(path),
    ]
    data = b"".join(frame_at(i, size, bright).tobytes() for i in range(n))
    subprocess.run(command, input=data, check=True, timeout=120)
    return path


def write_recording(path: Path, kind: str, fps: float, size: tuple[int, int], n: int, bright=()) -> Path:
    """kind: h264 (mp4), mjpeg (avi), xvid (avi), mp4v (mp4)."""
    if kind == "h264":
        return write_h264(path, fps, size, n, bright)
    return write_opencv(path, {"mjpeg": "MJPG", "xvid": "XVID", "mp4v": "mp4v"}[kind], fps, size, n, bright)
