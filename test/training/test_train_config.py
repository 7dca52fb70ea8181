# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Training configs: ``extends`` merges a file over another; the demo's config is the smoke run
with more data and steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcvads_ros.errors import ConfigError
from tcvads_ros.training.train_config import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "config" / "train"


def test_extends_merges_section_by_section():
    smoke, demo = load_config(CONFIGS / "smoke.yaml"), load_config(CONFIGS / "demo.yaml")
    assert demo.data.synth.videos == 192 and demo.data.synth.fps == smoke.data.synth.fps  # merged, not replaced
    assert demo.teacher.model["backbone"] == {"preset": "tiny", "input_size": 64, "feature_dim": 1280}
    assert demo.teacher.model["rwkv_dim"] == smoke.teacher.model["rwkv_dim"]
    assert demo.fine.model["n_ctx"] == smoke.fine.model["n_ctx"] and demo.fine.optim.epochs == 15
    assert demo.fine.model["clip_model"] != smoke.fine.model["clip_model"]  # the shipped stand-in
    assert demo.fine.optim.lr == smoke.fine.optim.lr


def test_extends_resolves_paths_from_each_file_and_refuses_loops(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="loops back"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text(f"extends: {CONFIGS / 'smoke.yaml'}\nseed: 3\n")
    cfg = load_config(tmp_path / "sub" / "c.yaml")
    assert cfg.seed == 3 and str(CONFIGS / "clip-tiny") in cfg.fine.model["clip_model"]
    (tmp_path / "sub" / "d.yaml").write_text("extends: c.yaml\nfine:\n  model: {checkpoint: ../w/clip.safetensors}\n")
    assert load_config(tmp_path / "sub" / "d.yaml").fine.model["checkpoint"] == str(tmp_path / "w" / "clip.safetensors")


def test_top_m_has_one_home():
    with pytest.raises(ConfigError, match="unknown configuration key 'fine.top_m'"):
        load_config(CONFIGS / "smoke.yaml", ["fine.top_m=2"])


def test_relative_path_overrides_are_stored_absolute(tmp_path, monkeypatch):
    """A relative path typed as an override means the file from where it was typed, also when the
    run's config.yaml is read again elsewhere (--resume, evaluate, interpret)."""
    monkeypatch.chdir(tmp_path)
    cfg = load_config(CONFIGS / "smoke.yaml", ["fine.model.checkpoint=w/clip.safetensors",
                                                "fine.model.clip_model=local-dir:arch",
                                                "data.cache_dir=cache", "teacher.pretrained_backbone=null"])
    assert cfg.fine.model["checkpoint"] == str(tmp_path / "w" / "clip.safetensors")
    assert cfg.fine.model["clip_model"] == f"local-dir:{tmp_path / 'arch'}"
    assert cfg.data.cache_dir == tmp_path / "cache" and cfg.teacher.pretrained_backbone is None
    assert load_config(CONFIGS / "smoke.yaml", ["fine.model.clip_model=ViT-B-16"]).fine.model["clip_model"] == "ViT-B-16"


@pytest.mark.parametrize("name,window", [("xd.yaml", 256), ("ucf.yaml", 32), ("xd-videos.yaml", 256),
                                         ("ucf-videos.yaml", 32)])
def test_the_papers_rwkv_windows_are_in_the_dataset_configs(name, window):
    """§V.B: "the window length in the RWKV module is 256 for XD-Violence and 32 for UCF-Crime"."""
    from tcvads_ros.models.registry import model_config

    cfg = load_config(CONFIGS / name)
    assert model_config("fine", cfg.fine.model).window == window
