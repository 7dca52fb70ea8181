# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""training/interpret.py end to end on a tiny run, and its heat-map and perturbation parts."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from tcvads_ros.configuration import to_mapping
from tcvads_ros.data.synthetic import SynthConfig, generate, plan_benchmark, render_video
from tcvads_ros.models.mobilenet import FramePreprocess
from tcvads_ros.models.registry import create_model
from tcvads_ros.runtime.heatmap import frame_heat, overlay
from tcvads_ros.training import coarse, feature_maps, fine_stage, heatmap_figures, interpret
from tcvads_ros.training.run_folder import RunFolder
from tcvads_ros.training.train_config import config_mapping, load_config

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run folder like training/train.py writes (untrained tiny models, smoke config, 6 videos)."""
    run = tmp_path_factory.mktemp("interpret") / "run"
    cfg = load_config(REPO / "config" / "train" / "smoke.yaml",
                      ["data.synth.videos=6", "data.synth.frames=48", "data.val_fraction=0.5"])
    folder = RunFolder(run)
    folder.path("config.yaml").write_text(yaml.safe_dump(config_mapping(cfg), sort_keys=False))
    torch.manual_seed(0)
    teacher = create_model(coarse.TEACHER, **cfg.teacher.model)
    folder.save_model("teacher", teacher, coarse.TEACHER, to_mapping(teacher.cfg))
    student = coarse.new_student(cfg.student, teacher, torch.device("cpu"))
    folder.save_model("student", student, coarse.STUDENT, to_mapping(student.cfg),
                      coarse.student_extras(student, 2.5, True))
    fine, args = fine_stage.build_fine(cfg)
    folder.save_model("fine", fine, fine_stage.FINE, to_mapping(fine.cfg),
                      {"model_args": {"class_names": args["class_names"], "captions": args["captions"]}})
    return run


def _check_outputs(out, frame_size):
    result = json.loads((out / "interpretability.json").read_text())
    for name in ("fig6_heatmaps.png", "fig7_heatmaps_0.png", "fig8_tsne.png"):
        assert (out / name).stat().st_size > 1000, name
    r2 = result["surrogate_r2"]
    assert r2["paper_table_ix_x100"] == {"coarse": 64.8, "fine": 53.7}
    for stage in ("coarse", "fine"):
        values = [v["r2"] for v in r2[stage]["per_video"]]
        assert len(values) == len(result["videos"])
        assert all(v is None or v <= 1.0 for v in values)  # None: the model ignored every part
    assert result["settings"]["samples"] == 30 and result["settings"]["surrogate"]["kernel_width"] == 0.25
    clip = result["heatmaps"]["clips"][0]
    assert clip["frame_size"] == list(frame_size)
    assert set(result["heatmaps"]["localisation"]) == {"teacher", "student"}  # synthetic: pixels known
    assert result["feature_maps"]["tcvads"]["snippets"] > 0
    bound = result["gradient_bound"]  # Exp. (7), per backbone and stage
    assert "does not show" in bound["what_it_shows"]
    for stage in ("teacher", "student"):
        assert bound[stage]["of_stages"] == 7 and len(bound[stage]["stages"]) == 7
        assert all(s["conv_sq"] > 0 for s in bound[stage]["stages"])
    return result


def test_cli_explains_the_runs_validation_videos(tiny_run, tmp_path):
    out = tmp_path / "out"
    code = interpret.main([str(tiny_run), "--out", str(out), "--videos", "2", "--samples", "30",
                           "--no-progress"])
    assert code == 0
    result = _check_outputs(out, (48, 64))
    assert "validation" in result["data"]
    assert any("label_A" not in v for v in result["videos"])  # an abnormal one, for the heat maps


def test_cli_reads_a_synth_folder_given_as_data(tiny_run, tmp_path):
    """Another data set than the run's: `tcvads synth` output (its meta.json gives the plan)."""
    generate(tmp_path / "synth", SynthConfig(videos=6, seed=1, width=64, height=48, frames=48),
             progress=False)
    out = tmp_path / "out"
    code = interpret.main([str(tiny_run), "--out", str(out), "--data", str(tmp_path / "synth"),
                           "--videos", "1", "--samples", "30", "--no-progress"])
    assert code == 0
    result = _check_outputs(out, (48, 64))
    assert result["data"].endswith("test.csv")
    assert (out / "cache").is_dir()  # the test videos were cached under OUT_DIR


def test_cli_errors_name_the_problem(tmp_path, capsys):
    assert interpret.main([str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "config.yaml" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        interpret.main([str(tmp_path), "--out", str(tmp_path / "o"), "--videos", "0"])


class _Recorder(nn.Module):
    """A frames-mode coarse "model" that records its input and scores nothing."""

    def __init__(self):
        super().__init__()
        self.backbone = SimpleNamespace(cfg=SimpleNamespace(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)))
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return torch.zeros(x.shape[:2])


def test_coarse_perturbation_blurs_exactly_the_switched_off_snippets_and_cells():
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    model = _Recorder()
    predict, n_parts = interpret.coarse_predictor(model, clip, "both", 2, torch.device("cpu"))
    assert n_parts == 3 + 4
    masks = np.ones((3, n_parts), np.uint8)
    masks[1, 1] = 0  # snippet 1 off
    masks[2, 3 + 1] = 0  # cell (row 0, column 1) off in every frame
    predict(masks)
    pre = FramePreprocess((0.5,) * 3, (0.25,) * 3)
    original = pre(torch.from_numpy(clip))
    seen = model.seen[0]
    assert torch.equal(seen[0], original)
    changed = (seen[1] != original).any(dim=1)  # (W, s, s) pixels changed
    assert changed[1].float().mean() > 0.9 and not changed[[0, 2]].any()
    changed = (seen[2] != original).any(dim=1)
    assert changed[:, :8, 8:].float().mean() > 0.9
    changed[:, :8, 8:] = False
    assert not changed.any()


def test_synthetic_masks_cover_the_drawn_anomaly_only_in_its_frames():
    cfg = SynthConfig(videos=2, width=64, height=48, frames=48, abnormal_share=0.5)
    plan = next(p for p in plan_benchmark(cfg) if p.episodes)
    seg = plan.episodes[0]
    inside, outside = (seg.start + seg.end) // 2, (seg.end if seg.end < cfg.frames else seg.start - 1)
    masks = heatmap_figures.synthetic_anomaly_masks(plan, cfg, [inside, outside])
    assert masks.shape == (2, 48, 64)
    assert masks[0].any() and not masks[1].any()
    with_layer, without = render_video(plan, cfg, True)[inside], render_video(plan, cfg, False)[inside]
    assert np.array_equal(masks[0], np.abs(with_layer.astype(int) - without).sum(-1) > heatmap_figures.MASK_THRESHOLD)


def _blob_frames(rng, n, height=60, width=80, radius=7):
    """A bright moving blob (the anomaly) on a plain noisy background; frames and blob masks."""
    frames = np.full((n, height, width, 3), 90, np.uint8) + rng.integers(0, 12, (n, height, width, 3),
                                                                          dtype=np.uint8)
    yy, xx = np.mgrid[:height, :width]
    masks = np.zeros((n, height, width), bool)
    for i in range(n):
        cy, cx = rng.integers(radius, height - radius), rng.integers(radius, width - radius)
        masks[i] = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius * radius
        frames[i][masks[i]] = (250, 240, 60)
    return frames, masks


def test_heat_maps_have_the_frame_size_and_peak_on_a_learned_anomaly():
    """The heat-map path (resize to the backbone, preprocess, CAM, frame-size map, peak) on an
    easy case: a tiny backbone trained for a few steps so that its deconvolution maps respond
    to the blob. Frames are not square and not the input size, so a wrong resize or a swapped
    x/y would put the peak elsewhere. (Whether weak video labels alone teach the CAM to
    localise is a property of the model and its training, measured by interpret.py's
    localisation scores, not asserted here.)"""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    backbone = create_model("mobilenet", preset="tiny", feature_dim=16, cam_stages=6)
    test_frames, regions = _blob_frames(np.random.default_rng(1), 16)

    def hit_rate():
        found = [heatmap_figures.localise(c, r) for c, r in zip(heatmap_figures.backbone_cams(backbone, test_frames), regions)]
        return np.mean([f.hit for f in found]), np.mean([f.mass_inside / f.region_share for f in found])

    untrained_hits, _ = hit_rate()
    preprocess = FramePreprocess(backbone.cfg.mean, backbone.cfg.std, size=32)
    optimizer = torch.optim.Adam(backbone.parameters(), lr=3e-3)
    backbone.train()
    for _ in range(30):
        frames, masks = _blob_frames(rng, 16)
        cam = backbone.cam_from_maps(backbone.forward_with_maps(preprocess(torch.from_numpy(frames)))[1])
        target = nn.functional.adaptive_avg_pool2d(torch.from_numpy(masks).float()[:, None], cam.shape[-2:])[:, 0]
        loss = (cam * (1 - target)).sum() / (1 - target).sum() - (cam * target).sum() / target.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    hits, concentration = hit_rate()
    assert hits >= 14 / 16 and hits > untrained_hits
    assert concentration > 4  # the region holds > 4x its area share of the heat
    cam = heatmap_figures.backbone_cams(backbone, test_frames[:1])[0]
    assert cam.shape != test_frames.shape[1:3]  # the CAM is low resolution ...
    assert frame_heat(cam, 60, 80).shape == (60, 80)  # ... the heat map has the frame's size
    assert overlay(test_frames[0], cam).shape == test_frames[0].shape


def test_snippet_classes_follow_the_segment_covering_most_of_each_snippet():
    segments, labels = [(20, 50), (0, 100)], ["Fighting", "A"]
    # snippet 1 = frames [16, 32): 12 of 16 frames fighting; snippet 3 = [48, 64): 2 of 16
    assert feature_maps.snippet_classes(5, segments, labels) == [
        "Normal", "Fighting", "Fighting", "Normal", "Normal"]


def test_feature_scores_tell_separated_classes_from_mixed_ones():
    rng = np.random.default_rng(0)
    names = ["Normal", "Fighting", "Riot"]
    text = np.eye(3, 8)
    classes = [names[i % 3] for i in range(60)]
    separated = np.stack([text[i % 3] + 0.05 * rng.normal(size=8) for i in range(60)])
    mixed = rng.normal(size=(60, 8))
    good = feature_maps.FeatureSet("a", separated, classes, text, names).scores()
    bad = feature_maps.FeatureSet("b", mixed, classes, text, names).scores()
    assert good["nearest_text_balanced_accuracy"] == 1.0 and good["silhouette"] > 0.8
    assert bad["silhouette"] < 0.1 and bad["nearest_text_balanced_accuracy"] < 0.7
