# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""LIME-style local surrogate fidelity: the R² of paper Table IX (§V.E).

The paper refits each test prediction with LIME [41] and reports the R² of the refit against the
model's own predictions (coarse 64.8, fine 53.7 on XD-Violence). It gives no further detail;
this module fixes one exact procedure, LIME's own defaults wherever LIME has one
(``lime.lime_base.LimeBase.explain_instance_with_data`` as the image and text explainers call
it), so another team gets the same number:

1. **Interpretable features.** A clip is cut into ``d`` parts that can be switched off: snippets
   and/or cells of a ``g × g`` grid over the frame ("superpixels"). Which parts, and what "off"
   means, is the caller's ``predict`` (training/interpret.py: a switched-off snippet or cell is
   replaced by a heavily blurred copy of the frame for the coarse stage, and a switched-off
   snippet by the clip's mean CLIP feature for the fine stage).
2. **Samples.** ``n = samples`` binary masks ``z ∈ {0, 1}^d``: the first is all ones (the clip
   as it is), the others draw every bit independently with probability ½ (LIME's image
   explainer), from ``numpy.random.default_rng(seed)``.
3. **Target.** ``y_i = predict(z_i)``, one number per mask: the model's own output on the
   perturbed clip (which output: see training/interpret.py and docs/interpretability.md).
4. **Locality kernel.** ``π_i = sqrt(exp(−D_i² / w²))`` with ``D_i`` the cosine distance between
   ``z_i`` and the all-ones mask (``sklearn.metrics.pairwise_distances``, metric "cosine"; an
   all-zero mask has distance 1) and kernel width ``w = 0.25`` (LIME's image/text default).
5. **Surrogate.** a weighted least-squares linear model with intercept on all ``d`` features
   (no feature selection), fitted with sample weights ``π``:
   ``sklearn.linear_model.LinearRegression``. LIME's default regressor is
   ``Ridge(alpha=1)``; we do not shrink by default because the R² is meant to measure how
   linear the *model* is near the clip, and shrinkage lowers the R² of even an exactly linear
   model (by about 6e-5 at 1000 samples, more when the outputs vary little).
   ``alpha=1`` (``--alpha 1``) gives LIME's exact choice.
6. **Fidelity.** the weighted R² of the surrogate on the same samples,
   ``sklearn.metrics.r2_score(y, ŷ, sample_weight=π)`` (LIME's ``score``). It is ≤ 1, and 1 when
   the model is itself linear in the mask; it may be negative. A constant target (the model
   ignores every part) has no variance to explain: its R² is NaN and it is left out of means.

Table IX's value is the mean of this R² over the test videos, times 100.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import pairwise_distances, r2_score

from tcvads_ros.errors import ConfigError


@dataclass
class SurrogateConfig:
    """Args:
        samples: masks per explained clip, the unperturbed one included (LIME: 1000 for images).
        kernel_width: ``w`` of the exponential locality kernel on the cosine distance (LIME: 0.25).
        alpha: Ridge regularisation of the surrogate; 0 (default) is least squares
            (``LinearRegression``), LIME uses 1.0.
        keep_probability: probability that a part stays on in a random mask (LIME: ½).
        batch: masks evaluated per call of ``predict``.
    """

    samples: int = 1000
    kernel_width: float = 0.25
    alpha: float = 0.0
    keep_probability: float = 0.5
    batch: int = 50

    def __post_init__(self) -> None:
        if self.samples < 3:
            raise ConfigError(f"surrogate samples must be >= 3, got {self.samples}")
        if self.kernel_width <= 0 or self.alpha < 0 or self.batch < 1:
            raise ConfigError("surrogate: kernel_width > 0, alpha >= 0 and batch >= 1 are required")
        if not 0.0 < self.keep_probability < 1.0:
            raise ConfigError(f"surrogate keep_probability must be in (0, 1), got {self.keep_probability}")


@dataclass
class SurrogateFit:
    """One explained clip: the masks, the model's outputs, the kernel weights and the fit."""

    masks: np.ndarray  # (n, d) uint8, row 0 all ones
    outputs: np.ndarray  # (n,) the model's outputs on the perturbed clips
    weights: np.ndarray  # (n,) locality kernel π
    coef: np.ndarray  # (d,) the surrogate's weight of each part
    intercept: float
    r2: float  # weighted R² of the surrogate (NaN for a constant target)


def sample_masks(n_features: int, cfg: SurrogateConfig, rng: np.random.Generator) -> np.ndarray:
    """(samples, d) binary masks: row 0 all ones, the rest Bernoulli(keep_probability) bits."""
    if n_features < 1:
        raise ConfigError("a surrogate needs at least one interpretable feature")
    masks = (rng.random((cfg.samples, n_features)) < cfg.keep_probability).astype(np.uint8)
    masks[0] = 1
    return masks


def kernel_weights(masks: np.ndarray, kernel_width: float) -> np.ndarray:
    """LIME's locality kernel: sqrt(exp(−D² / w²)), D the cosine distance to the all-ones mask."""
    ones = np.ones((1, masks.shape[1]))
    distances = pairwise_distances(masks.astype(np.float64), ones, metric="cosine").ravel()
    return np.sqrt(np.exp(-(distances**2) / kernel_width**2))


def fit_surrogate(masks: np.ndarray, outputs: np.ndarray, cfg: SurrogateConfig) -> SurrogateFit:
    """Weighted Ridge on the masks and its weighted R² against the outputs (steps 4-6 above)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.shape != (len(masks),) or not np.all(np.isfinite(outputs)):
        raise ValueError(f"outputs must be {len(masks)} finite numbers, got shape {outputs.shape}")
    weights = kernel_weights(masks, cfg.kernel_width)
    x = masks.astype(np.float64)
    model = LinearRegression() if cfg.alpha == 0 else Ridge(alpha=cfg.alpha)
    model.fit(x, outputs, sample_weight=weights)
    if np.ptp(outputs) == 0.0:
        r2 = float("nan")
    else:
        r2 = float(r2_score(outputs, model.predict(x), sample_weight=weights))
    return SurrogateFit(masks, outputs, weights, model.coef_.copy(), float(model.intercept_), r2)


def explain(predict: Callable[[np.ndarray], np.ndarray], n_features: int, cfg: SurrogateConfig,
            rng: np.random.Generator, progress: Callable[[int], None] | None = None) -> SurrogateFit:
    """Sample masks, evaluate ``predict(masks (b, d)) -> (b,)`` in batches, fit the surrogate.

    ``progress(k)`` (e.g. a tqdm bar's ``update``) is told of every ``k`` masks evaluated.
    """
    masks = sample_masks(n_features, cfg, rng)
    outputs = []
    for start in range(0, len(masks), cfg.batch):
        part = masks[start:start + cfg.batch]
        out = np.asarray(predict(part), dtype=np.float64).reshape(-1)
        if out.shape != (len(part),):
            raise ValueError(f"predict returned {out.shape} outputs for {len(part)} masks")
        outputs.append(out)
        if progress is not None:
            progress(len(part))
    return fit_surrogate(masks, np.concatenate(outputs), cfg)


def mean_r2(values: list[float]) -> float:
    """Mean of the finite per-clip R² values (NaN when there is none)."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")
