# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`tcvads detect` with sound: a video's own audio track, the WAV beside it, a sound file given,
a rosbag2's audio topic; a source without sound says so once; `--audio off`; a bundle without
sound unchanged; the explanation and the summary say what the sound did."""

from __future__ import annotations

import json

import numpy as np
import pytest
from audio_files import bangs, write_av, write_wav
from hearing_bundle import make_hearing_bundle
from tiny_bundle import make_tiny_bundle, red_scene

from tcvads_ros.cli import main
from tcvads_ros.runtime.audio_convert import FORMATS

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


def write_bag_with_sound(path, seconds, samples, rate=16000, audio_topic="/audio/audio_stamped",
                         info_topic="/audio/audio_info", info=True, drop=(), fmt="S16LE", delay_s=0.1):
    """`red_scene` frames (rgb8 Image, /camera/image_raw) and the sound as AudioDataStamped chunks
    of 0.1 s, each recorded `delay_s` after its first sample (as a driver hands it over), with one
    AudioInfo at the start; chunk indices in `drop` are left out."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    from tcvads_ros.runtime.sources import AUDIO_DATA_TYPE, AUDIO_INFO_TYPE, AUDIO_MSGS

    store = get_typestore(Stores.ROS2_HUMBLE)
    for name, text in AUDIO_MSGS.items():
        store.register(get_types_from_msg(text, name))
    t = store.types
    image, header, time = t["sensor_msgs/msg/Image"], t["std_msgs/msg/Header"], t["builtin_interfaces/msg/Time"]
    data, stamped, audio_info = t["audio_common_msgs/msg/AudioData"], t[AUDIO_DATA_TYPE], t[AUDIO_INFO_TYPE]
    dtype, scale = FORMATS[fmt]
    messages = []
    for i in range(int(round(seconds * FPS))):
        rgb = red_scene(i, FPS, [])
        ns = 10**9 + int(round(i / FPS * 1e9))
        msg = image(header=header(stamp=time(sec=ns // 10**9, nanosec=ns % 10**9), frame_id="camera"),
                    height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8", is_bigendian=0,
                    step=3 * rgb.shape[1], data=rgb.reshape(-1))
        messages.append((ns, "image", store.serialize_cdr(msg, image.__msgtype__)))
    step = int(0.1 * rate)
    for k, first in enumerate(range(0, len(samples), step)):
        if k in drop:
            continue
        pcm = np.round(samples[first:first + step] * (scale - 1)).astype(dtype)
        ns = 10**9 + int(round(first / rate * 1e9))
        msg = stamped(header=header(stamp=time(sec=ns // 10**9, nanosec=ns % 10**9), frame_id="mic"),
                      audio=data(data=np.frombuffer(pcm.tobytes(), np.uint8)))
        messages.append((ns + int(delay_s * 1e9), "audio", store.serialize_cdr(msg, AUDIO_DATA_TYPE)))
    if info:
        msg = audio_info(channels=1, sample_rate=rate, sample_format=fmt, bitrate=0, coding_format="wave")
        messages.append((10**9 - 1, "info", store.serialize_cdr(msg, AUDIO_INFO_TYPE)))
    with Writer(path, version=9) as writer:
        connections = {"image": writer.add_connection("/camera/image_raw", image.__msgtype__, typestore=store),
                       "audio": writer.add_connection(audio_topic, AUDIO_DATA_TYPE, typestore=store)}
        if info:
            connections["info"] = writer.add_connection(info_topic, AUDIO_INFO_TYPE, typestore=store)
        for ns, kind, raw in sorted(messages, key=lambda m: m[0]):
            writer.write(connections[kind], ns, raw)
    return path


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
