# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""LIME-style surrogate fidelity (tcvads_ros/training/surrogate.py) against independent formulations."""

from __future__ import annotations

import numpy as np
import pytest

from tcvads_ros.errors import ConfigError
from tcvads_ros.training.surrogate import (
    SurrogateConfig,
    explain,
    fit_surrogate,
    kernel_weights,
    mean_r2,
    sample_masks,
)


def test_masks_start_unperturbed_and_are_fair_coin_flips_fixed_by_the_seed():
    cfg = SurrogateConfig(samples=4000)
    masks = sample_masks(10, cfg, np.random.default_rng(3))
    assert masks.shape == (4000, 10) and masks.dtype == np.uint8
    assert masks[0].tolist() == [1] * 10
    assert set(np.unique(masks)) == {0, 1}
    assert abs(masks[1:].mean() - 0.5) < 0.02
    assert np.array_equal(masks, sample_masks(10, cfg, np.random.default_rng(3)))
    assert not np.array_equal(masks, sample_masks(10, cfg, np.random.default_rng(4)))


def test_kernel_is_lime_exponential_kernel_on_the_cosine_distance():
    d = 6
    masks = np.array([[1] * d, [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0], [0] * d], np.uint8)
    k = masks.sum(axis=1)
    # cosine distance of a 0/1 vector with k ones to the all-ones vector: 1 - k / sqrt(k d);
    # an all-zero mask has distance 1 (sklearn's convention for a zero vector)
    distance = np.where(k > 0, 1 - np.sqrt(k / d), 1.0)
    for width in (0.25, 1.0):
        expected = np.exp(-(distance**2) / (2 * width**2))  # sqrt(exp(-D²/w²))
        assert np.allclose(kernel_weights(masks, width), expected, atol=1e-12)
    assert kernel_weights(masks, 0.25)[0] == pytest.approx(1.0)


@pytest.mark.parametrize("n_features", [1, 7, 40])
def test_a_model_linear_in_the_mask_has_r2_one_and_its_weights_are_recovered(n_features):
    rng = np.random.default_rng(n_features)
    weights, bias = rng.normal(size=n_features), 0.3
    fit = explain(lambda m: m @ weights + bias, n_features, SurrogateConfig(samples=500),
                  np.random.default_rng(0))
    assert abs(fit.r2 - 1.0) < 1e-6
    assert np.allclose(fit.coef, weights, atol=1e-8)
    assert fit.intercept == pytest.approx(bias, abs=1e-8)


def test_weighted_r2_matches_an_independent_weighted_least_squares():
    rng = np.random.default_rng(1)
    cfg = SurrogateConfig(samples=300)
    masks = sample_masks(5, cfg, rng)
    outputs = np.tanh(masks @ rng.normal(size=5)) * masks[:, 0] * masks[:, 1] + 0.1 * rng.normal(size=300)
    fit = fit_surrogate(masks, outputs, cfg)
    # independent: closed-form weighted least squares with an intercept column, weighted R²
    w = kernel_weights(masks, cfg.kernel_width)
    design = np.hstack([np.ones((len(masks), 1)), masks])
    beta = np.linalg.lstsq(design * np.sqrt(w)[:, None], outputs * np.sqrt(w), rcond=None)[0]
    residual = outputs - design @ beta
    centred = outputs - np.average(outputs, weights=w)
    expected = 1 - np.sum(w * residual**2) / np.sum(w * centred**2)
    assert fit.r2 == pytest.approx(expected, abs=1e-9)
    assert np.allclose(fit.coef, beta[1:], atol=1e-8)
    assert fit.r2 < 0.99  # the target is not linear in the mask


def test_r2_is_at_most_one_and_low_for_an_interaction_or_noise():
    cfg = SurrogateConfig(samples=800)
    rng = np.random.default_rng(2)
    xor = explain(lambda m: (m[:, 0] ^ m[:, 1]).astype(float), 4, cfg, rng)
    noise = explain(lambda m: rng.normal(size=len(m)), 4, cfg, np.random.default_rng(5))
    assert xor.r2 <= 1.0 and xor.r2 < 0.5
    assert noise.r2 <= 1.0 and noise.r2 < 0.1


def test_ridge_option_is_lime_regressor_and_shrinks_slightly():
    weights = np.array([0.5, -0.2, 0.1])
    lime = explain(lambda m: m @ weights, 3, SurrogateConfig(samples=400, alpha=1.0),
                   np.random.default_rng(0))
    assert 0.999 < lime.r2 < 1.0


def test_a_constant_model_has_no_r2_and_is_left_out_of_the_mean():
    fit = explain(lambda m: np.full(len(m), 0.7), 3, SurrogateConfig(samples=20), np.random.default_rng(0))
    assert np.isnan(fit.r2)
    assert mean_r2([0.5, fit.r2, 0.7]) == pytest.approx(0.6)
    assert np.isnan(mean_r2([fit.r2]))


def test_predict_is_called_in_batches_and_progress_counts_every_mask():
    calls, seen = [], []
    explain(lambda m: calls.append(len(m)) or m.sum(axis=1), 3, SurrogateConfig(samples=120, batch=50),
            np.random.default_rng(0), progress=seen.append)
    assert calls == [50, 50, 20] and sum(seen) == 120


def test_bad_settings_and_outputs_are_clear_errors():
    with pytest.raises(ConfigError, match="samples"):
        SurrogateConfig(samples=2)
    with pytest.raises(ConfigError, match="keep_probability"):
        SurrogateConfig(keep_probability=1.0)
    with pytest.raises(ConfigError):
        SurrogateConfig(kernel_width=0)
    with pytest.raises(ValueError, match="outputs"):
        explain(lambda m: np.zeros(1), 3, SurrogateConfig(samples=10), np.random.default_rng(0))
    with pytest.raises(ValueError, match="finite"):
        fit_surrogate(np.ones((3, 2), np.uint8), np.array([0.0, np.nan, 1.0]), SurrogateConfig())
