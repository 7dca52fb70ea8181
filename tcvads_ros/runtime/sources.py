# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Frame sources for `tcvads detect`: video file, image folder, camera index, rosbag2.

Each source is an iterable of `Frame`s (RGB uint8, stamp in seconds, index in the source) with
`fps`, `length` (frames, when known, for the progress bar), `position` (frames read so far),
`name` and a `stats` counter of frames it had to skip. A source that cannot be opened raises
`SourceError` saying what to do; a bad frame in the middle (an unreadable image, a message that
does not convert) is counted and skipped, never a crash.

Files and folders take `sample_every`: only frames whose index is a multiple of it are decoded
and yielded (the others are only demuxed, or not read at all), which is all the coarse stage
samples anyway (one frame per 16-frame snippet) and halves the decoding time of a video.

Sound (docs/audio.md): a source hands its sound out beside its frames, on the frames' clock.
After each frame, `audio_until(frame.stamp)` gives the sound to push before the frame is fed
(`AudioChunk`s, or the reasons of chunks that could not be read, to count); `audio_rest()` the
rest when the frames end. A video file or an image folder has the sound `attach_sound` gives it
(`--audio`: a `TrackFeeder` of `audio_sources.read_audio_track`); a rosbag2 reads its
``audio_common_msgs/AudioDataStamped`` topic (`--audio-topic`, or the bag's only one) with the
stream's format from its ``AudioInfo`` messages. `sound` names where the sound comes from ("": none)
and `sound_problem` why a source that should have sound has none.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from tcvads_ros.errors import SourceError
from tcvads_ros.runtime.audio_convert import (
    AudioChunk,
    AudioConversionError,
    check_rate,
    pcm_to_float,
)
from tcvads_ros.runtime.audio_sources import TrackFeeder, read_audio_track
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.image_convert import ImageConversionError, header_stamp, message_to_frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
# Video files a folder of recordings or a training list may hold (order: how training looks for them).
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".ts")
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
DEFAULT_FPS = 25.0
# audio_common's messages (ros-drivers/audio_common, ROS 2; the same definitions as the stand-in
# interface package interfaces/audio_common_msgs), registered with the bag reader where a bag
# does not carry them.
AUDIO_DATA_TYPE = "audio_common_msgs/msg/AudioDataStamped"
AUDIO_INFO_TYPE = "audio_common_msgs/msg/AudioInfo"
AUDIO_MSGS = {
    "audio_common_msgs/msg/AudioData": "uint8[] data\n",
    AUDIO_DATA_TYPE: "std_msgs/Header header\naudio_common_msgs/AudioData audio\n",
    AUDIO_INFO_TYPE: ("uint8 channels\nuint32 sample_rate\nstring sample_format\nuint32 bitrate\n"
                      "string coding_format\n"),
}
# Sound a source could not read: the reason (audio_convert.REASONS) to count, in place of a chunk.
AudioItem = AudioChunk | str


class Source:
    name = ""
    fps = DEFAULT_FPS
    length: int | None = None

    def __init__(self, sample_every: int = 1) -> None:
        if sample_every < 1:
            raise SourceError(f"sample_every must be >= 1, got {sample_every}")
        self.sample_every = sample_every
        self.position = 0
        self.stats: Counter = Counter()
        self.sound = ""  # where the sound comes from ("": none)
        self.sound_problem = ""  # why a source that should have sound has none
        self._feeder: TrackFeeder | None = None

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def add_track(self, feeder: TrackFeeder) -> None:
        """Hand out a file's sound track beside the frames (`attach_sound`)."""
        self._feeder = feeder
        self.sound = feeder.track.path or "a sound track"

    def audio_until(self, stamp: float) -> list[AudioItem]:
        """The sound to push before the frame with `stamp` is fed."""
        return self._feeder.until(stamp) if self._feeder is not None else []

    def audio_rest(self) -> list[AudioItem]:
        """The sound left when the frames have ended."""
        return self._feeder.rest() if self._feeder is not None else []

    @property
    def audio_finished(self) -> bool:
        """Whether all of the source's sound has been handed out (nothing more to wait for)."""
        return self._feeder is not None and self._feeder.done

    def close(self) -> None:
        """Release the device or file."""


class VideoFileSource(Source):
    """A video file decoded by OpenCV (FFmpeg): fps from the file, stamps from the position."""

    def __init__(self, path: str | Path, sample_every: int = 1):
        super().__init__(sample_every)
        self.path = Path(path)
        self.name = str(self.path)
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such video file")
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            raise SourceError(
                f"{self.path}: OpenCV cannot open this video (not a video, or a codec this OpenCV "
                "build lacks); convert it, e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`"
            )
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if np.isfinite(fps) and 0 < fps < 1000 else DEFAULT_FPS
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.length = count if count > 0 else None

    def __iter__(self) -> Iterator[Frame]:
        index = failures = 0
        while True:
            sampled = index % self.sample_every == 0
            ok, bgr = self._capture.grab(), None  # demux + decode; retrieve() converts to pixels
            if ok and sampled:
                ok, bgr = self._capture.retrieve()
            if not ok or (sampled and (bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3)):
                # A damaged frame fails once; the end of the file fails for good (also before a
                # frame count the container overestimated), so failures count as unreadable
                # only when a good frame follows them.
                failures += 1
                if failures > 3 or self.length is None or index >= self.length:
                    break
                index += 1
                continue
            self.stats["unreadable_frames"] += failures
            failures = 0
            index += 1
            self.position = index
            if sampled:
                # Stamps from the frame number: container timestamps of camera files are often
                # missing or non-monotonic, the frame count never is.
                yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (index - 1) / self.fps, index - 1)
        self.close()

    def close(self) -> None:
        self._capture.release()


class ImageFolderSource(Source):
    """The images of a folder in sorted name order, at a given frame rate."""

    def __init__(self, folder: str | Path, fps: float | None = None, sample_every: int = 1):
        super().__init__(sample_every)
        self.folder = Path(folder)
        self.name = str(self.folder)
        self.fps = float(fps or DEFAULT_FPS)
        self.files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(
                f"{self.folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        self.length = len(self.files)

    def __iter__(self) -> Iterator[Frame]:
        for index, path in enumerate(self.files):
            self.position = index + 1
            if index % self.sample_every:
                continue
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None or bgr.size == 0:
                self.stats["unreadable_images"] += 1
                log.warning("%s: not a readable image, skipped", path)
                continue
            yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), index / self.fps, index)


class CameraSource(Source):
    """A camera by index (V4L2 / OpenCV); stamps are wall-clock seconds. Reconnects on loss."""

    def __init__(self, index: int, reconnect_s: float = 2.0, max_reconnects: int = 5):
        super().__init__()
        self.index = index
        self.name = f"camera {index}"
        self.reconnect_s, self.max_reconnects = reconnect_s, max_reconnects
        self._capture = self._open()
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if np.isfinite(fps) and 0 < fps < 1000 else DEFAULT_FPS

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self.index)
        if not capture.isOpened():
            raise SourceError(
                f"camera {self.index}: cannot be opened (no such device, or in use by another "
                "program); list cameras with `v4l2-ctl --list-devices`"
            )
        return capture

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        reconnects = 0
        while True:
            ok, bgr = self._capture.read()
            if not ok or bgr is None:
                if reconnects >= self.max_reconnects:
                    log.error("camera %d: gave up after %d reconnects", self.index, reconnects)
                    break
                reconnects += 1
                self.stats["camera_reconnects"] += 1
                self._capture.release()
                time.sleep(self.reconnect_s)
                try:
                    self._capture = self._open()
                except SourceError as exc:
                    log.warning("%s", exc)
                continue
            reconnects = 0
            frame = Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), time.time(), index)
            index += 1
            self.position = index
            yield frame

    def close(self) -> None:
        self._capture.release()


class RosbagSource(Source):
    """`sensor_msgs/Image` or `CompressedImage` messages of one topic of a rosbag2 (no ROS needed),
    and its sound: the ``AudioDataStamped`` messages of `audio_topic` (default: the bag's only
    such topic; None with `sound` False), in the format its ``AudioInfo`` messages give."""

    def __init__(self, path: str | Path, topic: str | None = None, audio_topic: str | None = None,
                 sound: bool = True):
        super().__init__()
        self._open = False
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_types_from_msg, get_typestore

        self.path = Path(path)
        bag = self.path.parent if self.path.is_file() and self.path.suffix in (".db3", ".mcap") else self.path
        self.name = str(bag)
        store = get_typestore(Stores.ROS2_HUMBLE)
        for name, text in AUDIO_MSGS.items():
            store.register(get_types_from_msg(text, name))
        try:
            self._reader = AnyReader([bag], default_typestore=store)
            self._reader.open()
            self._open = True
        except Exception as exc:  # rosbags raises its own error types per storage format
            raise SourceError(f"{bag}: cannot read as a rosbag2 ({exc})") from exc
        images = [c for c in self._reader.connections if c.msgtype in IMAGE_TYPES]
        topics = sorted({c.topic for c in images})
        if topic is None:
            if not topics:
                self.close()
                raise SourceError(f"{bag}: no sensor_msgs/Image or CompressedImage topic in this bag")
            if len(topics) > 1:
                raw = [t for t in topics if not t.endswith("/compressed")]
                if len(raw) != 1:
                    self.close()
                    raise SourceError(f"{bag}: several image topics ({', '.join(topics)}); choose one with --topic")
                topics = raw
            topic = topics[0]
        elif topic not in topics:
            self.close()
            raise SourceError(
                f"{bag}: no image topic '{topic}' (image topics: {', '.join(topics) or 'none'})"
            )
        self.topic = topic
        self._connections = [c for c in images if c.topic == topic]
        self.length = sum(c.msgcount for c in self._connections)
        duration = (self._reader.end_time - self._reader.start_time) * 1e-9
        self.fps = self.length / duration if self.length > 1 and duration > 0 else DEFAULT_FPS
        self._audio: list[AudioItem] = []
        self._audio_connections: list = []
        self._info = None
        if sound or audio_topic:
            self._find_sound(bag, audio_topic)

    def _find_sound(self, bag: Path, audio_topic: str | None) -> None:
        """The audio topic and its format (the first ``AudioInfo`` of the bag: the one beside the
        topic, ``<topic>_info`` or ``audio_info``, else the bag's only one)."""
        audio = [c for c in self._reader.connections if c.msgtype == AUDIO_DATA_TYPE]
        topics = sorted({c.topic for c in audio})
        if audio_topic is None:
            if not topics:
                return
            if len(topics) > 1:
                self.close()
                raise SourceError(f"{bag}: several audio topics ({', '.join(topics)}); choose one with --audio-topic")
            audio_topic = topics[0]
        elif audio_topic not in topics:
            self.close()
            raise SourceError(f"{bag}: no {AUDIO_DATA_TYPE} topic '{audio_topic}' "
                              f"(audio topics: {', '.join(topics) or 'none'})")
        self.audio_topic = audio_topic
        self._audio_connections = [c for c in audio if c.topic == audio_topic]
        infos = [c for c in self._reader.connections if c.msgtype == AUDIO_INFO_TYPE]
        base = audio_topic.rsplit("/", 1)[0]
        near = [c for c in infos if c.topic in (f"{audio_topic}_info", f"{base}/audio_info", f"{base}/info")]
        infos = near or (infos if len({c.topic for c in infos}) == 1 else [])
        for connection, _, raw in self._reader.messages(connections=infos):
            try:
                info = self._reader.deserialize(raw, connection.msgtype)
                check_rate(info.sample_rate)
                self._info = info
                break
            except Exception as exc:  # an unreadable AudioInfo: try the next one
                log.warning("%s: an AudioInfo message cannot be read (%s)", self.name, exc)
        if self._info is None:
            self.sound_problem = (f"the bag has no {AUDIO_INFO_TYPE} beside {audio_topic}, so the format of "
                                  "its sound is unknown")
            self._audio_connections = []
            return
        self.sound = f"{audio_topic} ({self._info.sample_format}, {self._info.channels} ch, {self._info.sample_rate} Hz)"

    def _audio_item(self, connection, timestamp: int, raw: bytes) -> AudioItem:
        """A chunk of the bag's sound, stamped by its header (the recording time where it has
        none), or the reason it cannot be read."""
        try:
            msg = self._reader.deserialize(raw, connection.msgtype)
            info = self._info
            samples = pcm_to_float(bytes(msg.audio.data), info.sample_format, info.channels, info.coding_format)
            stamp = int(msg.header.stamp.sec) + int(msg.header.stamp.nanosec) * 1e-9
            return AudioChunk(samples, check_rate(info.sample_rate), stamp or timestamp * 1e-9)
        except AudioConversionError as exc:
            return exc.reason
        except Exception as exc:  # a corrupt message in the bag
            log.warning("%s: an audio message cannot be deserialised (%s)", self.name, exc)
            return "bad_message"

    def audio_until(self, stamp: float) -> list[AudioItem]:
        """The sound read from the bag so far (it comes in the bag's order, among the frames)."""
        out, self._audio = self._audio, []
        return out

    def audio_rest(self) -> list[AudioItem]:
        return self.audio_until(math.inf)

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        for connection, timestamp, raw in self._reader.messages(connections=self._connections + self._audio_connections):
            if connection.msgtype == AUDIO_DATA_TYPE:
                self._audio.append(self._audio_item(connection, timestamp, raw))
                continue
            try:
                msg = self._reader.deserialize(raw, connection.msgtype)
                try:
                    stamp = header_stamp(msg.header) or timestamp * 1e-9
                except (AttributeError, ImageConversionError):  # no usable header: recording time
                    stamp = timestamp * 1e-9
                frame = message_to_frame(msg, index, stamp)
            except ImageConversionError as exc:
                self.stats[f"rejected_{exc.reason}"] += 1
                index += 1
                continue
            except Exception as exc:  # a corrupt message in the bag: skip it
                self.stats["rejected_bad_message"] += 1
                log.warning("%s: message %d cannot be deserialised (%s)", self.name, index, exc)
                index += 1
                continue
            index += 1
            self.position = index
            yield frame
        self.close()

    def close(self) -> None:
        if self._open:
            self._open = False
            self._reader.close()


def attach_sound(source: Source, spec: str, audio: str) -> str:
    """Give `source` its sound (`--audio`): "" where it has some, else why it has none. A sound
    file given by name that cannot be read, or has no sound, is an error; with ``auto`` a file's
    unreadable sound is a reason to score from vision."""
    if audio == "off":
        return "--audio off"
    if audio == "auto":
        if isinstance(source, RosbagSource):
            return "" if source.sound else source.sound_problem or "the bag has no audio_common_msgs/AudioDataStamped topic"
        if isinstance(source, CameraSource):
            return "a camera index brings no sound here (coarse_node's audio_topic does)"
        if isinstance(source, ImageFolderSource):
            return "an image folder has no sound (give one with --audio PATH)"
        try:
            track = read_audio_track(spec)
        except SourceError as exc:
            return f"its sound cannot be read: {exc}"
        if track is None:
            return f"the file has no audio track and no {Path(spec).with_suffix('.wav').name} beside it"
    else:
        track = read_audio_track(audio)
        if track is None:
            raise SourceError(f"--audio {audio}: the file has no sound")
    source.add_track(TrackFeeder(track))
    return ""


def is_rosbag(path: Path) -> bool:
    if path.is_dir():
        return (path / "metadata.yaml").is_file() or any(path.glob("*.db3")) or any(path.glob("*.mcap"))
    return path.suffix in (".db3", ".mcap", ".bag")


def open_source(spec: str, topic: str | None = None, fps: float | None = None,
                sample_every: int = 1, audio_topic: str | None = None, sound: bool = True) -> Source:
    """A source from a command-line argument: camera index, rosbag2, image folder or video file.

    `sample_every` applies to video files and image folders (a camera and a bag deliver every
    frame: they are live, or their messages must be read in order anyway). A rosbag2 reads its
    sound where `sound` (from `audio_topic`, or its only audio topic); a file's sound is attached
    by the caller (`attach_sound`).
    """
    if spec.isdigit():
        return CameraSource(int(spec))
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"{spec}: no such file or folder (and not a camera index)")
    if is_rosbag(path):
        return RosbagSource(path, topic, audio_topic=audio_topic, sound=sound)
    if path.is_dir():
        return ImageFolderSource(path, fps, sample_every)
    return VideoFileSource(path, sample_every)
