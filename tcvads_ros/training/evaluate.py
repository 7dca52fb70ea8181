# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Evaluate a training run: ``python training/evaluate.py RUN_OR_CHECKPOINT [--data FILE] ...``.

``RUN_OR_CHECKPOINT`` is a run folder of training/train.py (every trained stage in it is
evaluated) or one checkpoint ``<stage>.safetensors`` with its ``<stage>.json`` beside it.
The data come from ``--data`` (a config/train/*.yaml file; its ``data`` section is used) or
else from the run's ``config.yaml``; ``key.path=value`` overrides apply to it.

Protocol (docs/evaluation.md, VadCLIP's code): test videos one crop, 256-chunked; snippet
scores ×16 to frame level; all frames concatenated and scored once.

- Coarse: AP, AUC, AnoAUC (`training.metrics.coarse_metrics`) of the QACM student (the model
  that runs on the robot: the top-level keys), and of the AFED teacher (key ``teacher``).
- Fine: mAP at IoU 0.1 … 0.5 and their mean (`training.metrics.detection_map`), in
  ``--mode vadclip`` (VadCLIP's code, default) or ``corrected``; the mode is written out.

Writes ``metrics.json`` (keys AP, AUC, AnoAUC, mAP@0.1 … mAP@0.5, mAP_avg, mode; null where a
stage is missing), ROC/PR curves and per-video timelines (`training.report.write_evaluation`)
into ``RUN_DIR/eval`` or ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tcvads_ros.errors import ConfigError
from tcvads_ros.training.entry import script_main


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """The options of ``python training/evaluate.py`` and ``tcvads evaluate`` (the same command)."""
    parser.add_argument("target", type=Path, metavar="RUN_OR_CHECKPOINT",
                        help="run folder, or a <stage>.safetensors checkpoint with its <stage>.json")
    parser.add_argument("--data", type=Path, help="config/train/*.yaml whose data section to test on "
                        "(default: the run's config.yaml)")
    parser.add_argument("--out", type=Path, help="output folder (default: RUN_DIR/eval)")
    parser.add_argument("--mode", choices=("vadclip", "corrected"), default="vadclip",
                        help="fine-grained mAP protocol (default: VadCLIP's code)")
    parser.add_argument("--device", default=None, help="cpu, cuda or auto (default: the config's)")
    parser.add_argument("--timelines", type=int, default=4, help="per-video timeline plots")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value")


def main(argv: list[str] | None = None) -> int:
    """``python training/evaluate.py ...``: the same as ``tcvads evaluate ...``."""
    return script_main("training/evaluate.py", __doc__, configure_parser, run, argv)


def run(args: argparse.Namespace) -> int:
    metrics = evaluate(args)
    shown = {k: metrics.get(k) for k in ("AP", "AUC", "AnoAUC", "mAP_avg", "mode")}
    print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()))
    return 0


def evaluate(args: argparse.Namespace) -> dict:
    from tcvads_ros.training import coarse, experiment, fine_stage, metrics, report
    from tcvads_ros.training.run_folder import STAGES, RunFolder, pick_device, seed_everything
    from tcvads_ros.training.stages import coarse_data
    from tcvads_ros.training.train_config import load_config

    target = args.target
    if target.is_file():
        if target.suffix != ".safetensors":
            raise ConfigError(f"{target}: expected a run folder or a <stage>.safetensors checkpoint")
        folder, stages = RunFolder(target.parent, writable=False), [target.name[: -len(".safetensors")]]
    elif target.is_dir():
        folder = RunFolder(target, writable=False)
        stages = [s for s in STAGES if folder.finished(s)]
    else:
        raise ConfigError(f"{target}: no such run folder or checkpoint")
    if not stages:
        raise ConfigError(f"{target}: no trained stage found (teacher/student/fine .safetensors + .json)")
    config = args.data or folder.path("config.yaml")
    overrides = list(args.overrides) + ([f"device={args.device}"] if args.device else [])
    cfg = load_config(config, overrides)
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    progress = not args.no_progress
    cache = cfg.data.cache_dir or folder.path("cache")
    lists = experiment.source_lists(cfg.data, cache, progress)
    out = args.out or folder.path("eval")

    result: dict = {"mode": args.mode, "dataset": cfg.data.dataset, "data_kind": cfg.data.kind,
                    "source": str(target)}
    truth = scores = None
    for stage in [s for s in ("teacher", "student") if s in stages]:
        model = folder.load_stage(stage).to(device)
        split = coarse_data(cfg, lists, cache, model, progress)
        truth = experiment.test_truth(split, lists, cfg.data.dataset)
        probs = coarse.predict(model, split.test, device, progress, desc=f"{stage} test")
        frames = [metrics.snippets_to_frames(p) for p in probs]
        values = metrics.coarse_metrics(frames, truth.frame_gt, truth.abnormal)
        if stage == "student" or "student" not in stages:
            result.update(values, coarse_model=stage)
            scores = frames
        if stage == "teacher":
            result["teacher"] = values
    if "fine" in stages:
        model = folder.load_stage("fine").to(device)
        split = fine_stage.fine_data(cfg, model, lists, cache, device, progress)
        fine_truth = experiment.test_truth(split, lists, cfg.data.dataset)
        probs, captions = fine_stage.predict(model, split.test, device, model.cfg.top_m,
                                             progress)
        result.update(metrics.detection_map(probs, fine_truth.segments, fine_truth.labels,
                                            model.class_names, mode=args.mode))
        if truth is None:  # fine only: plot the anomaly score 1 - P(normal)
            truth, scores = fine_truth, [1.0 - p[:, 0] for p in probs]
    threshold = None
    if folder.path("calibration.json").is_file() and result.get("coarse_model") == "student":
        threshold = folder.read_json("calibration.json").get("threshold")
        result["threshold"] = threshold
    result["videos"] = len(truth.names)
    fps = fine_stage.source_fps(lists)
    report.write_evaluation(out, result, scores, truth.frame_gt, truth.names, args.timelines, fps, threshold)
    return result

