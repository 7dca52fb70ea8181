# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`tcvads detect` end to end: export -> bundle -> detect on encoded videos; clear errors."""

from __future__ import annotations

import json
import shutil

import pytest
from recordings import write_recording
from tiny_bundle import make_tiny_bundle, make_tiny_run

from tcvads_ros.cli import main


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "b")[0]


def test_detect_end_to_end(bundle, tmp_path, capsys):
    video = write_recording(tmp_path / "street.avi", "mjpeg", 25.0, (120, 160), 300, bright=[(100, 200)])
    events = tmp_path / "out" / "events.jsonl"
    code = main(["detect", str(video), "--bundle", str(bundle.root), "--backend", "onnxruntime",
                 "--events", str(events), "--evidence", str(tmp_path / "evidence"), "--threshold", "0"])
    out = capsys.readouterr().out
    assert code == 0
    records = [json.loads(line) for line in events.read_text().splitlines()]
    kinds = [r.get("kind", r["record_type"]) for r in records]
    assert kinds[0] == "start" and "end" in kinds and kinds.count("explanation") == 1
    explanation = next(r for r in records if r["record_type"] == "explanation")
    assert explanation["category"] in bundle.class_names and explanation["schema_version"] == 3
    assert explanation["verdict"] in ("confirmed", "disputed") and explanation["fine_threshold"] == 0.5
    heatmap = explanation["heatmap_path"]
    assert heatmap and (tmp_path / "evidence").joinpath(heatmap.split("/")[-1]).is_file()
    assert (tmp_path / "evidence" / "events.db").is_file()
    assert f"START  event {records[0]['event_id'][:8]}" in out
    assert f"ANOMALY {explanation['category']}" in out and f"heat map:   {heatmap}" in out
    summary = out.strip().splitlines()[-3]
    assert summary.startswith("summary: 300 frames") and "1 events" in summary and "0 dropped frames" in summary


def test_detect_several_sources_each_as_if_alone(bundle, tmp_path, capsys):
    """Two recordings in one process: each source's events file holds what a run on that
    source alone writes (event ids aside), and the summary has a line per source."""
    videos = [write_recording(tmp_path / "a.avi", "mjpeg", 25.0, (120, 160), 300, bright=[(100, 200)]),
              write_recording(tmp_path / "b.avi", "mjpeg", 25.0, (96, 128), 200, bright=[(30, 120)])]
    common = ["--bundle", str(bundle.root), "--backend", "onnxruntime", "--no-fine", "--quiet", "--threshold", "0.5"]

    def records(path):
        return [{k: v for k, v in json.loads(line).items() if k != "event_id"}
                for line in path.read_text().splitlines()]

    alone = []
    for i, video in enumerate(videos):
        assert main(["detect", str(video), "--events", str(tmp_path / f"alone{i}.jsonl"), *common]) == 0
        alone.append(records(tmp_path / f"alone{i}.jsonl"))
    capsys.readouterr()
    assert main(["detect", *map(str, videos), "--events", str(tmp_path / "both.jsonl"), *common]) == 0
    out = capsys.readouterr().out
    assert all(alone)  # each source has events to compare
    assert [records(tmp_path / f"both-{i}.jsonl") for i in range(2)] == alone
    assert "summary: source 0: 300 frames" in out and "summary: source 1: 200 frames" in out


@pytest.mark.parametrize("codec,container,fps,size", [
    ("h264", "mp4", 30.0, (720, 1280)),
    ("h264", "mp4", 60.0, (1080, 1920)),
    ("mjpeg", "avi", 25.0, (1080, 1920)),
    ("xvid", "avi", 50.0, (720, 1280)),
], ids=lambda v: str(v))
def test_detect_reads_camera_recordings_to_the_end(bundle, tmp_path, capsys, codec, container, fps, size):
    video = write_recording(tmp_path / f"cam.{container}", codec, fps, size, 40)
    code = main(["detect", str(video), "--bundle", str(bundle.root), "--backend", "onnxruntime",
                 "--no-fine", "--quiet"])
    assert code == 0
    assert "summary: 40 frames" in capsys.readouterr().out


def test_corrupt_bundle_is_a_clear_error(bundle, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(bundle.root, broken)
    (broken / "coarse_backbone.onnx").write_bytes(b"garbage")
    video = write_recording(tmp_path / "v.avi", "mjpeg", 25.0, (48, 64), 5)
    assert main(["detect", str(video), "--bundle", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "tcvads detect: error:" in err and "coarse_backbone.onnx: sha256 does not match" in err
    assert "Traceback" not in err


def test_unreadable_source_is_a_clear_error(bundle, tmp_path, capsys):
    (tmp_path / "clip.mp4").write_text("this is not a video")
    assert main(["detect", str(tmp_path / "clip.mp4"), "--bundle", str(bundle.root)]) == 2
    err = capsys.readouterr().err
    assert "clip.mp4: OpenCV cannot open this video" in err


def test_export_run_folder_then_detect_with_each_cpu_backend(tmp_path, capsys):
    run = make_tiny_run(tmp_path / "run")
    assert main(["export", str(run), "--out", str(tmp_path / "bundle")]) == 0
    assert "onnxruntime vs torch max |diff|" in capsys.readouterr().out
    video = write_recording(tmp_path / "v.avi", "mjpeg", 25.0, (96, 128), 160, bright=[(40, 120)])
    results = {}
    for backend in ("onnxruntime", "torch"):
        events = tmp_path / f"{backend}.jsonl"
        assert main(["detect", str(video), "--bundle", str(tmp_path / "bundle"), "--backend", backend,
                     "--events", str(events), "--threshold", "0", "--quiet"]) == 0
        results[backend] = [json.loads(line) for line in events.read_text().splitlines()]
    def split(records):  # explanations arrive asynchronously; compare each stream on its own
        return ([r for r in records if r["record_type"] == "event"],
                [r for r in records if r["record_type"] == "explanation"])

    (ort_events, ort_expl), (ref_events, ref_expl) = split(results["onnxruntime"]), split(results["torch"])
    assert [e["kind"] for e in ort_events] == [e["kind"] for e in ref_events]
    assert len(ort_expl) == len(ref_expl) == 1
    for a, b in zip(ort_events, ref_events):
        assert (a["start_frame"], a["frame"]) == (b["start_frame"], b["frame"])
        assert a["score"] == pytest.approx(b["score"], abs=1e-4)
    a, b = ort_expl[0], ref_expl[0]
    assert a["category"] == b["category"] and (a["backend"], b["backend"]) == ("onnxruntime", "torch")
    for name, score in a["class_scores"].items():
        assert score == pytest.approx(b["class_scores"][name], abs=1e-4)


def test_detect_on_an_image_folder_and_a_rosbag(bundle, tmp_path, capsys):
    import cv2
    import numpy as np
    from test_sources import _write_bag

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(20):
        cv2.imwrite(str(folder / f"{i:04d}.jpg"), np.full((48, 64, 3), 10 * i, np.uint8))
    (folder / "0005.jpg").write_bytes(b"broken")
    args = ["detect", str(folder), "--bundle", str(bundle.root), "--fps", "10", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out  # only every 16th image is read: the broken one never is
    assert "summary: 20 frames" in out and "2 through the backbone" in out and "0 dropped frames" in out
    assert main([*args, "--sample-every", "1"]) == 0
    out = capsys.readouterr().out
    assert "summary: 20 frames" in out and "1 dropped frames" in out  # the broken JPEG
    bag = _write_bag(tmp_path / "bag", {"/cam/image_raw": "rgb8"})
    assert main(["detect", str(bag), "--bundle", str(bundle.root), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "summary: 4 frames" in out and "1 dropped frames" in out  # the truncated message


def test_export_refuses_unusable_runs(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b")]) == 2
    assert "training run folder not found" in capsys.readouterr().err
    run = make_tiny_run(tmp_path / "run")
    (run / "calibration.json").unlink()
    assert main(["export", str(run), "--out", str(tmp_path / "b")]) == 2
    assert "calibration.json: missing" in capsys.readouterr().err
    info = json.loads((run / "student.json").read_text())
    (run / "student.json").write_text(json.dumps({**info, "input": "features"}))
    assert main(["export", str(run), "--out", str(tmp_path / "b")]) == 2
    assert "needs a student trained on frames" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
