# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`tcvads demo`: the whole detector on an embedded default.

By default it runs the model the project ships, ``models/demo-bundle`` (made by `tcvads demo
--train --save-bundle`, below, and described by its model card), with no torch and no training:

1. synthesise a test video with one annotated anomaly (`tcvads synth`, a seed and cameras the
   model has not seen);
2. run `tcvads detect` on it with the shipped bundle, printing what the bundle was trained on
   (its model card), the events as they happen, the fine stage's explanation and where the heat
   map is;
3. compare what was detected with the ground truth, and say how far the result is from changing
   (its margins: see `margins`).

The bundle's scores depend on ONNX Runtime alone, so the answer is the same on every CPU, up to
float rounding far below those margins (docs/results.md, "`tcvads demo`").

``--train`` first trains the model on the spot (the ``train`` extra, torch): generate the
synthetic benchmark of ``config/train/demo.yaml`` and train on it (`tcvads train`), measure it on
its test split (`tcvads evaluate`), export it with its model card (`tcvads export`), then the
three steps above with that bundle. Its figures depend on the CPU that trains (float rounding
differs between Intel and AMD, AVX2 and AVX-512, and training amplifies it). The shipped bundle
was made by ``tcvads demo --train --out runs/demo --save-bundle models/demo-bundle``.

``--audio`` runs the bundle that listens, ``models/demo-audio-bundle`` (trained, evaluated and
exported from ``config/train/demo-audio.yaml``, the demo's training with sound, as ``--train
--audio`` does; docs/audio.md), on a test video with sound (`tcvads synth
--audio`) whose first anomaly is verbal abuse: shouting at a standing figure, heard but barely
seen. Then it runs the same bundle on the same video without its sound (``--audio off``), to
show what the sound added. The fine stage sees and does not hear: it names what it sees, and
its verdict may dispute what only the sound showed (docs/audio.md).

It runs from a checkout or an installed package (the shipped files come from
``share/tcvads_ros`` then, `tcvads_ros.config_files`).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from tcvads_ros.config_files import config_file, shipped_dir
from tcvads_ros.errors import TcvadsError

DEMO_CONFIG = "train/demo.yaml"  # under config/: what and how long `--train` trains
DEMO_BUNDLE = "models/demo-bundle"  # the shipped bundle `tcvads demo` runs by default
AUDIO_CONFIG = "train/demo-audio.yaml"  # `--audio --train`: the same with sound
AUDIO_BUNDLE = "models/demo-audio-bundle"  # the shipped bundle `tcvads demo --audio` runs
# Same camera size and frame rate as the training videos, another seed (so cameras and scenes
# neither the demo's model nor the stand-in CLIP has seen), 20 s long.
TEST_VIDEO = {"videos": 1, "seed": 50, "width": 128, "height": 96, "frames": 480, "fps": 24.0,
              "abnormal_share": 1.0, "test_share": 1.0}
# `--audio`: the same, with sound; this seed's video holds verbal abuse (frames 50-130), heard but
# barely seen, then abuse (340-406), seen and heard.
AUDIO_TEST_VIDEO = {**TEST_VIDEO, "seed": 72, "audio": True}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="work folder (kept); default: a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    parser.add_argument("--backend", default="auto", help="inference backend for detect (default auto)")
    parser.add_argument("--bundle", type=Path,
                        help=f"run this bundle instead of the shipped one ({DEMO_BUNDLE})")
    parser.add_argument("--train", action="store_true",
                        help="train the model first (a few minutes; needs the train extra: torch)")
    parser.add_argument("--save-bundle", type=Path, metavar="DIR",
                        help="with --train: write the trained bundle here (replacing what is there)")
    parser.add_argument("--audio", action="store_true",
                        help=f"with sound: the bundle that listens ({AUDIO_BUNDLE}; with --train, "
                             f"config/{AUDIO_CONFIG}) on a video with sound, then the same without it")


def _step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def check_standin(config: str = DEMO_CONFIG) -> None:
    """The stand-in CLIP the demo's fine stage stands on must be there before minutes of training."""
    from tcvads_ros.training.train_config import load_config

    checkpoint = load_config(config_file(config)).fine.model.get("checkpoint")
    if checkpoint and not Path(checkpoint).is_file():
        raise TcvadsError(f"{checkpoint}: the stand-in CLIP the demo's fine stage stands on is missing; "
                          f"reinstall tcvads_ros, or remake it: tcvads pretrain-clip {Path(checkpoint).parent} "
                          "--overwrite (a few minutes)")


def train(run_dir: Path, config: str = DEMO_CONFIG) -> None:
    """Train the demo's model into `run_dir` (`tcvads train --config config/train/demo.yaml`, or
    demo-audio.yaml with sound)."""
    from tcvads_ros.training import train as trainer

    parser = argparse.ArgumentParser(prog="tcvads train")
    trainer.configure_parser(parser)
    argv = ["--config", str(config_file(config)), "--out", str(run_dir), "--no-progress"]
    print("tcvads train " + " ".join(argv), flush=True)
    with warnings.catch_warnings():  # library notes (tracer) are not the demo's
        warnings.simplefilter("ignore")
        trainer.train(parser.parse_args(argv))


def synth_test_video(folder: Path, audio: bool = False) -> tuple[Path, list]:
    """One synthetic video with annotated anomalies (with its sound beside it where `audio`);
    returns its path and episodes."""
    from tcvads_ros.data.synthetic import SynthConfig, generate

    cfg = SynthConfig(**(AUDIO_TEST_VIDEO if audio else TEST_VIDEO))
    plan = generate(folder, cfg, progress=False)[0]
    return folder / "videos" / f"{plan.name}{cfg.extension}", list(plan.episodes)


def trained_bundle(work: Path, save: Path | None, config: str = DEMO_CONFIG) -> Path:
    """`--train`: train (or re-use a finished run in WORK/run), evaluate, export; the bundle's path."""
    from tcvads_ros.cli import main as tcvads

    run_dir = work / "run"
    if (run_dir / "fine.safetensors").is_file():
        _step(f"training: re-using the finished run in {run_dir}")
    else:
        check_standin(config)
        shutil.rmtree(run_dir, ignore_errors=True)
        _step("training a small model on a synthetic benchmark (a few minutes on a CPU)")
        train(run_dir, config)
    if (run_dir / "config.yaml").is_file() and not (run_dir / "eval" / "metrics.json").is_file():
        _step("measuring it on its test split (tcvads evaluate), for the model card")
        if tcvads(["evaluate", str(run_dir), "--no-progress"]) != 0:
            raise TcvadsError("evaluate failed; see the message above")
    _step("exporting the model bundle with its model card")
    bundle_dir = save or work / "bundle"
    if tcvads(["export", str(run_dir), "--out", str(bundle_dir), "--overwrite"]) != 0:
        raise TcvadsError("export failed; see the message above")
    return bundle_dir


def check_options(args: argparse.Namespace) -> None:
    """Refuse what would do something else than asked, before any work."""
    if args.save_bundle and not args.train:
        raise TcvadsError("--save-bundle writes the bundle that --train makes; add --train")
    if args.bundle and args.train:
        raise TcvadsError("--bundle runs a bundle you have; --train makes one: choose one of them")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise TcvadsError(f"{args.out}: --out must be a folder, and this is a file")
    save = args.save_bundle
    if save is not None and save.exists() and (not save.is_dir() or any(save.iterdir())) \
            and not (save / "manifest.json").is_file():
        raise TcvadsError(f"{save}: --save-bundle replaces a bundle, and this is not one (no manifest.json); "
                          "choose a new or empty folder")


def run(args: argparse.Namespace) -> int:
    from tcvads_ros.cli import main as tcvads
    from tcvads_ros.runtime.bundle import Bundle

    check_options(args)
    started = time.perf_counter()
    work = args.out or Path(tempfile.mkdtemp(prefix="tcvads-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    evidence = work / "evidence"
    try:
        audio = getattr(args, "audio", False)
        if args.train:
            bundle_dir = trained_bundle(work, args.save_bundle, AUDIO_CONFIG if audio else DEMO_CONFIG)
        else:
            bundle_dir = args.bundle or shipped_dir(AUDIO_BUNDLE if audio else DEMO_BUNDLE)
        bundle = Bundle.load(bundle_dir)  # refused here, before any work, if damaged
        if audio and bundle.audio is None:
            raise TcvadsError(f"{bundle_dir}: --audio runs a bundle that listens, and this one has no audio graph")
        _step("synthesising a test video with a known anomaly" + (", and its sound" if audio else ""))
        video, truth = synth_test_video(work / "test", audio)
        from tcvads_ros.data.synthetic import read_meta

        names = read_meta(work / "test")["class_codes"]
        fps = TEST_VIDEO["fps"]
        for seg in truth:
            print(f"ground truth: {names.get(seg.label, seg.label)} frames {seg.start}-{seg.end} "
                  f"({seg.start / fps:.1f}-{seg.end / fps:.1f} s) in {video.name}")
        _step("tcvads detect")
        events_path = work / "events.jsonl"
        code = tcvads(["detect", str(video), "--bundle", str(bundle_dir), "--backend", args.backend,
                       "--events", str(events_path), "--evidence", str(evidence)])
        if code != 0:
            return code
        _compare(events_path, truth, names, fps)
        if audio:
            _step("the same bundle on the same video without its sound (tcvads detect --audio off)")
            silent = work / "events-without-sound.jsonl"
            code = tcvads(["detect", str(video), "--bundle", str(bundle_dir), "--backend", args.backend,
                           "--events", str(silent), "--audio", "off", "--quiet", "--no-fine"])
            if code != 0:
                return code
            _compare(silent, truth, names, fps)
        found = margins(bundle, video, events_path)
        print(f"margins: category {found['category']:.3f} (its probability above the next class's), "
              f"threshold {found['threshold']:.4f} (the closest any snippet's score, on ONNX Runtime, came "
              "to the alarm thresholds); float rounding between CPUs moves them by about 1e-6")
        print(f"\ndemo finished in {time.perf_counter() - started:.0f} s")
    finally:
        if args.out is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            print(f"removed the work folder {work} (use --keep or --out DIR to keep the "
                  "events and heat maps)")
        else:
            print(f"work folder: {work} (test/ video, evidence/ heat maps and clips, events.jsonl"
                  + (", run/ training run, bundle/" if args.train and not args.save_bundle else "") + ")")
    return 0


def margins(bundle, video: Path, events_path: Path) -> dict[str, float]:
    """How far the demo's answer is from changing, from the same bundle and video:

    - ``category``: the named class's probability minus the runner-up's, for every explanation
      (the smallest);
    - ``threshold``: the smallest distance of any scored snippet's coarse score to the event
      thresholds (on and off). An event's frames change only if some score crosses one.

    Float rounding that differs between CPUs (ONNX Runtime's kernels for AVX2 and AVX-512 sum in
    other orders) moves the scores by about 1e-6; margins far above that cannot be flipped."""
    from tcvads_ros.runtime.audio_sources import frames_with_sound
    from tcvads_ros.runtime.backends import create_backend
    from tcvads_ros.runtime.pipeline import CoarseDetector, PipelineConfig
    from tcvads_ros.runtime.site_profile import bundle_events
    from tcvads_ros.runtime.sources import attach_sound, open_source

    records = [json.loads(line) for line in events_path.read_text().splitlines()]
    gaps = []
    for record in records:
        if record.get("record_type") == "explanation":
            top = sorted(record["class_scores"].values(), reverse=True)
            gaps.append(top[0] - top[1])
    events = bundle_events(bundle)
    backend = create_backend("onnxruntime", bundle)
    detector = CoarseDetector(bundle, backend, PipelineConfig(events=events))
    closest = math.inf
    source = open_source(str(video), sample_every=bundle.manifest.snippet_frames)
    try:
        frames = source
        if bundle.audio is not None:  # heard as `tcvads detect` hears it
            soundless = attach_sound(source, str(video), "auto")
            if soundless:
                detector.no_sound(soundless)
            else:
                frames = frames_with_sound(source, detector)
        for frame in frames:
            for snippet in detector.push(frame)[0]:
                closest = min(closest, abs(snippet.score - events.threshold_on),
                              abs(snippet.score - events.threshold_off))
    finally:
        source.close()
        backend.close()
    return {"category": min(gaps, default=math.nan), "threshold": closest}


def _compare(events_path: Path, truth: list, names: dict, fps: float) -> None:
    records = [json.loads(line) for line in events_path.read_text().splitlines()]
    ends = [r for r in records if r.get("kind") == "end"]
    explanations = {r["event_id"]: r for r in records if r["record_type"] == "explanation"}
    print("\nground truth vs detected:")
    for seg in truth:
        print(f"  truth     {names.get(seg.label, seg.label):12s} frames {seg.start:4d}-{seg.end:4d} "
              f"({seg.start / fps:5.1f}-{seg.end / fps:5.1f} s)")
    if not ends:
        print("  detected  nothing above the calibrated threshold")
    for end in ends:
        category = explanations.get(end["event_id"], {}).get("category", "(no explanation)")
        print(f"  detected  {category:12s} frames {end['start_frame']:4d}-{end['end_frame']:4d} "
              f"({end['start_stamp']:5.1f}-{end['end_stamp']:5.1f} s) peak score {end['peak_score']:.2f}")
