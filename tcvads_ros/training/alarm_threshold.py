# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The coarse stage's alarm threshold, chosen on the validation split (RUN_DIR/calibration.json).

The edge runtime compares the QACM student's probability with one threshold; it is chosen
here, on data the student was not trained on, by maximum F1 (precision-recall curve) or by
Youden's J = TPR − FPR (ROC curve), both from scikit-learn.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve


def choose_threshold(scores: np.ndarray, labels: np.ndarray, method: str = "f1") -> dict[str, float]:
    """Threshold on `scores` (probabilities) separating `labels` (0/1) best by `method`.

    Returns ``{"threshold", "method", <criterion value>, "positives", "count"}``. With a single
    class among the labels nothing can be chosen and the threshold is 0.5.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).astype(np.int64).ravel()
    info: dict = {"method": method, "count": int(labels.size), "positives": int(labels.sum())}
    if labels.size == 0 or labels.min() == labels.max():
        return {**info, "threshold": 0.5, "note": "one class only in the validation data; default 0.5"}
    if method == "f1":
        precision, recall, thresholds = precision_recall_curve(labels, scores)
        f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
        best = int(np.argmax(f1))
        return {**info, "threshold": float(thresholds[best]), "f1": float(f1[best]),
                "precision": float(precision[best]), "recall": float(recall[best])}
    if method == "youden":
        fpr, tpr, thresholds = roc_curve(labels, scores)
        j = tpr - fpr
        best = int(np.argmax(j))
        threshold = float(min(thresholds[best], 1.0))  # roc_curve's first threshold is +inf
        return {**info, "threshold": threshold, "youden_j": float(j[best]),
                "tpr": float(tpr[best]), "fpr": float(fpr[best])}
    raise ValueError(f"unknown calibration method '{method}' (use 'f1' or 'youden')")
