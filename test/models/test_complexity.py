# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`tcvads complexity`: JSON keys, the paper-sized student, and counted (not constant) FLOPs."""

from __future__ import annotations

import json

from tcvads_ros.cli import main


def _report(capsys, *args):
    assert main(["complexity", *args]) == 0
    return capsys.readouterr().out


def test_json_report(tiny_clip, capsys):
    rep = json.loads(_report(capsys, "--json", "--input-size", "64", "--clip-model", tiny_clip))
    assert set(rep) == {"coarse_teacher", "coarse_student", "fine"}
    for entry in rep.values():
        assert {"params_total", "params_trainable", "flops", "paper"} <= set(entry)
        assert 0 < entry["params_trainable"] <= entry["params_total"] and entry["flops"] > 0
    student = rep["coarse_student"]
    assert 3.0e6 <= student["params_total"] <= 4.5e6  # paper Table X: 3.6 M
    assert student["flops"] == student["backbone_flops"] + student["qacm_step_flops"]
    assert rep["fine"]["params_trainable"] < rep["fine"]["params_total"]  # CLIP is frozen
    assert rep["fine"]["paper"] == {"params": "28.4M", "flops": "22.17G"}
    # FLOPs scale with the input area; parameters do not depend on it
    bigger = json.loads(_report(capsys, "--json", "--input-size", "128", "--clip-model", tiny_clip))
    assert bigger["coarse_student"]["params_total"] == student["params_total"]
    ratio = bigger["coarse_student"]["backbone_flops"] / student["backbone_flops"]
    assert 3.5 < ratio < 4.5


def test_table_and_bad_size(tiny_clip, capsys):
    out = _report(capsys, "--input-size", "64", "--clip-model", tiny_clip)
    assert "coarse_student" in out and "paper params" in out and "22.17G" in out
    assert main(["complexity", "--input-size", "8"]) == 2
    assert "input_size" in capsys.readouterr().err
