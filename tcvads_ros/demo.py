"""`tcvads demo`: the whole detector on an embedded default, in a few minutes on a CPU.

1. generate the synthetic surveillance benchmark of ``config/train/demo.yaml`` and train a small
   model on it (`tcvads train`, in this process); its fine stage stands on the stand-in CLIP the
   project ships (``models/clip-standin``, made by `tcvads pretrain-clip`: no pretrained CLIP
   can be downloaded here);
2. export it to a bundle (`tcvads export`);
3. synthesise a longer test video with one annotated anomaly (`tcvads synth`, another seed,
   cameras the model has not seen);
4. run `tcvads detect` on it, printing the events as they happen, the fine stage's explanation
   and where the heat map is, then the ground truth next to what was detected.

It needs the ``train`` extra (torch) and runs from a checkout or from an installed package
(the configuration comes from ``share/tcvads_ros/config`` then, `tcvads_ros.config_files`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from tcvads_ros.config_files import config_file
from tcvads_ros.errors import TcvadsError

DEMO_CONFIG = "train/demo.yaml"  # under config/: what and how long the demo trains
# Same camera size and frame rate as the training videos, another seed (so cameras and scenes
# neither the demo's model nor the stand-in CLIP has seen), 20 s long.
TEST_VIDEO = {"videos": 1, "seed": 50, "width": 128, "height": 96, "frames": 480, "fps": 24.0,
              "abnormal_share": 1.0, "test_share": 1.0}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="work folder (kept); default: a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    parser.add_argument("--backend", default="auto", help="inference backend for detect (default auto)")


def _step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def check_standin() -> None:
    """The stand-in CLIP the demo's fine stage stands on must be there before minutes of training."""
    from tcvads_ros.training.train_config import load_config

    checkpoint = load_config(config_file(DEMO_CONFIG)).fine.model.get("checkpoint")
    if checkpoint and not Path(checkpoint).is_file():
        raise TcvadsError(f"{checkpoint}: the stand-in CLIP the demo's fine stage stands on is missing; "
                          f"reinstall tcvads_ros, or remake it: tcvads pretrain-clip {Path(checkpoint).parent} "
                          "--overwrite (a few minutes)")


def train(run_dir: Path) -> None:
    """Train the demo's model into `run_dir` (`tcvads train --config config/train/demo.yaml`)."""
    from tcvads_ros.training import train as trainer

    parser = argparse.ArgumentParser(prog="tcvads train")
    trainer.configure_parser(parser)
    argv = ["--config", str(config_file(DEMO_CONFIG)), "--out", str(run_dir), "--no-progress"]
    print("tcvads train " + " ".join(argv), flush=True)
    with warnings.catch_warnings():  # library notes (tracer) are not the demo's
        warnings.simplefilter("ignore")
        trainer.train(parser.parse_args(argv))


def synth_test_video(folder: Path) -> tuple[Path, list]:
    """One synthetic video with annotated anomalies; returns its path and episodes."""
    from tcvads_ros.data.synthetic import SynthConfig, generate

    plan = generate(folder, SynthConfig(**TEST_VIDEO), progress=False)[0]
    return next((folder / "videos").glob(plan.name + ".*")), list(plan.episodes)


def run(args: argparse.Namespace) -> int:
    from tcvads_ros.cli import main as tcvads

    started = time.perf_counter()
    work = args.out or Path(tempfile.mkdtemp(prefix="tcvads-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    run_dir, bundle_dir, evidence = work / "run", work / "bundle", work / "evidence"
    try:
        if (run_dir / "fine.safetensors").is_file():
            _step(f"1/4 training: re-using the finished run in {run_dir}")
        else:
            check_standin()
            shutil.rmtree(run_dir, ignore_errors=True)
            _step("1/4 training a small model on a synthetic benchmark (a few minutes on a CPU)")
            train(run_dir)
        _step("2/4 exporting the model bundle")
        if tcvads(["export", str(run_dir), "--out", str(bundle_dir), "--overwrite"]) != 0:
            raise TcvadsError("export failed; see the message above")
        _step("3/4 synthesising a test video with a known anomaly")
        video, truth = synth_test_video(work / "test")
        names = json.loads((work / "test" / "meta.json").read_text())["class_codes"]
        fps = TEST_VIDEO["fps"]
        for seg in truth:
            print(f"ground truth: {names.get(seg.label, seg.label)} frames {seg.start}-{seg.end} "
                  f"({seg.start / fps:.1f}-{seg.end / fps:.1f} s) in {video.name}")
        _step("4/4 tcvads detect")
        events_path = work / "events.jsonl"
        code = tcvads(["detect", str(video), "--bundle", str(bundle_dir), "--backend", args.backend,
                       "--events", str(events_path), "--evidence", str(evidence)])
        if code != 0:
            return code
        _compare(events_path, truth, names, fps)
        print(f"\ndemo finished in {time.perf_counter() - started:.0f} s")
    finally:
        if args.out is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            print(f"removed the work folder {work} (use --keep or --out DIR to keep the bundle, "
                  "events and heat maps)")
        else:
            print(f"work folder: {work} (run/ training run, bundle/, evidence/ heat maps and clips, "
                  "events.jsonl)")
    return 0


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
