# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`tcvads complexity`: parameters and FLOPs of each stage next to the paper's Table X.

Counted, not estimated: parameters from the built modules, FLOPs with
``torch.utils.flop_counter.FlopCounterMode`` (matrix multiplies and convolutions; one
multiply-add = 2 FLOPs; element-wise work such as activations and the WKV exponentials is not
counted). Costs are per frame / snippet in the streaming form each stage runs in:

- ``coarse_teacher``: backbone on one frame + one recurrent Enhanced RWKV step + head;
- ``coarse_student``: backbone on one frame + one QACM streaming step (what the robot runs);
- ``fine``: CLIP image encoder on one snippet frame + one Enhanced RWKV step (the class ×
  caption text table is precomputed, so the text encoder is not part of the per-snippet cost;
  one prompt's text-encoder cost is reported separately). Random weights (pretrained=None)
  count the same as trained ones.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tcvads_ros.config_files import config_file
from tcvads_ros.models.afed import AFEDConfig, AFEDTeacher
from tcvads_ros.models.captions import CaptionBank
from tcvads_ros.models.fine import FineConfig, FineStage
from tcvads_ros.models.mobilenet import MobileNetConfig
from tcvads_ros.models.qacm import QACMConfig, QACMStudent

# Paper Table X, as printed ("0.576MB" is what the FLOPs column says for the coarse model).
PAPER_TABLE_X = {
    "coarse_teacher": {"params": "3.6M", "flops": "0.576MB"},
    "coarse_student": {"params": "3.6M", "flops": "0.576MB"},
    "fine": {"params": "28.4M", "flops": "22.17G"},
}
XD_CLASSES = ["normal", "fighting", "shooting", "riot", "abuse", "car accident", "explosion"]


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs (2 × multiply-adds) of running ``fn()`` once, without autograd."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def count_params(module: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _entry(module: nn.Module, flops: int, per: str, input_size: int, **extra) -> dict:
    total, trainable = count_params(module)
    return {"params_total": total, "params_trainable": trainable, "flops": flops,
            "macs": flops // 2, "per": per, "input_size": input_size, **extra}


def coarse_report(input_size: int = 224) -> dict[str, dict]:
    """Teacher and student at their default configs, backbone at ``input_size`` pixels."""
    backbone = MobileNetConfig(input_size=input_size)
    frame = torch.zeros(1, 3, input_size, input_size)

    teacher = AFEDTeacher(AFEDConfig(backbone=backbone)).eval()
    feature = torch.zeros(1, teacher.backbone.feature_dim)
    state = teacher.rwkv.init_state(1)

    def teacher_step():
        h, _ = teacher.rwkv.step(teacher.project(teacher.backbone(frame)), state)
        teacher.head(h)

    student = QACMStudent(QACMConfig(backbone=backbone)).eval()
    stream = student.qacm.stream()
    frame_flops = count_flops(lambda: student.backbone(frame))
    step_flops = count_flops(lambda: stream.push(feature[0]))
    return {
        "coarse_teacher": _entry(teacher, count_flops(teacher_step), "frame", input_size,
                                 paper=PAPER_TABLE_X["coarse_teacher"]),
        "coarse_student": _entry(student, frame_flops + step_flops, "frame", input_size,
                                 backbone_flops=frame_flops, qacm_step_flops=step_flops,
                                 paper=PAPER_TABLE_X["coarse_student"]),
    }


def fine_report(clip_model: str = "ViT-B-16", captions: CaptionBank | None = None,
                class_names: list[str] | None = None) -> dict:
    """The fine stage (random CLIP weights) per snippet, plus one prompt's text-encoder cost."""
    captions = captions or CaptionBank.from_file(config_file("captions.yaml"))
    fine = FineStage(FineConfig(clip_model=clip_model), class_names or XD_CLASSES, captions).eval()
    size = fine.input_size
    image = torch.zeros(1, 3, *size)
    state = fine.rwkv.init_state(1)
    image_flops = count_flops(lambda: fine.rwkv.step(fine.encode_images(image), state))
    text_flops = count_flops(lambda: fine.encode_prompts([0], [0]))
    return _entry(fine, image_flops, "snippet", size[0], clip_model=clip_model,
                  text_flops_per_prompt=text_flops, paper=PAPER_TABLE_X["fine"])


def report(input_size: int = 224, clip_model: str = "ViT-B-16") -> dict[str, dict]:
    return {**coarse_report(input_size), "fine": fine_report(clip_model)}


def format_table(rep: dict[str, dict]) -> str:
    header = (f"{'stage':<15} {'params':>9} {'trainable':>10} {'GFLOPs':>8} {'per':>8} "
              f"{'size':>5} | {'paper params':>12} {'paper FLOPs':>11}")
    lines = [header, "-" * len(header)]
    for name, r in rep.items():
        lines.append(
            f"{name:<15} {r['params_total'] / 1e6:>8.2f}M {r['params_trainable'] / 1e6:>9.2f}M "
            f"{r['flops'] / 1e9:>8.3f} {r['per']:>8} {r['input_size']:>5} | "
            f"{r['paper']['params']:>12} {r['paper']['flops']:>11}")
    lines.append("FLOPs = 2 x multiply-adds of convolutions and matrix products "
                 "(torch.utils.flop_counter); per frame/snippet in streaming form.")
    return "\n".join(lines)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    parser.add_argument("--input-size", type=int, default=224, metavar="N",
                        help="coarse backbone input side in pixels (default: 224)")
    parser.add_argument("--clip-model", default="ViT-B-16",
                        help="open_clip model of the fine stage (default: ViT-B-16)")


def run(args: argparse.Namespace) -> int:
    MobileNetConfig(input_size=args.input_size)  # validates the size with a clear error
    torch.manual_seed(0)
    rep = report(args.input_size, args.clip_model)
    print(json.dumps(rep, indent=2) if args.json else format_table(rep))
    return 0
