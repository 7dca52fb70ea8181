# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Evaluation outputs: ``metrics.json``, ROC and precision-recall curves, per-video timelines.

`write_evaluation` is what ``training/evaluate.py`` (and the training run's final test) calls
after computing `training.metrics.coarse_metrics` and `training.metrics.detection_map`. The
curves come from scikit-learn over the same concatenated frames the metrics use; plots are
drawn with matplotlib's object API (``Figure``, Agg canvas), so no display is needed.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tcvads_ros.training.metrics import IOU_THRESHOLDS


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Lay out, write (creating the folder) and close a matplotlib figure; returns its path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path

METRIC_KEYS = ("AP", "AUC", "AnoAUC", *(f"mAP@{t:g}" for t in IOU_THRESHOLDS), "mAP_avg", "mode")


def _json_ready(value):
    """NaN/inf -> None (JSON has no NaN), NumPy scalars -> Python, recursively."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_metrics_json(path: str | Path, metrics: dict) -> Path:
    """Write `metrics` with every key of `METRIC_KEYS` present (``null`` where not computed,
    e.g. the mAP of a coarse-only evaluation, or an undefined metric), then any extra keys."""
    path = Path(path)
    record = {key: metrics.get(key) for key in METRIC_KEYS}
    record.update({k: v for k, v in metrics.items() if k not in record})
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(_json_ready(record), indent=2, allow_nan=False) + "\n")
    os.replace(partial, path)
    return path


def _figure(width: float = 5.0, height: float = 4.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.subplots()


def plot_curves(out_dir: Path, scores: np.ndarray, gt: np.ndarray, metrics: dict) -> list[Path]:
    """``roc.png`` and ``pr.png`` of the concatenated frame scores (skipped when the frames hold
    a single class, where neither curve is defined)."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    if not 0 < gt.sum() < gt.size:
        return []
    fpr, tpr, _ = roc_curve(gt, scores)
    fig, ax = _figure()
    ax.plot(fpr, tpr, label=f"AUC {_fmt(metrics.get('AUC'))}")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (frame level)")
    ax.legend(loc="lower right")
    fig.savefig(out_dir / "roc.png")

    precision, recall, _ = precision_recall_curve(gt, scores)
    fig, ax = _figure()
    ax.plot(recall, precision, label=f"AP {_fmt(metrics.get('AP'))}")
    ax.axhline(gt.mean(), linestyle=":", color="grey", label="chance")
    ax.set(
        xlabel="recall", ylabel="precision", title="Precision-recall (frame level)", ylim=(0, 1.02)
    )
    ax.legend(loc="lower left")
    fig.savefig(out_dir / "pr.png")
    return [out_dir / "roc.png", out_dir / "pr.png"]


def _fmt(value) -> str:
    return "n/a" if value is None or not math.isfinite(float(value)) else f"{float(value):.2f}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]


def plot_timeline(
    path: Path,
    name: str,
    scores: np.ndarray,
    gt: np.ndarray,
    fps: float | None,
    threshold: float | None,
) -> Path:
    """One video's frame-level anomaly score against its ground truth (shaded)."""
    x = np.arange(len(scores)) / fps if fps else np.arange(len(scores))
    fig, ax = _figure(8.0, 2.8)
    ax.fill_between(
        x,
        0,
        1,
        where=np.asarray(gt) > 0,
        step="post",
        color="tab:red",
        alpha=0.2,
        label="ground truth anomaly",
    )
    ax.plot(x, scores, color="tab:blue", linewidth=1.0, label="anomaly score")
    if threshold is not None:
        ax.axhline(threshold, linestyle="--", color="grey", linewidth=0.8, label="threshold")
    ax.set(xlabel="time (s)" if fps else "frame", ylabel="score", ylim=(0, 1.02), title=name)
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    return path


def pick_timeline_videos(frame_gt: Sequence[np.ndarray], count: int) -> list[int]:
    """Up to `count` videos to plot: abnormal ones first (most ground-truth frames first), then
    one normal video if any is left, so a reader sees both kinds."""
    abnormal = sorted(
        (i for i, g in enumerate(frame_gt) if np.any(g)), key=lambda i: -int(np.sum(frame_gt[i]))
    )
    normal = [i for i, g in enumerate(frame_gt) if not np.any(g)]
    chosen = abnormal[: max(0, count - 1)] if normal else abnormal[:count]
    if normal and len(chosen) < count:
        chosen.append(normal[0])
    return sorted(chosen)


def write_evaluation(
    out_dir: str | Path,
    metrics: dict,
    frame_scores: Sequence[np.ndarray],
    frame_gt: Sequence[np.ndarray],
    names: Sequence[str],
    n_timelines: int = 4,
    fps: float | None = None,
    threshold: float | None = None,
) -> dict[str, list[Path]]:
    """Write the evaluation folder.

    Args:
        out_dir: created if needed.
        metrics: `coarse_metrics` merged with `detection_map` (and anything else to keep);
            ``metrics.json`` always holds `METRIC_KEYS`, ``null`` where a value is missing or
            undefined.
        frame_scores, frame_gt, names: per test video, as given to `coarse_metrics`.
        n_timelines: how many per-video timelines to draw (`pick_timeline_videos`).
        fps: frame rate for a time axis in seconds (frames when None).
        threshold: an operating threshold to draw on the timelines.

    Returns ``{"metrics": [metrics.json], "curves": [roc.png, pr.png], "timelines": [...]}``.
    """
    if not (len(frame_scores) == len(frame_gt) == len(names)):
        raise ValueError(
            f"write_evaluation: {len(frame_scores)} score arrays, {len(frame_gt)} ground-truth "
            f"arrays and {len(names)} names; expected one of each per video"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"metrics": [write_metrics_json(out_dir / "metrics.json", metrics)]}
    if not frame_scores:
        written["curves"], written["timelines"] = [], []
        return written
    scores = np.concatenate([np.asarray(s, dtype=np.float64) for s in frame_scores])
    gt = np.concatenate([np.asarray(g) for g in frame_gt]).astype(np.int64)
    written["curves"] = plot_curves(out_dir, scores, gt, metrics)
    timelines = out_dir / "timelines"
    written["timelines"] = []
    for i in pick_timeline_videos(frame_gt, n_timelines):
        timelines.mkdir(exist_ok=True)
        path = timelines / f"{i:04d}_{_safe(names[i])}.png"
        written["timelines"].append(
            plot_timeline(path, names[i], frame_scores[i], frame_gt[i], fps, threshold)
        )
    return written
