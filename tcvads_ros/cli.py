# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The `tcvads` command: one entry point, one module per subcommand.

Each subcommand lives in the module named in `COMMANDS`, which defines
``configure_parser(parser)`` and ``run(args) -> int``. Only the module of the subcommand being
run is imported, so `tcvads detect` on an edge device never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tcvads_ros import __version__
from tcvads_ros.errors import TcvadsError

# name -> (module, one-line help). Order is the order shown by `tcvads --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "tcvads_ros.demo",
        "run the whole detector on an embedded default: synthesise videos, train, export, detect",
    ),
    "synth": (
        "tcvads_ros.data.synthetic",
        "write the synthetic surveillance benchmark (videos + XD-Violence-format ground truth)",
    ),
    "complexity": (
        "tcvads_ros.models.complexity",
        "report parameters and FLOPs of each stage next to the paper's Table X",
    ),
    "pretrain-backbone": (
        "tcvads_ros.training.pretrain_backbone",
        "pretrain a MobileNetV2 backbone on unlabelled frames (a stand-in for ImageNet weights)",
    ),
    "train": (
        "tcvads_ros.training.train",
        "train TCVADS (teacher, distilled student, fine stage) into a run folder",
    ),
    "pretrain-clip": (
        "tcvads_ros.training.standin_clip",
        "train a small stand-in CLIP from scratch on synthetic scenes and their captions",
    ),
    "evaluate": (
        "tcvads_ros.training.evaluate",
        "evaluate a training run: coarse AP/AUC/AnoAUC and fine mAP, curves and timelines",
    ),
    "interpret": (
        "tcvads_ros.training.interpret",
        "interpretability of a training run: heat maps, feature maps, surrogate fidelity",
    ),
    "export": (
        "tcvads_ros.training.export",
        "export a training run to a deployable model bundle (ONNX + text table + manifest)",
    ),
    "bundle": (
        "tcvads_ros.training.bundle_edit",
        "edit a bundle's classes and captions without retraining (add-class, remove-class, ...)",
    ),
    "detect": (
        "tcvads_ros.runtime.detect",
        "run the detector on a video file, image folder, camera index or rosbag2",
    ),
    "calibrate": (
        "tcvads_ros.runtime.calibrate",
        "set a site's alarm threshold from its normal footage to a false-alarms-per-hour budget",
    ),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tcvads",
        description="TCVADS: real-time, explainable two-stage video anomaly detection.",
        epilog="Run 'tcvads COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"tcvads_ros {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module_name).configure_parser(sp)
    return parser


def hand_over_torch_modules(args: argparse.Namespace) -> None:
    """`--backend torch` (detect, calibrate) runs the graph modules of the bundle's training run.
    The runtime never imports training, so the entry point, above both, gives the command the
    training side's loader as ``args.torch_modules(bundle)``; no other backend imports training."""
    if getattr(args, "backend", None) == "torch":
        from tcvads_ros.training.export import source_run_modules

        args.torch_modules = source_run_modules


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is not None and command not in COMMANDS:
        build_parser().error(f"unknown command '{command}' (choose from {', '.join(COMMANDS)})")
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        hand_over_torch_modules(args)
        return int(module.run(args) or 0)
    except TcvadsError as exc:
        print(f"tcvads {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tcvads {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
