# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`benchmarks/audio_seeds.py` (docs/results.md, "Sound"): its figures by hand, verbal abuse told
apart from the abuse it is annotated as, the targets judged, and the whole benchmark in --quick."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.audio_seeds import (
    CONFIG,
    VERBAL,
    episode_kinds,
    false_alarms,
    judge,
    kind_figures,
    main,
    write_footage,
)
from tcvads_ros.data.synthetic import SynthConfig, is_verbal, plan_benchmark
from tcvads_ros.training.train_config import load_config


def test_each_kind_is_measured_against_the_normal_frames_only():
    # video 0: shooting at frames 0-16 scored high; video 1: verbal abuse at 16-32 scored low;
    # video 2 normal, scored in between
    frames = [np.r_[np.full(16, 0.9), np.full(16, 0.2)], np.r_[np.full(16, 0.2), np.full(16, 0.1)],
              np.full(32, 0.3)]
    gt = [np.r_[np.ones(16), np.zeros(16)], np.r_[np.zeros(16), np.ones(16)], np.zeros(32)]
    kinds = [[("Shooting", 0, 16)], [(VERBAL, 16, 32)], []]
    figures = kind_figures(frames, gt, kinds)
    assert figures["Shooting"]["AUC"] == 100.0 and figures[VERBAL]["AUC"] == 0.0
    assert figures["Shooting"]["frames"] == figures[VERBAL]["frames"] == 16


def test_verbal_abuse_is_named_apart_from_the_abuse_it_is_annotated_as():
    cfg = load_config(CONFIG)
    plans = [p for p in plan_benchmark(cfg.data.synth) if p.split == "test"]
    kinds = episode_kinds(cfg, [p.name for p in plans], [cfg.data.synth.frames // 16] * len(plans))
    verbal = [(p.name, k) for p in plans for k, seg in enumerate(p.episodes) if is_verbal(p, cfg.data.synth, k)]
    named = [(p.name, k) for p, episodes in zip(plans, kinds) for k, (kind, _, _) in enumerate(episodes)
             if kind == VERBAL]
    assert verbal and named == verbal  # the benchmark's test split holds some, all of them named
    assert all(kind == "Abuse" for p, episodes in zip(plans, kinds) for k, (kind, _, _) in enumerate(episodes)
               if p.episodes[k].label == "B5" and (p.name, k) not in verbal)


def test_false_alarms_are_the_event_machines_starts_per_hour():
    fps = 24.0
    quiet = np.full(90, 0.1)  # one minute of snippets (16 frames at 24 fps)
    loud = quiet.copy()
    loud[30:40] = 0.9  # one burst: one alarm
    result = false_alarms([quiet, loud], ["a", "b"], threshold=0.5, fps=fps)
    assert result["alarms"] == 1 and result["hours"] == pytest.approx(2 * 90 * 16 / fps / 3600)
    assert false_alarms([quiet, loud], ["a", "b"], threshold=0.95, fps=fps)["alarms"] == 0


def _summary(shooting: tuple[float, float], verbal: tuple[float, float], riot: tuple[float, float],
             fa: tuple[float, float]) -> dict:
    def row(i):
        return {"AUC:Shooting": {"mean": shooting[i]}, f"AUC:{VERBAL}": {"mean": verbal[i]},
                "AUC:Riot": {"mean": riot[i]}, "FA/h": {"mean": fa[i]}}

    return {"audio": {"student": row(0)}, "vision": {"student": row(1)}}


def test_targets_are_judged_on_the_students_means():
    met = judge(_summary((80, 60), (85, 52), (90, 91), (3, 4)))
    assert [row["met"] for row in met] == [True, True, True, True]
    missed = judge(_summary((70, 60), (75, 52), (87, 91), (5, 4)))
    assert [row["met"] for row in missed] == [False, False, False, False]
    assert "Riot -4.0" in missed[2]["value"]


def test_footage_is_normal_with_distractor_sounds(tmp_path):
    synth = SynthConfig(videos=1, width=64, height=48, fps=24.0)
    listed = write_footage(tmp_path, synth, count=2, seconds=4.0)
    rows = listed.read_text().splitlines()[1:]
    assert len(rows) == 2 and all(row.endswith(",A") for row in rows)
    assert len(list((tmp_path / "videos").glob("*.wav"))) == 2
    assert json.loads((tmp_path / "footage.json").read_text())["distractor_sounds"] >= 2  # 1-3 a video


def test_quick_benchmark_writes_every_figure(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--quick", "--seeds", "0", "--fusion-seeds", "--threads", "1"]) == 0
    result = json.loads((tmp_path / "audio_seeds.json").read_text())
    assert set(result["summary"]) == {"audio", "vision"}
    for variant in result["summary"].values():
        assert set(variant) == {"teacher", "student"}
        for row in variant.values():
            assert {"AP", "AUC", "FA/h"} <= set(row) and any(k.startswith("AUC:") for k in row)
    run = result["runs"]["0"]
    assert run["audio"]["student"]["hears"] and not run["vision"]["student"]["hears"]
    assert len(result["targets"]) == 4 and result["footage"]["videos"] == 2
    out = capsys.readouterr().out
    assert "| student, audio (n=1) |" in out and "false alarms/h not higher" in out
