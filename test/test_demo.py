"""`tcvads demo`: without its training step (a finished, tiny, untrained run in --out/run is
re-used: export, the synthetic test video, detect and the comparison), and once for real, where
the model it trains must find the test video's known anomaly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_bundle import make_tiny_run

from tcvads_ros import demo
from tcvads_ros.cli import main


def test_demo_reuses_a_finished_run(tmp_path, capsys):
    make_tiny_run(tmp_path / "run", threshold=0.0)  # threshold 0: an untrained model still alarms
    assert main(["demo", "--out", str(tmp_path), "--backend", "onnxruntime"]) == 0
    out = capsys.readouterr().out
    assert "re-using the finished run" in out
    assert (tmp_path / "bundle" / "manifest.json").is_file()
    truth = [line for line in out.splitlines() if line.startswith("ground truth:")]
    assert truth, out
    records = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    explanation = next(r for r in records if r["record_type"] == "explanation")
    assert Path(explanation["heatmap_path"]).is_file()
    assert f"heat map:   {explanation['heatmap_path']}" in out
    assert "ground truth vs detected:" in out and "  detected  " in out
    assert f"work folder: {tmp_path}" in out


def test_test_video_has_the_annotated_anomaly(tmp_path):
    video, truth = demo.synth_test_video(tmp_path)
    assert video.is_file() and truth
    assert all(0 <= seg.start < seg.end <= demo.TEST_VIDEO["frames"] for seg in truth)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_demo_trains_a_model_that_finds_the_known_anomaly(tmp_path):
    """The README's first command for real (about 4 minutes on two free cores), as
    scripts/demo.sh runs it: `tcvads demo` in its own process with two threads, the count its
    figures were measured with (this process runs torch on one). The small model it trains
    must put an event on the test video's annotated anomaly, near its start and end, and its
    fine stage (on the shipped stand-in CLIP) must name it."""
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    tcvads = Path(sys.executable).with_name("tcvads")
    proc = subprocess.run([str(tcvads), "demo", "--out", str(tmp_path), "--backend", "onnxruntime"],
                          env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    _, truth = demo.synth_test_video(tmp_path / "again")
    assert len(truth) == 1
    gt = truth[0]
    records = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    ends = [r for r in records if r.get("kind") == "end"]
    on_truth = [e for e in ends if e["start_frame"] < gt.end and e["end_frame"] > gt.start]
    assert len(on_truth) == 1, ends
    event = on_truth[0]
    tolerance = 2 * demo.TEST_VIDEO["fps"]  # two seconds of the 24 fps test video
    assert abs(event["start_frame"] - gt.start) <= tolerance, (event, gt)
    assert abs(event["end_frame"] - gt.end) <= tolerance, (event, gt)
    assert len(ends) <= 2, ends  # at most one false alarm elsewhere in the 20 s
    explanation = next(r for r in records
                       if r["record_type"] == "explanation" and r["event_id"] == event["event_id"])
    names = json.loads((tmp_path / "test" / "meta.json").read_text())["class_codes"].values()
    assert explanation["category"] in names
    assert set(explanation["class_scores"]) == set(names)
    assert explanation["category"] == "Riot", explanation["class_scores"]


def test_a_missing_standin_is_named_before_any_training(tmp_path, monkeypatch, capsys):
    config = tmp_path / "demo.yaml"
    config.write_text(f"extends: {demo.config_file(demo.DEMO_CONFIG)}\n"
                      "fine:\n  model: {checkpoint: gone/open_clip_model.safetensors}\n")
    monkeypatch.setattr(demo, "config_file", lambda relative: config)
    assert main(["demo", "--out", str(tmp_path / "work")]) != 0
    err = capsys.readouterr().err
    assert "stand-in CLIP" in err and "tcvads pretrain-clip" in err and "gone" in err
    assert not (tmp_path / "work" / "run").exists()
