#!/usr/bin/env python
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A site's alarms on held-out synthetic footage: false alarms per hour and recall, before and
after `tcvads calibrate` (runtime/calibrate.py) sets the site's threshold.

    python -m benchmarks.site_alarms --bundle BUNDLE --footage DIR [--budgets 5 20] [--json FILE]

The site is the bundle's training cameras (benchmarks/site_footage.py, seed 0 at 128x96 and
24 fps, as config/train/demo.yaml trains): three sets of new activity in front of them that no
training video holds:

- calibration: `--calibration-videos` normal videos of 60 s (the site's "normal footage");
- test normal: as many other normal videos of 60 s, for the false alarms per hour;
- test abnormal: `--abnormal-videos` videos of 30 s with one episode each (the six kinds in
  turn), for the recall: the share of episodes that an event overlaps.

Every video is a stream of its own (a cold start, as `tcvads detect` runs each file). The
threshold before is the bundle's (chosen on the training set's validation videos); after, the
one `tcvads calibrate` chooses on the calibration set for each budget (the same functions:
runtime/alarm_budget.py). Events that overlap no episode in abnormal videos are false alarms
too and are counted in their own column.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.site_footage import calibration_and_test_sets


def overlaps(event, episodes) -> bool:
    return any(event.start_frame < seg.end and seg.start < event.end_frame for seg in episodes)


def evaluate(events_cfg, normal, abnormal) -> dict:
    """False alarms per hour on normal footage, recall and stray alarms on abnormal footage."""
    from tcvads_ros.runtime.alarm_budget import count_alarms, replay

    hours = sum(t.seconds for t in normal) / 3600.0
    alarms = count_alarms(normal, events_cfg)
    found = stray = episodes = 0
    by_kind: dict[str, list[int]] = {}
    for trace, segs in abnormal:
        ended = [e for e in replay(trace, events_cfg) if e.kind == "end"]
        stray += sum(not overlaps(e, segs) for e in ended)
        for seg in segs:
            hit = any(overlaps(e, [seg]) for e in ended)
            found += hit
            episodes += 1
            by_kind.setdefault(seg.label, []).append(int(hit))
    abnormal_hours = sum(t.seconds for t, _ in abnormal) / 3600.0
    return {
        "threshold_on": events_cfg.threshold_on, "threshold_off": events_cfg.threshold_off,
        "false_alarms": alarms, "false_alarms_per_hour": alarms / hours,
        "recall": found / max(episodes, 1), "episodes": episodes,
        "recall_by_kind": {k: sum(v) / len(v) for k, v in sorted(by_kind.items())},
        "stray_alarms_in_abnormal": stray, "stray_per_hour": stray / abnormal_hours,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--footage", type=Path, required=True, help="where the videos are written (reused)")
    parser.add_argument("--budgets", type=float, nargs="+", default=[5.0, 20.0])
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--calibration-videos", type=int, default=40)
    parser.add_argument("--abnormal-videos", type=int, default=30)
    parser.add_argument("--plot", type=Path, default=None, help="alarms per hour vs threshold (PNG)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from tcvads_ros.progress import progress_bar
    from tcvads_ros.runtime.alarm_budget import calibrate, score_source
    from tcvads_ros.runtime.backends import create_backend
    from tcvads_ros.runtime.bundle import Bundle
    from tcvads_ros.runtime.calibrate import plot_sweep
    from tcvads_ros.runtime.pipeline import CoarseDetector, PipelineConfig
    from tcvads_ros.runtime.site_profile import bundle_events
    from tcvads_ros.runtime.sources import VideoFileSource

    bundle = Bundle.load(args.bundle)
    m = bundle.manifest
    n = args.calibration_videos
    sets = calibration_and_test_sets(args.footage, m.fps, n, args.abnormal_videos)
    backend = create_backend("onnxruntime", bundle, threads=1)
    traces: dict[str, list] = {}
    bar = progress_bar(total=sum(len(v) for v in sets.values()), unit="video", desc="scoring")
    for name, videos in sets.items():
        traces[name] = []
        for path, episodes in videos:
            source = VideoFileSource(path, m.snippet_frames)
            detector = CoarseDetector(bundle, backend, PipelineConfig(fine=False))
            traces[name].append((score_source(detector, source, path.name, source.fps), episodes))
            source.close()
            bar.update(1)
    bar.close()
    calibration = [t for t, _ in traces["calibration"]]
    normal = [t for t, _ in traces["test_normal"]]
    base = bundle_events(bundle)
    rows = [{"setting": "bundle threshold", **evaluate(base, normal, traces["test_abnormal"])}]
    results = {}
    for budget in args.budgets:
        result = calibrate(calibration, base, budget, args.confidence)
        results[budget] = result
        if result.events is None:
            rows.append({"setting": f"calibrated, {budget:g}/h", "note": "footage too short for this budget"})
            continue
        rows.append({"setting": f"calibrated, {budget:g}/h", "calibration_alarms": result.chosen.alarms,
                     "calibration_upper_per_hour": result.chosen.upper_per_hour,
                     **evaluate(result.events, normal, traces["test_abnormal"])})
    hours = {k: sum(t.seconds for t, _ in v) / 3600.0 for k, v in traces.items()}
    print(f"footage: calibration {hours['calibration'] * 60:.0f} min, test normal "
          f"{hours['test_normal'] * 60:.0f} min, test abnormal {hours['test_abnormal'] * 60:.0f} min "
          f"({rows[0]['episodes']} episodes); confidence {args.confidence:.0%}")
    print("| setting | on / off | false alarms/h (test normal) | recall | stray alarms/h (abnormal) |")
    print("|---|---|---|---|---|")
    for row in rows:
        if "note" in row:
            print(f"| {row['setting']} | {row['note']} | | | |")
            continue
        print(f"| {row['setting']} | {row['threshold_on']:.3f} / {row['threshold_off']:.3f} | "
              f"{row['false_alarms_per_hour']:.1f} ({row['false_alarms']}) | {row['recall']:.0%} | "
              f"{row['stray_per_hour']:.1f} |")
    if args.plot is not None and results:
        budget, result = max(results.items())
        plot_sweep(args.plot, result.points, budget, result.chosen, base.threshold_on, args.confidence)
    if args.json is not None:
        args.json.write_text(json.dumps({"bundle": str(bundle.root), "hours": hours, "rows": rows},
                                        indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
