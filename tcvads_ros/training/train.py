# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Train TCVADS: ``python training/train.py --config FILE --out RUN_DIR [key.path=value ...]``.

Stages (``--stage`` or the config's ``stage``): ``teacher`` (AFED, MIL top-k BCE, paper Exp. 10),
``student`` (QACM distilled from the frozen teacher, Exp. 11-14, temperature by Bayesian
optimisation, Exp. 12/13), ``fine`` (FineStage, Exp. 17-19) and ``all`` (the three in order).
A stage that needs an earlier one loads it from RUN_DIR (or the teacher from ``--teacher RUN``).

The run folder it writes (read by ``tcvads export RUN_DIR`` and ``tcvads evaluate``) is
documented, and read and written, in `tcvads_ros.training.run_folder`.

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
from tcvads_ros.training.run_folder import (
    STAGES,
    RunFolder,
    init_distributed,
    pick_device,
    seed_everything,
)
from tcvads_ros.training.train_config import TrainConfig, config_mapping, load_config
from tcvads_ros.training.trainer import Context


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


