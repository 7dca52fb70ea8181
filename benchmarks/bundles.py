# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A default-size model bundle from untrained models, through the project's own export path.

Speed and memory do not depend on the weights, so the benchmarks build the same kind of bundle a
user would deploy: a run folder holding an untrained `qacm_student` and `fine` stage of the
default configuration (written with `training.run_folder.RunFolder`, as training/train.py does),
exported by `tcvads_ros.training.export` (`load_run` + `export_bundle`, with its ONNX-vs-torch
check). The torch backend then runs the very modules of that run folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tcvads_ros.configuration import to_mapping
from tcvads_ros.data.annotations import UCF_CLASSES
from tcvads_ros.models.captions import CaptionBank
from tcvads_ros.models.mobilenet import FramePreprocess
from tcvads_ros.models.registry import create_model
from tcvads_ros.runtime.bundle import Bundle
from tcvads_ros.training.coarse import STUDENT, student_extras
from tcvads_ros.training.export import export_bundle, load_run
from tcvads_ros.training.run_folder import RunFolder

REPO = Path(__file__).resolve().parent.parent
CAPTIONS = REPO / "config" / "captions.yaml"
SMALL_CLIP = "tcvads-bench-small-clip"


def untrained_run(run_dir: Path, clip_model: str = "ViT-B-16", max_captions: int | None = None,
                  seed: int = 0) -> Path:
    """Write a run folder with untrained default-size student and fine stage (UCF-Crime classes).

    Args:
        clip_model: open_clip model of the fine stage (the default configuration's ViT-B-16).
        max_captions: use only the first captions of config/captions.yaml (a smaller text table
            to build; the fine stage's per-clip work does not depend on it).
    """
    torch.manual_seed(seed)
    folder = RunFolder(run_dir)
    student = create_model("qacm_student")
    # BatchNorm statistics from a few random frames (the weights stay untrained): with the
    # initial statistics (mean 0, variance 1) a random deep net saturates its ReLU6s and gives
    # every frame the same features and score; estimated statistics keep the scores following
    # the picture (the soak needs events that open and close). Speed does not change.
    size = student.backbone.cfg.input_size
    preprocess = FramePreprocess(student.backbone.cfg.mean, student.backbone.cfg.std)
    for module in student.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the batches below
    student.backbone.train()
    with torch.no_grad():
        for _ in range(2):
            student.backbone(preprocess(torch.randint(0, 256, (8, size, size, 3), dtype=torch.uint8)))
    student.eval()
    folder.save_model("student", student, STUDENT, to_mapping(student.cfg),
                      student_extras(student, temperature=None, distilled=False))
    captions = CaptionBank.from_file(CAPTIONS).captions[:max_captions]
    class_names = list(UCF_CLASSES)  # Normal first; the 14 UCF-Crime classes
    fine = create_model("fine", clip_model=clip_model, class_names=class_names, captions=captions)
    folder.save_model("fine", fine, "fine", to_mapping(fine.cfg), {
        "model_args": {"class_names": class_names, "captions": captions},
        "clip_snippets": 16, "fps": 30.0,
    })
    (folder.path("calibration.json")).write_text(json.dumps({"threshold": 0.5}), encoding="utf-8")
    return folder.root


def register_small_clip(folder: Path) -> str:
    """Register (with open_clip) a 2-layer CLIP at 224 px for `--quick`; returns its name."""
    import open_clip

    config = {
        "embed_dim": 256,
        "vision_cfg": {"image_size": 224, "layers": 2, "width": 256, "patch_size": 32, "head_width": 64},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 256, "heads": 4, "layers": 2},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{SMALL_CLIP}.json").write_text(json.dumps(config), encoding="utf-8")
    open_clip.add_model_config(folder)
    return SMALL_CLIP


def untrained_bundle(work_dir: Path, clip_model: str = "ViT-B-16",
                     max_captions: int | None = None) -> Bundle:
    """`untrained_run` in work_dir/run, exported to work_dir/bundle with the project's exporter."""
    run_dir = untrained_run(Path(work_dir) / "run", clip_model, max_captions)
    graphs, table, manifest = load_run(run_dir)
    return export_bundle(graphs, table, manifest, Path(work_dir) / "bundle")
