# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Sources: camera-like recordings decode to the end; folders and rosbag2; clear errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from recordings import write_recording

from tcvads_ros.errors import SourceError
from tcvads_ros.runtime.sources import (
    CameraSource,
    ImageFolderSource,
    RosbagSource,
    VideoFileSource,
    open_source,
)

RECORDINGS = [  # (codec, container, fps, (height, width), frames)
    ("h264", "mp4", 30.0, (720, 1280), 45),
    ("h264", "mp4", 60.0, (1080, 1920), 30),
    ("mjpeg", "avi", 25.0, (720, 1280), 30),
    ("xvid", "avi", 30.0, (1080, 1920), 20),
    ("mp4v", "mp4", 50.0, (720, 1280), 30),
]


@pytest.mark.parametrize("codec,container,fps,size,n", RECORDINGS, ids=lambda v: str(v))
def test_camera_recordings_decode_to_the_end(tmp_path, codec, container, fps, size, n):
    path = write_recording(tmp_path / f"cam.{container}", codec, fps, size, n)
    source = open_source(str(path))
    assert isinstance(source, VideoFileSource)
    assert source.fps == pytest.approx(fps, rel=1e-3) and source.length == n
    frames = list(source)
    assert len(frames) == n and source.stats.total() == 0
    assert [f.index for f in frames] == list(range(n))
    assert all(f.rgb.shape == (*size, 3) for f in frames)
    assert np.allclose(np.diff([f.stamp for f in frames]), 1 / fps)
    # RGB order: the moving block is green-ish (BGR 90,140,90), so G is the largest channel
    block = frames[0].rgb[size[0] // 2 + 2, 2]
    assert block[1] > block[0] and block[1] > block[2]


@pytest.mark.parametrize("codec,container", [("h264", "mp4"), ("mjpeg", "avi")])
def test_sampled_decoding_gives_the_same_frames(tmp_path, codec, container):
    path = write_recording(tmp_path / f"cam.{container}", codec, 25.0, (96, 128), 70)
    every = {f.index: f for f in VideoFileSource(path)}
    source = VideoFileSource(path, sample_every=16)
    sampled = list(source)
    assert [f.index for f in sampled] == [0, 16, 32, 48, 64] and source.position == 70
    for frame in sampled:
        np.testing.assert_array_equal(frame.rgb, every[frame.index].rgb)
        assert frame.stamp == every[frame.index].stamp


def test_image_folder_sorted_and_bad_images_skipped(tmp_path):
    for i in (2, 0, 1, 10):
        cv2.imwrite(str(tmp_path / f"img_{i:03d}.png"), np.full((20, 30, 3), i * 10, np.uint8))
    (tmp_path / "img_005.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    source = open_source(str(tmp_path), fps=10)
    assert isinstance(source, ImageFolderSource) and source.length == 5
    frames = list(source)
    assert [int(f.rgb[0, 0, 0]) for f in frames] == [0, 10, 20, 100]
    assert [f.index for f in frames] == [0, 1, 2, 4] and frames[3].stamp == pytest.approx(0.4)
    assert source.stats["unreadable_images"] == 1


def _write_bag(path, topics):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    Image, Compressed = store.types["sensor_msgs/msg/Image"], store.types["sensor_msgs/msg/CompressedImage"]
    Header, Time = store.types["std_msgs/msg/Header"], store.types["builtin_interfaces/msg/Time"]
    with Writer(path, version=9) as writer:
        for topic, kind in topics.items():
            msgtype = Compressed.__msgtype__ if kind == "jpeg" else Image.__msgtype__
            conn = writer.add_connection(topic, msgtype, typestore=store)
            for i in range(4):
                header = Header(stamp=Time(sec=100 + i, nanosec=500_000_000), frame_id="cam")
                rgb = np.zeros((6, 8, 3), np.uint8)
                rgb[..., 0] = 200  # red
                if kind == "jpeg":
                    data = np.frombuffer(cv2.imencode(".jpg", rgb[..., ::-1])[1].tobytes(), np.uint8)
                    msg = Compressed(header=header, format="jpeg", data=data)
                elif i == 2:  # a truncated message in the middle of the bag
                    msg = Image(header=header, height=6, width=8, encoding="rgb8", is_bigendian=0,
                                step=24, data=np.zeros(10, np.uint8))
                else:
                    image = rgb if kind == "rgb8" else rgb[..., ::-1]
                    msg = Image(header=header, height=6, width=8, encoding=kind, is_bigendian=0,
                                step=24, data=np.ascontiguousarray(image).reshape(-1))
                writer.write(conn, (100 + i) * 10**9, store.serialize_cdr(msg, msgtype))
    return path


def test_rosbag_raw_and_compressed(tmp_path):
    bag = _write_bag(tmp_path / "bag", {"/camera/image_raw": "bgr8", "/camera/image_raw/compressed": "jpeg"})
    source = open_source(str(bag))  # two image topics: the raw one is chosen
    assert isinstance(source, RosbagSource) and source.topic == "/camera/image_raw"
    frames = list(source)
    assert [f.index for f in frames] == [0, 1, 3]
    assert source.stats["rejected_truncated"] == 1
    assert frames[0].stamp == pytest.approx(100.5) and frames[0].header.frame_id == "cam"
    assert frames[0].rgb[0, 0].tolist() == [200, 0, 0]
    compressed = list(RosbagSource(bag, topic="/camera/image_raw/compressed"))
    assert len(compressed) == 4 and abs(int(compressed[0].rgb[0, 0, 0]) - 200) < 8


def test_rosbag_topic_errors(tmp_path):
    bag = _write_bag(tmp_path / "bag", {"/front": "rgb8", "/back": "rgb8"})
    with pytest.raises(SourceError, match="several image topics.*--topic"):
        open_source(str(bag))
    with pytest.raises(SourceError, match=r"no image topic '/left' \(image topics: /back, /front\)"):
        open_source(str(bag), topic="/left")
    assert len(list(open_source(str(bag), topic="/back"))) == 3


@pytest.mark.parametrize("make,message", [
    (lambda p: p / "missing.mp4", "no such file or folder"),
    (lambda p: (p / "fake.mp4").write_bytes(b"\0" * 1000) and p / "fake.mp4", "OpenCV cannot open this video"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "no images found"),
    (lambda p: (p / "bag").mkdir() or (p / "bag" / "metadata.yaml").write_text("nonsense: [") and p / "bag",
     "cannot read as a rosbag2"),
])
def test_unreadable_sources(tmp_path, make, message):
    with pytest.raises(SourceError, match=message):
        open_source(str(make(tmp_path)))


def test_missing_camera():
    with pytest.raises(SourceError, match="camera 97: cannot be opened"):
        CameraSource(97)
