# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Bayesian optimisation of T on cheap known objectives; JSON and plot written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tcvads_ros.training.temperature_search import (
    TemperatureSearchConfig,
    expected_improvement,
    search_temperature,
)


def _two_bumps(t: float) -> float:
    # Fig. 5's shape: a local optimum near T = 1 and the global one near T = 2.5
    return 0.6 * np.exp(-((t - 1.0) ** 2) / 0.08) + 1.0 * np.exp(-((t - 2.5) ** 2) / 0.18)


def test_finds_the_global_maximum_of_a_known_function():
    calls = []

    def objective(t):
        calls.append(t)
        return _two_bumps(t)

    cfg = TemperatureSearchConfig(initial=[0.5, 1.6, 3.5, 5.0], iterations=8)
    result = search_temperature(objective, cfg, seed=0)
    assert len(result.trials) == len(calls) == 12
    assert result.chosen == pytest.approx(2.5, abs=0.15)
    assert all(0.5 <= t <= 5.0 for t in calls)
    assert len(set(np.round(calls, 6))) == len(calls)  # never re-evaluates a tried T
    # the posterior interpolates the observations
    mean = np.interp([t.temperature for t in result.trials], result.grid, result.mean)
    assert np.allclose(mean, [t.score for t in result.trials], atol=0.1)
    assert all(lo <= m <= hi for lo, m, hi in zip(result.lower95, result.mean, result.upper95))


def test_expected_improvement_formula():
    # at mean == best with xi=0, EI = std * pdf(0)
    ei = expected_improvement(np.array([1.0]), np.array([2.0]), best=1.0, xi=0.0)
    assert ei[0] == pytest.approx(2.0 / np.sqrt(2 * np.pi))
    # far below the best with tiny std: no improvement expected
    assert expected_improvement(np.array([0.0]), np.array([1e-6]), best=1.0, xi=0.0)[0] == pytest.approx(0.0)


def test_writes_json_and_plot(tmp_path):
    cfg = TemperatureSearchConfig(initial=[0.5, 5.0], iterations=2, grid_points=50)
    result = search_temperature(lambda t: -(t - 2.0) ** 2, cfg)
    result.save_json(tmp_path / "t.json")
    result.plot(tmp_path / "t.png")
    data = json.loads((tmp_path / "t.json").read_text())
    assert set(data) >= {"trials", "chosen", "grid", "mean", "lower95", "upper95", "kernel"}
    assert len(data["grid"]) == 50 and len(data["trials"]) == 4
    assert "RBF" in data["kernel"]
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="initial"):
        TemperatureSearchConfig(initial=[0.1])
    with pytest.raises(ValueError, match="low"):
        TemperatureSearchConfig(low=3.0, high=2.0, initial=[2.5])
