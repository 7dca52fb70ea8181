# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""docs/audio.md's `tcvads detect` commands run as shown, on files made here with the names the
page uses (a video with sound, a sound file, a rosbag2 with an audio topic) and a bundle that
listens at bundles/audio."""

from __future__ import annotations

import shlex

import pytest
from audio_files import bangs, write_av, write_bag_with_sound, write_wav
from documented_commands import REPO, commands
from hearing_bundle import make_hearing_bundle
from tiny_bundle import red_scene

from tcvads_ros.cli import main

BANGS = [3.1, 3.6]  # two snippets in a row: the hearing bundle alarms
LINES = [line for line in commands(REPO / "docs" / "audio.md") if line.startswith("tcvads detect")]


def frames(seconds=6.0, fps=25.0):
    return [red_scene(i, fps, []) for i in range(int(seconds * fps))]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = tmp_path_factory.mktemp("docs")
    make_hearing_bundle(work / "bundles" / "audio")
    write_av(work / "street.mp4", frames(), bangs(6.0, BANGS))
    write_av(work / "clip.mp4", frames(), None)
    write_wav(work / "clip.wav", bangs(6.0, BANGS))
    write_wav(work / "recording.wav", bangs(6.0, [1.5, 2.0]))
    write_bag_with_sound(work / "recording", 6.0, bangs(6.0, BANGS))
    return work


def test_the_page_shows_the_audio_options():
    assert len(LINES) == 4 and {"--audio", "--audio-topic"} <= {w for line in LINES for w in line.split()}


@pytest.mark.parametrize("line", LINES)
def test_documented_detect_command_runs(workdir, line, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    argv = shlex.split(line, comments=True)[1:]
    assert main([*argv, "--backend", "onnxruntime", "--no-fine"]) == 0
    out = capsys.readouterr().out
    if "off" in argv:
        assert "has no sound (--audio off)" in out
    else:
        assert "sound from" in out and "START" in out
