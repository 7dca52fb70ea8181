"""The fine stage's text side at run time, in NumPy (paper §IV.B, "CLIP native text").

The rule (docs/ARCHITECTURE.md, "Edge rule for the fine stage"): the clip's captions are the
`top_m` of the caption bank most similar (cosine) to the mean of its normalised snippet image
features; a class's text feature is the mean over those captions of the table's class × caption
prompt features, re-normalised. Training computes the same in torch
(`FineStage.retrieve_captions` and `FineStage.text_features`, which also train the prompts);
test/models/test_fine.py checks that the two give the same captions and features.
"""

from __future__ import annotations

import numpy as np


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def retrieve_captions(captions: np.ndarray, clip_features: np.ndarray, top_m: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices (m,), cosine similarities (m,)), best first, of the captions (K, D) closest to
    the clip's snippet features (T, D)."""
    query = _normalise(_normalise(clip_features).mean(axis=0))
    similarity = captions @ query
    top = np.argsort(-similarity, kind="stable")[: min(top_m, len(captions))]
    return top, similarity[top]


def class_text(class_caption: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Class text features (C, D) of a clip: the table's (C, K, D) rows for its captions, averaged
    and re-normalised."""
    return _normalise(class_caption[:, indices, :].mean(axis=1))
