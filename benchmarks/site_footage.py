# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Held-out footage of the cameras a synthetic training benchmark was drawn from (a "site").

`tcvads synth --seed S` draws its camera backgrounds from S and each video's people, cars and
episodes from S and the video's number. Rendering videos of the same seed with numbers far
beyond the benchmark's (`FIRST_INDEX` on) gives new activity in front of the same cameras:
footage of the site the model was trained for that no training or validation video contains.
Used by benchmarks/site_alarms.py and benchmarks/cold_start.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from tcvads_ros.data.annotations import Segment
from tcvads_ros.data.synthetic import (
    ANOMALY_CODES,
    SynthConfig,
    VideoPlan,
    render_frames,
    write_video,
)

FIRST_INDEX = 100_000  # far beyond any benchmark's video numbers


def write_site_videos(out: Path, cfg: SynthConfig, count: int, first: int, abnormal: bool = False,
                      seed: int = 0) -> list[tuple[Path, list[Segment]]]:
    """`count` videos of `cfg.frames` frames from cfg's cameras, numbered from FIRST_INDEX +
    `first`; with `abnormal` each holds one episode (kinds in turn, 20-40 % of the video, not in
    its first or last tenth). Returns (path, episodes) per video."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    videos = []
    for k in range(count):
        index = FIRST_INDEX + first + k
        episodes: tuple[Segment, ...] = ()
        if abnormal:
            kind = ANOMALY_CODES[k % len(ANOMALY_CODES)]
            length = int(rng.integers(cfg.frames // 5, 2 * cfg.frames // 5))
            start = int(rng.integers(cfg.frames // 10, cfg.frames - cfg.frames // 10 - length))
            episodes = (Segment(kind, start, start + length),)
        label = episodes[0].label if episodes else "A"
        plan = VideoPlan(index, f"site_{index}_label_{label}", "test", k % cfg.cameras, label, episodes)
        path = out / f"{plan.name}{cfg.extension}"
        if not path.exists():
            write_video(path.with_suffix(".partial" + cfg.extension), render_frames(plan, cfg), cfg)
            path.with_suffix(".partial" + cfg.extension).replace(path)
        videos.append((path, list(episodes)))
    return videos


def site_config(videos: int, seed: int, width: int, height: int, fps: float, seconds: float,
                cameras: int = 4) -> SynthConfig:
    """The benchmark's camera settings with another video length."""
    base = SynthConfig(videos=videos, seed=seed, width=width, height=height, fps=fps, cameras=cameras)
    return replace(base, frames=int(round(seconds * fps)))


def calibration_and_test_sets(root: Path, fps: float, normal_videos: int, abnormal_videos: int) -> dict[str, list]:
    """The footage of the site benchmarks (site_alarms, second_opinion), written under `root`:
    ``calibration`` and ``test_normal`` (`normal_videos` one-minute normal videos each, of other
    activity), and ``test_abnormal`` (`abnormal_videos` half-minute videos with one episode each),
    all 128x96 in front of the same camera at `fps`."""
    minute = site_config(1, 0, 128, 96, fps, 60.0)
    half = site_config(1, 0, 128, 96, fps, 30.0)
    return {
        "calibration": write_site_videos(root / "calibration", minute, normal_videos, first=0),
        "test_normal": write_site_videos(root / "test_normal", minute, normal_videos, first=1000),
        "test_abnormal": write_site_videos(root / "test_abnormal", half, abnormal_videos,
                                           first=2000, abnormal=True, seed=1),
    }
