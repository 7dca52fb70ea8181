"""`tcvads detect SOURCE --bundle BUNDLE`: the streaming detector on a file, folder, camera or bag.

Prints each event as it happens (one readable line) and each explanation when the fine stage
has it, writes them as JSON lines (`--events`, each line flushed and fsync'd before it is
printed), shows progress for files, and ends with a summary. With `--evidence DIR` the heat map
of each event's peak frame, an evidence clip and a SQLite event store are written to DIR.
Imports no torch unless `--backend torch` is asked for.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from tcvads_ros.runtime.backends import BACKENDS, create_backend
from tcvads_ros.runtime.bundle import Bundle
from tcvads_ros.runtime.event_store import EventStore
from tcvads_ros.runtime.events import AnomalyEvent
from tcvads_ros.runtime.explanation import Explanation
from tcvads_ros.runtime.pipeline import PipelineConfig, TwoStagePipeline, bundle_events
from tcvads_ros.runtime.sources import open_source


class JsonLinesLog:
    """Append-only JSON lines file; every record is flushed and fsync'd before `append` returns."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def append(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def clock(seconds: float) -> str:
    """Stream time as m:ss.s (h:mm:ss.s past an hour)."""
    minutes, secs = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}" if hours else f"{minutes}:{secs:04.1f}"


def event_line(event: AnomalyEvent) -> str:
    head = f"[{clock(event.stamp)}] {event.kind.upper():6s} event {event.event_id[:8]}"
    if event.kind == "start":
        return f"{head} score {event.score:.2f} since {clock(event.start_stamp)} (frame {event.start_frame})"
    if event.kind == "update":
        return f"{head} score {event.score:.2f} peak {event.peak_score:.2f}"
    return (f"{head} {clock(event.start_stamp)}-{clock(event.end_stamp)} ({event.duration:.1f} s, "
            f"frames {event.start_frame}-{event.end_frame}) peak {event.peak_score:.2f} "
            f"at frame {event.peak_frame} [{event.reason}]")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="video file, folder of images, camera index (0, 1, ...) or rosbag2")
    parser.add_argument("--bundle", type=Path, required=True, help="model bundle folder (tcvads export)")
    parser.add_argument("--events", type=Path, help="write events and explanations here as JSON lines")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="inference backend (auto: TensorRT with a GPU, else ONNX Runtime)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (ONNX Runtime / torch)")
    parser.add_argument("--evidence", type=Path, help="folder for heat maps, evidence clips and events.db")
    parser.add_argument("--no-fine", action="store_true", help="coarse stage only (no category/explanation)")
    parser.add_argument("--topic", help="rosbag2 image topic (default: the bag's only image topic)")
    parser.add_argument("--fps", type=float, help="frame rate of an image folder (default 25)")
    parser.add_argument("--threshold", type=float, help="coarse alarm threshold (default: the bundle's calibrated one)")
    parser.add_argument("--sample-every", type=int, help="frames per backbone run (default: snippet length, 16)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no per-event lines")


def run(args: argparse.Namespace) -> int:
    bundle = Bundle.load(args.bundle)
    # Files and folders decode only the frames the coarse stage samples.
    sample_every = args.sample_every or bundle.manifest.snippet_frames
    source = open_source(args.source, topic=args.topic, fps=args.fps, sample_every=sample_every)
    backend = create_backend(args.backend, bundle, device=args.device)
    stores: list[Any] = []
    if args.events:
        stores.append(JsonLinesLog(args.events))
    if args.evidence:
        stores.append(EventStore(args.evidence / "events.db"))
    cfg = PipelineConfig(
        sample_every=sample_every, events=bundle_events(bundle, args.threshold), fine=not args.no_fine,
        output_dir=args.evidence, evidence_clip=args.evidence is not None,
    )
    print_lock = threading.Lock()
    progress = None
    if not args.quiet and source.length:  # files, folders and bags; tqdm stays quiet off a terminal
        from tcvads_ros.progress import progress_bar

        progress = progress_bar(total=source.length, unit="frame", desc=Path(source.name).name, leave=False)

    def say(text: str) -> None:
        if args.quiet:
            return
        with print_lock:
            if progress is not None:
                progress.write(text)
            else:
                print(text, flush=True)

    def explained(explanation: Explanation) -> None:
        say("\n".join("    " + line for line in explanation.to_text().splitlines()))

    pipeline = TwoStagePipeline(bundle, backend, cfg, stores, on_explanation=explained, fps=source.fps)
    say(f"tcvads detect: {source.name} ({source.fps:.1f} fps) with bundle {bundle.root} on {backend.describe()}")
    events = 0
    start = time.perf_counter()
    try:
        for frame in source:
            for event in pipeline.push(frame):
                events += event.kind == "start"
                say(event_line(event))
            if progress is not None:
                progress.update(source.position - progress.n)
    except KeyboardInterrupt:
        say("interrupted: closing open events")
    finally:
        for event in pipeline.close():
            say(event_line(event))
        if progress is not None:
            progress.close()
        source.close()
        for store in stores:
            store.close()
        backend.close()
    elapsed = time.perf_counter() - start
    summary = pipeline.summary()
    stats = summary["stats"]
    frames = source.position  # read from the source, sampled or not
    dropped = sum(source.stats.values()) + stats.get("rejected", 0)
    lat = summary["coarse_latency"]
    print(
        f"summary: {frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} fps), "
        f"{stats.get('processed', 0)} through the backbone "
        f"(coarse {lat.get('mean_ms', 0):.1f} ms mean, {lat.get('p95_ms', 0):.1f} ms p95), "
        f"{events} events, {pipeline.explanations_written} explanations, {dropped} dropped frames"
        + (f", {stats.get('nonfinite_scores', 0)} non-finite scores" if stats.get("nonfinite_scores") else "")
        + (f", fine triggers coalesced {stats.get('triggers_coalesced', 0)} / dropped "
           f"{stats.get('triggers_dropped', 0)}" if stats.get("triggers") else ""),
        flush=True,
    )
    if args.events:
        print(f"events written to {args.events}")
    if args.evidence:
        print(f"heat maps, clips and events.db in {args.evidence}")
    return 0
