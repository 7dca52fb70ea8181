# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Bayesian optimisation of the distillation temperature (paper Exp. 12/13, Fig. 5).

A Gaussian process with a squared-exponential (RBF) kernel, scikit-learn's
`GaussianProcessRegressor`, models the objective over T ∈ [low, high]; Expected Improvement
(Exp. 12) picks the next T. The paper writes the objective as L_soft(T), but minimising L_soft
alone is degenerate (σ(z/T) flattens to 0.5 as T grows, so a large T always "wins"), so
the objective here is a score to MAXIMISE: the student's validation AP/AUC after a short
distillation at T. Exp. (13)'s argmin becomes the argmax of the observed scores.

`search_temperature(objective, ...)` returns a `TemperatureSearch` with every trial and the
posterior (mean, 95 % band on a grid, observations, chosen T); `save_json` and `plot` write it
to disk, the plot drawn like Fig. 5 (posterior mean, 95 % band, red observations).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import norm
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel


@dataclass
class TemperatureSearchConfig:
    """Settings of the search (config key ``student.temperature_search``)."""

    enabled: bool = True
    low: float = 0.5  # the search range T ∈ [0.5, 5] (paper Fig. 5)
    high: float = 5.0
    initial: list[float] = field(default_factory=lambda: [0.5, 2.75, 5.0])  # T_0 of the paper
    iterations: int = 5  # EI-chosen trials after the initial ones
    grid_points: int = 200  # where EI and the posterior are evaluated
    xi: float = 0.01  # EI exploration margin
    trial_epochs: int = 3  # epochs of each short distillation trial

    def __post_init__(self) -> None:
        if not 0 < self.low < self.high:
            raise ValueError(f"need 0 < low < high, got low={self.low}, high={self.high}")
        if not self.initial or any(not self.low <= t <= self.high for t in self.initial):
            raise ValueError(f"initial temperatures {self.initial} must lie in [{self.low}, {self.high}]")
        if self.iterations < 0 or self.grid_points < 2 or self.trial_epochs < 1:
            raise ValueError("iterations >= 0, grid_points >= 2 and trial_epochs >= 1 are required")


@dataclass
class Trial:
    temperature: float
    score: float
    source: str  # "initial" or "expected_improvement"


@dataclass
class TemperatureSearch:
    """Result of the search: every trial and the final GP posterior on a grid."""

    trials: list[Trial]
    chosen: float
    best_score: float
    grid: list[float]
    mean: list[float]
    lower95: list[float]
    upper95: list[float]
    kernel: str
    objective: str = "validation score (higher is better)"

    def save_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    def plot(self, path: str | Path, title: str = "Distillation temperature (Bayesian optimisation)") -> None:
        """Fig. 5 style: posterior mean, 95 % band, observations (red), chosen T."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        ax.fill_between(self.grid, self.lower95, self.upper95, color="tab:green", alpha=0.25,
                        label="95 % confidence")
        ax.plot(self.grid, self.mean, color="tab:blue", linewidth=2.0, label="GP posterior mean")
        ax.scatter([t.temperature for t in self.trials], [t.score for t in self.trials],
                   color="tab:red", zorder=3, label="observed trials")
        ax.axvline(self.chosen, color="black", linestyle="--", linewidth=1.0,
                   label=f"chosen T = {self.chosen:.2f}")
        ax.set_xlabel("temperature T")
        ax.set_ylabel(self.objective)
        ax.set_title(title)
        ax.legend(loc="best", fontsize="small")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def _fit_gp(temps: np.ndarray, scores: np.ndarray, span: float, seed: int) -> GaussianProcessRegressor:
    # σ_f² · exp(−(T−T')²/2l²) (the paper's squared-exponential kernel) plus observation noise:
    # each trial is a noisy training run.
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(span / 4, (span / 50, span * 2)) + WhiteKernel(
        1e-3, (1e-6, 1e-1)
    )
    gp = GaussianProcessRegressor(kernel=kernel, normalize_y=True, n_restarts_optimizer=3,
                                  random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(temps.reshape(-1, 1), scores)
    return gp


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float, xi: float) -> np.ndarray:
    """Exp. (12) for maximisation: E[max(0, f(T) − f(T_best) − ξ)] under N(mean, std²)."""
    std = np.maximum(std, 1e-12)
    z = (mean - best - xi) / std
    return (mean - best - xi) * norm.cdf(z) + std * norm.pdf(z)


def search_temperature(
    objective: Callable[[float], float],
    cfg: TemperatureSearchConfig,
    seed: int = 0,
    progress: Callable[[Trial], None] | None = None,
) -> TemperatureSearch:
    """Maximise `objective(T)` over [cfg.low, cfg.high] with GP + Expected Improvement."""
    grid = np.linspace(cfg.low, cfg.high, cfg.grid_points)
    trials: list[Trial] = []

    def evaluate(t: float, source: str) -> None:
        score = float(objective(float(t)))
        if not np.isfinite(score):
            raise ValueError(f"the objective returned {score} at T={t}")
        trials.append(Trial(float(t), score, source))
        if progress is not None:
            progress(trials[-1])

    for t in cfg.initial:
        evaluate(t, "initial")
    span = cfg.high - cfg.low
    for _ in range(cfg.iterations):
        temps = np.array([t.temperature for t in trials])
        scores = np.array([t.score for t in trials])
        gp = _fit_gp(temps, scores, span, seed)
        mean, std = gp.predict(grid.reshape(-1, 1), return_std=True)
        ei = expected_improvement(mean, std, scores.max(), cfg.xi * max(np.ptp(scores), 1e-9))
        # Never re-evaluate a temperature already tried: it adds no information.
        tried = np.min(np.abs(grid[:, None] - temps[None, :]), axis=1) < span / cfg.grid_points
        ei[tried] = -np.inf
        evaluate(float(grid[int(np.argmax(ei))]), "expected_improvement")

    temps = np.array([t.temperature for t in trials])
    scores = np.array([t.score for t in trials])
    gp = _fit_gp(temps, scores, span, seed)
    mean, std = gp.predict(grid.reshape(-1, 1), return_std=True)
    best = trials[int(np.argmax(scores))]  # Exp. (13): the best observed temperature
    return TemperatureSearch(
        trials=trials,
        chosen=best.temperature,
        best_score=best.score,
        grid=grid.tolist(),
        mean=mean.tolist(),
        lower95=(mean - 1.96 * std).tolist(),
        upper95=(mean + 1.96 * std).tolist(),
        kernel=str(gp.kernel_),
    )
