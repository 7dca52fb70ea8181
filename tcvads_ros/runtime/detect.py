# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`tcvads detect SOURCE [SOURCE ...] --bundle BUNDLE`: the streaming detector on files,
folders, cameras or bags.

Prints each event as it happens (one readable line) and each explanation when the fine stage
has it, writes them as JSON lines (`--events`, each line flushed and fsync'd before it is
printed), shows progress for files, and ends with a summary. With `--evidence DIR` the heat map
of each event's peak frame, an evidence clip and a SQLite event store are written to DIR.
Several sources are read in turn, one frame of each per round, each with its own detector,
events and outputs (`--events` and `--evidence` get the source's number from 0: events-0.jsonl,
DIR/source-0), and their sampled frames share one backbone call per round
(`MultiStreamPipeline`). Imports no torch unless `--backend torch` is asked for.

Where the bundle listens (an audio branch, docs/audio.md) each source's sound is fed beside its
frames (`--audio`): a file's own audio track, else the WAV beside it (`tcvads synth --audio`), a
rosbag2's audio topic, or a sound file given for the one source; a source without sound is
scored from vision, and the detector says so once (the pipeline's notices, printed as they come).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from tcvads_ros.errors import ConfigError, SourceError
from tcvads_ros.runtime.audio_sources import frames_with_sound
from tcvads_ros.runtime.backends import BACKENDS, command_backend
from tcvads_ros.runtime.bundle import Bundle
from tcvads_ros.runtime.event_store import EventStore
from tcvads_ros.runtime.events import AnomalyEvent
from tcvads_ros.runtime.model_card import describe, footage_warning, is_synthetic_video
from tcvads_ros.runtime.multi_stream import MultiStreamPipeline
from tcvads_ros.runtime.pipeline import PipelineConfig, StreamUpdate, TwoStagePipeline
from tcvads_ros.runtime.site_profile import SiteProfile, bundle_threshold, event_settings
from tcvads_ros.runtime.sources import Source, attach_sound, open_source


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
        verdict = ""
        if event.verdict:  # announced after the fine stage's verdict (--confirm-with-fine)
            verdict = f" {event.verdict.upper()} (fine anomaly score {event.fine_anomaly_score:.2f})"
        return (f"{head} score {event.score:.2f} since {clock(event.start_stamp)} (frame {event.start_frame})"
                + verdict)
    if event.kind == "update":
        return f"{head} score {event.score:.2f} peak {event.peak_score:.2f}"
    return (f"{head} {clock(event.start_stamp)}-{clock(event.end_stamp)} ({event.duration:.1f} s, "
            f"frames {event.start_frame}-{event.end_frame}) peak {event.peak_score:.2f} "
            f"at frame {event.peak_frame} [{event.reason}]")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", nargs="+",
                        help="video file, folder of images, camera index (0, 1, ...) or rosbag2; several: "
                             "one detector each, their backbone calls batched")
    parser.add_argument("--bundle", type=Path, required=True, help="model bundle folder (tcvads export)")
    parser.add_argument("--events", type=Path, help="write events and explanations here as JSON lines")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="inference backend (auto: TensorRT with a GPU, else ONNX Runtime)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (ONNX Runtime / torch)")
    parser.add_argument("--evidence", type=Path, help="folder for heat maps, evidence clips and events.db")
    parser.add_argument("--no-fine", action="store_true", help="coarse stage only (no category/explanation)")
    parser.add_argument("--topic", help="rosbag2 image topic (default: the bag's only image topic)")
    parser.add_argument("--fps", type=float, help="frame rate of an image folder (default 25)")
    parser.add_argument("--site", type=Path, metavar="PROFILE",
                        help="site profile from `tcvads calibrate`: its thresholds and timings replace the bundle's")
    parser.add_argument("--threshold", type=float,
                        help="coarse alarm threshold (default: the site profile's, else the bundle's calibrated one)")
    parser.add_argument("--fine-threshold", type=float, metavar="T",
                        help="the fine stage's verdict: an alarm is confirmed where 1 - p(Normal) >= T "
                             "(default: the site profile's, else the bundle's, else 0.5)")
    parser.add_argument("--confirm-with-fine", action="store_true",
                        help="announce each event's start only with the fine stage's verdict, "
                             "confirmed or disputed (about 6 s later at the defaults)")
    parser.add_argument("--sample-every", type=int, help="frames per backbone run (default: snippet length, 16)")
    parser.add_argument("--audio", default="auto", metavar="auto|off|PATH",
                        help="the sound, where the bundle has an audio branch: auto (a file's own audio track, "
                             "else the WAV beside it; a rosbag2's audio topic), off, or a sound file for the "
                             "one source (default auto)")
    parser.add_argument("--audio-topic", help="rosbag2 audio topic, audio_common_msgs/AudioDataStamped "
                                              "(default: the bag's only one)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no per-event lines")


def numbered(path: Path, i: int, many: bool) -> Path:
    """The output path of source `i`: `path` itself for a single source, else events-1.jsonl
    for events.jsonl and i = 1 (a folder gets /source-1)."""
    if not many:
        return path
    return path.with_name(f"{path.stem}-{i}{path.suffix}") if path.suffix else path / f"source-{i}"


def run(args: argparse.Namespace) -> int:
    bundle = Bundle.load(args.bundle)
    if not args.quiet:
        print(describe(bundle.card, bundle.root), flush=True)
    if args.no_fine and args.confirm_with_fine:
        raise ConfigError("--confirm-with-fine needs the fine stage; drop --no-fine")
    if args.fine_threshold is not None and not 0.0 <= args.fine_threshold <= 1.0:
        raise ConfigError(f"--fine-threshold must be in [0, 1], got {args.fine_threshold}")
    profile = None if args.site is None else SiteProfile.load_for(args.site, bundle, where=str(args.site),
                                                                fine=not args.no_fine)
    events_cfg = event_settings(bundle_threshold(bundle), profile, threshold_on=args.threshold)
    if profile is not None and not args.quiet:
        print(f"site profile {args.site}: threshold on {events_cfg.threshold_on:.3f} / off "
              f"{events_cfg.threshold_off:.3f}", flush=True)
    # Files and folders decode only the frames the coarse stage samples.
    sample_every = args.sample_every or bundle.manifest.snippet_frames
    listens = bundle.audio is not None
    if args.audio not in ("auto", "off"):
        if len(args.source) > 1:
            raise ConfigError("--audio PATH is the sound of one source; with several, --audio auto reads each "
                              "file's own sound")
        if not Path(args.audio).is_file():
            raise SourceError(f"--audio {args.audio}: no such file")
    if not listens and args.audio != "auto" and not args.quiet:
        print(f"tcvads detect: the bundle has no audio branch: --audio {args.audio} is ignored", flush=True)
    sources: list[Source] = []
    silent: list[str] = []  # why each source has no sound ("": it has)
    try:
        for spec in args.source:
            sources.append(open_source(spec, topic=args.topic, fps=args.fps, sample_every=sample_every,
                                       audio_topic=args.audio_topic if listens else None,
                                       sound=listens and args.audio == "auto"))
            silent.append(attach_sound(sources[-1], spec, args.audio) if listens else "")
    except Exception:
        for source in sources:
            source.close()
        raise
    for spec, source in zip(args.source, sources):
        warning = footage_warning(bundle.card, source.name, is_synthetic_video(spec))
        if warning:
            print(f"tcvads detect: warning: {warning}", file=sys.stderr, flush=True)
            break  # once: the same advice holds for every source
    many = len(sources) > 1
    backend = command_backend(args, bundle)
    progress = None
    total = sum(s.length or 0 for s in sources)
    if not args.quiet and total and all(s.length for s in sources):  # tqdm stays quiet off a terminal
        from tcvads_ros.progress import progress_bar

        desc = f"{len(sources)} sources" if many else Path(sources[0].name).name
        progress = progress_bar(total=total, unit="frame", desc=desc, leave=False)

    def say(text: str) -> None:  # the main thread's only: explanations come back through `feed`
        if args.quiet:
            return
        if progress is not None:
            progress.write(text)
        else:
            print(text, flush=True)

    def prefix(i: int) -> str:
        return f"source {i}: " if many else ""

    stores: list[list[Any]] = []
    pipelines: dict[int, TwoStagePipeline] = {}
    for i, source in enumerate(sources):
        mine: list[Any] = []
        if args.events:
            mine.append(JsonLinesLog(numbered(args.events, i, many)))
        evidence = numbered(args.evidence, i, many) if args.evidence else None
        if evidence:
            mine.append(EventStore(evidence / "events.db"))
        cfg = PipelineConfig(
            sample_every=sample_every, events=events_cfg, fine=not args.no_fine,
            output_dir=evidence, evidence_clip=evidence is not None,
            fine_threshold=args.fine_threshold, confirm_with_fine=True if args.confirm_with_fine else None,
            site_profile=profile, stream=source.name,
        )
        stores.append(mine)
        pipelines[i] = TwoStagePipeline(bundle, backend, cfg, mine, fps=source.fps)
        say(f"tcvads detect: {prefix(i)}{source.name} ({source.fps:.1f} fps) with bundle {bundle.root} "
            f"on {backend.describe()}")
        if listens:
            if silent[i]:
                pipelines[i].no_sound(silent[i])
            else:
                say(f"tcvads detect: {prefix(i)}sound from {source.sound}")
    multi = MultiStreamPipeline(backend, pipelines)
    events = [0] * len(sources)

    def report(updates: dict[int, StreamUpdate]) -> None:
        for i, update in updates.items():
            for notice in update.notices:  # shown even with --quiet: they say what the detector cannot do
                (progress.write if progress is not None else print)(f"tcvads detect: {prefix(i)}notice: {notice}")
            for event in update.events:
                events[i] += event.kind == "start"
                say(prefix(i) + event_line(event))
            for explanation, _header in update.explanations:
                say("\n".join("    " + prefix(i) + line for line in explanation.to_text().splitlines()))

    start = time.perf_counter()
    try:
        # where the bundle listens, each frame comes after the sound heard up to it
        live = {i: iter(frames_with_sound(source, pipelines[i]) if listens else source)
                for i, source in enumerate(sources)}
        while live:
            batch = []
            for i, frames in list(live.items()):  # one frame of each source per round
                frame = next(frames, None)
                if frame is None:
                    del live[i]
                else:
                    batch.append((i, frame))
            report(multi.feed(batch))
            if progress is not None:
                progress.update(sum(s.position for s in sources) - progress.n)
    except KeyboardInterrupt:
        say("interrupted: closing open events")
    finally:
        report(multi.end())
        if progress is not None:
            progress.close()
        for source in sources:
            source.close()
        for store in (s for mine in stores for s in mine):
            store.close()
        backend.close()
    elapsed = time.perf_counter() - start
    for i, source in enumerate(sources):
        print(summary_line(pipelines[i], source, events[i], elapsed, prefix(i)), flush=True)
    if args.events:
        print("events written to " + ", ".join(str(numbered(args.events, i, many)) for i in range(len(sources))))
    if args.evidence:
        print(f"heat maps, clips and events.db in {args.evidence}")
    return 0


def summary_line(pipeline: TwoStagePipeline, source: Source, events: int, elapsed: float, prefix: str) -> str:
    summary = pipeline.summary()
    stats = summary["stats"]
    frames = source.position  # read from the source, sampled or not
    dropped = sum(source.stats.values()) + stats.get("rejected", 0)
    lat = summary["coarse_latency"]
    return (
        f"summary: {prefix}{frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} fps), "
        f"{stats.get('processed', 0)} through the backbone "
        f"(coarse {lat.get('mean_ms', 0):.1f} ms mean, {lat.get('p95_ms', 0):.1f} ms p95), "
        f"{events} events, {pipeline.explanations_written} explanations, {dropped} dropped frames"
        + (f", {stats.get('nonfinite_scores', 0)} non-finite scores" if stats.get("nonfinite_scores") else "")
        + (f", fine triggers coalesced {stats.get('triggers_coalesced', 0)} / dropped "
           f"{stats.get('triggers_dropped', 0)}" if stats.get("triggers") else "")
        + sound_summary(summary)
    )


def sound_summary(summary: dict[str, Any]) -> str:
    """The summary's sound part, where the bundle listens: how the snippets were heard, what was
    lost, late, refused, clipped or silent, and the audio branch's time per snippet."""
    if "audio_latency" not in summary:
        return ""
    stats = summary["stats"]
    count = {name: stats.get(f"audio.{name}", 0) for name in
             ("snippets_heard", "snippets_partial", "snippets_missing", "chunks", "chunks_lost", "chunks_late",
              "chunks_refused", "clipped_chunks", "silent_snippets")}
    faults = ", ".join(f"{count[k]} {k.replace('_', ' ')}" for k in
                       ("chunks_lost", "chunks_late", "chunks_refused", "clipped_chunks", "silent_snippets") if count[k])
    return (f", sound: {count['snippets_heard']} snippets heard, {count['snippets_partial']} partly, "
            f"{count['snippets_missing']} not heard ({count['chunks']} chunks{', ' + faults if faults else ''}; "
            f"audio branch {summary['audio_latency'].get('mean_ms', 0):.1f} ms mean)")
