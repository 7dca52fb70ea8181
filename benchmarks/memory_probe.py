#!/usr/bin/env python
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Peak resident memory of a fresh process running the detector (printed as one JSON line).

    python -m benchmarks.memory_probe BUNDLE --stage coarse|full [--frames N] [--threads T]

`coarse`: the coarse stage alone (ONNX Runtime), and the process must not have imported torch.
`full`: both stages; the alarm threshold is set to 0 so that an event starts and the fine stage
(CLIP image encoder + temporal head) really runs; at least one explanation is required.
Peak memory is `resource.getrusage(RUSAGE_SELF).ru_maxrss` after the frames have gone through.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.camera import camera_messages, to_frame
from benchmarks.timing import current_rss_mb, peak_rss_mb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--stage", choices=("coarse", "full"), required=True)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    from tcvads_ros.runtime.backends import create_backend
    from tcvads_ros.runtime.bundle import Bundle
    from tcvads_ros.runtime.pipeline import PipelineConfig, TwoStagePipeline
    from tcvads_ros.runtime.site_profile import bundle_events

    bundle = Bundle.load(args.bundle)
    after_load = peak_rss_mb()  # Bundle.load opens no graph; the backend opens each on first use
    backend = create_backend("onnxruntime", bundle, threads=args.threads)
    full = args.stage == "full"
    # One backbone run per frame so that N frames are N snippets (the window and the fine clip
    # fill within a short probe); threshold 0 makes the full probe trigger the fine stage.
    cfg = PipelineConfig(sample_every=1, fine=full, events=bundle_events(bundle, 0.0 if full else None))
    pipeline = TwoStagePipeline(bundle, backend, cfg)
    payloads = camera_messages(4)
    for i in range(args.frames):
        pipeline.push(to_frame(payloads[i % len(payloads)], i))
    pipeline.close()
    explanations = pipeline.explanations_written
    torch_imported = "torch" in sys.modules
    if full and explanations < 1:
        print(f"the fine stage never ran in {args.frames} frames", file=sys.stderr)
        return 1
    if not full and torch_imported:
        print("the coarse stage imported torch", file=sys.stderr)
        return 1
    print(json.dumps({
        "stage": args.stage, "peak_rss_mb": peak_rss_mb(), "peak_after_bundle_load_mb": after_load,
        "rss_at_end_mb": current_rss_mb(), "frames": args.frames,
        "explanations": explanations, "torch_imported": torch_imported,
        "note": "coarse stage only, ONNX Runtime, torch not imported" if not full else
                "coarse + fine stage (CLIP image encoder and temporal head loaded and run), ONNX Runtime",
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
