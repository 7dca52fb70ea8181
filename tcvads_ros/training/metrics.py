# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Evaluation metrics of the VadCLIP protocol (docs/evaluation.md; VadCLIP's code, not its paper).

Coarse-grained (`coarse_metrics`): snippet scores are repeated ×16 to frame level
(`snippets_to_frames`), each test video's ground truth is a 0/1 vector of 16·T frames, all test
videos are concatenated and scored once with scikit-learn: AP = ``average_precision_score``
(XD-Violence's metric), AUC = ``roc_auc_score`` (UCF-Crime's), Ano-AUC = the same AUC over the
frames of the abnormal test videos only.

Fine-grained (`detection_map`): mAP at temporal IoU 0.1 … 0.5 and their mean, computed exactly as
VadCLIP's ``src/utils/{ucf,xd}_detectionMAP.py`` does (``mode="vadclip"``, the default), or with
that code's quirks fixed (``mode="corrected"``). No library implements this protocol, so it is
written here and tested against an independent brute-force formulation
(``test/training/test_metrics.py``).

The protocol, per class c (all frame numbers half-open, ``[start, end)``):

1. video class score = mean of the top ⌊n/16⌋ values of column c of the video's (n, C)
   frame-level probabilities (n = 16·T, so k = T); columns whose score is not > 0 are zeroed;
2. proposals: threshold = max − (max − min)·0.6 on the column; every maximal run of frames
   above it that is at least 2 frames long is a proposal [s, e) scored
   ``max(P[s:e, c]) + 0.7 · video class score``;
3. non-maximum suppression at IoU 0.6 within each video;
4. the proposals of all videos are pooled and sorted by score; each in turn is a true positive
   when an unmatched ground-truth segment of the same video and class overlaps it with
   IoU ≥ threshold (the best such segment is then consumed), else a false positive;
5. AP = Σ precision@k over the true positives / number of ground-truth segments of c;
6. mAP = 100 · mean of AP over all classes, the normal class included.

What ``mode="corrected"`` changes (and why):

- **Normal label.** VadCLIP's ground-truth lists label every normal test video as one segment
  ``[0, 16·T)`` with the label ``'A'``. Its XD-Violence class list is the codes
  (``'A', 'B1', …``), so there ``'A'`` is the normal class; its UCF-Crime class list says
  ``'Normal'``, so ``'A'`` matches no class and UCF's normal class scores AP 0 (with no
  ground truth it has no true positives). In vadclip mode a label counts for a class only when
  it equals the class name exactly, reproducing this; corrected mode also reads XD-Violence
  codes (``'A'`` = ``'Normal'``, ``'B1'`` = ``'Fighting'`` …, `annotations.XD_CODES`) and
  refuses labels that name no class.
- **A class without proposals.** VadCLIP's loop ``return 0`` s out of the whole threshold when
  any one class has no proposal, so the mAP at that threshold is 0 for every class. Corrected:
  only that class's AP is 0.
- **A class without ground truth** has an undefined AP; VadCLIP counts it as 0 in the mean.
  Corrected: it is left out of the mean (and reported as ``None``).
- **Videos shorter than 16 frames** have k = ⌊n/16⌋ = 0, an empty top-k mean (NaN) and so a
  zeroed column in VadCLIP. Corrected: k = max(1, ⌊n/16⌋).
- **Ground truth past the predicted frames.** VadCLIP does not clip ground-truth segments to the
  n frames that have predictions (its frame-level ground truth does drop them). Corrected: the
  segments are clipped to ``[0, n)``; a segment that lies wholly beyond them is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tcvads_ros.data.annotations import SNIPPET_FRAMES, XD_CODES

MODES = ("vadclip", "corrected")
IOU_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)

# VadCLIP's detectionMAP constants (src/utils/{ucf,xd}_detectionMAP.py).
PROPOSAL_THRESHOLD = 0.6  # threshold = max - (max - min) * 0.6
MIN_PROPOSAL_FRAMES = 2
VIDEO_SCORE_WEIGHT = 0.7  # proposal score = max inside + 0.7 * video class score
NMS_IOU = 0.6


def snippets_to_frames(
    snippet_values: np.ndarray, snippet_frames: int = SNIPPET_FRAMES
) -> np.ndarray:
    """Repeat each snippet's row ``snippet_frames`` times: (T, ...) -> (16·T, ...) frame level."""
    return np.repeat(np.asarray(snippet_values), snippet_frames, axis=0)


# ---------------------------------------------------------------------------------------------
# Coarse-grained: AP, AUC, Ano-AUC
# ---------------------------------------------------------------------------------------------


def coarse_metrics(
    frame_scores: Sequence[np.ndarray],
    frame_gt: Sequence[np.ndarray],
    abnormal_mask: Sequence[bool],
) -> dict[str, float]:
    """Frame-level AP, AUC and Ano-AUC in percent (docs/evaluation.md, VadCLIP's *_test.py).

    Args:
        frame_scores: one array per test video of frame-level anomaly scores (16·T,), e.g.
            `snippets_to_frames` of the per-snippet probabilities.
        frame_gt: one 0/1 array per video, the same length as its scores.
        abnormal_mask: per video, True for an abnormal test video (Ano-AUC uses only those).

    Returns:
        ``{"AP": …, "AUC": …, "AnoAUC": …}``; a metric that is undefined on the given data
        (a single ground-truth class among the frames it uses) is ``nan``.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    if not (len(frame_scores) == len(frame_gt) == len(abnormal_mask)):
        raise ValueError(
            f"coarse_metrics: {len(frame_scores)} score arrays, {len(frame_gt)} ground-truth "
            f"arrays and {len(abnormal_mask)} abnormal flags; expected one of each per video"
        )
    if not frame_scores:
        raise ValueError("coarse_metrics: no videos")
    for i, (s, g) in enumerate(zip(frame_scores, frame_gt)):
        if np.shape(s) != np.shape(g) or np.ndim(s) != 1:
            raise ValueError(
                f"coarse_metrics: video {i} has scores of shape {np.shape(s)} and ground truth "
                f"of shape {np.shape(g)}; expected two 1-D arrays of the same length"
            )
    scores = np.concatenate([np.asarray(s, dtype=np.float64) for s in frame_scores])
    gt = np.concatenate([np.asarray(g) for g in frame_gt]).astype(np.int64)
    if not np.all(np.isfinite(scores)):
        raise ValueError("coarse_metrics: the scores contain NaN or infinity")
    if not np.isin(gt, (0, 1)).all():
        raise ValueError("coarse_metrics: the ground truth must be 0/1")
    abnormal = np.concatenate(
        [np.full(len(s), bool(a)) for s, a in zip(frame_scores, abnormal_mask)]
    )

    def both_classes(labels: np.ndarray) -> bool:
        return labels.size > 0 and 0 < labels.sum() < labels.size

    return {
        "AP": 100.0 * average_precision_score(gt, scores) if gt.any() else float("nan"),
        "AUC": 100.0 * roc_auc_score(gt, scores) if both_classes(gt) else float("nan"),
        "AnoAUC": (
            100.0 * roc_auc_score(gt[abnormal], scores[abnormal])
            if both_classes(gt[abnormal])
            else float("nan")
        ),
    }


# ---------------------------------------------------------------------------------------------
# Fine-grained: mAP@IoU (VadCLIP's detectionMAP)
# ---------------------------------------------------------------------------------------------


def _interval_iou(a_start: int, a_end: int, b_start: int, b_end: int) -> float:
    """IoU of the frame sets of two half-open ranges (VadCLIP: ``set(range(s, e))``)."""
    inter = max(0, min(a_end, b_end) - max(a_start, b_start))
    union = max(0, a_end - a_start) + max(0, b_end - b_start) - inter
    return inter / union if union > 0 else 0.0


def video_class_scores(probs: np.ndarray, mode: str = "vadclip") -> np.ndarray:
    """Per-class video score: mean of the top k = ⌊n/16⌋ frames of each column (step 1).

    In vadclip mode a video shorter than 16 frames has k = 0 and the score is NaN (VadCLIP's
    mean of an empty slice); corrected mode uses k = max(1, ⌊n/16⌋).
    """
    n = probs.shape[0]
    k = n // SNIPPET_FRAMES
    if mode == "corrected":
        k = max(1, k)
    if k == 0:
        return np.full(probs.shape[1], np.nan)
    top = -np.sort(-probs, axis=0)[:k]
    return top.mean(axis=0)


def _rank(scores: np.ndarray) -> np.ndarray:
    """Indices by descending score, exactly as VadCLIP orders (``np.argsort(-x)`` of float64,
    NumPy's default sort), so that equal scores come out in the same order."""
    return np.argsort(-np.asarray(scores, dtype=np.float64))


def _nms(
    starts: np.ndarray, ends: np.ndarray, scores: np.ndarray, iou: float
) -> list[tuple[int, int, float]]:
    """Keep the best proposal, drop those overlapping it by IoU > `iou`, repeat (step 3)."""
    order = _rank(scores)
    kept = []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append((int(starts[best]), int(ends[best]), float(scores[best])))
        inter = np.maximum(
            0, np.minimum(ends[best], ends[rest]) - np.maximum(starts[best], starts[rest])
        )
        union = (ends[best] - starts[best]) + (ends[rest] - starts[rest]) - inter
        order = rest[inter / union <= iou]
    return kept


def class_proposals(column: np.ndarray, video_score: float) -> list[tuple[int, int, float]]:
    """Proposals ``(start, end, score)`` of one class in one video, after NMS (steps 2-3)."""
    column = np.asarray(column)
    if column.size == 0:
        return []
    high, low = column.max(), column.min()
    above = column > high - (high - low) * PROPOSAL_THRESHOLD
    edges = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long_enough = ends - starts >= MIN_PROPOSAL_FRAMES
    starts, ends = starts[long_enough], ends[long_enough]
    scores = np.array([column[s:e].max() for s, e in zip(starts, ends)], dtype=column.dtype)
    return _nms(starts, ends, scores + VIDEO_SCORE_WEIGHT * video_score, NMS_IOU)


def _average_precision(
    proposals: list[tuple[int, int, int, float]],
    ground_truth: list[tuple[int, int, int]],
    iou_threshold: float,
) -> float:
    """Steps 4-5 for one class: proposals (video, start, end, score), gt (video, start, end)."""
    ranked = [proposals[i] for i in _rank(np.array([p[3] for p in proposals]))]
    unmatched: dict[int, list[tuple[int, int]]] = {}
    for video, start, end in ground_truth:
        unmatched.setdefault(video, []).append((start, end))
    hits = np.zeros(len(ranked))
    for k, (video, start, end, _) in enumerate(ranked):
        candidates = unmatched.get(video, [])
        best, best_iou = None, 0.0
        for j, (gt_start, gt_end) in enumerate(candidates):
            iou = _interval_iou(start, end, gt_start, gt_end)
            if iou >= iou_threshold and iou > best_iou:  # the first of equal best IoUs wins
                best, best_iou = j, iou
        if best is not None:
            del candidates[best]
            hits[k] = 1.0
    if not hits.any():
        return 0.0
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(np.sum(precision * hits) / len(ground_truth))


def _class_index(label: str, class_names: Sequence[str], mode: str) -> int | None:
    """Column of a ground-truth label; see the module docstring ("Normal label")."""
    if label in class_names:
        return list(class_names).index(label)
    if mode == "vadclip":
        return None  # VadCLIP's str2ind finds nothing: the segment counts for no class
    name = XD_CODES.get(label)
    if name in class_names:
        return list(class_names).index(name)
    raise ValueError(
        f"detection_map: ground-truth label '{label}' names none of the classes "
        f"{list(class_names)} (nor is it an XD-Violence code of one)"
    )


def detection_map(
    predictions: Sequence[np.ndarray],
    gt_segments: Sequence[Sequence[Sequence[int]]],
    gt_labels: Sequence[Sequence[str]],
    class_names: Sequence[str],
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
    mode: str = "vadclip",
) -> dict:
    """Fine-grained mAP@IoU of VadCLIP's protocol (see the module docstring for every step).

    Args:
        predictions: one array per test video of frame-level class probabilities, shape
            (frames, classes), columns in the order of `class_names` (snippet outputs go
            through `snippets_to_frames` first). Scores are computed in the arrays' own
            floating dtype, as VadCLIP does with its float32 softmax outputs, so that
            near-equal proposal scores rank as in VadCLIP.
        gt_segments: per video, its ground-truth ``[start, end)`` frame pairs (may be empty).
        gt_labels: per video, the label string of each of its segments.
        class_names: the label of each prediction column (the normal class included).
        iou_thresholds: temporal IoU thresholds.
        mode: ``"vadclip"`` (VadCLIP's code, the default) or ``"corrected"``.

    Returns:
        ``{"mAP@0.1": …, …, "mAP_avg": mean over the thresholds, "mode": mode,
        "AP_per_class": {"mAP@0.1": {class: AP % or None}, …}}``, all in percent.
    """
    if mode not in MODES:
        raise ValueError(f"detection_map: mode must be one of {MODES}, got '{mode}'")
    if not (len(predictions) == len(gt_segments) == len(gt_labels)):
        raise ValueError(
            f"detection_map: {len(predictions)} predictions, {len(gt_segments)} segment lists and "
            f"{len(gt_labels)} label lists; expected one of each per video"
        )
    if not iou_thresholds:
        raise ValueError("detection_map: no IoU thresholds")
    n_classes = len(class_names)

    # Ground truth per class: (video, start, end).
    ground_truth: list[list[tuple[int, int, int]]] = [[] for _ in range(n_classes)]
    for v, (segments, labels) in enumerate(zip(gt_segments, gt_labels)):
        if len(segments) != len(labels):
            raise ValueError(
                f"detection_map: video {v} has {len(segments)} segments but {len(labels)} labels"
            )
        n_frames = np.shape(predictions[v])[0]
        for segment, label in zip(segments, labels):
            start, end = int(segment[0]), int(segment[1])
            if mode == "corrected":
                start, end = max(0, start), min(end, n_frames)
                if end <= start:
                    continue
            c = _class_index(str(label), class_names, mode)
            if c is not None:
                ground_truth[c].append((v, start, end))

    # Proposals per class, pooled over videos (steps 1-3).
    proposals: list[list[tuple[int, int, int, float]]] = [[] for _ in range(n_classes)]
    for v, probs in enumerate(predictions):
        probs = np.asarray(probs)
        if not np.issubdtype(probs.dtype, np.floating):
            probs = probs.astype(np.float64)
        if probs.ndim != 2 or probs.shape[1] != n_classes:
            raise ValueError(
                f"detection_map: predictions[{v}] has shape {probs.shape}; expected "
                f"(frames, {n_classes}) for the classes {list(class_names)}"
            )
        if not np.all(np.isfinite(probs)):
            raise ValueError(f"detection_map: predictions[{v}] contains NaN or infinity")
        scores = video_class_scores(probs, mode)
        keep = scores > 0.0  # VadCLIP: p * (c_s > 0); NaN scores zero the column too
        for c in range(n_classes):
            column = probs[:, c] if keep[c] else np.zeros(len(probs))
            proposals[c].extend(
                (v, s, e, score) for s, e, score in class_proposals(column, scores[c])
            )

    result: dict = {}
    per_class: dict[str, dict[str, float | None]] = {}
    for threshold in iou_thresholds:
        key = f"mAP@{threshold:g}"
        aps: dict[str, float | None] = {}
        for c, name in enumerate(class_names):
            if mode == "corrected" and not ground_truth[c]:
                aps[name] = None  # undefined without ground truth: left out of the mean
            else:
                aps[name] = 100.0 * _average_precision(proposals[c], ground_truth[c], threshold)
        defined = [ap for ap in aps.values() if ap is not None]
        if mode == "vadclip" and any(not p for p in proposals):
            value = 0.0  # VadCLIP returns 0 for the whole threshold when a class has no proposal
        else:
            value = float(np.mean(defined)) if defined else float("nan")
        result[key] = value
        per_class[key] = aps
    result["mAP_avg"] = float(np.mean([result[f"mAP@{t:g}"] for t in iou_thresholds]))
    result["mode"] = mode
    result["AP_per_class"] = per_class
    return result
