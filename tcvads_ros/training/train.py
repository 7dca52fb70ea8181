"""Train TCVADS: ``python training/train.py --config FILE --out RUN_DIR [key.path=value ...]``.

Stages (``--stage`` or the config's ``stage``): ``teacher`` (AFED, MIL top-k BCE, paper Exp. 10),
``student`` (QACM distilled from the frozen teacher, Exp. 11-14, temperature by Bayesian
optimisation, Exp. 12/13), ``fine`` (FineStage, Exp. 17-19) and ``all`` (the three in order).
A stage that needs an earlier one loads it from RUN_DIR (or the teacher from ``--teacher RUN``).

Run folder layout (read by ``tcvads export RUN_DIR`` and ``training/evaluate.py``)::

    RUN_DIR/
      config.yaml                   the resolved configuration (file + overrides), re-used by --resume
      teacher.safetensors           AFED weights
      teacher.json                  {"model": "afed", "config": {...}}: create_model(model, **config)
      student.safetensors           QACM student weights (backbone + QACM, or QACM alone)
      student.json                  {"model": "qacm_student", "config": {...}, "input": frames|features,
                                     "input_size", "mean", "std" (frames only), "snippet_frames": 16,
                                     "window": QACM receptive field, "temperature", "distilled"}
      calibration.json              {"threshold": coarse alarm threshold on the student's probability,
                                     "method": f1|youden, "level": frame|video, ...} (validation split)
      temperature_search.json/.png  GP posterior (grid, mean, 95 % band), trials, chosen T (Fig. 5)
      fine.safetensors              FineStage trainable + frozen weights
      fine.json                     {"model": "fine", "config": {...}, "model_args": {"class_names",
                                     "captions"}, "captions_file", "top_m", "clip_snippets", "fps"}
      captions.txt                  the caption bank the fine stage was trained with (a copy)
      <stage>.last.safetensors/.json  last epoch's model + optimiser + RNG state (for --resume)
      <stage>.best.safetensors      weights of the best validation epoch (what <stage>.safetensors holds
                                    when optim.keep_best; kept for --resume)
      metrics.jsonl                 one JSON line per stage and epoch (losses, lr, val_AP, val_AUC)
      tensorboard/                  the same scalars for TensorBoard
      cache/                        synthetic benchmark, cached frames and features (data.cache_dir)
      eval/                         written by training/evaluate.py

``--resume`` continues an interrupted run: finished stages are loaded, an unfinished one
continues from its last epoch, a finished temperature search is re-used. Without it, training a
stage whose checkpoint already exists in RUN_DIR is refused (nothing is overwritten).

Seeds are fixed (``seed``): the same seed on the same CPU gives the same numbers. Device:
``device=auto`` uses CUDA when available. Multi-GPU: ``torchrun --nproc_per_node N
training/train.py ...`` (DistributedDataParallel, DistributedSampler; only rank 0 writes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from tcvads_ros.errors import ConfigError
from tcvads_ros.training.entry import script_main
from tcvads_ros.training.run_folder import RunFolder, init_distributed, pick_device, seed_everything
from tcvads_ros.training.train_config import TrainConfig, config_mapping, load_config
from tcvads_ros.training.trainer import Context

STAGES = ("teacher", "student", "fine")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """The options of ``python training/train.py`` and ``tcvads train`` (the same command)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "Overrides: key.path=value, e.g. teacher.optim.epochs=5 student.distill=false"
    parser.add_argument("--config", type=Path, help="YAML file in config/train/ (optional with --resume)")
    parser.add_argument("--out", type=Path, required=True, help="run folder (created)")
    parser.add_argument("--stage", choices=(*STAGES, "all"), help="overrides the config's 'stage'")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--teacher", type=Path, help="another run folder to take the trained teacher from")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value")


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    saved = args.out / "config.yaml"
    if args.config is None:
        if not (args.resume and saved.is_file()):
            raise ConfigError("--config FILE is required (or --resume with a run folder holding config.yaml)")
        config = saved
    else:
        config = args.config
    overrides = list(args.overrides) + ([f"stage={args.stage}"] if args.stage else [])
    return load_config(config, overrides)


def main(argv: list[str] | None = None) -> int:
    """``python training/train.py ...``: the same as ``tcvads train ...``."""
    return script_main("training/train.py", __doc__, configure_parser, run, argv)


def run(args: argparse.Namespace) -> int:
    train(args)
    return 0


def train(args: argparse.Namespace) -> RunFolder:
    """Train the configured stages into ``args.out``; returns the run folder."""
    cfg = resolve_config(args)
    device = pick_device(cfg.device)
    rank, world = init_distributed(device)
    seed_everything(cfg.seed)
    folder = RunFolder(args.out, writable=rank == 0)
    stages = STAGES if cfg.stage == "all" else (cfg.stage,)
    if not args.resume:
        for stage in stages:
            if folder.path(f"{stage}.safetensors").exists():
                raise ConfigError(f"{folder.path(stage + '.safetensors')} exists: use --resume to continue "
                                  "that run, or another --out")
    if folder.writable:
        folder.path("config.yaml").write_text(yaml.safe_dump(config_mapping(cfg), sort_keys=False),
                                              encoding="utf-8")
    ctx = Context(folder, device, cfg.seed, rank, world, args.resume, not args.no_progress,
                  cfg.data.num_workers)
    from tcvads_ros.training import (
        stages as stage_runner,  # torch-heavy imports after argument checks
    )

    try:
        stage_runner.run_stages(cfg, stages, ctx, teacher_run=args.teacher)
    finally:
        folder.close()
    return folder


