# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The teacher from a pretrained backbone: `tcvads pretrain-backbone` writes a torchvision checkpoint,
`teacher.pretrained_backbone` loads it, `teacher.freeze_backbone` keeps it as loaded (smoke sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tcvads_ros.runtime.bundle import sha256
from tcvads_ros.training import pretrain_backbone, train

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "config" / "train" / "smoke.yaml"
# torchvision's MobileNetV2 ends in 1280 features at any width <= 1
BACKBONE = ["teacher.model.backbone={preset: tiny, feature_dim: 1280}",
            "student.model.backbone={preset: tiny, feature_dim: 1280}", "data.frames_per_snippet=2"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, cache) -> Path:
    out = tmp_path_factory.mktemp("pretrain") / "backbone.safetensors"
    code = pretrain_backbone.main(["--config", str(SMOKE), "--out", str(out), "--cache", str(cache), "--steps", "3",
                          "--batch-size", "8", "--no-progress", *BACKBONE])
    assert code == 0
    return out


def test_pretrain_writes_a_torchvision_checkpoint(checkpoint):
    state = load_file(str(checkpoint))
    assert "features.0.0.weight" in state and "classifier.1.weight" in state
    assert state["features.0.0.weight"].shape == (8, 3, 3, 3)  # width 0.25 (smoke's tiny preset)
    report = json.loads(checkpoint.with_suffix(".json").read_text())
    assert report["objective"] == "simclr" and report["weights_sha256"] == sha256(checkpoint)
    assert report["config"]["steps"] == 3 and report["overrides"] == BACKBONE


def test_the_shipped_backbone_is_what_the_command_makes_from_the_shipped_clip():
    """models/backbone-standin, the demo's pretrained backbone: distilled from the shipped
    stand-in CLIP (its hash recorded) with today's defaults, its own hash as recorded, and the
    demo's teacher starts from it."""
    from dataclasses import asdict

    from tcvads_ros.config_files import config_file, shipped_dir
    from tcvads_ros.training.standin_clip import WEIGHTS, shipped_standin
    from tcvads_ros.training.train_config import load_config

    weights = shipped_dir("models/backbone-standin") / "backbone.safetensors"
    report = json.loads(weights.with_suffix(".json").read_text())
    assert report["objective"] == "distill-clip" and report["weights_sha256"] == sha256(weights)
    assert report["clip_sha256"] == sha256(shipped_standin() / WEIGHTS)  # remade with the CLIP
    assert report["config"] == asdict(pretrain_backbone.PretrainConfig(steps=400))
    assert report["training_config"] == "config/train/demo.yaml" and report["overrides"] == []
    demo = load_config(config_file("train/demo.yaml"))
    assert demo.teacher.pretrained_backbone == weights.resolve() and demo.teacher.supervision == "video"
    assert (report["width_mult"], report["input_size"]) == (0.25, 64)
    assert load_file(str(weights))["features.18.0.weight"].shape[0] == 1280


@pytest.mark.parametrize("frozen", [True, False])
def test_teacher_starts_from_the_checkpoint(tmp_path, cache, checkpoint, frozen):
    out = tmp_path / "run"
    code = train.main(["--config", str(SMOKE), "--out", str(out), "--stage", "teacher", "--no-progress",
                       f"data.cache_dir={cache}", *BACKBONE, "teacher.optim.epochs=1",
                       f"teacher.pretrained_backbone={checkpoint}", f"teacher.freeze_backbone={str(frozen).lower()}"])
    assert code == 0
    teacher = load_file(str(out / "teacher.safetensors"))
    start = load_file(str(checkpoint))
    same = torch.equal(teacher["backbone.stem.0.weight"], start["features.0.0.weight"])
    assert same == frozen  # frozen: exactly as loaded; end to end: trained further


def test_pretrained_backbone_needs_a_frames_teacher(tmp_path, capsys, checkpoint):
    features = tmp_path / "f.csv"
    features.write_text("path,label\n", encoding="utf-8")
    code = train.main(["--config", str(REPO / "config" / "train" / "xd.yaml"), "--out", str(tmp_path / "run"),
                       "--stage", "teacher", "--no-progress", f"teacher.pretrained_backbone={checkpoint}",
                       f"data.train_list={features}", f"data.test_list={features}"])
    assert code == 2
    assert "teacher.pretrained_backbone" in capsys.readouterr().err


def test_a_wrong_checkpoint_is_refused_by_name(tmp_path, cache, capsys):
    bad = tmp_path / "bad.safetensors"
    from safetensors.torch import save_file

    save_file({"features.0.0.weight": torch.zeros(4, 3, 3, 3)}, str(bad))
    code = train.main(["--config", str(SMOKE), "--out", str(tmp_path / "run"), "--stage", "teacher",
                       "--no-progress", f"data.cache_dir={cache}", *BACKBONE, f"teacher.pretrained_backbone={bad}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "missing (" in err and "mismatched (1): features.0.0.weight" in err


def test_a_frozen_backbone_needs_a_checkpoint(tmp_path, cache, capsys):
    code = train.main(["--config", str(SMOKE), "--out", str(tmp_path / "run"), "--stage", "teacher",
                       "--no-progress", f"data.cache_dir={cache}", *BACKBONE, "teacher.freeze_backbone=true"])
    assert code == 2
    assert "teacher.pretrained_backbone=PATH" in capsys.readouterr().err
    assert not (tmp_path / "run" / "teacher.safetensors").exists()


def test_distilling_the_standin_clip_moves_its_embedding_into_the_backbone(tmp_path, cache):
    """--distill-clip with the shipped stand-in: the backbone's pooled features, through a linear
    head, learn the CLIP's normalised embedding of each synthetic frame (1 - cosine falls below
    what the embeddings' common direction alone would give), and the file is an ordinary
    torchvision checkpoint."""
    import json

    import numpy as np

    from tcvads_ros.data import synthetic as syn
    from tcvads_ros.runtime.frames import resize_rgb
    from tcvads_ros.training import standin_clip

    synth = syn.SynthConfig(videos=6, seed=5, width=128, height=96, frames=64, abnormal_share=1.0, test_share=0.5)
    frames = np.stack([np.stack([resize_rgb(f, (64, 64)) for f in syn.render_frames(plan, synth, only={20, 40})])
                       for plan in syn.plan_benchmark(synth)])
    clip_dir = standin_clip.shipped_standin()
    clip = standin_clip.load_standin(clip_dir)
    targets = pretrain_backbone.clip_targets(frames, clip)
    assert targets.shape == (6, 2, 64)
    torch.testing.assert_close(targets.norm(dim=-1), torch.ones(6, 2))
    flat = targets.reshape(-1, 64)
    constant = float(1 - (flat @ torch.nn.functional.normalize(flat.mean(0), dim=0)).mean())
    cfg = pretrain_backbone.PretrainConfig(steps=40, batch_size=12, lr=3e-3)
    _, losses = pretrain_backbone.distill_clip(frames, 0.25, (0.5,) * 3, (0.25,) * 3, clip, cfg, progress=False)
    assert np.mean(losses[-5:]) < 0.5 * constant, (losses[-5:], constant)
    out = tmp_path / "distilled.safetensors"
    code = pretrain_backbone.main(["--config", str(SMOKE), "--out", str(out), "--cache", str(cache), "--steps", "2",
                                   "--batch-size", "4", "--no-progress", "--distill-clip", str(clip_dir), *BACKBONE])
    assert code == 0 and "features.0.0.weight" in load_file(str(out))
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["objective"] == "distill-clip" and report["clip_sha256"]


def test_a_folder_that_is_no_standin_is_refused_before_any_work(tmp_path, capsys):
    code = pretrain_backbone.main(["--config", str(SMOKE), "--out", str(tmp_path / "b.safetensors"),
                                   "--distill-clip", str(tmp_path), "--no-progress", *BACKBONE])
    assert code != 0 and "not a stand-in CLIP folder" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()
