# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
import re
import subprocess
import sys
from dataclasses import replace

import cv2
import numpy as np
import pytest

from tcvads_ros import cli
from tcvads_ros.data import annotations as ann
from tcvads_ros.data import synthetic as syn
from tcvads_ros.errors import ConfigError

SMALL = syn.SynthConfig(videos=4, seed=3, width=96, height=72, frames=48, fps=12.0)
GT_FILES = ["annotations.txt", "annotations_multiclasses.txt", "train_annotations.txt",
            "train_annotations_multiclasses.txt", "train.csv", "test.csv", "meta.json"]


def decode(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    info = (cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS),
            cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    return np.stack(frames), info


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_plan_covers_every_kind_and_both_splits(seed):
    plans = syn.plan_benchmark(syn.SynthConfig(videos=14, seed=seed, frames=96))
    abnormal = [p for p in plans if p.label != "A"]
    assert len(abnormal) == 7
    assert {ann.xd_codes(p.label)[0] for p in abnormal} == set(syn.ANOMALY_CODES)
    for split in ("train", "test"):
        labels = [p.label for p in plans if p.split == split]
        assert "A" in labels and any(label != "A" for label in labels)
    for p in plans:
        assert p.name.endswith(f"_label_{p.label}") and ann.xd_label_of_name(p.name) == p.label
        if p.label == "A":
            assert p.episodes == ()
            continue
        # codes in order of appearance; episodes sorted, disjoint, inside the video, a minority
        assert ann.xd_codes(p.label) == list(dict.fromkeys(s.label for s in p.episodes))
        bounds = [b for s in p.episodes for b in (s.start, s.end)]
        assert bounds == sorted(bounds) and bounds[0] >= 0 and bounds[-1] <= 96
        assert 1 <= len(p.episodes) <= 2
        assert 0 < ann.frame_labels(p.episodes, 96).mean() < 0.5


def test_each_split_gets_a_balanced_share_of_every_kind():
    plans = syn.plan_benchmark(syn.SynthConfig(videos=100, seed=4, frames=96))
    for split in ("train", "test"):
        main = [ann.xd_codes(p.label)[0] for p in plans if p.split == split and p.label != "A"]
        counts = [main.count(code) for code in syn.ANOMALY_CODES]
        assert min(counts) >= 1 and max(counts) - min(counts) <= 1, (split, counts)


def test_some_videos_mix_two_kinds():
    plans = syn.plan_benchmark(syn.SynthConfig(videos=60, seed=2, frames=96))
    assert any(len(ann.xd_codes(p.label)) == 2 for p in plans)


def test_six_videos_still_give_both_splits_both_classes():
    plans = syn.plan_benchmark(syn.SynthConfig(videos=6, seed=1))
    assert {(p.split, p.label == "A") for p in plans} == {
        ("train", True), ("train", False), ("test", True), ("test", False)}


@pytest.mark.parametrize("code", syn.ANOMALY_CODES)
def test_abnormal_pixels_only_inside_annotated_range(code):
    cfg = replace(SMALL, frames=40)
    plan = syn.VideoPlan(0, f"v_label_{code}-0-0", "test", 0, f"{code}-0-0", (ann.Segment(code, 9, 31),))
    with_layer = syn.render_video(plan, cfg)
    without = syn.render_video(plan, cfg, anomalies=False)
    changed = np.abs(with_layer.astype(int) - without).max(axis=3) > 40  # (T, H, W)
    differs = changed.sum(axis=(1, 2)) >= 5
    np.testing.assert_array_equal(differs, ann.frame_labels(plan.episodes, cfg.frames).astype(bool))


def test_written_videos_match_renders_and_ground_truth(tmp_path):
    # FFV1 is lossless, so the decoded files must equal the renders exactly.
    cfg = replace(SMALL, videos=6, codec="ffv1", abnormal_share=0.7)
    plans = syn.generate(tmp_path, cfg, progress=False)
    gt = {**ann.read_xd_annotations(tmp_path / "annotations.txt"),
          **ann.read_xd_annotations(tmp_path / "train_annotations.txt")}
    for plan in plans:
        frames, _ = decode(tmp_path / "videos" / f"{plan.name}.avi")
        np.testing.assert_array_equal(frames, syn.render_video(plan, cfg))
        normal = syn.render_video(plan, cfg, anomalies=False)
        differs = (frames != normal).any(axis=(1, 2, 3))
        expected = ann.frame_labels(gt.get(plan.name, []), cfg.frames).astype(bool)
        np.testing.assert_array_equal(differs, expected)


def test_drawing_only_some_frames_gives_the_same_pixels():
    # pretrain-clip draws only the snippets' first frames; they must be the video's own frames
    cfg = replace(SMALL, videos=6, abnormal_share=0.7)
    for plan in syn.plan_benchmark(cfg)[:3]:
        full = syn.render_video(plan, cfg)
        picked = [0, 16, 17, 47]
        frames = list(syn.render_frames(plan, cfg, only=set(picked)))
        assert len(frames) == len(picked)
        for t, frame in zip(picked, frames):
            np.testing.assert_array_equal(frame, full[t])


@pytest.mark.parametrize("codec", list(syn.CODECS))
def test_videos_readable_with_stated_size_length_and_rate(tmp_path, codec):
    cfg = replace(SMALL, videos=2, codec=codec)
    plans = syn.generate(tmp_path, cfg, progress=False)
    for plan in plans:
        path = tmp_path / "videos" / f"{plan.name}{syn.CODECS[codec][1]}"
        frames, (count, fps, width, height) = decode(path)
        assert frames.shape == (cfg.frames, cfg.height, cfg.width, 3)
        assert (count, fps, width, height) == (cfg.frames, cfg.fps, cfg.width, cfg.height)
        # a lossy codec still keeps the picture: mean error of a few grey levels
        assert np.abs(frames.astype(int) - syn.render_video(plan, cfg)).mean() < 6


def test_same_seed_same_bytes_and_frames_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    syn.generate(a, SMALL, progress=False)
    syn.generate(b, SMALL, progress=False)
    syn.generate(c, replace(SMALL, seed=SMALL.seed + 1), progress=False)
    for name in GT_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    videos = sorted(p.name for p in (a / "videos").iterdir())
    assert videos == sorted(p.name for p in (b / "videos").iterdir()) and len(videos) == SMALL.videos
    for name in videos:
        np.testing.assert_array_equal(decode(a / "videos" / name)[0], decode(b / "videos" / name)[0])
    first_a = decode(a / "videos" / videos[0])[0]
    first_c = decode(next((c / "videos").iterdir()))[0]
    assert np.abs(first_a.astype(int) - first_c).mean() > 5


def test_files_parse_like_the_real_xd_files(tmp_path, vadclip_lists):
    plans = syn.generate(tmp_path, replace(SMALL, videos=10), progress=False)
    real_list = ann.read_feature_list(vadclip_lists / "xd_CLIP_rgbtest.csv")
    real_pairs = ann.read_xd_annotations(vadclip_lists / "annotations.txt")
    # the real files: annotation files hold exactly the violent test videos (some names there
    # carry '.mp4'; ours never do), with labels of the same form as ours
    real_violent = {re.sub(r"__\d+\.npy$", "", e.path.rsplit("/", 1)[-1]) for e in real_list if e.label != "A"}
    assert {n.removesuffix(".mp4") for n in real_pairs} == real_violent
    label_form = re.compile(r"^(A|[A-Z0-9]+-[A-Z0-9]+-[A-Z0-9]+)$")
    assert all(label_form.match(e.label) for e in real_list)
    for split, prefix in (("test", ""), ("train", "train_")):
        entries = ann.read_feature_list(tmp_path / f"{split}.csv")
        pairs = ann.read_xd_annotations(tmp_path / f"{prefix}annotations.txt")
        multi = ann.read_xd_multiclass(tmp_path / f"{prefix}annotations_multiclasses.txt")
        assert entries and all(label_form.match(e.label) for e in entries)
        assert all((tmp_path / e.path).is_file() for e in entries)
        names = {e.path.split("/")[-1].rsplit(".", 1)[0]: e.label for e in entries}
        assert all(ann.xd_label_of_name(n) == label for n, label in names.items())
        assert set(pairs) == set(multi) == {n for n, label in names.items() if label != "A"}
        for name, segs in multi.items():
            assert pairs[name] == [(s.start, s.end) for s in segs]
            assert {s.label for s in segs} == set(ann.xd_codes(ann.xd_label_of_name(name)))
    assert {p.split for p in plans} == {"train", "test"}


def test_cli_end_to_end(tmp_path):
    out = tmp_path / "s"
    proc = subprocess.run([sys.executable, "-m", "tcvads_ros.cli", "synth", str(out), "--videos", "6", "--seed", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 6 video(s)" in proc.stdout
    assert len(list((out / "videos").glob("synth_*__#seed1_label_*.avi"))) == 6
    meta = (out / "meta.json").read_text()
    assert '"frames_per_video": 240' in meta and '"width": 224' in meta
    train, test = ann.read_feature_list(out / "train.csv"), ann.read_feature_list(out / "test.csv")
    assert len(train) + len(test) == 6


@pytest.mark.parametrize(("argv", "message"), [
    (["--videos", "0"], "'videos' must be at least 1"),
    (["--codec", "h265"], "'codec' must be one of mjpg, mp4v, ffv1"),
    (["--width", "63"], "'width' must be an even number"),
    (["--seconds", "0.5"], "'frames' must be at least 32"),
    (["--abnormal-share", "1.5"], "'abnormal_share' must be between 0 and 1"),
])
def test_bad_options_are_clear_errors(tmp_path, capsys, argv, message):
    assert cli.main(["synth", str(tmp_path / "out"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_unwritable_or_foreign_out_dir_is_refused(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    assert cli.main(["synth", str(blocker / "sub"), "--frames", "32", "--videos", "1"]) == 2
    assert "cannot write there" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert cli.main(["synth", str(foreign), "--frames", "32", "--videos", "1"]) == 2
    assert "holds no earlier synthetic benchmark" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep me" and blocker.read_text() == "keep me"


def test_rerun_into_earlier_benchmark_replaces_its_videos(tmp_path):
    syn.generate(tmp_path, replace(SMALL, videos=3), progress=False)
    syn.generate(tmp_path, replace(SMALL, videos=2, seed=9), progress=False)
    videos = sorted(p.name for p in (tmp_path / "videos").iterdir())
    assert len(videos) == 2 and all("#seed9_" in v for v in videos)


def test_config_is_validated_like_every_config():
    with pytest.raises(ConfigError, match="unknown configuration key 'vidoes'; did you mean 'videos'"):
        syn.from_mapping(syn.SynthConfig, {"vidoes": 3})


def test_contact_sheet_has_a_row_per_kind():
    cfg = replace(SMALL, frames=36)
    sheet = syn.contact_sheet(cfg, columns=2)
    assert sheet.shape == (7 * cfg.height, 2 * cfg.width, 3) and sheet.dtype == np.uint8
