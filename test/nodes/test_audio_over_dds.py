# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""coarse_node hears a camera's microphone over Fast DDS: camera_player plays a video and the
WAV beside it (what `tcvads synth --audio` writes) as audio_common_msgs/AudioDataStamped with its
AudioInfo, as audio_capture publishes them, and coarse_node (a separate process, started as
`ros2 run` starts it) reads them on ``audio_topic``.

The bundle listens (a redness bundle with an audio graph: its score is still how red the picture
is, so the events are known) and the tests read the sound's counts in /diagnostics: every chunk
sent arrives and is placed, chunks left out on the way are counted lost, a camera that listens
and hears nothing is WARN, and a bundle that does not listen leaves the audio topic alone and
reports exactly what it did before. Needs ROS 2 (the registry's Jazzy wheels and the
audio_common_msgs stand-in: scripts/install_ros.sh).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.rclpy, pytest.mark.slow]
rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (no ROS 2 on this machine)")
pytest.importorskip("audio_common_msgs.msg", reason="audio_common_msgs is not installed (scripts/install_ros.sh)")

from ros_harness import (  # noqa: E402, F401 - ros_with_processes: the fixture ros
    NodeProcess,
    Observer,
    node_args,
    play,
    played,
    ros_with_processes,
    wait_until,
    write_wav,
)
from tiny_bundle import TINY_AUDIO, make_redness_bundle, write_red_video  # noqa: E402

FPS = 24.0
SECONDS = 6.0
CHUNK_S = 0.2  # seconds of sound per message: a chunk left out leaves a gap longer than stamps jitter
AUDIO = "/audio/audio_stamped"  # audio_capture's AudioDataStamped, its AudioInfo on /audio/audio_info


@pytest.fixture(scope="module")
def listening(tmp_path_factory) -> Path:
    """A redness bundle (its score: how red the picture is) with an audio graph: it listens."""
    return make_redness_bundle(tmp_path_factory.mktemp("listening") / "bundle", audio=TINY_AUDIO.to_dict()).root


@pytest.fixture(scope="module")
def deaf(tmp_path_factory) -> Path:
    """The same bundle without sound."""
    return make_redness_bundle(tmp_path_factory.mktemp("deaf") / "bundle").root


def video_with_sound(folder: Path, anomalies: list[tuple[float, float]]) -> Path:
    """A street video and, beside it, its sound (`videos/<name>.wav`, as `tcvads synth --audio`)."""
    video = write_red_video(folder / "street.avi", seconds=SECONDS, fps=FPS, anomalies=anomalies)
    write_wav(video.with_suffix(".wav"), SECONDS)
    return video


def named(tester: Observer, name: str) -> dict | None:
    """The newest /diagnostics status called exactly `name`."""
    with tester.lock:
        return next((report[name] for report in reversed(tester.diagnostics) if name in report), None)


def number(status: dict, key: str) -> int:
    return int(status.get(key, "0"))


def test_coarse_node_hears_every_chunk_and_counts_the_ones_lost_on_the_way(listening, tmp_path):
    """Every fifth chunk (of 0.2 s) left out by the player: each is counted lost (the gap in the
    chunks' stamps, longer than their jitter), every other one placed; the snippets are heard; the level says so while it happens;
    the events still follow the picture (the sound is aligned, not in the way)."""
    video = video_with_sound(tmp_path, anomalies=[(2.0, 4.0)])
    coarse = NodeProcess("coarse_node", *node_args(listening, tmp_path, "coarse", "camera_qos:=reliable",
                                                   f"audio_topic:={AUDIO}"), log=tmp_path / "coarse.log")
    tester = Observer()
    try:
        wait_until(lambda: tester.matched("/anomaly", 1), 60, "coarse_node to start", detail=coarse.text)
        summary = played(play(video, "/camera/image_raw", tmp_path / "player.log", "--depth", "10",
                              "--audio-topic", AUDIO, "--audio-chunk", str(CHUNK_S), "--drop-audio", "5",
                              "--wait-audio-subscribers", "1"))
        sent, dropped = summary["audio_chunks"], summary["audio_dropped"]
        assert sent + dropped == round(SECONDS / CHUNK_S) and dropped == round(SECONDS / CHUNK_S) // 5
        status = wait_until(lambda: (s := tester.status("coarse_node")) and number(s, "audio.chunks") >= sent and s,
                            20, "every chunk counted in /diagnostics", detail=lambda: tester.status("coarse_node"))
        wait_until(lambda: tester.events("end"), 30, "the event's end", detail=coarse.text)
    finally:
        assert coarse.stop() == 0, coarse.text()[-3000:]
        tester.close()
    assert status["audio_topic"] == AUDIO and status["audio_info"] == "16000 Hz, 1 channel(s), S16LE"
    assert number(status, "audio.chunks") == sent and number(status, "audio.chunks_refused") == 0
    # each chunk left out is a gap of one chunk between two that came; the last one may have no successor
    assert dropped - 1 <= number(status, "audio.chunks_lost") <= dropped
    # every snippet's window heard, whole or in part (a fifth of the sound is missing), none waiting
    heard = number(status, "audio.snippets_heard") + number(status, "audio.snippets_partial")
    assert heard >= int(SECONDS * FPS / 16) - 2 and number(status, "audio.snippets_missing") <= 1, status
    assert any("audio chunks from /audio/audio_stamped:" in s["message"] and "lost" in s["message"]
               for s in tester.statuses("coarse_node")), [s["message"] for s in tester.statuses("coarse_node")]
    starts, ends = tester.events("start"), tester.events("end")
    assert len(starts) == 1 and len(ends) == 1
    assert abs(starts[0]["start_stamp"] - starts[0]["header"]["stamp"]["sec"]) < 10  # stamped on the camera's clock
    log = coarse.text()
    assert f"reading sound (AudioDataStamped) from {AUDIO} with its AudioInfo on /audio/audio_info" in log
    assert f"hearing {AUDIO}: 16000 Hz, 1 channel(s), S16LE" in log


def test_a_camera_that_listens_and_hears_nothing_is_warned_about_and_scored_from_vision(listening, tmp_path):
    """The player plays no sound: the status is WARN ("no sound ... scoring from vision only"),
    and the events come from the picture all the same."""
    video = write_red_video(tmp_path / "street.avi", seconds=SECONDS, fps=FPS, anomalies=[(2.0, 4.0)])
    coarse = NodeProcess("coarse_node", *node_args(listening, tmp_path, "coarse", "camera_qos:=reliable",
                                                   f"audio_topic:={AUDIO}"), log=tmp_path / "coarse.log")
    tester = Observer()
    try:
        wait_until(lambda: tester.matched("/anomaly", 1), 60, "coarse_node to start", detail=coarse.text)
        played(play(video, "/camera/image_raw", tmp_path / "player.log", "--depth", "10"))
        wait_until(lambda: tester.events("end"), 30, "the event's end", detail=coarse.text)
    finally:
        assert coarse.stop() == 0, coarse.text()[-3000:]
        tester.close()
    running = [s for s in tester.statuses("coarse_node") if number(s, "frames_in")]
    assert running and all(s["level"] == "WARN" for s in running), [(s["level"], s["message"]) for s in running]
    assert f"no sound from {AUDIO} in the last window (no AudioInfo on /audio/audio_info yet): scoring from vision only" \
        in running[-1]["message"]
    assert number(running[-1], "audio.snippets_missing") >= 1 and number(running[-1], "audio.snippets_heard") == 0
    assert [e["kind"] for e in tester.events() if e["kind"] != "update"] == ["start", "end"]


def test_a_bundle_that_does_not_listen_leaves_the_audio_topic_alone(deaf, listening, tmp_path):
    """A bundle without an audio graph: audio_topic is not read (said once), the status has no
    sound in it; a bundle that listens and a camera without audio_topic: vision only, said once."""
    coarse = NodeProcess("coarse_node", *node_args(deaf, tmp_path, "deaf", f"audio_topic:={AUDIO}"),
                         log=tmp_path / "deaf.log")
    listener = NodeProcess("coarse_node", *node_args(listening, tmp_path, "listener", namespace="/other"),
                           log=tmp_path / "listener.log")
    tester = Observer()
    try:
        wait_until(lambda: tester.matched("/anomaly", 1) and tester.matched("/other/anomaly", 1), 60,
                   "both coarse_nodes to start", detail=lambda: coarse.text() + listener.text())
        status = wait_until(lambda: named(tester, "tcvads_ros: /coarse_node"), 20, "a status")
        assert tester.node.count_subscribers(AUDIO) == 0 and tester.node.count_subscribers("/audio/audio_info") == 0
    finally:
        assert coarse.stop() == 0 and listener.stop() == 0
        tester.close()
    assert not [key for key in status if key.startswith("audio")], status
    assert f"does not listen (no audio graph): {AUDIO} not read; scoring from vision only" in coarse.text()
    assert "the bundle listens but /camera/image_raw has no sound (no audio_topic): scoring from vision only" \
        in listener.text()
