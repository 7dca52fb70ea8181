# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The audio branch's training side: the audio cache holds the runtime's feature rule's patches,
the datasets resample and chunk sound exactly as snippets, the configuration refuses what cannot
work, modality dropout, and a tiny run with sound trains and exports a bundle that hears (ONNX
Runtime, the torch backend and the student agreeing)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tcvads_ros.data import annotations as ann
from tcvads_ros.data.synthetic import SynthConfig, generate
from tcvads_ros.data.synthetic_audio import read_wav, write_wav
from tcvads_ros.errors import ConfigError
from tcvads_ros.runtime.audio_features import AudioSpec, snippet_log_mels
from tcvads_ros.training import audio_cache, feature_datasets
from tcvads_ros.training.coarse import AudioDropout
from tcvads_ros.training.train_config import AudioDropoutConfig, load_config

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "config" / "train" / "smoke.yaml"
SPEC = AudioSpec()
# smoke.yaml with sound, each stage one epoch: the shortest run through every audio path
AUDIO = ["data.synth.audio=true", "data.audio=true", "teacher.optim.epochs=1", "student.optim.epochs=1",
         "teacher.model.audio={embedding_dim: 8, channels: 4, fusion: topk_window}",
         "student.model.audio={embedding_dim: 4, channels: 4}", "student.temperature_search.enabled=false"]


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory) -> Path:
    """Four videos of 64 frames (4 snippets) with sound."""
    folder = tmp_path_factory.mktemp("synth-audio")
    generate(folder, SynthConfig(videos=4, seed=3, width=64, height=48, frames=64, test_share=0.5, audio=True),
             progress=False)
    return folder


def test_the_audio_cache_holds_the_runtime_rules_patches(benchmark, tmp_path):
    summary = audio_cache.cache_audio(benchmark / "train.csv", tmp_path / "audio", SPEC, progress=False)
    entries = feature_datasets.read_feature_entries(summary.list_path)
    assert summary.written == len(entries) == 2 and summary.skipped == 0
    for entry in entries:
        patches, coverage = audio_cache.load_patches(entry.path)
        samples, rate = read_wav(benchmark / "videos" / f"{entry.name}.wav")
        want, cover = snippet_log_mels(samples, np.arange(4) * 16 / 24.0, SPEC)  # stamps 16 s / fps
        np.testing.assert_array_equal(patches, want)
        np.testing.assert_array_equal(coverage, cover)
        assert coverage[0] == 0 and np.all(coverage[1:] == 1)  # the first window ends at the video's start
    again = audio_cache.cache_audio(benchmark / "train.csv", tmp_path / "audio", SPEC, progress=False)
    assert again.written == 0 and again.skipped == 2
    # a video without a WAV beside it is cached as unheard
    video = next(benchmark.glob("videos/*.avi"))
    lonely = tmp_path / "lonely" / "videos"
    lonely.mkdir(parents=True)
    os.symlink(video, lonely / video.name)
    ann.write_feature_list(tmp_path / "lonely" / "list.csv", [ann.ListEntry(f"videos/{video.name}", "A")])
    out = audio_cache.cache_audio(tmp_path / "lonely" / "list.csv", tmp_path / "lonely-audio", SPEC, progress=False)
    patches, coverage = audio_cache.load_patches(feature_datasets.read_feature_entries(out.list_path)[0].path)
    assert patches.shape == (4, SPEC.n_mels, SPEC.mel_frames) and not coverage.any()


def test_a_track_at_another_rate_is_resampled_to_the_rule(benchmark, tmp_path):
    video = next(benchmark.glob("videos/*.avi"))
    samples, rate = read_wav(video.with_suffix(".wav"))
    (tmp_path / "videos").mkdir()
    os.symlink(video, tmp_path / "videos" / video.name)
    write_wav(tmp_path / "videos" / f"{video.stem}.wav", (samples[::2] * 32767).astype(np.int16), rate // 2)
    low, _ = audio_cache.video_patches(tmp_path / "videos" / video.name, SPEC)
    full, _ = audio_cache.video_patches(video, SPEC)
    bands = SPEC.n_mels // 2  # the low half of the mel bands lies below 4 kHz, the lower rate's limit
    assert np.median(np.abs(low[1:, :bands] - full[1:, :bands])) < 1.0  # log energies, a few dB apart at most


def _frames_and_sound(tmp_path: Path, snippets: int) -> tuple[Path, Path]:
    """A cached-frames list and an audio list of one video whose snippet s is drawn as the
    number s (grey level s in the frame, s in the patch), heard from snippet 1 on."""
    frames = np.stack([np.full((4, 4, 3), s, np.uint8) for s in range(snippets)])
    patches = np.stack([np.full((SPEC.n_mels, SPEC.mel_frames), s, np.float32) for s in range(snippets)])
    coverage = np.minimum(np.arange(snippets), 1).astype(np.float32)
    name = "v_label_B1-0-0__0.npy"
    for folder in ("frames", "audio"):
        (tmp_path / folder).mkdir()
    np.save(tmp_path / "frames" / name, frames)
    np.save(tmp_path / "audio" / name, patches)
    np.save(audio_cache.coverage_path(tmp_path / "audio" / name), coverage)
    for folder in ("frames", "audio"):
        ann.write_feature_list(tmp_path / folder / "list.csv", [ann.ListEntry(name, "B1-0-0")])
    return tmp_path / "frames" / "list.csv", tmp_path / "audio" / "list.csv"


@pytest.mark.parametrize("snippets", [5, 21])
def test_sound_is_resampled_and_chunked_exactly_as_the_snippets(tmp_path, snippets):
    frames, sound = _frames_and_sound(tmp_path, snippets)
    train = feature_datasets.FeatureTrainDataset(frames, ann.XD_CLASSES, length=8, arrays="frames", audio_list=sound)
    item = train[0]
    shown = item["x"][:, 0, 0, 0].astype(np.float32)
    assert item["audio"].shape == (8, SPEC.n_mels, SPEC.mel_frames) and item["heard"].shape == (8,)
    np.testing.assert_array_equal(item["audio"][:, 0, 0], shown)  # the same rows kept (or padded)
    valid = np.arange(8) < item["length"]
    np.testing.assert_array_equal(item["heard"], (shown > 0) & valid)  # snippet 0 unheard, padding unheard
    batch = feature_datasets.collate_train([item, item])
    assert batch["audio"].shape == (2, 8, SPEC.n_mels, SPEC.mel_frames) and batch["heard"].shape == (2, 8)
    test = feature_datasets.FeatureTestDataset(frames, ann.XD_CLASSES, length=8, arrays="frames", audio_list=sound)
    chunks = test[0]
    np.testing.assert_array_equal(chunks["audio_chunks"][..., 0, 0], chunks["chunks"][..., 0, 0, 0])
    out = feature_datasets.collate_test([chunks])
    assert out["audio_chunks"].shape[:2] == out["chunks"].shape[:2] == out["heard_chunks"].shape


def test_a_header_announcing_more_snippets_than_decoded_is_fitted_with_unheard_ones():
    patches, heard = audio_cache.fit_snippets(np.ones((3, 2, 2), np.float32), np.array([0, 1, 0.5], np.float32), 5)
    np.testing.assert_array_equal(heard, [0, 1, 1, 0, 0])
    assert patches.shape == (5, 2, 2) and not patches[3:].any()
    assert audio_cache.fit_snippets(patches, heard, 2)[0].shape == (2, 2, 2)


@pytest.mark.parametrize("overrides,message", [
    (["teacher.model.audio={}"], "data.audio is false"),
    (["data.audio=true", "student.model.audio={}"], "data.synth.audio=true"),
    (["data.audio={n_mels: 32}", "data.synth.audio=true", "teacher.model.audio={}"], "n_mels"),
    (["data.audio={bands: 3}", "data.synth.audio=true", "teacher.model.audio={}"], "data.audio.bands"),
    (["data.audio={fmax: 9000}", "data.synth.audio=true", "teacher.model.audio={}"], "fmax"),
])
def test_an_audio_branch_without_usable_sound_is_refused(overrides, message):
    from tcvads_ros.models.registry import create_model
    from tcvads_ros.training.stages import check_audio

    cfg = load_config(SMOKE, overrides)
    models = {"teacher": create_model("afed", **cfg.teacher.model),
              "student": create_model("qacm_student", **cfg.student.model)}
    with pytest.raises(ConfigError, match=message):
        check_audio(cfg, models)


def test_modality_dropout_takes_whole_videos_and_single_snippets():
    heard = torch.ones(4000, 10)
    kept, dropped = AudioDropout(AudioDropoutConfig(video=0.25, snippet=0.1), seed=0)(heard)
    assert torch.all(kept[dropped] == 0)
    assert abs(dropped.float().mean().item() - 0.25) < 0.03
    assert abs(1 - kept[~dropped].mean().item() - 0.1) < 0.01
    again, _ = AudioDropout(AudioDropoutConfig(video=0.25, snippet=0.1), seed=0)(heard)
    assert torch.equal(kept, again)
    assert AudioDropout(AudioDropoutConfig(), seed=0)(None) == (None, None)


def test_a_benchmark_with_sound_is_reused_as_version_3(tmp_path):
    from tcvads_ros.data.synthetic import AUDIO_VERSION
    from tcvads_ros.training.experiment import prepare_synthetic
    from tcvads_ros.training.train_config import DataConfig

    cfg = DataConfig(kind="synthetic", synth=SynthConfig(videos=2, width=64, height=48, frames=32, audio=True))
    folder = prepare_synthetic(cfg, tmp_path / "synthetic", progress=False)
    made = sorted(p.stat().st_mtime_ns for p in (folder / "videos").iterdir())
    assert len(made) == 4  # two videos, two WAVs
    assert prepare_synthetic(cfg, folder, progress=False) == folder
    assert sorted(p.stat().st_mtime_ns for p in (folder / "videos").iterdir()) == made
    assert (folder / "meta.json").read_text().count(f'"generator_version": {AUDIO_VERSION}') == 1


def _train(out: Path, stage: str, cache: Path) -> None:
    from tcvads_ros.training import train

    parser = argparse.ArgumentParser()
    train.configure_parser(parser)
    train.train(parser.parse_args(["--config", str(SMOKE), "--out", str(out), "--stage", stage, "--no-progress",
                                   f"data.cache_dir={cache}", *AUDIO]))


def test_a_run_with_sound_exports_a_bundle_that_hears(tmp_path):
    from tcvads_ros.models.registry import create_model
    from tcvads_ros.runtime.backends import create_backend
    from tcvads_ros.runtime.bundle import AUDIO_GRAPH, Bundle
    from tcvads_ros.training.export import export_bundle, load_run, source_run_modules
    from tcvads_ros.training.run_folder import RunFolder

    run_dir = tmp_path / "run"
    for stage in ("teacher", "student"):
        _train(run_dir, stage, tmp_path / "cache")
    run = RunFolder(run_dir)
    info = run.info("student")
    assert info.audio == AudioSpec(embedding_dim=4).to_dict()
    fine_cfg = {"clip_model": f"local-dir:{REPO / 'config/train/clip-tiny'}", "n_ctx": 4, "top_m": 2}
    model_args = {"class_names": list(ann.XD_CLASSES), "captions": ["a street", "a fight"]}
    run.save_model("fine", create_model("fine", **fine_cfg, **model_args), "fine", fine_cfg,
                   {"model_args": model_args, "clip_snippets": 4})
    bundle = export_bundle(*load_run(run_dir), tmp_path / "bundle")  # ONNX checked against torch in there
    assert Bundle.load(bundle.root).audio == AudioSpec(embedding_dim=4)
    assert AUDIO_GRAPH in bundle.graphs and AUDIO_GRAPH in bundle.coarse_graphs
    assert any("drawings of sound" in limit for limit in bundle.card.limitations)
    student = run.load_stage("student")
    assert student.qacm.input_dim == bundle.manifest.feature_dim + 4

    # the edge's rule, ONNX Runtime and the torch backend: the audio graph on the heard snippets,
    # zeros for the others, beside the visual features into the QACM, equals the student
    rng = np.random.default_rng(0)
    mel = (rng.standard_normal((1, 6, SPEC.n_mels, SPEC.mel_frames)) * 3 - 6).astype(np.float32)
    heard = np.array([[0, 1, 1, 1, 0, 1]], np.float32)
    visual = rng.standard_normal((1, 6, bundle.manifest.feature_dim)).astype(np.float32)
    with torch.no_grad():
        want = torch.sigmoid(student.score(torch.from_numpy(visual), torch.from_numpy(mel),
                                           torch.from_numpy(heard))).numpy()
    for backend in (create_backend("onnxruntime", bundle), create_backend("torch", bundle,
                                                                           modules=source_run_modules(bundle))):
        audio = np.zeros((1, 6, 4), np.float32)
        audio[heard > 0] = backend.run(AUDIO_GRAPH, {"mel": mel[heard > 0]})["features"]
        got = backend.run("coarse_qacm", {"features": np.concatenate([visual, audio], axis=-1)})["scores"]
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_the_shipped_audio_demo_bundle_hears_and_says_what_it_learnt():
    from tcvads_ros.runtime.bundle import AUDIO_GRAPH, Bundle

    bundle = Bundle.load(REPO / "models" / "demo-audio-bundle")  # hashes and card checked
    assert bundle.audio == AudioSpec(embedding_dim=16) and AUDIO_GRAPH in bundle.coarse_graphs
    assert bundle.card.trained_on["generator_version"] == 3 and bundle.card.trained_on["sound"]
    assert any("drawings of sound" in limit for limit in bundle.card.limitations)
    assert bundle.card.made_by["command"] == "tcvads export runs/demo-audio --out models/demo-audio-bundle"
