# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`tcvads calibrate BUNDLE --normal SOURCE [SOURCE ...] --false-alarms-per-hour N --out PROFILE`.

Per-site calibration to an operator's false-alarm budget. The bundle's threshold was chosen on
validation videos of the training set; a real site differs. This runs the coarse stage, exactly
as `tcvads detect` does, over the site's own footage with nothing abnormal in it (video files,
image folders, rosbag2 recordings, or folders of video files), replays the scores through the
detector's event state machine at each candidate threshold, and keeps the lowest threshold
whose false alarms per hour stay within N at the given confidence (runtime/alarm_budget.py:
an exact Poisson upper bound, not the count seen). The hysteresis threshold follows the site's
normal score level (`alarm_budget.off_threshold`). The result is a site profile (JSON,
runtime/site_profile.py) for `tcvads detect --site` and coarse_node's `site_profile`; `--plot`
draws alarms per hour against the threshold. With `--second-opinion` the fine stage classifies the
clip of every alarm the chosen settings raise on the footage, and the profile gets the lowest fine
threshold whose *confirmed* false alarms per hour stay within `--confirmed-per-hour` (default half
the budget) by the same bound (`alarm_budget.calibrate_fine`). Imports no torch.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from tcvads_ros.errors import ConfigError, SourceError
from tcvads_ros.runtime.alarm_budget import (
    NORMAL_QUANTILE,
    BudgetPoint,
    ScoreTrace,
    alarm_fine_scores,
    calibrate,
    calibrate_fine,
    count_alarms,
    poisson_upper_rate,
    score_source,
)
from tcvads_ros.runtime.audio_sources import frames_with_sound
from tcvads_ros.runtime.backends import BACKENDS, command_backend
from tcvads_ros.runtime.bundle import Bundle
from tcvads_ros.runtime.events import HYSTERESIS
from tcvads_ros.runtime.pipeline import CoarseDetector, PipelineConfig
from tcvads_ros.runtime.site_profile import (
    SecondOpinion,
    SiteProfile,
    bundle_events,
    bundle_fine_threshold,
    coarse_graph_hashes,
    fine_file_hashes,
)
from tcvads_ros.runtime.sources import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    Source,
    attach_sound,
    open_source,
)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="model bundle folder (tcvads export)")
    parser.add_argument("--normal", nargs="+", required=True, metavar="SOURCE",
                        help="the site's normal footage: video files, image folders, rosbag2 "
                             "recordings or folders of video files (each one a recording)")
    parser.add_argument("--false-alarms-per-hour", type=float, required=True, metavar="N",
                        help="the budget: expected false alarms per hour of normal activity")
    parser.add_argument("--out", type=Path, required=True, help="site profile to write (JSON)")
    parser.add_argument("--confidence", type=float, default=0.95,
                        help="confidence that the true rate is within the budget (default 0.95)")
    parser.add_argument("--second-opinion", action="store_true",
                        help="also calibrate the fine stage's verdict: the fine threshold that keeps "
                             "confirmed false alarms within --confirmed-per-hour")
    parser.add_argument("--confirmed-per-hour", type=float, metavar="M",
                        help="with --second-opinion: the budget of confirmed false alarms per hour "
                             "(default: half of --false-alarms-per-hour)")
    parser.add_argument("--confirm-with-fine", action="store_true",
                        help="with --second-opinion: write confirm_with_fine into the profile "
                             "(announce each event with its verdict, about 6 s later)")
    parser.add_argument("--plot", type=Path, help="write alarms per hour vs threshold here (PNG)")
    parser.add_argument("--topic", help="rosbag2 image topic (default: the bag's only image topic)")
    parser.add_argument("--fps", type=float, help="frame rate of image folders (default 25)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="inference backend (auto: TensorRT with a GPU, else ONNX Runtime)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def recordings(specs: list[str]) -> list[str]:
    """The recordings named on the command line: a folder that holds video files and no images
    (and is no rosbag) stands for its videos, in name order; anything else for itself."""
    found = []
    for spec in specs:
        path = Path(spec)
        if spec.isdigit() and not path.exists():
            raise SourceError(f"{spec}: a camera is a live stream with no end; record its normal "
                              "footage first (a video file or a rosbag2) and calibrate on that")
        if path.is_dir() and not (path / "metadata.yaml").is_file():
            files = sorted(p for p in path.iterdir() if p.is_file())
            videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
            if videos and not any(p.suffix.lower() in IMAGE_SUFFIXES for p in files):
                found += [str(p) for p in videos]
                continue
        found.append(spec)
    return found


def check_arguments(args: argparse.Namespace) -> None:
    if not args.false_alarms_per_hour > 0:
        raise ConfigError(f"--false-alarms-per-hour must be > 0, got {args.false_alarms_per_hour}")
    if not 0.5 <= args.confidence < 1.0:
        raise ConfigError(f"--confidence must be in [0.5, 1), got {args.confidence}")
    if args.out.exists() and not args.overwrite:
        raise ConfigError(f"{args.out}: exists; choose another --out or add --overwrite")
    if args.out.suffix.lower() != ".json":
        raise ConfigError(f"{args.out}: a site profile is a .json file")
    if (args.confirmed_per_hour is not None or args.confirm_with_fine) and not args.second_opinion:
        raise ConfigError("--confirmed-per-hour and --confirm-with-fine need --second-opinion")
    if args.confirmed_per_hour is not None and not args.confirmed_per_hour > 0:
        raise ConfigError(f"--confirmed-per-hour must be > 0, got {args.confirmed_per_hour}")


def score_footage(bundle: Bundle, backend, specs: list[str], args: argparse.Namespace) -> list[ScoreTrace]:
    """Every recording through a fresh coarse detector (each starts cold, as a stream does)."""
    sample_every = bundle.manifest.snippet_frames
    sources: list[Source] = []
    try:
        for spec in specs:
            sources.append(open_source(spec, topic=args.topic, fps=args.fps, sample_every=sample_every,
                                       sound=bundle.audio is not None))
    except Exception:
        for source in sources:
            source.close()
        raise
    from tcvads_ros.progress import progress_bar

    total = sum(s.length or 0 for s in sources) or None
    bar = progress_bar(total=total, unit="frame", desc="scoring normal footage", leave=False,
                       show=not args.quiet)
    traces = []
    keep = tuple(bundle.manifest.fine_input_size) if getattr(args, "second_opinion", False) else None
    try:
        for spec, source in zip(specs, sources):
            detector = CoarseDetector(bundle, backend, PipelineConfig(sample_every=sample_every, fine=False))
            done = bar.n

            def step(source: Source = source, done: int = done) -> None:
                bar.update(done + source.position - bar.n)

            frames = source
            if bundle.audio is not None:  # a bundle that listens is calibrated on what it hears
                why = attach_sound(source, spec, "auto")
                if why:
                    detector.no_sound(why)
                    if not args.quiet:
                        print(f"tcvads calibrate: {source.name}: no sound ({why}): scored from vision",
                              file=sys.stderr, flush=True)
                frames = frames_with_sound(source, detector)
            trace = score_source(detector, frames, source.name, source.fps, on_frame=step, keep_size=keep)
            if not len(trace.scores):
                raise SourceError(f"{source.name}: no frame could be scored (too short, or unreadable)")
            traces.append(trace)
    finally:
        bar.close()
        for source in sources:
            source.close()
    return traces


def plot_sweep(path: Path, points: list[BudgetPoint], budget: float, chosen: BudgetPoint | None,
               bundle_threshold: float, confidence: float) -> Path:
    try:
        import matplotlib
    except ImportError as exc:
        raise ConfigError("--plot needs matplotlib (pip install matplotlib)") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [p.threshold_on for p in points]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.step(x, [p.rate_per_hour for p in points], where="post", label="seen on the footage")
    ax.step(x, [p.upper_per_hour for p in points], where="post",
            label=f"upper bound ({confidence:.0%} confidence)")
    ax.axhline(budget, color="k", linestyle=":", label=f"budget {budget:g}/h")
    ax.axvline(bundle_threshold, color="grey", linestyle="--", label=f"bundle {bundle_threshold:.3f}")
    if chosen is not None:
        ax.axvline(chosen.threshold_on, color="r", label=f"chosen {chosen.threshold_on:.3f}")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("alarm threshold (threshold_on)")
    ax.set_ylabel("false alarms per hour")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(args: argparse.Namespace) -> int:
    check_arguments(args)
    bundle = Bundle.load(args.bundle)
    specs = recordings(args.normal)
    backend = command_backend(args, bundle)
    try:
        traces = score_footage(bundle, backend, specs, args)
        hours = sum(t.seconds for t in traces) / 3600.0
        base = bundle_events(bundle)
        budget, confidence = args.false_alarms_per_hour, args.confidence
        before = count_alarms(traces, base)
        before_upper = poisson_upper_rate(before, hours, confidence)
        result = calibrate(traces, base, budget, confidence)
        points, chosen = result.points, result.chosen
        second = None
        if args.second_opinion and chosen is not None:
            second = second_opinion(bundle, backend, traces, result.events, hours, args)
    finally:
        backend.close()
    print(f"tcvads calibrate: {len(traces)} recordings, {hours * 60:.1f} min of normal footage, "
          f"{sum(len(t.scores) for t in traces)} scored snippets")
    print(f"  bundle threshold {base.threshold_on:.3f}: {before} false alarms ({before / hours:.2f}/h, "
          f"at most {before_upper:.2f}/h at {confidence:.0%} confidence)")
    if args.plot:
        print(f"  plot: {plot_sweep(args.plot, points, budget, chosen, base.threshold_on, confidence)}")
    if chosen is None:
        need = poisson_upper_rate(0, 1.0, confidence) / budget
        raise ConfigError(
            f"{hours * 60:.1f} min of normal footage cannot show a rate of at most {budget:g}/h at "
            f"{confidence:.0%} confidence: even with no false alarm at all that needs at least "
            f"{need:.2f} h (and more when some scores are high); record more normal footage, raise "
            "--false-alarms-per-hour or lower --confidence"
        )
    events = result.events
    opinion, fine_record = (None, {}) if second is None else second
    profile = SiteProfile(events, coarse_graph_hashes(bundle), second_opinion=opinion,
                          fine_files=fine_file_hashes(bundle) if opinion else {}, calibration={
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "bundle": str(bundle.root),
        "false_alarms_per_hour": budget,
        "confidence": confidence,
        "estimate": "one-sided exact Poisson upper bound of the alarm rate (Garwood)",
        "hours": hours,
        "recordings": [t.name for t in traces],
        "alarms": chosen.alarms,
        "rate_per_hour": chosen.rate_per_hour,
        "upper_per_hour": chosen.upper_per_hour,
        "off_rule": f"min(on, max({HYSTERESIS:g} x on, "
                    f"{NORMAL_QUANTILE:g} quantile of the normal scores))",
        "bundle_events": asdict(base),
        "bundle_alarms": before,
        **fine_record,
    })
    profile.save(args.out)
    print(f"  chosen threshold on {events.threshold_on:.3f} / off {events.threshold_off:.3f}: "
          f"{chosen.alarms} false alarms ({chosen.rate_per_hour:.2f}/h, at most "
          f"{chosen.upper_per_hour:.2f}/h at {confidence:.0%} confidence; budget {budget:g}/h)")
    if opinion is not None:
        print(f"  second opinion: fine threshold {opinion.fine_threshold:.3f}: {fine_record['fine_confirmed']} "
              f"of {fine_record['fine_alarms']} false alarms confirmed ({fine_record['fine_rate_per_hour']:.2f}/h, "
              f"at most {fine_record['fine_upper_per_hour']:.2f}/h at {confidence:.0%} confidence; budget "
              f"{fine_record['confirmed_per_hour']:g}/h); confirm_with_fine {str(opinion.confirm_with_fine).lower()}")
    print(f"wrote site profile {args.out}: tcvads detect SOURCE --bundle {args.bundle} --site {args.out}")
    return 0


def second_opinion(bundle: Bundle, backend, traces: list[ScoreTrace], events, hours: float,
                   args: argparse.Namespace) -> tuple[SecondOpinion, dict]:
    """The fine threshold for the profile's settings `events` (see the module's docstring), and
    what to record of it under `calibration`."""
    from tcvads_ros.runtime.fine import classify_clip

    budget = args.confirmed_per_hour or args.false_alarms_per_hour / 2.0
    floor = bundle_fine_threshold(bundle)
    scores = alarm_fine_scores(traces, events, bundle.manifest.fine_clip_snippets,
                               lambda frames: classify_clip(bundle, backend, frames).fine_anomaly_score)
    found = calibrate_fine(scores, hours, budget, args.confidence, floor=floor)
    if found.chosen is None:
        need = poisson_upper_rate(0, 1.0, args.confidence) / budget
        raise ConfigError(
            f"{hours * 60:.1f} min of normal footage cannot show confirmed false alarms of at most "
            f"{budget:g}/h at {args.confidence:.0%} confidence: that needs at least {need:.2f} h; record "
            "more normal footage or raise --confirmed-per-hour"
        )
    chosen = found.chosen
    return SecondOpinion(chosen.fine_threshold, args.confirm_with_fine), {
        "confirmed_per_hour": budget, "fine_rule": "1 - p(Normal) of the alarm's clip",
        "fine_floor": floor, "fine_alarms": len(scores), "fine_confirmed": chosen.confirmed,
        "fine_rate_per_hour": chosen.rate_per_hour, "fine_upper_per_hour": chosen.upper_per_hour,
        "fine_scores": sorted(round(s, 4) for s in scores),
    }
