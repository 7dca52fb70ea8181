#!/usr/bin/env python
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Cold start: the coarse scores of a stream's first snippets against the same snippets seen warm.

    python -m benchmarks.cold_start --bundle BUNDLE [--videos 12] [--offset 30] [--json FILE]

A camera switched on in the middle of a scene gives the QACM a window shorter than its receptive
field. For each held-out normal video of the bundle's training cameras (benchmarks/site_footage.py)
the detector runs twice on the same frames from snippet `--offset` on: *warm*, continuing a stream
that began at the video's first frame, and *cold*, a stream that begins there (frames renumbered
from 0, as a camera switched on then would number them). The first `window` snippets differ only
in what the QACM saw before them. Prints the scores per position (mean over videos), the largest
cold - warm difference and the alarms each raises (the detector's event state machine) on those
frames.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.site_footage import site_config, write_site_videos


def frames_of(path: Path, sample_every: int):
    from tcvads_ros.runtime.sources import VideoFileSource

    source = VideoFileSource(path, sample_every)
    try:
        yield from source
    finally:
        source.close()


def renumbered(frames, first: int, fps: float):
    """The frames from `first` on, numbered and stamped as a camera switched on then would."""
    from tcvads_ros.runtime.frames import Frame

    for frame in frames:
        if frame.index >= first:
            yield Frame(frame.rgb, (frame.index - first) / fps, frame.index - first)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--videos", type=int, default=12, help="held-out normal videos (60 s each)")
    parser.add_argument("--offset", type=int, default=30, help="snippet the cold stream starts at")
    parser.add_argument("--footage", type=Path, default=None, help="where the videos go (default: temporary)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from tcvads_ros.runtime.alarm_budget import count_alarms, score_source
    from tcvads_ros.runtime.backends import create_backend
    from tcvads_ros.runtime.bundle import Bundle
    from tcvads_ros.runtime.pipeline import CoarseDetector, PipelineConfig
    from tcvads_ros.runtime.site_profile import bundle_events

    bundle = Bundle.load(args.bundle)
    m = bundle.manifest
    every = m.snippet_frames
    backend = create_backend("onnxruntime", bundle, threads=1)
    with tempfile.TemporaryDirectory(prefix="tcvads_cold_") as tmp:
        folder = args.footage or Path(tmp)
        cfg = site_config(args.videos, 0, 128, 96, m.fps, 60.0)
        videos = write_site_videos(folder / "cold_start", cfg, args.videos, first=5000)
        first = args.offset * every
        cold, warm = [], []
        for path, _ in videos:
            full = score_source(CoarseDetector(bundle, backend, PipelineConfig(fine=False)),
                                frames_of(path, every), path.name, m.fps)
            keep = full.frames >= first
            full.scores, full.stamps, full.frames = (full.scores[keep], full.stamps[keep] - first / m.fps,
                                                     full.frames[keep] - first)
            warm.append(full)
            cold.append(score_source(CoarseDetector(bundle, backend, PipelineConfig(fine=False)),
                                     renumbered(frames_of(path, every), first, m.fps), path.name, m.fps))
    n = m.window
    c = np.stack([t.scores[:n] for t in cold])
    w = np.stack([t.scores[:n] for t in warm])
    events = bundle_events(bundle)
    head = [type(t)(t.name, t.scores[:n], t.stamps[:n], t.frames[:n], n * every / m.fps) for t in cold]
    warm_head = [type(t)(t.name, t.scores[:n], t.stamps[:n], t.frames[:n], n * every / m.fps) for t in warm]
    report = {
        "bundle": str(bundle.root), "videos": len(videos), "offset_snippets": args.offset, "window": n,
        "threshold": events.threshold_on,
        "cold_mean_by_position": c.mean(0).round(4).tolist(),
        "warm_mean_by_position": w.mean(0).round(4).tolist(),
        "max_cold_minus_warm": float((c - w).max()),
        "mean_abs_cold_minus_warm": float(np.abs(c - w).mean()),
        "cold_first_window_alarms": count_alarms(head, events),
        "warm_same_frames_alarms": count_alarms(warm_head, events),
        "steady_mean": float(np.concatenate([t.scores[n:] for t in warm]).mean()),
    }
    print(f"cold start on {len(videos)} normal videos from snippet {args.offset} (window {n}, "
          f"threshold {events.threshold_on:.3f}):")
    print("  position   " + " ".join(f"{i:5d}" for i in range(n)))
    print("  cold mean  " + " ".join(f"{v:5.2f}" for v in c.mean(0)))
    print("  warm mean  " + " ".join(f"{v:5.2f}" for v in w.mean(0)))
    print(f"  max cold - warm {report['max_cold_minus_warm']:.3f}, mean |cold - warm| "
          f"{report['mean_abs_cold_minus_warm']:.3f}; alarms in the first {n} snippets: cold "
          f"{report['cold_first_window_alarms']}, warm {report['warm_same_frames_alarms']}; "
          f"steady-state mean score {report['steady_mean']:.3f}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
