# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the training data modules: feature lists, loading, labels and datasets
(feature_datasets), 256 resampling/chunking (resampling), ground truth (ground_truth: small
hand-written and the real annotation files) and raw-video caching (frame_cache: small videos
written here with OpenCV)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from tcvads_ros.data import annotations as ann
from tcvads_ros.errors import ConfigError, DataError
from tcvads_ros.training import feature_datasets, frame_cache, ground_truth, resampling

# ---------------------------------------------------------------------------------------------
# Lists and loading
# ---------------------------------------------------------------------------------------------


def _write_list(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("path,label\n" + "".join(f"{p},{label}\n" for p, label in rows))
    return path


def _features(path, t, d=8, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(seed).standard_normal((t, d)).astype(np.float32)
    np.save(path, x)
    return x


def test_relative_and_absolute_paths_and_feature_root(tmp_path):
    lst = _write_list(
        tmp_path / "lists" / "test.csv",
        [("feats/Abuse028_x264__5.npy", "Abuse"), ("/elsewhere/v__0.npy", "Normal")],
    )
    entries = feature_datasets.read_feature_entries(lst)
    assert entries[0].path == tmp_path / "lists" / "feats" / "Abuse028_x264__5.npy"
    assert (entries[0].name, entries[0].crop, entries[0].label) == ("Abuse028_x264", 5, "Abuse")
    assert entries[1].path == Path("/elsewhere/v__0.npy")
    assert entries[1].source == f"{lst}:3"


def test_feature_root_remaps_vadclips_absolute_paths(vadclip_lists, tmp_path):
    entries = feature_datasets.read_feature_entries(
        vadclip_lists / "ucf_CLIP_rgbtest.csv", feature_root=tmp_path
    )
    assert len(entries) == 290
    assert entries[0].path == tmp_path / "Abuse" / "Abuse028_x264__5.npy"
    normal = [e for e in entries if e.label == "Normal"][0]
    assert normal.path.parent == tmp_path / "Testing_Normal_Videos_Anomaly"
    xd = feature_datasets.read_feature_entries(vadclip_lists / "xd_CLIP_rgbtest.csv", feature_root=tmp_path)
    assert all(e.path.parent == tmp_path and e.crop == 0 for e in xd)
    assert xd[0].name == "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6"


def test_write_local_list_reports_missing_files(vadclip_lists, tmp_path):
    _features(tmp_path / "feats" / "Abuse" / "Abuse028_x264__5.npy", 4)
    out = tmp_path / "ucf_test_local.csv"
    rows, missing = feature_datasets.write_local_list(
        vadclip_lists / "ucf_CLIP_rgbtest.csv", tmp_path / "feats", out
    )
    assert rows == 290 and len(missing) == 289
    local = feature_datasets.read_feature_entries(out)
    assert local[0].path == tmp_path / "feats" / "Abuse" / "Abuse028_x264__5.npy"
    assert feature_datasets.load_features(local[0].path).shape == (4, 8)
    assert [e.label for e in local] == [
        e.label for e in ann.read_feature_list(vadclip_lists / "ucf_CLIP_rgbtest.csv")
    ]


def test_select_crop(tmp_path):
    rows = [(f"a__{k}.npy", "Abuse") for k in range(10)] + [("b__0.npy", "Normal")]
    entries = feature_datasets.read_feature_entries(_write_list(tmp_path / "l.csv", rows))
    chosen = feature_datasets.select_crop(entries, 5)
    assert [(e.name, e.crop) for e in chosen] == [("a", 5), ("b", 0)]
    entries = feature_datasets.read_feature_entries(_write_list(tmp_path / "m.csv", rows[:3]))
    with pytest.raises(DataError, match=r"m.csv:2: video 'a' is listed 3 times"):
        feature_datasets.select_crop(entries, 5)


def test_load_features_errors_name_the_file(tmp_path):
    good = tmp_path / "good.npy"
    x = _features(good, 3)
    np.testing.assert_array_equal(feature_datasets.load_features(good), x)
    with pytest.raises(DataError, match="missing.npy: feature file not found"):
        feature_datasets.load_features(tmp_path / "missing.npy")
    pickled = tmp_path / "pickled.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="pickled.npy: not a readable NumPy"):
        feature_datasets.load_features(pickled)
    text = tmp_path / "text.npy"
    text.write_text("not numpy")
    with pytest.raises(DataError, match="text.npy: not a readable NumPy"):
        feature_datasets.load_features(text)
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros(5, np.float32))
    with pytest.raises(DataError, match=r"flat.npy: expected features of shape \(T, D\)"):
        feature_datasets.load_features(flat)
    bad = tmp_path / "nan.npy"
    np.save(bad, np.array([[np.nan, 1.0]], np.float32))
    with pytest.raises(DataError, match="nan.npy: features contain NaN"):
        feature_datasets.load_features(bad)


# ---------------------------------------------------------------------------------------------
# 256 resampling and chunking (VadCLIP's process_feat / process_split)
# ---------------------------------------------------------------------------------------------


def test_uniform_average_bins_by_hand():
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    # linspace(0, 5, 3) = [0, 2.5, 5] -> int [0, 2, 5]: rows 0-1 and rows 2-4.
    np.testing.assert_allclose(resampling.uniform_average(x, 2), [[1, 2], [6, 7]])
    # Fewer rows than bins: empty bins repeat the row at their left edge.
    np.testing.assert_allclose(resampling.uniform_average(x[:2], 4)[:, 0], [0, 0, 2, 2])


def test_uniform_average_long_video_matches_bin_means():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1000, 3)).astype(np.float32)
    out = resampling.uniform_average(x, 256)
    for i in (0, 77, 255):
        lo, hi = int(i * 1000 / 256), int((i + 1) * 1000 / 256)
        np.testing.assert_allclose(out[i], x[lo:hi].mean(axis=0), rtol=1e-5)


def test_fit_length_pads_short_and_resamples_long():
    short = np.ones((100, 4), np.float32)
    fitted, length = resampling.fit_length(short, 256)
    assert fitted.shape == (256, 4) and length == 100
    assert fitted[100:].sum() == 0 and fitted[:100].sum() == 400
    long = np.arange(600 * 4, dtype=np.float32).reshape(600, 4)
    fitted, length = resampling.fit_length(long, 256)
    assert fitted.shape == (256, 4) and length == 256
    frames = (np.arange(600) % 256).astype(np.uint8).reshape(600, 1, 1, 1).repeat(3, axis=3)
    sampled, length = resampling.fit_length(frames, 256, resample="sample")
    assert sampled.dtype == np.uint8 and sampled.shape == (256, 1, 1, 3)
    assert sampled[0, 0, 0, 0] == 0 and sampled[-1, 0, 0, 0] == 599 % 256
    exact = np.ones((256, 2), np.float32)
    assert resampling.fit_length(exact, 256)[1] == 256
    with pytest.raises(ValueError, match="resample"):
        resampling.fit_length(long, 256, resample="nearest")


@pytest.mark.parametrize("t", [1, 255, 256, 257, 600])
def test_chunk_and_unchunk_round_trip(t):
    x = np.random.default_rng(t).standard_normal((t, 3)).astype(np.float32)
    chunks, lengths = resampling.chunk(x, 256)
    assert chunks.shape == (-(-t // 256), 256, 3)
    assert lengths.sum() == t and lengths[:-1].tolist() == [256] * (len(lengths) - 1)
    assert not chunks.reshape(-1, 3)[t:].any()  # padding is zero
    # A per-snippet model output (here: a function of each row) comes back in order, cut to T.
    outputs = chunks.sum(axis=-1)
    np.testing.assert_allclose(resampling.unchunk(outputs, t), x.sum(axis=-1), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Labels and datasets
# ---------------------------------------------------------------------------------------------


def test_label_targets():
    np.testing.assert_array_equal(
        feature_datasets.label_target("Abuse", ann.UCF_CLASSES), np.eye(14, dtype=np.float32)[1]
    )
    np.testing.assert_array_equal(
        feature_datasets.label_target("B1-B2-0", ann.XD_CLASSES), [0, 1, 1, 0, 0, 0, 0]
    )
    np.testing.assert_array_equal(feature_datasets.label_target("A", ann.XD_CLASSES), [1, 0, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="unknown XD-Violence code"):
        feature_datasets.label_target("Jaywalking", ann.UCF_CLASSES)
    assert feature_datasets.is_normal("A") and feature_datasets.is_normal("Normal") and not feature_datasets.is_normal("B1-0-0")


def _crop_list(tmp_path, lengths, d=8):
    rows = []
    for v, (label, t) in enumerate(lengths):
        for k in range(10):
            _features(tmp_path / "f" / f"v{v}__{k}.npy", t, d, seed=10 * v + k)
            rows.append((f"f/v{v}__{k}.npy", label))
    return _write_list(tmp_path / "train.csv", rows)


def test_train_dataset_crops_subsets_and_collate(tmp_path):
    lst = _crop_list(tmp_path, [("B1-0-0", 300), ("A", 40)])
    ds = feature_datasets.FeatureTrainDataset(lst, ann.XD_CLASSES, length=256)
    assert len(ds) == 20  # every crop is a sample
    item = ds[3]
    assert item["x"].shape == (256, 8) and item["length"] == 256 and item["anomaly"] == 1.0
    assert item["name"] == "v0" and item["target"][1] == 1.0
    short = ds[15]
    assert short["length"] == 40 and short["anomaly"] == 0.0 and not short["x"][40:].any()
    assert len(feature_datasets.FeatureTrainDataset(lst, ann.XD_CLASSES, subset="normal")) == 10
    batch = feature_datasets.collate_train([ds[0], ds[15]])
    assert tuple(batch["x"].shape) == (2, 256, 8) and batch["lengths"].tolist() == [256, 40]
    assert tuple(batch["targets"].shape) == (2, 7) and batch["anomaly"].tolist() == [1.0, 0.0]


def test_missing_feature_file_names_list_line_and_file(tmp_path):
    lst = _write_list(tmp_path / "l.csv", [("gone__0.npy", "A")])
    with pytest.raises(DataError, match=r"l.csv:2: .*gone__0.npy: feature file not found"):
        feature_datasets.FeatureTrainDataset(lst, ann.XD_CLASSES)[0]


def test_bad_label_names_list_and_line(tmp_path):
    _features(tmp_path / "a.npy", 3)
    lst = _write_list(tmp_path / "bad.csv", [("a.npy", "B1-0-0"), ("a.npy", "B9-0-0")])
    with pytest.raises(DataError, match=r"bad.csv:3: unknown XD-Violence code 'B9'"):
        feature_datasets.FeatureTrainDataset(lst, ann.XD_CLASSES)


def test_test_dataset_uses_one_crop_and_chunks(tmp_path):
    lst = _crop_list(tmp_path, [("Abuse", 300), ("Normal", 20)])
    ds = feature_datasets.FeatureTestDataset(lst, ann.UCF_CLASSES, dataset="ucf")
    assert [e.crop for e in ds.entries] == [5, 5]
    item = ds[0]
    assert item["chunks"].shape == (2, 256, 8) and item["length"] == 300
    np.testing.assert_array_equal(
        resampling.unchunk(item["chunks"], 300), np.load(tmp_path / "f" / "v0__5.npy")
    )
    batch = feature_datasets.collate_test([item])
    assert tuple(batch["chunks"].shape) == (2, 256, 8) and batch["chunk_lengths"].tolist() == [
        256,
        44,
    ]
    assert feature_datasets.FeatureTestDataset(lst, ann.UCF_CLASSES, dataset="xd").entries[0].crop == 0


# ---------------------------------------------------------------------------------------------
# Ground truth
# ---------------------------------------------------------------------------------------------


def test_xd_ground_truth_from_annotation_files(tmp_path):
    segments = {
        "vid_label_B1-B2-0": [ann.Segment("B1", 10, 40), ann.Segment("B2", 30, 100)],
    }
    multi = tmp_path / "annotations_multiclasses.txt"
    ann.write_xd_multiclass(multi, segments)
    gt = ground_truth.build_ground_truth(
        [("vid_label_B1-B2-0", "B1-B2-0", 4), ("calm_label_A", "A", 3)], multi, "xd"
    )
    assert gt.abnormal == [True, False]
    assert len(gt.frame_gt[0]) == 64 and gt.frame_gt[0].tolist() == [0] * 10 + [1] * 54
    assert gt.segments[0] == [(10, 40), (30, 100)] and gt.labels[0] == ["Fighting", "Shooting"]
    assert gt.segments[1] == [(0, 48)] and gt.labels[1] == ["Normal"]
    assert not gt.frame_gt[1].any() and len(gt.frame_gt[1]) == 48
    with pytest.raises(
        DataError, match="annotations_multiclasses.txt: no annotation line .* 'other"
    ):
        ground_truth.build_ground_truth([("other_label_B1-0-0", "B1-0-0", 2)], multi, "xd")


def test_ucf_ground_truth_keeps_vadclips_normal_label(tmp_path):
    path = tmp_path / "Temporal_Anomaly_Annotation.txt"
    path.write_text(
        "Arson011_x264  Arson  5  20  40  60  \nNormal_Videos_003_x264  Normal  -1  -1  -1  -1  \n"
    )
    gt = ground_truth.build_ground_truth(
        [("Arson011_x264", "Arson", 3), ("Normal_Videos_003_x264", "Normal", 2)], path, "ucf"
    )
    assert gt.segments[0] == [(5, 20), (40, 60)] and gt.labels[0] == ["Arson", "Arson"]
    assert gt.frame_gt[0].sum() == 15 + 8  # the second segment is cut at 16·T = 48 frames
    assert gt.labels[1] == [feature_datasets.VADCLIP_NORMAL_LABEL] and gt.segments[1] == [(0, 32)]


def test_real_xd_frame_truth_comes_from_annotations_txt(vadclip_lists):
    name = "v=38GQ9L2meyE__#1_label_B6-0-0"  # one of 5 videos whose two files disagree
    videos = [(name, "B6-0-0", 400)]
    multi = vadclip_lists / "annotations_multiclasses.txt"
    pairs = ann.read_xd_annotations(vadclip_lists / "annotations.txt")[name]
    from_pairs = ground_truth.build_ground_truth(videos, multi, "xd", vadclip_lists / "annotations.txt")
    from_multi = ground_truth.build_ground_truth(videos, multi, "xd")
    np.testing.assert_array_equal(from_pairs.frame_gt[0], ann.frame_labels(pairs, 6400))
    assert from_pairs.frame_gt[0].sum() != from_multi.frame_gt[0].sum()
    assert from_pairs.segments == from_multi.segments  # detection truth: the class segments


# ---------------------------------------------------------------------------------------------
# Raw videos
# ---------------------------------------------------------------------------------------------


def _video(path, n_frames, size=(24, 32)):
    """An MJPG video whose frame i is uniformly grey level 4·i (so the sampled frame is known)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (size[1], size[0]))
    for i in range(n_frames):
        writer.write(np.full((*size, 3), 4 * i % 256, np.uint8))
    writer.release()
    return path


def _mean_extractor(calls):
    def extract(frames):
        calls.append(frames.shape)
        assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[3] == 3
        return frames.reshape(len(frames), -1, 3).mean(axis=1)

    return extract


def test_sampling_takes_each_complete_snippets_first_frame(tmp_path):
    video = _video(tmp_path / "v.avi", 50)
    frames = list(frame_cache.sample_snippet_frames(video, size=(12, 16)))
    assert len(frames) == 3  # frames 48-49 form an incomplete snippet and are dropped
    assert all(f.shape == (12, 16, 3) and f.dtype == np.uint8 for f in frames)
    np.testing.assert_allclose([f.mean() for f in frames], [0, 64, 128], atol=3)


def test_extract_features_layout_batches_and_resume(tmp_path):
    _video(tmp_path / "videos" / "Abuse" / "a_label_B1-0-0.avi", 70)
    _video(tmp_path / "videos" / "b_label_A.avi", 33)
    lst = _write_list(
        tmp_path / "videos" / "train.csv",
        [("Abuse/a_label_B1-0-0.avi", "B1-0-0"), ("b_label_A.avi", "A")],
    )
    out = tmp_path / "features"
    calls: list = []
    summary = frame_cache.extract_features(lst, out, _mean_extractor(calls), batch_size=3, progress=False)
    assert (summary.written, summary.skipped, summary.failures) == (2, 0, [])
    assert calls == [(3, 24, 32, 3), (1, 24, 32, 3), (2, 24, 32, 3)]
    assert summary.list_path.read_text() == (
        "path,label\nAbuse/a_label_B1-0-0__0.npy,B1-0-0\nb_label_A__0.npy,A\n"
    )
    feats = feature_datasets.load_features(out / "Abuse" / "a_label_B1-0-0__0.npy")
    np.testing.assert_allclose(feats[:, 0], [0, 64, 128, 192], atol=3)
    assert len(feature_datasets.FeatureTrainDataset(summary.list_path, ann.XD_CLASSES)) == 2

    # Resume: complete outputs are skipped; a missing one and a stale partial file are redone.
    (out / "b_label_A__0.npy").unlink()
    (out / "b_label_A__0.npy.partial").write_bytes(b"half a file")
    calls.clear()
    summary = frame_cache.extract_features(lst, out, _mean_extractor(calls), progress=False)
    assert (summary.written, summary.skipped) == (1, 1) and calls == [(2, 24, 32, 3)]
    assert feature_datasets.load_features(out / "b_label_A__0.npy").shape == (2, 3)
    assert not list(out.glob("*.partial"))

    # A video newer than its cached output (regenerated, replaced) is extracted again.
    video = tmp_path / "videos" / "b_label_A.avi"
    later = (out / "b_label_A__0.npy").stat().st_mtime + 10
    os.utime(video, (later, later))
    calls.clear()
    summary = frame_cache.extract_features(lst, out, _mean_extractor(calls), progress=False)
    assert (summary.written, summary.skipped) == (1, 1) and calls == [(2, 24, 32, 3)]


def test_interrupted_extraction_leaves_no_corrupt_output(tmp_path, monkeypatch):
    _video(tmp_path / "a.avi", 40)
    _video(tmp_path / "b.avi", 40)
    lst = _write_list(tmp_path / "list.csv", [("a.avi", "Abuse"), ("b.avi", "Normal")])
    real_save = np.save

    def save_then_die(f, array, **kw):
        if "b__0" in getattr(f, "name", ""):
            f.write(b"\x93NUMPY partial")  # a crash in the middle of writing b's file
            raise KeyboardInterrupt
        real_save(f, array, **kw)

    monkeypatch.setattr(np, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        frame_cache.extract_features(lst, tmp_path / "out", _mean_extractor([]), progress=False)
    monkeypatch.setattr(np, "save", real_save)
    assert feature_datasets.load_features(tmp_path / "out" / "a__0.npy").shape == (2, 3)
    assert not (tmp_path / "out" / "b__0.npy").exists()
    summary = frame_cache.extract_features(lst, tmp_path / "out", _mean_extractor([]), progress=False)
    assert (summary.written, summary.skipped) == (1, 1)


def test_unreadable_and_truncated_videos(tmp_path):
    (tmp_path / "junk.avi").write_text("this is not a video")
    long = _video(tmp_path / "long.avi", 100).read_bytes()
    (tmp_path / "cut.avi").write_bytes(long[: len(long) // 2])
    _video(tmp_path / "ok.avi", 32)
    lst = _write_list(
        tmp_path / "list.csv",
        [("junk.avi", "A"), ("cut.avi", "B1-0-0"), ("ok.avi", "A"), ("gone.avi", "A")],
    )
    with pytest.raises(DataError, match="junk.avi: OpenCV cannot open"):
        frame_cache.extract_features(lst, tmp_path / "out", _mean_extractor([]), progress=False)
    with pytest.raises(DataError, match="cut.avi: decoding stopped at frame .* of the 100"):
        list(frame_cache.sample_snippet_frames(tmp_path / "cut.avi"))
    summary = frame_cache.extract_features(
        lst, tmp_path / "out", _mean_extractor([]), skip_errors=True, progress=False
    )
    assert summary.written == 1 and len(summary.failures) == 3
    assert "gone.avi: video file not found" in summary.failures[2]
    assert summary.list_path.read_text() == "path,label\nok__0.npy,A\n"
    with pytest.raises(DataError, match="would replace this video list"):
        frame_cache.extract_features(lst, tmp_path, _mean_extractor([]), progress=False)
    assert "junk.avi" in lst.read_text()


def test_cache_frames_for_end_to_end_training(tmp_path):
    _video(tmp_path / "v_label_B2-0-0.avi", 48)
    lst = _write_list(tmp_path / "list.csv", [("v_label_B2-0-0.avi", "B2-0-0")])
    summary = frame_cache.cache_frames(lst, tmp_path / "frames", size=(8, 8), progress=False)
    frames = feature_datasets.load_frames(tmp_path / "frames" / "v_label_B2-0-0__0.npy")
    assert frames.shape == (3, 8, 8, 3) and frames.dtype == np.uint8
    ds = feature_datasets.FeatureTrainDataset(summary.list_path, ann.XD_CLASSES, length=4, arrays="frames")
    item = ds[0]
    assert item["x"].shape == (4, 8, 8, 3) and item["x"].dtype == np.uint8 and item["length"] == 3
    assert os.path.getsize(tmp_path / "frames" / "list.csv") > 0


def test_synthetic_benchmark_through_the_same_loaders(tmp_path):
    from tcvads_ros.data.synthetic import SynthConfig, generate

    cfg = SynthConfig(videos=4, seed=1, width=64, height=48, frames=64, test_share=0.5)
    generate(tmp_path / "synth", cfg, progress=False)
    summary = frame_cache.extract_features(
        tmp_path / "synth" / "test.csv", tmp_path / "feats", _mean_extractor([]), progress=False
    )
    test = feature_datasets.FeatureTestDataset(summary.list_path, ann.XD_CLASSES, dataset="xd")
    items = [test[i] for i in range(len(test))]
    assert all(item["length"] == 4 for item in items)  # 64 frames = 4 snippets
    gt = ground_truth.build_ground_truth(
        [(it["name"], it["label"], it["length"]) for it in items],
        tmp_path / "synth" / "annotations_multiclasses.txt",
        "xd",
        tmp_path / "synth" / "annotations.txt",
    )
    written = ann.read_xd_multiclass(tmp_path / "synth" / "annotations_multiclasses.txt")
    assert any(gt.abnormal) and not all(gt.abnormal)  # this seed gives both kinds
    for name, frames, abnormal, labels in zip(gt.names, gt.frame_gt, gt.abnormal, gt.labels):
        assert len(frames) == 64
        assert abnormal == (name in written)
        if abnormal:
            np.testing.assert_array_equal(frames, ann.frame_labels(written[name], 64))
            assert labels == [ann.XD_CODES[s.label] for s in written[name]]
        else:
            assert labels == ["Normal"] and not frames.any()


# ---------------------------------------------------------------------------------------------
# Temporal jitter (frames_per_snippet) and snippet-level labels (teacher.supervision: snippet)
# ---------------------------------------------------------------------------------------------


def _frame_index(frames):
    """The frame number each grey frame of `_video` was (grey level 4·i), per snippet."""
    return np.rint(frames.reshape(len(frames), -1).mean(axis=1) / 4).astype(int)


def _jitter_cache(tmp_path, per_snippet=4):
    _video(tmp_path / "v_label_B1-0-0.avi", 64)  # 4 snippets, grey levels up to 252
    lst = _write_list(tmp_path / "list.csv", [("v_label_B1-0-0.avi", "B1-0-0")])
    return frame_cache.cache_frames(lst, tmp_path / "frames", size=(8, 8), progress=False,
                             per_snippet=per_snippet).list_path


def test_cache_keeps_k_evenly_spaced_frames_per_snippet(tmp_path):
    assert frame_cache.snippet_offsets(4) == [0, 4, 8, 12] and frame_cache.snippet_offsets(1) == [0]
    with pytest.raises(ConfigError, match="frames_per_snippet"):
        frame_cache.snippet_offsets(17)
    _jitter_cache(tmp_path)
    frames = feature_datasets.load_frames(tmp_path / "frames" / "v_label_B1-0-0__0.npy")
    assert frames.shape == (4, 4, 8, 8, 3)
    got = np.stack([_frame_index(frames[:, k]) for k in range(4)], axis=1)
    np.testing.assert_array_equal(got, [[16 * s + o for o in (0, 4, 8, 12)] for s in range(4)])


def test_jitter_draws_one_frame_per_snippet_per_epoch_and_evaluation_reads_the_first(tmp_path):
    lst = _jitter_cache(tmp_path)
    ds = feature_datasets.FeatureTrainDataset(lst, ann.XD_CLASSES, length=4, arrays="frames", jitter_seed=3)
    draws = []
    for epoch in range(6):
        ds.set_epoch(epoch)
        index = _frame_index(ds[0]["x"])
        assert all(i - 16 * s in (0, 4, 8, 12) for s, i in enumerate(index))  # its own snippet
        ds.set_epoch(epoch)
        np.testing.assert_array_equal(_frame_index(ds[0]["x"]), index)  # replayable (resume)
        draws.append(tuple(index))
    assert len(set(draws)) > 1  # other epochs, other frames
    first = [0, 16, 32, 48]
    plain = feature_datasets.FeatureTrainDataset(lst, ann.XD_CLASSES, length=4, arrays="frames")
    np.testing.assert_array_equal(_frame_index(plain[0]["x"]), first)
    test = feature_datasets.FeatureTestDataset(lst, ann.XD_CLASSES, length=4, arrays="frames")
    np.testing.assert_array_equal(_frame_index(test[0]["chunks"][0]), first)


def test_snippet_labels_are_the_labels_of_the_frames_read(tmp_path):
    lst = _jitter_cache(tmp_path)
    ds = feature_datasets.FeatureTrainDataset(lst, ann.XD_CLASSES, length=6, arrays="frames", jitter_seed=0)
    truth = np.zeros(64, np.uint8)
    truth[20:40] = 1
    ds.frame_labels = {"v_label_B1-0-0": truth}
    for epoch in range(5):
        ds.set_epoch(epoch)
        item = ds[0]
        index = _frame_index(item["x"][: item["length"]])
        np.testing.assert_array_equal(item["snippet_labels"][:4], truth[index])
        np.testing.assert_array_equal(item["snippet_labels"][4:], [0, 0])  # padding
    batch = feature_datasets.collate_train([item, item])
    assert tuple(batch["snippet_labels"].shape) == (2, 6)
    ds.frame_labels = {}
    with pytest.raises(DataError, match="has no frame-level annotation"):
        ds[0]


def test_snippet_labels_of_features_are_the_abnormal_share(tmp_path):
    lst = _write_list(tmp_path / "list.csv", [("v_label_B1-0-0__0.npy", "B1-0-0"), ("n_label_A__0.npy", "A")])
    _features(tmp_path / "v_label_B1-0-0__0.npy", 3)
    _features(tmp_path / "n_label_A__0.npy", 3)
    ds = feature_datasets.FeatureTrainDataset(lst, ann.XD_CLASSES, length=3)
    truth = np.zeros(48, np.uint8)
    truth[8:32] = 1
    ds.frame_labels = {"v_label_B1-0-0": truth}
    np.testing.assert_allclose(ds[0]["snippet_labels"], [0.5, 1.0, 0.0])
    np.testing.assert_allclose(ds[1]["snippet_labels"], [0.0, 0.0, 0.0])  # normal: no annotation needed


def test_a_benchmark_of_another_generator_version_is_generated_again(tmp_path):
    """A cached synthetic benchmark is reused only when made by this generator version, and the
    frames cached from its older videos are then cached again (newer videos)."""
    import json

    from tcvads_ros.data.synthetic import GENERATOR_VERSION, SynthConfig
    from tcvads_ros.training.experiment import prepare_synthetic
    from tcvads_ros.training.train_config import DataConfig

    cfg = DataConfig(kind="synthetic", synth=SynthConfig(videos=4, width=64, height=48, frames=48))
    folder = prepare_synthetic(cfg, tmp_path / "synthetic", progress=False)
    meta = folder / "meta.json"
    videos = sorted((folder / "videos").iterdir())
    made = [v.stat().st_mtime_ns for v in videos]
    assert prepare_synthetic(cfg, folder, progress=False) == folder
    assert [v.stat().st_mtime_ns for v in videos] == made  # the same one: reused
    info = json.loads(meta.read_text())
    meta.write_text(json.dumps({**info, "generator_version": GENERATOR_VERSION - 1}))
    prepare_synthetic(cfg, folder, progress=False)
    assert json.loads(meta.read_text())["generator_version"] == GENERATOR_VERSION
    assert all(v.stat().st_mtime_ns > m for v, m in zip(videos, made))
