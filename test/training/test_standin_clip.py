# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The stand-in CLIP maker: trains on the train split's captions, saves an open_clip folder the
fine stage loads unchanged, measures zero-shot on the test split."""

import json

import numpy as np
import pytest
import torch

from tcvads_ros import cli
from tcvads_ros.data import synthetic as syn
from tcvads_ros.errors import ConfigError, DataError
from tcvads_ros.models.captions import CaptionBank
from tcvads_ros.models.fine import FineConfig, FineStage
from tcvads_ros.runtime.bundle import sha256
from tcvads_ros.training import standin_clip

torch.set_num_threads(1)
SYNTH = syn.SynthConfig(videos=6, seed=4, width=96, height=72, frames=48, fps=12.0, abnormal_share=0.7,
                        test_share=0.34)
TINY = {"embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("standin")
    model_dir = root / "arch"
    model_dir.mkdir()
    (model_dir / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY}))
    syn.generate(root / "bench", SYNTH, progress=False)
    cfg = standin_clip.PretrainConfig(steps=6, batch_size=8, warmup=2)
    report = standin_clip.pretrain(root / "clip", benchmark=root / "bench", model_dir=model_dir, cfg=cfg,
                                   progress=False)
    return root, report


def test_trains_on_the_train_split_and_measures_on_the_test_split(made):
    root, report = made
    plans = syn.plan_benchmark(SYNTH)
    snippets = SYNTH.frames // 16
    assert report["train_pairs"] == snippets * sum(p.split == "train" for p in plans)
    zero = report["zero_shot"]
    assert zero["frames"] == snippets * sum(p.split == "test" for p in plans)
    assert np.asarray(zero["confusion"]).sum() == zero["frames"]
    assert 0.0 <= zero["accuracy"] <= 1.0 and zero["prompt"] == "a photo of {}"
    assert json.loads((root / "clip" / "standin.json").read_text())["train_seconds"] >= 0
    assert (root / "clip" / "zero_shot_confusion.png").stat().st_size > 0


def test_the_fine_stage_loads_it_like_downloaded_weights(made):
    from safetensors.torch import load_file

    root, _ = made
    folder = root / "clip"
    overrides = dict(o.split("=", 1) for o in standin_clip.fine_overrides(folder))
    torch.manual_seed(99)
    fine = FineStage(FineConfig(clip_model=overrides["fine.model.clip_model"],
                                checkpoint=overrides["fine.model.checkpoint"], n_ctx=2),
                     ["Normal", "Riot"], CaptionBank(["a riot"]))
    saved = load_file(str(folder / standin_clip.WEIGHTS))
    for name, value in fine.clip.state_dict().items():
        assert torch.equal(value, saved[name]), name
    assert fine.input_size == (32, 32) and fine.embed_dim == 16


def test_contrastive_training_lowers_the_loss(tmp_path):
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY}))
    model, tokenizer = standin_clip.build_model(tmp_path)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (16, 32, 32, 3), dtype=np.uint8)
    texts = [f"caption number {i} of a scene" for i in range(16)]
    classes = ["Normal"] * 8 + ["Riot"] * 8
    history = standin_clip.train_clip(model, tokenizer, frames, texts, classes,
                                      standin_clip.PretrainConfig(steps=25, batch_size=16, warmup=1, lr=3e-3),
                                      progress=False)
    assert np.mean(history[-5:]) < 0.8 * np.mean(history[:3])


def test_drawn_scenes_pair_each_snippet_first_frame_with_its_caption(tmp_path):
    """Without --benchmark: the split's videos drawn in memory (two worker processes), each
    snippet's first frame at the CLIP's size with the caption tcvads synth would write."""
    from tcvads_ros.runtime.frames import resize_rgb

    frames, texts, classes = standin_clip.render_split(SYNTH, "train", 32, workers=2, progress=False)
    plans = [p for p in syn.plan_benchmark(SYNTH) if p.split == "train"]
    snippets = SYNTH.frames // 16
    assert frames.shape == (snippets * len(plans), 32, 32, 3) and frames.dtype == np.uint8
    first = plans[0]
    video = syn.render_video(first, SYNTH)
    for s in range(snippets):
        np.testing.assert_array_equal(frames[s], resize_rgb(video[16 * s], (32, 32)))
    assert texts[:snippets] == syn.snippet_captions(first, SYNTH)
    expected = standin_clip.snippet_classes(list(first.episodes), snippets)
    assert classes[:snippets] == expected
    inline = standin_clip.render_split(SYNTH, "train", 32, workers=1, progress=False)
    np.testing.assert_array_equal(inline[0], frames)


def test_stored_as_float16_with_its_hash_and_never_over_an_existing_one(made):
    from safetensors import safe_open

    root, report = made
    weights = root / "clip" / standin_clip.WEIGHTS
    with safe_open(str(weights), "pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
    assert torch.float16 in dtypes and torch.float32 not in dtypes
    assert report["weights_sha256"] == sha256(weights)
    before = weights.read_bytes()
    with pytest.raises(ConfigError, match="--overwrite"):
        standin_clip.pretrain(root / "clip", benchmark=root / "bench", progress=False)
    assert weights.read_bytes() == before


def test_the_shipped_standin_is_what_the_command_makes_with_its_defaults():
    """models/clip-standin: made by `tcvads pretrain-clip` with today's defaults (a change of
    recipe without remaking it fails here), its hash as recorded, and the demo stands on it."""
    from dataclasses import asdict

    from tcvads_ros.config_files import config_file
    from tcvads_ros.configuration import from_mapping
    from tcvads_ros.data.synthetic import GENERATOR_VERSION, SynthConfig
    from tcvads_ros.training.train_config import load_config

    folder = standin_clip.shipped_standin()
    report = json.loads((folder / standin_clip.REPORT).read_text())
    assert report["config"] == asdict(standin_clip.PretrainConfig())
    # The recorded benchmark options read as today's defaults (options added since, such as
    # audio, at their defaults: the same recipe).
    assert from_mapping(SynthConfig, report["synth"]) == standin_clip.DEFAULT_SYNTH
    assert report["generator_version"] == GENERATOR_VERSION  # drawn by today's generator
    arch = config_file("train/clip-standin") / standin_clip.MODEL_CONFIG
    assert report["model_config"] == json.loads(arch.read_text())
    assert json.loads((folder / standin_clip.MODEL_CONFIG).read_text()) == report["model_config"]
    assert sha256(folder / standin_clip.WEIGHTS) == report["weights_sha256"]
    assert report["zero_shot"]["balanced_accuracy"] > 2 * report["zero_shot"]["chance"]
    fine = load_config(config_file("train/demo.yaml")).fine.model
    assert fine["clip_model"] == f"local-dir:{folder.resolve()}"
    assert fine["checkpoint"] == str((folder / standin_clip.WEIGHTS).resolve())


def test_a_bad_standin_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not a stand-in CLIP folder"):
        standin_clip.load_standin(tmp_path)
    (tmp_path / standin_clip.MODEL_CONFIG).write_text(json.dumps({"model_cfg": TINY}))
    (tmp_path / standin_clip.WEIGHTS).write_bytes(b"not a safetensors file")
    with pytest.raises(ConfigError, match="cannot load the stand-in CLIP"):
        standin_clip.load_standin(tmp_path)
    with pytest.raises(ConfigError, match="holds weights"):  # would not train from scratch
        standin_clip.build_model(tmp_path)


def test_a_benchmark_without_captions_is_refused(made, tmp_path):
    root, _ = made
    bench = tmp_path / "bench"
    bench.mkdir()
    for name in ("train.csv", "test.csv"):
        (bench / name).write_text((root / "bench" / name).read_text())
    with pytest.raises(DataError, match="captions.jsonl"):
        standin_clip.pretrain(tmp_path / "out", benchmark=bench, progress=False)


def test_command_line_parses():
    parser = cli.build_parser("pretrain-clip")
    args = parser.parse_args(["pretrain-clip", "out", "--steps", "5", "--benchmark", "b"])
    assert args.steps == 5 and str(args.benchmark) == "b"
