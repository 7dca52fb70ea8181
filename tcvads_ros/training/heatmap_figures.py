# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Coarse heat maps before and after distillation (paper §V.E, Fig. 6 and 7).

The heat map of a frame is the interpretable MobileNet's CAM (`activation_map`: built from its
deconvolution maps, tcvads_ros/models/mobilenet.py), computed on the frame resized to the
backbone's input exactly as the robot does (`runtime.frames.resize_rgb`, then the in-graph
`FramePreprocess`), and drawn with the robot's own heat-map code (`runtime.heatmap`: normalise,
resize to the frame, colour, blend). "Before distillation" is the AFED teacher's backbone,
"after" the distilled QACM student's (the one that runs on the robot).

On the synthetic benchmark the drawn anomaly is known to the pixel: every episode is its own
layer, so the frame rendered with and without it differ exactly where it is drawn
(`synthetic_anomaly_masks`). `localise` scores a heat map against that region: does its peak
fall inside (the pointing game), and what share of its mass lies inside, against the region's
share of the frame (what a heat map spread evenly would get).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from tcvads_ros.data.synthetic import SynthConfig, VideoPlan, render_frames  # noqa: E402
from tcvads_ros.models.mobilenet import FramePreprocess, InterpretableMobileNet  # noqa: E402
from tcvads_ros.runtime.frames import resize_rgb  # noqa: E402
from tcvads_ros.runtime.heatmap import frame_heat, overlay, peak_location  # noqa: E402
from tcvads_ros.training.report import save_figure  # noqa: E402

MASK_THRESHOLD = 24  # summed |RGB difference| above which a pixel belongs to the drawn anomaly


@torch.no_grad()
def backbone_cams(backbone: InterpretableMobileNet, frames: np.ndarray,
                  device: torch.device | str = "cpu") -> np.ndarray:
    """RGB uint8 frames (N, H, W, 3) of any size -> CAMs (N, h, w) at the backbone's resolution."""
    size = backbone.cfg.input_size
    small = np.stack([resize_rgb(np.ascontiguousarray(f), (size, size)) for f in frames])
    preprocess = FramePreprocess(backbone.cfg.mean, backbone.cfg.std).to(device)
    backbone.eval().to(device)
    return backbone.activation_map(preprocess(torch.from_numpy(small).to(device))).float().cpu().numpy()


def synthetic_anomaly_masks(plan: VideoPlan, cfg: SynthConfig, frames: Sequence[int]) -> np.ndarray:
    """(len(frames), H, W) bool: where the video's anomaly layers are drawn in those frames."""
    wanted = {int(f): i for i, f in enumerate(frames)}
    masks = np.zeros((len(wanted), cfg.height, cfg.width), bool)
    for t, (with_layer, without) in enumerate(zip(render_frames(plan, cfg, True),
                                                 render_frames(plan, cfg, False))):
        if t in wanted:
            diff = np.abs(with_layer.astype(np.int16) - without.astype(np.int16)).sum(axis=-1)
            masks[wanted[t]] = diff > MASK_THRESHOLD
        if t >= max(wanted):
            break
    return masks


@dataclass
class Localisation:
    """A heat map against the drawn anomaly region of its frame."""

    hit: bool  # the peak lies inside the region (pointing game)
    mass_inside: float  # share of the heat map's mass inside the region
    region_share: float  # the region's share of the frame (chance level of mass_inside)


def localise(cam: np.ndarray, region: np.ndarray) -> Localisation | None:
    """Score one CAM against a bool region (H, W); None when the region is empty."""
    if not region.any():
        return None
    height, width = region.shape
    heat = frame_heat(cam, height, width)
    peak = peak_location(cam, height, width)
    total = float(heat.sum())
    return Localisation(
        hit=peak is not None and bool(region[peak[1], peak[0]]),
        mass_inside=float(heat[region].sum()) / total if total > 0 else float("nan"),
        region_share=float(region.mean()),
    )


def summarise(found: Sequence[Localisation]) -> dict[str, float | int]:
    """Pointing-game hit rate, mean mass inside and mean region share over scored frames."""
    if not found:
        return {"frames": 0}
    return {"frames": len(found),
            "peak_inside_rate": float(np.mean([f.hit for f in found])),
            "mass_inside": float(np.nanmean([f.mass_inside for f in found])),
            "region_share": float(np.mean([f.region_share for f in found]))}


@dataclass
class HeatmapRow:
    """One row of a heat-map figure: frames, and the CAMs to overlay (None: the frames alone)."""

    label: str
    frames: np.ndarray  # (N, H, W, 3) uint8
    cams: np.ndarray | None = None  # (N, h, w)
    regions: np.ndarray | None = None  # (N, H, W) bool, outlined in white when given


def heatmap_figure(path: str | Path, rows: Sequence[HeatmapRow], column_titles: Sequence[str],
                   title: str) -> Path:
    """A grid of frames with their heat maps (Fig. 6/7 layout), written as PNG."""
    n_cols = max(len(r.frames) for r in rows)
    height, width = rows[0].frames.shape[1:3]
    scale = 2.2 / max(height, width)
    fig, axes = plt.subplots(len(rows), n_cols, squeeze=False,
                             figsize=(n_cols * width * scale + 1.2, len(rows) * height * scale + 0.8))
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(row.frames):
                ax.axis("off")
                continue
            image = row.frames[c] if row.cams is None else overlay(row.frames[c], row.cams[c])
            ax.imshow(image)
            if row.regions is not None and row.regions[c].any():
                ax.contour(row.regions[c], levels=[0.5], colors="white", linewidths=0.6)
            if r == 0 and c < len(column_titles):
                ax.set_title(column_titles[c], fontsize=7)
        axes[r, 0].set_ylabel(row.label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)
