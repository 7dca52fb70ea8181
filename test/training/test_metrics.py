# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of tcvads_ros/training/metrics.py.

`reference_map` below is a deliberately simple, independent formulation of VadCLIP's detection
mAP (docs/evaluation.md): frame index sets instead of interval arithmetic, a frame-by-frame scan
for the proposals, keep-if-no-kept-overlap NMS and an explicit list of precisions. It shares no
code with tcvads_ros/training/metrics.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tcvads_ros.data import annotations as ann
from tcvads_ros.training import feature_datasets, ground_truth
from tcvads_ros.training.metrics import (
    IOU_THRESHOLDS,
    coarse_metrics,
    detection_map,
    snippets_to_frames,
    video_class_scores,
)

# ---------------------------------------------------------------------------------------------
# The independent reference (vadclip mode, and corrected mode's differences)
# ---------------------------------------------------------------------------------------------


def _set_iou(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b)


def _reference_proposals(values: list[float], video_score: float) -> list[tuple[set[int], float]]:
    top, bottom = max(values), min(values)
    cut = top - (top - bottom) * 0.6
    runs, current = [], []
    for frame, value in enumerate(values):
        if value > cut:
            current.append(frame)
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    found = [
        (set(run), max(values[f] for f in run) + 0.7 * video_score) for run in runs if len(run) >= 2
    ]
    found.sort(key=lambda item: -item[1])
    kept: list[tuple[set[int], float]] = []
    for frames, score in found:
        if all(_set_iou(frames, other) <= 0.6 for other, _ in kept):
            kept.append((frames, score))
    return kept


def reference_map(predictions, segments, labels, class_names, thresholds, corrected=False):
    """mAP (%) per threshold, the VadCLIP way (or corrected), by brute force over frame sets."""
    pooled = {c: [] for c in range(len(class_names))}
    for v, probs in enumerate(predictions):
        n = len(probs)
        k = max(1, n // 16) if corrected else n // 16
        for c in range(len(class_names)):
            column = [float(x) for x in probs[:, c]]
            score = sum(sorted(column, reverse=True)[:k]) / k if k else float("nan")
            if not score > 0:
                column = [0.0] * n
            pooled[c] += [(v, frames, s) for frames, s in _reference_proposals(column, score)]
    out = []
    for threshold in thresholds:
        aps = []
        for c, name in enumerate(class_names):
            truth = []
            for v in range(len(predictions)):
                for (start, end), label in zip(segments[v], labels[v]):
                    # Corrected mode also reads XD codes, 'A' (VadCLIP's normal label) among them.
                    if (ann.XD_CODES.get(label, label) if corrected else label) == name:
                        if corrected:
                            start, end = max(0, start), min(end, len(predictions[v]))
                            if end <= start:
                                continue
                        truth.append((v, set(range(start, end))))
            ranked = sorted(pooled[c], key=lambda p: -p[2])
            used = [False] * len(truth)
            hit_list = []
            for v, frames, _ in ranked:
                best, best_iou = None, -1.0
                for j, (gv, gframes) in enumerate(truth):
                    if gv == v and not used[j]:
                        iou = _set_iou(frames, gframes)
                        if iou >= threshold and iou > best_iou:
                            best, best_iou = j, iou
                if best is not None:
                    used[best] = True
                hit_list.append(best is not None)
            precisions = [sum(hit_list[: i + 1]) / (i + 1) for i, hit in enumerate(hit_list) if hit]
            if corrected and not truth:
                continue
            aps.append(sum(precisions) / len(truth) if precisions else 0.0)
        if not corrected and any(not pooled[c] for c in pooled):
            out.append(0.0)
        else:
            out.append(100 * sum(aps) / len(aps) if aps else float("nan"))
    return out


def _check_against_reference(predictions, segments, labels, classes, mode="vadclip"):
    got = detection_map(predictions, segments, labels, classes, mode=mode)
    want = reference_map(
        predictions, segments, labels, classes, IOU_THRESHOLDS, mode == "corrected"
    )
    for t, w in zip(IOU_THRESHOLDS, want):
        assert got[f"mAP@{t:g}"] == pytest.approx(w, abs=1e-9, nan_ok=True), (t, got, want)
    assert got["mAP_avg"] == pytest.approx(np.mean(want), nan_ok=True)
    assert got["mode"] == mode
    return got


def _blocks(n_frames, spans, high=0.9, low=0.05):
    """A column that is `high` inside the half-open spans and `low` elsewhere."""
    column = np.full(n_frames, low)
    for start, end in spans:
        column[start:end] = high
    return column


# ---------------------------------------------------------------------------------------------
# Hand-made cases with known answers, each also checked against the reference
# ---------------------------------------------------------------------------------------------

CLASSES = ["Normal", "Fighting", "Riot"]


def _two_class_video(n, spans):
    fighting = _blocks(n, spans)
    return np.stack([1 - fighting, fighting, np.linspace(0.01, 0.02, n)], axis=1)


@pytest.mark.parametrize("mode", ["vadclip", "corrected"])
def test_perfect_detection_scores_100(mode):
    n = 320
    probs = np.stack([_blocks(n, [(0, 64), (128, 320)]), _blocks(n, [(64, 128)])], axis=1)
    segments = [[(0, 64), (64, 128), (128, 320)]]
    labels = [["Normal", "Fighting", "Normal"]]
    got = _check_against_reference([probs], segments, labels, ["Normal", "Fighting"], mode)
    assert all(got[f"mAP@{t:g}"] == pytest.approx(100.0) for t in IOU_THRESHOLDS)


def test_shifted_proposal_counts_only_below_its_iou():
    # Ground truth [64, 128); the prediction is shifted by 32 frames: IoU = 32 / 96 = 1/3.
    n = 256
    probs = np.stack([_blocks(n, [(96, 160)]), _blocks(n, [(0, 96), (160, 256)])], axis=1)
    segments = [[(64, 128), (0, 64), (128, 256)]]
    labels = [["Fighting", "Normal", "Normal"]]
    got = _check_against_reference([probs], segments, labels, ["Fighting", "Normal"])
    fighting = got["AP_per_class"]
    assert fighting["mAP@0.3"]["Fighting"] == pytest.approx(100.0)
    assert fighting["mAP@0.4"]["Fighting"] == 0.0
    # Normal: proposals [0, 96) vs gt [0, 64) (IoU 2/3) and [160, 256) vs [128, 256) (IoU 3/4).
    assert fighting["mAP@0.5"]["Normal"] == pytest.approx(100.0)


def test_empty_ground_truth_and_missing_proposals():
    n = 160
    probs = _two_class_video(n, [(32, 96)])
    probs[:, 2] = 0.3  # constant column: max == min, nothing above the threshold: no proposals
    segments, labels = [[(32, 96)]], [["Fighting"]]
    vadclip = _check_against_reference([probs], segments, labels, CLASSES, "vadclip")
    # VadCLIP returns 0 for the whole threshold as soon as one class has no proposal.
    assert all(vadclip[f"mAP@{t:g}"] == 0.0 for t in IOU_THRESHOLDS)
    corrected = _check_against_reference([probs], segments, labels, CLASSES, "corrected")
    # Corrected: Normal and Riot have no ground truth and are left out; Fighting is perfect.
    assert corrected["mAP@0.5"] == pytest.approx(100.0)
    assert corrected["AP_per_class"]["mAP@0.5"]["Riot"] is None


def test_no_videos_with_any_ground_truth_of_a_class_count_zero_in_vadclip_mode():
    n = 160
    probs = _two_class_video(n, [(32, 96)])
    got = _check_against_reference([probs], [[(32, 96)]], [["Fighting"]], CLASSES, "vadclip")
    assert got["AP_per_class"]["mAP@0.1"]["Fighting"] == pytest.approx(100.0)
    assert got["mAP@0.1"] == pytest.approx(100.0 / 3)  # Normal and Riot: AP 0 (no ground truth)


def test_overlapping_proposals_and_ground_truth():
    n = 480
    # Two peaks of different height merge into one run at the 0.6 threshold or not: a
    # staircase column gives several runs; ground truth segments overlap each other.
    column = np.full(n, 0.05)
    column[32:96] = 0.5
    column[96:160] = 0.95
    column[200:208] = 0.9
    column[300:420] = 0.7
    probs = np.stack([1 - column, column], axis=1)
    segments = [[(40, 160), (96, 150), (290, 430), (0, 40)]]
    labels = [["Fighting", "Fighting", "Fighting", "Normal"]]
    _check_against_reference([probs], segments, labels, ["Normal", "Fighting"])
    _check_against_reference([probs], segments, labels, ["Normal", "Fighting"], "corrected")


def test_multiclass_multi_video_pooling_orders_by_score():
    n = 320
    videos = [
        _two_class_video(n, [(0, 64)]),
        _two_class_video(n, [(100, 200)]),
        np.stack(
            [_blocks(n, [(0, 320)], 0.6), _blocks(n, [], 0.1), _blocks(n, [(16, 80)], 0.8)], 1
        ),
    ]
    videos[1][:, 2] = _blocks(n, [(150, 230)], 0.7, 0.1)
    segments = [[(0, 70)], [(90, 210), (160, 240)], [(10, 90)]]
    labels = [["Fighting"], ["Fighting", "Riot"], ["Riot"]]
    got = _check_against_reference(videos, segments, labels, CLASSES)
    assert 0.0 < got["mAP_avg"] < 100.0
    _check_against_reference(videos, segments, labels, CLASSES, "corrected")


def test_random_cases_agree_with_reference():
    rng = np.random.default_rng(7)
    for _ in range(25):
        classes = ["Normal", "B", "C"][: rng.integers(2, 4)]
        videos, segments, labels = [], [], []
        for _ in range(rng.integers(1, 5)):
            t = int(rng.integers(1, 12))
            snippet_probs = rng.dirichlet(np.ones(len(classes)), size=t)
            videos.append(snippets_to_frames(snippet_probs))
            segs, labs = [], []
            for _ in range(rng.integers(0, 4)):
                start = int(rng.integers(0, 16 * t + 8))
                segs.append((start, start + int(rng.integers(1, 80))))
                labs.append(str(rng.choice(classes + ["A"])))
            segments.append(segs)
            labels.append(labs)
        for mode in ("vadclip", "corrected"):
            _check_against_reference(videos, segments, labels, classes, mode)


def test_short_video_has_no_video_score_in_vadclip_mode():
    probs = _two_class_video(12, [(2, 8)])  # 12 frames: k = floor(12 / 16) = 0
    assert np.isnan(video_class_scores(probs, "vadclip")).all()
    assert video_class_scores(probs, "corrected")[1] == pytest.approx(0.9)
    vadclip = detection_map([probs], [[(2, 8)]], [["Fighting"]], CLASSES, mode="vadclip")
    corrected = detection_map([probs], [[(2, 8)]], [["Fighting"]], CLASSES, mode="corrected")
    assert vadclip["mAP_avg"] == 0.0
    assert corrected["AP_per_class"]["mAP@0.5"]["Fighting"] == pytest.approx(100.0)


def test_bad_inputs_are_refused_with_reasons():
    probs = _two_class_video(64, [(0, 32)])
    with pytest.raises(ValueError, match="mode"):
        detection_map([probs], [[]], [[]], CLASSES, mode="paper")
    with pytest.raises(ValueError, match="expected one of each per video"):
        detection_map([probs], [[], []], [[]], CLASSES)
    with pytest.raises(ValueError, match=r"\(frames, 2\)"):
        detection_map([probs], [[]], [[]], CLASSES[:2])
    with pytest.raises(ValueError, match="names none of the classes"):
        detection_map([probs], [[(0, 4)]], [["Arson"]], CLASSES, mode="corrected")
    bad = probs.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        detection_map([bad], [[]], [[]], CLASSES)


# ---------------------------------------------------------------------------------------------
# Coarse metrics
# ---------------------------------------------------------------------------------------------


def test_coarse_metrics_known_values():
    # Abnormal video: gt 0 0 1 1, scores .1 .4 .35 .8; normal video: gt 0 0, scores .2 .9.
    scores = [np.array([0.1, 0.4, 0.35, 0.8]), np.array([0.2, 0.9])]
    gt = [np.array([0, 0, 1, 1]), np.array([0, 0])]
    got = coarse_metrics(scores, gt, [True, False])
    # Ranking .9(0) .8(1) .4(0) .35(1) .2(0) .1(0): precision at the hits 1/2 and 2/4.
    assert got["AP"] == pytest.approx(100 * (0.5 + 0.5) / 2)
    # AUC: pairs (positive > negative) over 2 x 4: .8 beats 3 of 4, .35 beats 2 of 4.
    assert got["AUC"] == pytest.approx(100 * 5 / 8)
    # Ano-AUC: only the abnormal video's frames: .8 beats both, .35 beats .1 only.
    assert got["AnoAUC"] == pytest.approx(100 * 3 / 4)


def test_coarse_metrics_undefined_and_bad_inputs():
    got = coarse_metrics([np.array([0.2, 0.3])], [np.array([0, 0])], [False])
    assert all(math.isnan(v) for v in got.values())
    with pytest.raises(ValueError, match="same length"):
        coarse_metrics([np.zeros(3)], [np.zeros(4)], [True])
    with pytest.raises(ValueError, match="NaN"):
        coarse_metrics([np.array([np.nan, 1.0])], [np.array([0, 1])], [True])


# ---------------------------------------------------------------------------------------------
# End to end on the real annotation files
# ---------------------------------------------------------------------------------------------


def _real_videos(vadclip_lists, dataset):
    """(name, label, T) per test video; T covers its annotations (no features here)."""
    if dataset == "xd":
        entries = feature_datasets.read_feature_entries(vadclip_lists / "xd_CLIP_rgbtest.csv")
        segments = ground_truth.read_segments(vadclip_lists / "annotations_multiclasses.txt", "xd")
    else:
        entries = feature_datasets.read_feature_entries(vadclip_lists / "ucf_CLIP_rgbtest.csv")
        segments = ground_truth.read_segments(vadclip_lists / "Temporal_Anomaly_Annotation.txt", "ucf")
    rng = np.random.default_rng(0)
    videos = []
    for e in entries:
        last = max((s.end for s in segments.get(e.name, [])), default=0)
        videos.append((e.name, e.label, last // 16 + int(rng.integers(1, 40))))
    return videos


def _perfect_predictions(gt, class_names):
    """Frame probabilities that put each class high exactly on its ground truth.

    A normal video's normal column dips on its first snippet (a constant column yields no
    proposal under the max-min threshold); outside the anomalies of an abnormal video the
    normal column is moderately high, so its proposals there (false positives: XD and UCF have
    no normal ground truth inside abnormal videos) rank below the true ones.
    """
    normal = class_names.index("Normal")
    predictions = []
    for segments, labels, frames, abnormal in zip(gt.segments, gt.labels, gt.frame_gt, gt.abnormal):
        probs = np.full((len(frames), len(class_names)), 0.01)
        if abnormal:
            probs[:, normal] = np.where(frames == 1, 0.01, 0.6)
            for (start, end), label in zip(segments, labels):
                probs[start:end, class_names.index(label)] = 0.95
        else:
            probs[:, normal] = 0.95
            probs[:16, normal] = 0.5
        predictions.append(probs)
    return predictions


def _random_predictions(gt, n_classes, seed=1):
    rng = np.random.default_rng(seed)
    return [
        snippets_to_frames(rng.dirichlet(np.ones(n_classes), size=len(f) // 16))
        for f in gt.frame_gt
    ]


def test_real_xd_annotations_end_to_end(vadclip_lists):
    videos = _real_videos(vadclip_lists, "xd")
    gt = ground_truth.build_ground_truth(
        videos,
        vadclip_lists / "annotations_multiclasses.txt",
        "xd",
        frame_segments_path=vadclip_lists / "annotations.txt",
    )
    assert len(gt.names) == 800 and sum(gt.abnormal) == 500
    classes = ann.XD_CLASSES
    perfect = detection_map(_perfect_predictions(gt, classes), gt.segments, gt.labels, classes)
    chance = detection_map(_random_predictions(gt, len(classes)), gt.segments, gt.labels, classes)
    # XD labels normal videos as the normal class, so both modes agree on perfect predictions
    # up to the corrections that touch only a few videos.
    corrected = detection_map(
        _perfect_predictions(gt, classes), gt.segments, gt.labels, classes, mode="corrected"
    )
    assert perfect["mAP_avg"] > 95.0, perfect
    assert chance["mAP_avg"] < 2.0, chance
    assert perfect["AP_per_class"]["mAP@0.5"]["Normal"] > 95.0
    assert abs(corrected["mAP_avg"] - perfect["mAP_avg"]) < 5.0
    # Coarse metrics from the same ground truth: a perfect score gives 100.
    coarse = coarse_metrics([f.astype(float) for f in gt.frame_gt], gt.frame_gt, gt.abnormal)
    assert coarse == {"AP": 100.0, "AUC": 100.0, "AnoAUC": 100.0}


def test_real_ucf_annotations_normal_class_quirk(vadclip_lists):
    videos = _real_videos(vadclip_lists, "ucf")
    gt = ground_truth.build_ground_truth(videos, vadclip_lists / "Temporal_Anomaly_Annotation.txt", "ucf")
    assert len(gt.names) == 290 and sum(gt.abnormal) == 140
    classes = ann.UCF_CLASSES
    predictions = _perfect_predictions(gt, classes)
    vadclip = detection_map(predictions, gt.segments, gt.labels, classes, mode="vadclip")
    corrected = detection_map(predictions, gt.segments, gt.labels, classes, mode="corrected")
    # VadCLIP's UCF ground truth labels normal videos 'A', which is not a UCF class: Normal's
    # AP is 0 however good the predictions, and the mean over 14 classes is capped at 13/14.
    assert all(vadclip["AP_per_class"][k]["Normal"] == 0.0 for k in vadclip["AP_per_class"])
    assert 90.0 < vadclip["mAP_avg"] <= 100.0 * 13 / 14 + 1e-9
    assert corrected["AP_per_class"]["mAP@0.5"]["Normal"] > 95.0
    assert corrected["mAP_avg"] > 95.0
    chance = detection_map(_random_predictions(gt, len(classes)), gt.segments, gt.labels, classes)
    assert chance["mAP_avg"] < 2.0
