# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""camera_player: play a video file, an image folder or a synthetic scene as a ROS 2 camera.

    camera_player VIDEO [--topic /camera/image_raw] [--fps 30] [--encoding rgb8|bgr8|jpeg]

Publishes sensor_msgs/Image (or CompressedImage on ``<topic>/compressed`` with ``--encoding
jpeg``) at the source's frame rate, each frame stamped with its capture time on the schedule
(wall clock), as a camera driver stamps its frames. Frames are decoded (and encoded) before playing starts, so the pace does
not depend on the decoder. For trying the nodes without a camera, for the end-to-end tests and for
the transport benchmark (benchmarks/ros_transport.py); without cv_bridge or image_tools.

On exit it prints one JSON line: frames published, seconds, frames per second.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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
from tcvads_ros.nodes.messages import image_fields, ros_bytes
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
    args = parser.parse_args(argv)
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
        frames, fps = load_frames(args.source, args.size, args.cycle)
    except SourceError as error:
        print(f"camera_player: {error}", file=sys.stderr)
        return 2
    fps = (args.fps or fps) * args.rate
    messages = encoded(frames, args.encoding)
    msg_type, topic = (CompressedImage, args.topic.rstrip("/") + "/compressed") if args.encoding == "jpeg" \
        else (Image, args.topic)
    rclpy.init(args=None, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("camera_player")
    publisher = node.create_publisher(msg_type, topic, camera_qos(args.qos, args.depth))
    published, start, stamps = 0, time.monotonic(), []
    try:
        deadline = time.monotonic() + args.wait_timeout
        while publisher.get_subscription_count() < args.wait_subscribers:
            if time.monotonic() > deadline:
                print(f"camera_player: {publisher.get_subscription_count()} of {args.wait_subscribers} "
                      f"subscriptions after {args.wait_timeout:.0f} s", file=sys.stderr)
                return 1
            time.sleep(0.05)
        count = args.count or len(messages)
        start = next_time = time.monotonic()
        wall = node.get_clock().now().nanoseconds * 1e-9 - start  # monotonic -> wall-clock seconds
        for i in range(count):
            next_time += args.pause.get(i, 0.0)
            delay = next_time - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            msg = msg_type(**messages[i % len(messages)])
            # Stamped with its capture time on the schedule, as a camera stamps at exposure: a
            # late send (a busy machine) delays the message, not its stamp.
            msg.header.stamp = Time(seconds=wall + next_time).to_msg()
            msg.header.frame_id = args.frame_id
            publisher.publish(msg)
            stamps.append(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
            published += 1
            next_time += 1.0 / fps
        if args.qos == "reliable":
            publisher.wait_for_all_acked(Duration(seconds=5.0))
    except KeyboardInterrupt:
        pass
    finally:
        elapsed = time.monotonic() - start
        if args.stamps_out:
            args.stamps_out.write_text(json.dumps(stamps))
        print(json.dumps({"published": published, "seconds": round(elapsed, 3),
                          "fps": round(published / max(elapsed, 1e-9), 3), "topic": topic}), flush=True)
        node.destroy_node()
        rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
