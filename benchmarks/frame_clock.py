#!/usr/bin/env python
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""FrameClock per stream: frames lost as counted against the truth, the rate it ends at, and the
time `number` takes per frame (paid in the nodes' camera callback, under a lock).

    python -m benchmarks.frame_clock [--frames 6000] [--repeat 5] [--against OLD_SAMPLING_PY]

`--against` loads another version of `tcvads_ros/runtime/sampling.py` (e.g. one written out with
`git show REV:tcvads_ros/runtime/sampling.py > /tmp/old.py`) and runs it after this one on the
same streams (the machine may be shared and noisy: compare within one run). Times are the
median of `--repeat` passes over each whole stream (a fresh clock each pass), in microseconds per
frame.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time

import numpy as np

from tcvads_ros.runtime import sampling

START = 1_700_000_000.0  # seconds since the epoch, as ROS stamps are


def rate_change(before: float, after: float, frames: int, switch: int = 300, jitter: float = 0.0, seed: int = 1):
    """Stamps of a camera at `before` fps for `switch` frames, then at `after`; true lost: 0."""
    rng = np.random.default_rng(seed)
    times = np.concatenate([np.arange(switch) / before, (switch - 1) / before + np.arange(1, frames - switch + 1) / after])
    periods = np.concatenate([np.full(switch, 1 / before), np.full(frames - switch, 1 / after)])
    return START + times + rng.uniform(-jitter, jitter, frames) * periods, 0


def scenarios(frames: int) -> dict[str, tuple[np.ndarray, int, float | None]]:
    """name: (stamps, frames truly lost, given fps or None)."""
    rng = np.random.default_rng(0)
    steady = START + np.arange(frames) / 30.0
    every_tenth = (np.arange(frames) % 10 != 9) | (np.arange(frames) < 30)  # lost once calibrated
    every_tenth[np.flatnonzero(every_tenth)[-1] + 1:] = True  # and none after the last one: unseen
    return {
        "30 fps steady, jitter 0.2": (START + (np.arange(frames) + rng.uniform(-0.2, 0.2, frames)) / 30.0, 0, None),
        "30 fps steady, fps given": (steady, 0, 30.0),
        "30 -> 28.5 fps": (*rate_change(30.0, 28.5, frames), None),
        "30 -> 27.5 fps": (*rate_change(30.0, 27.5, frames), None),
        "30 -> 27 fps": (*rate_change(30.0, 27.0, frames), None),
        "30 -> 28.5 fps, jitter 0.1": (*rate_change(30.0, 28.5, frames, jitter=0.1), None),
        "30 fps, every 10th lost": (steady[every_tenth], int((~every_tenth).sum()), None),
        "30 fps, every frame twice": (np.repeat(steady[: frames // 2], 2), 0, None),
    }


def measure(clock_class, stamps, given, repeat: int):
    times, clock = [], None
    for _ in range(repeat):
        clock = clock_class(given)
        number = clock.number
        start = time.perf_counter()
        for stamp in stamps.tolist():
            number(stamp)
        times.append((time.perf_counter() - start) / stamps.size * 1e6)
    lost = clock.stats["lost"] + clock.pending.get("lost", 0)
    changes = clock.stats["rate_changes"], clock.stats["rate_adjusted"]
    return lost, clock.fps, clock.stats["repeated"], changes, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--against", help="another sampling.py to compare with")
    args = parser.parse_args()
    clocks = {"this": sampling.FrameClock}
    if args.against:
        spec = importlib.util.spec_from_file_location("other_sampling", args.against)
        other = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(other)
        clocks["other"] = other.FrameClock
    print(f"{'stream':30s} {'clock':5s} {'frames':>6s} {'lost':>5s} {'true':>5s} {'fps':>7s} {'repeated':>8s} "
          f"{'changed':>7s} {'adjusted':>8s} {'us/frame':>8s}")
    for name, (stamps, true_lost, given) in scenarios(args.frames).items():
        for label, clock_class in clocks.items():
            lost, fps, repeated, changes, micros = measure(clock_class, stamps, given, args.repeat)
            print(f"{name:30s} {label:5s} {stamps.size:6d} {lost:5d} {true_lost:5d} {fps:7.2f} {repeated:8d} "
                  f"{changes[0]:7d} {changes[1]:8d} {micros:8.1f}")


if __name__ == "__main__":
    main()
