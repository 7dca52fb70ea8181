# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Run folders written before a model setting existed load as they were trained."""

from __future__ import annotations

from tcvads_ros.models.registry import create_model
from tcvads_ros.training.run_folder import RunFolder


def test_a_student_saved_without_a_padding_setting_keeps_zero_padding(tmp_path):
    cfg = {"input": "features", "input_dim": 8, "hidden": 4}
    for name, config, expected in [("old", cfg, "zeros"), ("new", {**cfg, "padding": "replicate"}, "replicate")]:
        run = RunFolder(tmp_path / name)
        run.save_model("student", create_model("qacm_student", **config), "qacm_student", config,
                       {"input": "features", "snippet_frames": 16, "window": 15})
        assert run.load_stage("student").qacm.padding == expected
