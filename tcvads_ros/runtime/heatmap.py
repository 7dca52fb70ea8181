# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Heat maps of the coarse backbone: CAM -> [0, 1] map at frame size -> colour overlay -> PNG.

The coarse graph returns a class activation map (CAM) per frame, built from the interpretable
MobileNet's deconvolution maps (paper §IV.A, Fig. 6/7), at the backbone's low resolution. Here it
is normalised to [0, 1], resized to the frame, coloured with `cv2.applyColorMap` and blended onto
the frame, so a person sees where in the image the detector looked. Pure numpy / OpenCV, no torch.
NaN or infinite CAM values (a diverged model) count as "no activation" instead of poisoning the
image; a flat map stays flat (all zero) rather than being stretched into noise.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tcvads_ros.errors import TcvadsError


class HeatmapError(TcvadsError):
    """A heat map cannot be drawn or written."""


@dataclass
class HeatMap:
    """A written heat map: the PNG's path and the activation peak (x, y) in frame pixels."""

    path: Path
    peak: tuple[int, int] | None


def _as_map(cam: np.ndarray) -> np.ndarray:
    cam = np.asarray(cam)
    if cam.ndim == 3 and cam.shape[0] == 1:  # (1, h, w) as the coarse graph returns per frame
        cam = cam[0]
    if cam.ndim != 2 or cam.size == 0:
        raise HeatmapError(f"a CAM must be a non-empty (h, w) array, got shape {cam.shape}")
    return cam


def normalise_cam(cam: np.ndarray) -> np.ndarray:
    """Min-max normalise a CAM (h, w) to float32 [0, 1]; non-finite values become 0."""
    cam = _as_map(cam).astype(np.float32)
    finite = np.isfinite(cam)
    if not finite.any():
        return np.zeros(cam.shape, np.float32)
    low, high = float(cam[finite].min()), float(cam[finite].max())
    out = np.zeros(cam.shape, np.float32)
    if high > low:
        out[finite] = (cam[finite] - low) / (high - low)
    return out


def resize_map(heat: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a [0, 1] map to (height, width)."""
    resized = cv2.resize(
        _as_map(heat).astype(np.float32), (int(width), int(height)), interpolation=cv2.INTER_LINEAR
    )
    return np.clip(resized, 0.0, 1.0)


def frame_heat(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    """The CAM as a [0, 1] float32 map of the frame's size."""
    return resize_map(normalise_cam(cam), height, width)


def peak_location(cam: np.ndarray, height: int, width: int) -> tuple[int, int] | None:
    """(x, y) in frame pixels of the strongest activation; None for a flat (uninformative) map."""
    heat = frame_heat(cam, height, width)
    if heat.max() <= 0.0:
        return None
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return int(x), int(y)


def overlay(
    rgb: np.ndarray, cam: np.ndarray, alpha: float = 0.45, colormap: int = cv2.COLORMAP_JET
) -> np.ndarray:
    """Blend the coloured heat map onto an RGB uint8 frame; returns a new RGB uint8 frame."""
    if (
        not isinstance(rgb, np.ndarray)
        or rgb.dtype != np.uint8
        or rgb.ndim != 3
        or rgb.shape[2] != 3
    ):
        raise HeatmapError(
            f"overlay needs an RGB uint8 frame (H, W, 3), got {getattr(rgb, 'shape', rgb)}"
        )
    if not 0.0 <= alpha <= 1.0:
        raise HeatmapError(f"alpha must be in [0, 1], got {alpha}")
    heat = frame_heat(cam, rgb.shape[0], rgb.shape[1])
    coloured = cv2.applyColorMap(np.round(heat * 255.0).astype(np.uint8), colormap)  # BGR
    coloured = cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(np.ascontiguousarray(rgb), 1.0 - alpha, coloured, alpha, 0.0)


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG atomically (a reader never sees half a file)."""
    path = Path(path)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise HeatmapError(f"{path}: OpenCV could not encode the heat map as PNG")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(encoded.tobytes())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise HeatmapError(f"{path}: cannot write the heat map ({exc})") from exc
    return path


def save_heatmap(
    path: str | Path, rgb: np.ndarray, cam: np.ndarray, alpha: float = 0.45
) -> HeatMap:
    """Overlay `cam` on `rgb`, write it to `path` (PNG) and return the path and peak location."""
    image = overlay(rgb, cam, alpha)
    return HeatMap(path=write_png(path, image), peak=peak_location(cam, rgb.shape[0], rgb.shape[1]))
