#!/usr/bin/env python
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""What the INT8 backbone does to a trained bundle's results: AUC/AP and events against fp32.

    python -m benchmarks.int8_accuracy --bundle BUNDLE --footage DIR [--json FILE]

The backbone is quantized as benchmarks/quantize.py does (ONNX Runtime `quantize_static`, QDQ,
per-channel int8 weights, uint8 activations), calibrated on frames of the site's normal footage
(the calibration set of benchmarks/site_alarms.py, one frame per snippet, resized as the detector
does), and the int8 copy of the bundle is written next to the footage. Both bundles then score
the same held-out footage (benchmarks/site_footage.py: the test-normal and test-abnormal sets)
through the detector's own `CoarseDetector`:

- snippet-level AUC and AP (scikit-learn) against the episodes' frames, for fp32 and int8;
- scores: max / mean |int8 - fp32|, and the share of snippets on the same side of the threshold;
- events at the bundle's threshold (the detector's event state machine): the share of fp32 events
  that an int8 event overlaps and the reverse, and the int8 start's offset in snippets;
- speed: one backbone forward per frame, fp32 and int8 interleaved (benchmarks/timing.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.site_footage import site_config, write_site_videos
from benchmarks.timing import interleaved, ratios, summarize
from tcvads_ros.runtime.backends.onnxruntime import cpu_session_options


def site_frames(videos, size, every: int, limit: int) -> list[np.ndarray]:
    """Up to `limit` detector inputs (1, H, W, 3) spread over the videos, one per snippet."""
    from tcvads_ros.runtime.frames import resize_rgb
    from tcvads_ros.runtime.sources import VideoFileSource

    frames = []
    per_video = max(1, limit // max(len(videos), 1))
    for path, _ in videos:
        source = VideoFileSource(path, every * 4)  # every 4th snippet: more variety per frame
        for k, frame in enumerate(source):
            if k >= per_video:
                break
            frames.append(resize_rgb(frame.rgb, size)[None])
        source.close()
    return frames[:limit]


def quantize(fp32: Path, out: Path, frames: list[np.ndarray]) -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(frames)

        def get_next(self):
            frame = next(self.items, None)
            return None if frame is None else {"frames": frame}

    prepared = out.with_suffix(".prep.onnx")
    quant_pre_process(str(fp32), str(prepared))
    quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    prepared.unlink()
    return out


def score_all(bundle, videos) -> list:
    from tcvads_ros.runtime.alarm_budget import score_source
    from tcvads_ros.runtime.backends import create_backend
    from tcvads_ros.runtime.pipeline import CoarseDetector, PipelineConfig
    from tcvads_ros.runtime.sources import VideoFileSource

    backend = create_backend("onnxruntime", bundle, threads=1)
    traces = []
    for path, _ in videos:
        source = VideoFileSource(path, bundle.manifest.snippet_frames)
        traces.append(score_source(CoarseDetector(bundle, backend, PipelineConfig(fine=False)),
                                   source, path.name, source.fps))
        source.close()
    backend.close()
    return traces


def labels_of(trace, episodes, every: int) -> np.ndarray:
    """1 where the snippet starting at the trace's frame overlaps an episode."""
    return np.array([any(f < s.end and s.start < f + every for s in episodes) for f in trace.frames], int)


def event_agreement(a_traces, b_traces, cfg) -> dict:
    from tcvads_ros.runtime.alarm_budget import replay

    def spans(trace):
        return [(e.start_frame, e.end_frame) for e in replay(trace, cfg) if e.kind == "end"]

    a_hit = b_hit = a_total = b_total = 0
    offsets = []
    for ta, tb in zip(a_traces, b_traces):
        ea, eb = spans(ta), spans(tb)
        a_total, b_total = a_total + len(ea), b_total + len(eb)
        for s, e in ea:
            match = [x for x in eb if x[0] < e and s < x[1]]
            a_hit += bool(match)
            if match:
                offsets.append((match[0][0] - s) / 16)
        b_hit += sum(any(x[0] < e and s < x[1] for x in ea) for s, e in eb)
    return {"fp32_events": a_total, "int8_events": b_total,
            "fp32_events_matched": a_hit / max(a_total, 1), "int8_events_matched": b_hit / max(b_total, 1),
            "start_offset_snippets": summarize(offsets) if offsets else {}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--footage", type=Path, required=True, help="site footage folder (reused)")
    parser.add_argument("--calibration-frames", type=int, default=64)
    parser.add_argument("--videos", type=int, default=40, help="normal videos per set (as site_alarms.py)")
    parser.add_argument("--abnormal-videos", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from sklearn.metrics import average_precision_score, roc_auc_score

    from benchmarks.quantize import write_bundle
    from tcvads_ros.runtime.bundle import Bundle
    from tcvads_ros.runtime.site_profile import bundle_events

    bundle = Bundle.load(args.bundle)
    m = bundle.manifest
    minute, half = site_config(1, 0, 128, 96, m.fps, 60.0), site_config(1, 0, 128, 96, m.fps, 30.0)
    calibration = write_site_videos(args.footage / "calibration", minute, args.videos, first=0)
    test = (write_site_videos(args.footage / "test_normal", minute, args.videos, first=1000)
            + write_site_videos(args.footage / "test_abnormal", half, args.abnormal_videos, first=2000,
                                abnormal=True, seed=1))
    with tempfile.TemporaryDirectory(prefix="tcvads_int8_") as tmp:
        frames = site_frames(calibration, tuple(m.coarse_input_size), m.snippet_frames, args.calibration_frames)
        int8_path = quantize(bundle.path("coarse_backbone"), Path(tmp) / "coarse_backbone.int8.onnx", frames)
        out = args.footage / "bundle-int8"
        if out.exists():
            import shutil

            shutil.rmtree(out)
        int8 = Bundle.load(write_bundle(bundle, int8_path, out))
    fp32_traces, int8_traces = score_all(bundle, test), score_all(int8, test)
    labels = np.concatenate([labels_of(t, eps, m.snippet_frames) for t, (_, eps) in zip(fp32_traces, test)])
    a = np.concatenate([t.scores for t in fp32_traces])
    b = np.concatenate([t.scores for t in int8_traces])
    cfg = bundle_events(bundle)
    import onnxruntime as ort

    sessions = {name: ort.InferenceSession(str(b_.path("coarse_backbone")), cpu_session_options(),
                                           providers=["CPUExecutionProvider"])
                for name, b_ in (("fp32", bundle), ("int8", int8))}
    for s in sessions.values():
        s.run(None, {"frames": frames[0]})
    speed = interleaved({k: (lambda s=s: s.run(None, {"frames": frames[0]})) for k, s in sessions.items()},
                        args.rounds, warmup=3, inner=20)
    report = {
        "bundle": str(bundle.root), "snippets": int(len(a)), "positives": int(labels.sum()),
        "fp32": {"AUC": 100 * roc_auc_score(labels, a), "AP": 100 * average_precision_score(labels, a)},
        "int8": {"AUC": 100 * roc_auc_score(labels, b), "AP": 100 * average_precision_score(labels, b)},
        "score_abs_diff": {"max": float(np.abs(a - b).max()), "mean": float(np.abs(a - b).mean())},
        "same_side_of_threshold": float(np.mean((a >= cfg.threshold_on) == (b >= cfg.threshold_on))),
        "threshold": cfg.threshold_on,
        "events": event_agreement(fp32_traces, int8_traces, cfg),
        "fp32_ms": {k: v * 1e3 for k, v in summarize(speed["fp32"]).items()},
        "int8_ms": {k: v * 1e3 for k, v in summarize(speed["int8"]).items()},
        "int8_speedup": summarize(ratios(speed["fp32"], speed["int8"])),
        "int8_bundle": str(out),
    }
    ev = report["events"]
    print(f"fp32 AUC {report['fp32']['AUC']:.1f} AP {report['fp32']['AP']:.1f} | int8 AUC "
          f"{report['int8']['AUC']:.1f} AP {report['int8']['AP']:.1f} over {len(a)} snippets "
          f"({labels.sum()} abnormal); score |diff| max {report['score_abs_diff']['max']:.3f} mean "
          f"{report['score_abs_diff']['mean']:.4f}; same side of {cfg.threshold_on:.3f}: "
          f"{report['same_side_of_threshold']:.1%}; events fp32 {ev['fp32_events']} int8 {ev['int8_events']}, "
          f"matched {ev['fp32_events_matched']:.0%} / {ev['int8_events_matched']:.0%}; backbone "
          f"{report['fp32_ms']['median']:.2f} ms fp32 vs {report['int8_ms']['median']:.2f} ms int8 "
          f"(x{report['int8_speedup']['median']:.2f})")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
