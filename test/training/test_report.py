# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of tcvads_ros/training/report.py: the evaluation folder's files and metrics.json keys."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tcvads_ros.training import report
from tcvads_ros.training.metrics import coarse_metrics, detection_map, snippets_to_frames

PNG = b"\x89PNG\r\n\x1a\n"


def _evaluation_inputs():
    rng = np.random.default_rng(0)
    gt = [
        np.r_[np.zeros(32), np.ones(64), np.zeros(32)],
        np.zeros(96),
        np.r_[np.ones(48), np.zeros(16)],
    ]
    scores = [np.clip(g * 0.7 + rng.uniform(0, 0.3, len(g)), 0, 1) for g in gt]
    names = ["fight_label_B1-0-0", "v=calm#1_label_A", "riot_label_B4-0-0"]
    return scores, [g.astype(np.uint8) for g in gt], names


def test_write_evaluation_files_and_keys(tmp_path):
    scores, gt, names = _evaluation_inputs()
    metrics = coarse_metrics(scores, gt, [True, False, True])
    classes = ["Normal", "Fighting"]
    probs = [snippets_to_frames(np.stack([1 - s[::16], s[::16]], axis=1)) for s in scores]
    metrics.update(
        detection_map(
            probs,
            [[(32, 96)], [(0, 96)], [(0, 48)]],
            [["Fighting"], ["Normal"], ["Fighting"]],
            classes,
        )
    )
    written = report.write_evaluation(
        tmp_path / "eval", metrics, scores, gt, names, n_timelines=2, fps=25
    )

    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert list(saved)[: len(report.METRIC_KEYS)] == list(report.METRIC_KEYS)
    assert saved["mode"] == "vadclip"
    assert saved["AP"] == pytest.approx(metrics["AP"]) and saved["mAP_avg"] == pytest.approx(
        metrics["mAP_avg"]
    )
    assert "AP_per_class" in saved
    for png in [tmp_path / "eval" / "roc.png", tmp_path / "eval" / "pr.png", *written["timelines"]]:
        assert png.read_bytes()[:8] == PNG
    # Two timelines: the abnormal video with most anomalous frames, and one normal video.
    assert [p.name for p in written["timelines"]] == [
        "0000_fight_label_B1-0-0.png",
        "0001_v_calm_1_label_A.png",
    ]


def test_missing_and_undefined_metrics_are_null(tmp_path):
    scores, gt, names = _evaluation_inputs()
    normal_only = [np.zeros_like(g) for g in gt]
    metrics = coarse_metrics(scores, normal_only, [False] * 3)  # all NaN: a single class
    written = report.write_evaluation(tmp_path, metrics, scores, normal_only, names)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert all(saved[key] is None for key in report.METRIC_KEYS)
    assert written["curves"] == []  # no curve without both classes
    assert len(written["timelines"]) == 1


def test_mismatched_inputs_are_refused(tmp_path):
    scores, gt, names = _evaluation_inputs()
    with pytest.raises(ValueError, match="one of each per video"):
        report.write_evaluation(tmp_path, {}, scores, gt, names[:2])
