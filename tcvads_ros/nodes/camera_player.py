# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""camera_player: play a video file, an image folder or a synthetic scene as a ROS 2 camera.

    camera_player VIDEO [--topic /camera/image_raw] [--fps 30] [--encoding rgb8|bgr8|jpeg]
                        [--audio-topic /audio/audio_stamped]

Publishes sensor_msgs/Image (or CompressedImage on ``<topic>/compressed`` with ``--encoding
jpeg``) at the source's frame rate, each frame stamped with its capture time on the schedule
(wall clock), as a camera driver stamps its frames. Frames are decoded (and encoded) before playing starts, so the pace does
not depend on the decoder. For trying the nodes without a camera, for the end-to-end tests and for
the transport benchmark (benchmarks/ros_transport.py); without cv_bridge or image_tools.

With ``--audio-topic`` it also plays the file's sound (`runtime.audio_sources.read_audio_track`:
the video's own audio stream, or the WAV beside it that `tcvads synth --audio` writes) as a
microphone driver does (audio_common's audio_capture with format wave): audio_common_msgs/
AudioDataStamped chunks of raw S16LE samples (``--audio-chunk`` seconds, 0.1 by default) on that
topic, each stamped with the time of its first sample on the same schedule as the frames, and an
AudioInfo (rate, channels, format) on ``audio_info`` beside it, transient-local. The sound follows
the frames through ``--rate``, ``--fps``, ``--pause`` and cycling (``--count``): played faster, its
AudioInfo rate is scaled by the same factor, so its stamps and its samples keep one clock.
``--drop-audio N`` leaves out every Nth chunk (a lossy link) and ``--audio-offset S`` stamps the
sound S seconds off its frames (a microphone on another clock), for tests and demonstrations.

On exit it prints one JSON line: frames published, seconds, frames per second (and the audio
chunks published and dropped).
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rclpy
from rclpy.duration import Duration
from rclpy.signals import SignalHandlerOptions
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image

from tcvads_ros.errors import SourceError
from tcvads_ros.nodes.common import camera_qos
from tcvads_ros.nodes.messages import (
    audio_info_fields,
    audio_info_topic,
    image_fields,
    pcm_s16le,
    ros_bytes,
)
from tcvads_ros.runtime.audio_convert import AudioChunk
from tcvads_ros.runtime.frames import resize_rgb
from tcvads_ros.runtime.sources import open_source


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="camera_player", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="video file, folder of images, or 'synthetic:WxH' (moving noise)")
    parser.add_argument("--topic", default="/camera/image_raw", help="image topic (default %(default)s)")
    parser.add_argument("--fps", type=float, help="frames per second (default: the source's)")
    parser.add_argument("--rate", type=float, default=1.0,
                        help="play at this multiple of the frame rate (default %(default)s; replay.launch.py's rate)")
    parser.add_argument("--encoding", choices=("rgb8", "bgr8", "jpeg"), default="rgb8",
                        help="raw rgb8 / bgr8 Image, or JPEG CompressedImage on TOPIC/compressed")
    parser.add_argument("--qos", choices=("reliable", "best_effort"), default="reliable",
                        help="publisher reliability (default %(default)s)")
    parser.add_argument("--depth", type=int, default=5, help="publisher queue depth (default %(default)s)")
    parser.add_argument("--frame-id", default="camera", help="header frame_id (default %(default)s)")
    parser.add_argument("--size", help="resize frames to WxH first")
    parser.add_argument("--count", type=int, help="frames to publish (cycling the source; default: all)")
    parser.add_argument("--cycle", type=int, default=0, help="read at most this many source frames and cycle them")
    parser.add_argument("--pause", action="append", default=[], metavar="FRAME:SECONDS",
                        help="stop sending for SECONDS before frame FRAME (a camera that stops and comes back)")
    parser.add_argument("--wait-subscribers", type=int, default=0, metavar="N",
                        help="wait until N subscriptions are matched before playing")
    parser.add_argument("--wait-timeout", type=float, default=30.0, help="seconds to wait for them")
    parser.add_argument("--stamps-out", type=Path, help="write the stamp of every published frame here (JSON list)")
    parser.add_argument("--audio-topic", help="also play the file's sound as audio_common_msgs/AudioDataStamped "
                        "on this topic, its AudioInfo on audio_info beside it (default: no sound)")
    parser.add_argument("--audio-chunk", type=float, default=0.1, help="seconds of sound per audio message "
                        "(default %(default)s)")
    parser.add_argument("--drop-audio", type=int, default=0, metavar="N",
                        help="leave out every Nth audio chunk (a lossy link; default: none)")
    parser.add_argument("--audio-offset", type=float, default=0.0, metavar="SECONDS",
                        help="stamp the sound this many seconds later than its frames (a microphone on another clock)")
    parser.add_argument("--wait-audio-subscribers", type=int, default=0, metavar="N",
                        help="wait until N subscriptions to the audio topic are matched before playing")
    args = parser.parse_args(argv)
    if not 0.005 <= args.audio_chunk <= 10.0:
        parser.error("--audio-chunk must be between 0.005 and 10 seconds")
    if args.drop_audio < 0:
        parser.error("--drop-audio must be >= 0")
    try:
        args.pause = dict(_pause(p) for p in args.pause)
        args.size = tuple(int(v) for v in args.size.lower().split("x")) if args.size else None
    except ValueError as error:
        parser.error(str(error))
    return args


def _pause(text: str) -> tuple[int, float]:
    frame, _, seconds = text.partition(":")
    return int(frame), float(seconds)


def load_frames(spec: str, size: tuple[int, int] | None, limit: int) -> tuple[list[np.ndarray], float]:
    """RGB frames of the source (at most `limit` when > 0) and its frame rate."""
    if spec.startswith("synthetic:"):
        width, height = (int(v) for v in spec.split(":", 1)[1].lower().split("x"))
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(limit or 30)]
        return frames, 30.0
    source = open_source(spec)
    frames = []
    try:
        for frame in source:
            frames.append(frame.rgb if size is None else resize_rgb(frame.rgb, (size[1], size[0])))
            if limit and len(frames) >= limit:
                break
    finally:
        source.close()
    if not frames:
        raise SourceError(f"{spec}: no frames")
    return frames, source.fps


@dataclass(frozen=True)
class Item:
    """One message of the play: a frame (`index` into the frames) or an audio chunk (`index` into
    the chunks), stamped `stamp` seconds from the start of the play and sent `send` seconds from
    it: a frame at its stamp, a chunk once its last sample is in, as a microphone driver sends a
    buffer when it is full."""

    send: float
    stamp: float
    kind: str  # "frame" or "audio"
    index: int


def schedule(count: int, n_frames: int, fps: float, speed: float, pauses: dict[int, float],
             chunks: list[AudioChunk]) -> Iterator[Item]:
    """The play's messages in time order: `count` frames cycling `n_frames` source frames of a
    `fps` file, and the sound of the file (`chunks`, stamped on the file's clock, whose frame k is
    at k / fps) cycled with them; all played `speed` times as fast, and held still for the
    seconds of `pauses` before the frame (number) each names. A frame comes before a chunk of the
    same moment. Only the sound of the file's frames plays: from its first frame to the end of
    the last one played. A chunk is stamped with the time of its first sample and sent at
    that of its end (its sound arrives a chunk after the frames it belongs to, as a live
    microphone's does). Made as it is played (a soak plays ``--count 1000000000`` frames)."""
    period = n_frames / fps  # the file's seconds per cycle
    held = sorted(pauses.items())

    def offset(file_s: float, frame: int | None = None) -> float:
        """Seconds from the start of the play of file time `file_s` (of frame `frame`, if one)."""
        before = sum(s for f, s in held if (f <= frame if frame is not None else f / fps <= file_s + 1e-9))
        return file_s / speed + before

    def frames() -> Iterator[Item]:
        for k in range(count):
            at = offset(k / fps, k)
            yield Item(at, at, "frame", k % n_frames)

    def sound() -> Iterator[Item]:
        end = count / fps
        for cycle in range(int(np.ceil(count / n_frames))):
            for i, chunk in enumerate(chunks):
                file_s = cycle * period + chunk.stamp
                if file_s >= end:
                    return
                if 0.0 <= chunk.stamp < period:
                    stamp = offset(file_s)
                    yield Item(stamp + chunk.duration / speed, stamp, "audio", i)

    # each stream is in time order already (chunks are sorted by stamp), so merging keeps it
    return heapq.merge(frames(), sound(), key=lambda item: (item.send, item.kind != "frame"))


def load_sound(spec: str, seconds: float) -> list[AudioChunk]:
    """The sound of a video or audio file in chunks of `seconds` on the file's clock (empty: it
    has none, or the source is not a file: a folder of images, a synthetic scene, a rosbag2,
    whose sound `ros2 bag play` replays with its own stamps)."""
    from tcvads_ros.runtime.audio_sources import read_audio_track
    from tcvads_ros.runtime.sources import is_rosbag

    path = Path(spec)
    if spec.startswith("synthetic:") or path.is_dir() or is_rosbag(path):
        return []
    track = read_audio_track(spec)
    return [] if track is None else list(track.chunks(seconds))


def encoded(frames: list[np.ndarray], encoding: str) -> list[dict[str, Any]]:
    """Message fields of each frame, without header: built once, reused every cycle."""
    out = []
    for rgb in frames:
        if encoding == "jpeg":
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
            out.append({"format": "jpeg", "data": ros_bytes(data)})
            continue
        fields = image_fields(None, rgb if encoding == "rgb8" else np.ascontiguousarray(rgb[..., ::-1]))
        fields.pop("header")
        fields.update(encoding=encoding, data=ros_bytes(fields["data"]))
        out.append(fields)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        frames, file_fps = load_frames(args.source, args.size, args.cycle)
        chunks = load_sound(args.source, args.audio_chunk) if args.audio_topic else []
    except SourceError as error:
        print(f"camera_player: {error}", file=sys.stderr)
        return 2
    if args.audio_topic and not chunks:
        print(f"camera_player: {args.source} has no sound camera_player plays (no audio stream, no WAV beside "
              f"it; a rosbag2's sound is replayed by ros2 bag play): nothing is published on {args.audio_topic}",
              file=sys.stderr)
    # The file's frame k plays at k / fps seconds; --fps and --rate make the file play `speed`
    # times as fast, its sound too (its AudioInfo rate scaled, so samples and stamps keep one clock).
    speed = (args.fps or file_fps) * args.rate / file_fps
    messages = encoded(frames, args.encoding)
    count = args.count or len(messages)
    items = schedule(count, len(messages), file_fps, speed, args.pause, chunks)
    sound = [{"data": ros_bytes(np.frombuffer(pcm_s16le(chunk.samples), np.uint8))} for chunk in chunks]
    msg_type, topic = (CompressedImage, args.topic.rstrip("/") + "/compressed") if args.encoding == "jpeg" \
        else (Image, args.topic)
    rclpy.init(args=None, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("camera_player")
    publisher = node.create_publisher(msg_type, topic, camera_qos(args.qos, args.depth))
    audio = info = None
    if chunks:
        from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo

        from tcvads_ros.nodes.microphone import AUDIO_QOS, INFO_QOS

        audio = node.create_publisher(AudioDataStamped, args.audio_topic, AUDIO_QOS)
        info = node.create_publisher(AudioInfo, audio_info_topic(args.audio_topic), INFO_QOS)
        # What audio_capture says of its stream, once (transient-local: late joiners get it too).
        info.publish(AudioInfo(**audio_info_fields(int(round(chunks[0].rate * speed)), chunks[0].samples.shape[1])))
    published, heard, dropped, start, stamps = 0, 0, 0, time.monotonic(), []
    try:
        deadline = time.monotonic() + args.wait_timeout
        waits = [(publisher, args.wait_subscribers, topic)]
        if audio is not None:
            waits += [(audio, args.wait_audio_subscribers, args.audio_topic),
                      (info, args.wait_audio_subscribers, audio_info_topic(args.audio_topic))]
        for waited, wanted, name in waits:
            while waited.get_subscription_count() < wanted:
                if time.monotonic() > deadline:
                    print(f"camera_player: {waited.get_subscription_count()} of {wanted} subscriptions on {name} "
                          f"after {args.wait_timeout:.0f} s", file=sys.stderr)
                    return 1
                time.sleep(0.05)
        if info is not None and args.wait_audio_subscribers:
            info.wait_for_all_acked(Duration(seconds=5.0))  # the format is known before the first chunk
        start = time.monotonic()
        wall = node.get_clock().now().nanoseconds * 1e-9 - start  # monotonic -> wall-clock seconds
        for item in items:
            at = start + item.stamp
            delay = start + item.send - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            # Stamped with its capture time on the schedule, as a camera stamps at exposure (a
            # microphone at its first sample): a late send (a busy machine) delays the message,
            # not its stamp.
            if item.kind == "frame":
                msg = msg_type(**messages[item.index])
                msg.header.stamp = Time(seconds=wall + at).to_msg()
                msg.header.frame_id = args.frame_id
                publisher.publish(msg)
                stamps.append(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
                published += 1
                continue
            if args.drop_audio and (heard + dropped + 1) % args.drop_audio == 0:
                dropped += 1
                continue
            msg = AudioDataStamped(audio=AudioData(**sound[item.index]))
            msg.header.stamp = Time(seconds=wall + at + args.audio_offset).to_msg()
            msg.header.frame_id = args.frame_id
            audio.publish(msg)
            heard += 1
        if args.qos == "reliable":
            publisher.wait_for_all_acked(Duration(seconds=5.0))
        if audio is not None:  # reliable, as audio_capture's
            audio.wait_for_all_acked(Duration(seconds=5.0))
    except KeyboardInterrupt:
        pass
    finally:
        elapsed = time.monotonic() - start
        if args.stamps_out:
            args.stamps_out.write_text(json.dumps(stamps))
        summary = {"published": published, "seconds": round(elapsed, 3),
                   "fps": round(published / max(elapsed, 1e-9), 3), "topic": topic}
        if args.audio_topic:
            summary.update(audio_chunks=heard, audio_dropped=dropped, audio_topic=args.audio_topic)
        print(json.dumps(summary), flush=True)
        node.destroy_node()
        rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
