# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Ground truth of the test videos, from the real annotation formats.

`build_ground_truth`: a 0/1 vector of 16·T frames per test video (frames past 16·T dropped) for
the coarse metrics and per-class segments for `training.metrics.detection_map`, from UCF's
``Temporal_Anomaly_Annotation.txt`` or XD's ``annotations_multiclasses.txt`` and optionally
``annotations.txt``. The synthetic benchmark (``tcvads synth``) writes the XD formats and is read
the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tcvads_ros.data import annotations as ann
from tcvads_ros.errors import DataError
from tcvads_ros.training.feature_datasets import (
    DATASETS,
    NORMAL,
    VADCLIP_NORMAL_LABEL,
    is_normal,
    video_name,
)


@dataclass
class GroundTruth:
    """Per test video, in list order: what `training.metrics` takes.

    ``frame_gt[i]`` is the 0/1 vector of 16·T frames; ``segments[i]`` / ``labels[i]`` the
    detection ground truth (`metrics.detection_map`'s ``gt_segments`` / ``gt_labels``);
    ``abnormal[i]`` the video-level flag (`metrics.coarse_metrics`' ``abnormal_mask``).
    """

    names: list[str] = field(default_factory=list)
    frame_gt: list[np.ndarray] = field(default_factory=list)
    segments: list[list[tuple[int, int]]] = field(default_factory=list)
    labels: list[list[str]] = field(default_factory=list)
    abnormal: list[bool] = field(default_factory=list)


def read_segments(path: str | Path, dataset: str) -> dict[str, list[ann.Segment]]:
    """Class segments by video name: UCF ``Temporal_Anomaly_Annotation.txt`` (``dataset="ucf"``)
    or XD ``annotations_multiclasses.txt`` (``"xd"``, also the synthetic benchmark's).

    Names are keyed without a video extension (some XD lines carry ``.mp4``); segment labels
    are class names (XD codes translated with `annotations.XD_CODES`).
    """
    if dataset == "ucf":
        raw = ann.read_ucf_temporal(path)
    elif dataset == "xd":
        raw = {
            name: [ann.Segment(ann.XD_CODES[s.label], s.start, s.end) for s in segs]
            for name, segs in ann.read_xd_multiclass(path).items()
        }
    else:
        raise ValueError(f"dataset must be one of {DATASETS}, got '{dataset}'")
    return {video_name(name)[0]: segs for name, segs in raw.items()}


def build_ground_truth(
    videos: Sequence[tuple[str, str, int]],
    segments_path: str | Path,
    dataset: str,
    frame_segments_path: str | Path | None = None,
    snippet_frames: int = ann.SNIPPET_FRAMES,
) -> GroundTruth:
    """Ground truth of the test videos, as VadCLIP's ``list/make_gt*.py`` builds it.

    Args:
        videos: ``(name, list label, T snippets)`` per test video, in evaluation order.
        segments_path: the class-segment file (see `read_segments`).
        dataset: ``"ucf"`` or ``"xd"`` (the synthetic benchmark is ``"xd"``).
        frame_segments_path: XD ``annotations.txt``, VadCLIP's source of the frame-level
            vectors (its union differs from the multiclass file's in 5 real videos); by default
            the frame vectors are the union of the class segments.
        snippet_frames: frames per snippet (16).

    Frame vectors have 16·T frames; segment frames past that are dropped there (not from the
    detection segments: `detection_map` handles those per its mode). A normal video's
    detection ground truth is one segment ``[0, 16·T)`` labelled ``Normal`` for XD and ``A``
    for UCF, as VadCLIP's ``make_gt_mAP_*.py`` writes it (its UCF class list has no ``A``;
    `detection_map(mode="corrected")` reads it as ``Normal``). An abnormal video without an
    annotation line is an error naming the file.
    """
    segments_by_name = read_segments(segments_path, dataset)
    frame_pairs = None
    if frame_segments_path is not None:
        frame_pairs = {
            video_name(n)[0]: p for n, p in ann.read_xd_annotations(frame_segments_path).items()
        }
    gt = GroundTruth()
    for name, label, n_snippets in videos:
        n_frames = int(n_snippets) * snippet_frames
        normal = is_normal(label)
        if normal:
            segments = [(0, n_frames)]
            labels = [NORMAL if dataset == "xd" else VADCLIP_NORMAL_LABEL]
            frame_gt = np.zeros(n_frames, dtype=np.uint8)
        else:
            if name not in segments_by_name:
                raise DataError(
                    f"{segments_path}: no annotation line for the abnormal test video '{name}'"
                )
            segs = segments_by_name[name]
            segments = [(s.start, s.end) for s in segs]
            labels = [s.label for s in segs]
            if frame_pairs is not None:
                if name not in frame_pairs:
                    raise DataError(
                        f"{frame_segments_path}: no annotation line for the abnormal "
                        f"test video '{name}'"
                    )
                frame_gt = ann.frame_labels(frame_pairs[name], n_frames)
            else:
                frame_gt = ann.frame_labels(segs, n_frames)
        gt.names.append(name)
        gt.frame_gt.append(frame_gt)
        gt.segments.append(segments)
        gt.labels.append(labels)
        gt.abnormal.append(not normal)
    return gt
