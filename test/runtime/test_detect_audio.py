# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`tcvads detect` with sound: a video's own audio track, the WAV beside it, a sound file given,
a rosbag2's audio topic; a source without sound says so once; `--audio off`; a bundle without
sound unchanged; the explanation and the summary say what the sound did."""

from __future__ import annotations

import json

import pytest
from audio_files import bangs, write_av, write_bag_with_sound, write_wav
from hearing_bundle import make_hearing_bundle
from tiny_bundle import make_tiny_bundle, red_scene

from tcvads_ros.cli import main

FPS = 25.0
# The two bangs every recording here has (two snippets in a row, longer than the event's minimum
# duration): the hearing bundle alarms on them alone.
BANG_S = 3.1
BANGS = [BANG_S, BANG_S + 0.5]


@pytest.fixture(scope="module")
def hearing(tmp_path_factory):
    return make_hearing_bundle(tmp_path_factory.mktemp("hearing") / "b")


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("plain") / "b")[0]


def frames(seconds=6.0):
    return [red_scene(i, FPS, []) for i in range(int(seconds * FPS))]


def detect(capsys, *argv):
    code = main(["detect", *map(str, argv), "--backend", "onnxruntime"])
    return code, capsys.readouterr().out


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_videos_own_sound_drives_the_alarm_and_the_explanation_names_the_bang(hearing, tmp_path, capsys):
    video = write_av(tmp_path / "street.mp4", frames(), bangs(6.0, BANGS), audio_codec="aac")
    code, out = detect(capsys, video, "--bundle", hearing.root, "--events", tmp_path / "e.jsonl",
                       "--threshold", "0.5")
    assert code == 0
    events = records(tmp_path / "e.jsonl")
    starts = [e for e in events if e.get("kind") == "start"]
    assert len(starts) == 1 and BANG_S <= starts[0]["start_stamp"] <= BANG_S + 0.65
    explanation = next(e for e in events if e["record_type"] == "explanation")
    impulse = explanation["sound"]["impulse"]["stamp"]
    assert explanation["sound"]["drove"] and min(abs(impulse - b) for b in BANGS) < 0.03
    assert f"sound from {video}" in out
    assert "sound:      drove the score" in out and f"loud impulse at {impulse:.2f}s" in out
    summary = next(line for line in out.splitlines() if line.startswith("summary:"))
    assert ", sound: 9 snippets heard, 0 partly, 1 not heard (6" in summary and "audio branch" in summary
    assert "notice" not in out


def test_the_wav_beside_a_video_and_a_sound_file_given(hearing, tmp_path, capsys):
    video = write_av(tmp_path / "clip.mp4", frames(), None)
    write_wav(tmp_path / "clip.wav", bangs(6.0, BANGS))
    code, out = detect(capsys, video, "--bundle", hearing.root, "--no-fine", "--threshold", "0.5")
    assert code == 0 and f"sound from {tmp_path / 'clip.wav'}" in out and "START" in out
    other = write_wav(tmp_path / "elsewhere.wav", bangs(6.0, [1.5, 2.0]))
    code, out = detect(capsys, video, "--bundle", hearing.root, "--no-fine", "--threshold", "0.5", "--audio", other)
    assert code == 0 and f"sound from {other}" in out
    start = next(line for line in out.splitlines() if "START" in line)
    assert "since 0:01" in start  # the given file's bang, not the sidecar's


def test_a_source_without_sound_is_scored_from_vision_and_says_so_once(hearing, tmp_path, capsys):
    video = write_av(tmp_path / "mute.mp4", frames(12.0), None)
    code, out = detect(capsys, video, "--bundle", hearing.root, "--no-fine", "--threshold", "0.5")
    assert code == 0
    notices = [line for line in out.splitlines() if "notice:" in line]
    assert notices == ["tcvads detect: notice: the bundle listens but " f"{video} has no sound (the file has no "
                       "audio track and no mute.wav beside it): scoring from vision only"]
    assert "START" not in out and ", sound: 0 snippets heard, 0 partly, 19 not heard (0 chunks" in out
    code, out = detect(capsys, video, "--bundle", hearing.root, "--no-fine", "--audio", "off", "--quiet")
    assert code == 0 and "has no sound (--audio off)" in out  # notices are shown even when quiet


def test_a_bundle_without_sound_runs_as_before(plain, tmp_path, capsys):
    video = write_av(tmp_path / "street.mp4", frames(), bangs(6.0, BANGS))
    code, out = detect(capsys, video, "--bundle", plain.root, "--no-fine", "--events", tmp_path / "a.jsonl")
    assert code == 0 and "sound from" not in out and ", sound:" not in out and "notice" not in out
    code, out = detect(capsys, video, "--bundle", plain.root, "--no-fine", "--events", tmp_path / "b.jsonl",
                       "--audio", tmp_path / "street.mp4")
    assert code == 0 and "the bundle has no audio branch: --audio" in out
    strip = [{k: v for k, v in r.items() if k != "event_id"} for r in records(tmp_path / "a.jsonl")]
    assert strip == [{k: v for k, v in r.items() if k != "event_id"} for r in records(tmp_path / "b.jsonl")]


def test_audio_option_errors_are_one_line(hearing, tmp_path, capsys):
    video = write_av(tmp_path / "v.mp4", frames(2.0), None)
    code = main(["detect", str(video), "--bundle", str(hearing.root), "--audio", str(tmp_path / "none.wav")])
    assert code == 2 and "no such file" in capsys.readouterr().err
    code = main(["detect", str(video), str(video), "--bundle", str(hearing.root), "--audio", str(video)])
    assert code == 2 and "--audio PATH is the sound of one source" in capsys.readouterr().err
    code = main(["detect", str(video), "--bundle", str(hearing.root), "--audio", str(video)])
    assert code == 2 and "the file has no sound" in capsys.readouterr().err


def test_a_rosbag_with_an_audio_topic_feeds_its_sound_by_stamps(hearing, tmp_path, capsys):
    bag = write_bag_with_sound(tmp_path / "bag", 6.0, bangs(6.0, BANGS), drop={10, 11})
    code, out = detect(capsys, bag, "--bundle", hearing.root, "--no-fine", "--threshold", "0.5",
                       "--events", tmp_path / "e.jsonl")
    assert code == 0 and "sound from /audio/audio_stamped (S16LE, 1 ch, 16000 Hz)" in out
    starts = [e for e in records(tmp_path / "e.jsonl") if e.get("kind") == "start"]
    assert len(starts) == 1 and 1 + BANG_S <= starts[0]["start_stamp"] <= 1 + BANG_S + 0.65  # stamps from 1 s
    summary = next(line for line in out.splitlines() if line.startswith("summary:"))
    assert "58 chunks, 2 chunks lost" in summary and "notice" not in out


def test_a_rosbag_without_audio_info_is_scored_from_vision(hearing, tmp_path, capsys):
    bag = write_bag_with_sound(tmp_path / "bag", 3.0, bangs(3.0, [1.0]), info=False)
    code, out = detect(capsys, bag, "--bundle", hearing.root, "--no-fine")
    assert code == 0 and "has no sound (the bag has no audio_common_msgs/msg/AudioInfo beside" in out
    bag = write_bag_with_sound(tmp_path / "bag2", 3.0, bangs(3.0, [1.0]))
    code, out = detect(capsys, bag, "--bundle", hearing.root, "--no-fine", "--audio-topic", "/mic")
    assert code == 2


def test_a_rosbag_chunk_in_a_format_not_read_is_refused_and_counted(hearing, tmp_path, capsys):
    bag = write_bag_with_sound(tmp_path / "bag", 3.0, bangs(3.0, [1.0]), fmt="S16LE")
    # the same bag, its AudioInfo claiming a format no one reads
    from tcvads_ros.runtime import sources

    real = sources.pcm_to_float

    def refuse(data, fmt, channels, coding=""):
        raise sources.AudioConversionError("unsupported_format", "test")

    sources.pcm_to_float = refuse
    try:
        code, out = detect(capsys, bag, "--bundle", hearing.root, "--no-fine")
    finally:
        sources.pcm_to_float = real
    assert code == 0 and "30 chunks, 30 chunks refused" in out


def test_the_bag_readers_message_definitions_are_the_interface_packages():
    from pathlib import Path

    from tcvads_ros.runtime.sources import AUDIO_MSGS

    folder = Path(__file__).resolve().parents[2] / "interfaces" / "audio_common_msgs" / "msg"
    if not folder.is_dir():
        pytest.skip("interfaces/audio_common_msgs is not in this checkout")

    def fields(text):
        lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
        return [" ".join(line.split()) for line in lines if line]

    for name, text in AUDIO_MSGS.items():
        assert fields((folder / f"{name.rsplit('/', 1)[1]}.msg").read_text()) == fields(text), name


def test_calibrate_hears_what_the_bundle_hears(hearing, tmp_path, capsys):
    # normal footage of a site with a door slam (two bangs): a bundle that listens alarms on it,
    # so its site threshold must rise above it; the profile names the audio graph
    from tcvads_ros.runtime.site_profile import SiteProfile

    # a softer slam than the others here: its score stays below 1.0, which a threshold can clear
    video = write_av(tmp_path / "site.mp4", frames(24.0), 0.3 * bangs(24.0, BANGS))
    mute = write_av(tmp_path / "mute.mp4", frames(24.0), None)
    common = ["--false-alarms-per-hour", "600", "--backend", "onnxruntime"]  # 1 alarm in 24 s: 711/h
    assert main(["calibrate", str(hearing.root), "--normal", str(video), "--out", str(tmp_path / "a.json"),
                 "--quiet", *common]) == 0
    heard = SiteProfile.load(tmp_path / "a.json")
    assert heard.calibration["bundle_alarms"] == 1 and heard.events.threshold_on > 0.5
    assert "coarse_audio.onnx" in heard.coarse_graphs
    capsys.readouterr()
    assert main(["calibrate", str(hearing.root), "--normal", str(mute), "--out", str(tmp_path / "b.json"),
                 *common]) == 0
    assert "no sound (the file has no audio track" in capsys.readouterr().err
    assert SiteProfile.load(tmp_path / "b.json").calibration["bundle_alarms"] == 0
    # and detect takes the profile calibrated on this bundle
    assert main(["detect", str(video), "--bundle", str(hearing.root), "--no-fine", "--backend", "onnxruntime",
                 "--site", str(tmp_path / "a.json")]) == 0
    assert "START" not in capsys.readouterr().out
