"""`tcvads demo` without its training step: a finished (tiny, untrained) run in --out/run is
re-used, so the test covers export, the synthetic test video, detect and the comparison."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "runtime"))

from tiny_bundle import make_tiny_run  # noqa: E402

from tcvads_ros import demo  # noqa: E402
from tcvads_ros.cli import main  # noqa: E402


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
