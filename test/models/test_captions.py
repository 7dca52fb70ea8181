# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""CaptionBank: the shipped bank loads; YAML and text files; clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcvads_ros.errors import ConfigError
from tcvads_ros.models.captions import CaptionBank

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "captions.yaml"


def test_shipped_bank():
    bank = CaptionBank.from_file(SHIPPED)
    assert 30 <= len(bank) <= 80
    assert all(len(c.split()) <= 12 for c in bank.captions)  # short, so prompts keep them


def test_yaml_list_mapping_and_text(tmp_path):
    (tmp_path / "a.yaml").write_text("- a quiet street\n- a  busy   road\n")
    (tmp_path / "b.yml").write_text("captions: [a quiet street]\n")
    (tmp_path / "c.txt").write_text("# my scenes\na quiet street\n\nan empty hall\n")
    assert CaptionBank.from_file(tmp_path / "a.yaml").captions == ["a quiet street", "a busy road"]
    assert len(CaptionBank.from_file(tmp_path / "b.yml")) == 1
    bank = CaptionBank.from_file(tmp_path / "c.txt")
    assert bank.captions == ["a quiet street", "an empty hall"] and bank[1] == "an empty hall"


@pytest.mark.parametrize("text,match", [
    ("captions: 3\n", "list"),
    ("other: [x]\n", "captions"),
    ("- a\n- ''\n", "caption 2"),
    ("- a street\n- A street\n", "repeats"),
    ("[]\n", "empty"),
    ("- [unclosed\n", "YAML"),
])
def test_bad_files_name_the_problem(tmp_path, text, match):
    path = tmp_path / "bank.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        CaptionBank.from_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        CaptionBank.from_file(tmp_path / "none.yaml")
