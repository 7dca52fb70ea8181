# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Recordings with sound, made in the tests: frames and a sound track muxed by PyAV (H.264 or
MPEG-4 video, AAC / PCM / FLAC / Opus sound in MP4, MKV or AVI), WAV files, and rosbag2s with
an audio_common_msgs audio topic beside the camera's."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from tiny_bundle import red_scene


def bangs(seconds: float, at: list[float], rate: int = 16000, level: float = 0.02, seed: int = 0) -> np.ndarray:
    """Quiet noise with a loud 20 ms bang (a decaying burst, peak 0.9) at each time of `at`."""
    rng = np.random.default_rng(seed)
    x = level * rng.standard_normal(int(round(seconds * rate)))
    burst = 0.9 * np.exp(-np.arange(int(0.02 * rate)) / (0.004 * rate)) * np.sign(rng.standard_normal(int(0.02 * rate)))
    for t in at:
        i = int(round(t * rate))
        x[i:i + burst.size] += burst[: max(0, x.size - i)]
    return np.clip(x, -1, 1).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    """16-bit PCM WAV of (n,) or (n, channels) float samples (PyAV)."""
    return write_av(path, None, samples, rate, audio_codec="pcm_s16le")


def write_av(path: Path, frames: list[np.ndarray] | None, samples: np.ndarray | None, rate: int = 16000,
             fps: float = 25.0, video_codec: str = "libx264", audio_codec: str = "aac",
             audio_start_s: float = 0.0) -> Path:
    """A file with RGB `frames` (uint8 (H, W, 3); None: sound only) and `samples` ((n,) or
    (n, channels) floats; None: no sound), the sound starting `audio_start_s` after the first frame."""
    import av

    path = Path(path)
    with av.open(str(path), "w") as out:
        video = audio = None
        if frames is not None:
            video = out.add_stream(video_codec, rate=Fraction(fps).limit_denominator(1001))
            video.height, video.width = frames[0].shape[:2]
            video.pix_fmt = "yuv420p"
        if samples is not None:
            samples = np.asarray(samples, np.float32)
            samples = samples[:, None] if samples.ndim == 1 else samples
            layout = {1: "mono", 2: "stereo"}[samples.shape[1]]
            audio = out.add_stream(audio_codec, rate=rate, layout=layout)
        if video is not None:
            for rgb in frames:
                for packet in video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                    out.mux(packet)
            for packet in video.encode(None):
                out.mux(packet)
        if audio is not None:
            fmt = audio.codec_context.codec.audio_formats[0].name
            resampler = av.AudioResampler(format=fmt, layout=audio.layout.name, rate=rate)
            step, offset = 1024, int(round(audio_start_s * rate))
            for first in range(0, samples.shape[0], step):
                piece = np.ascontiguousarray(samples[first:first + step])
                frame = av.AudioFrame.from_ndarray(piece.reshape(1, -1), format="flt", layout=audio.layout.name)
                frame.sample_rate, frame.pts, frame.time_base = rate, offset + first, Fraction(1, rate)
                for converted in resampler.resample(frame):
                    for packet in audio.encode(converted):
                        out.mux(packet)
            for packet in audio.encode(None):
                out.mux(packet)
    return path


def write_bag_with_sound(path, seconds, samples, fps=25.0, rate=16000, audio_topic="/audio/audio_stamped",
                         info_topic="/audio/audio_info", info=True, drop=(), fmt="S16LE", delay_s=0.1):
    """`red_scene` frames (rgb8 Image, /camera/image_raw) and the sound as AudioDataStamped chunks
    of 0.1 s, each recorded `delay_s` after its first sample (as a driver hands it over), with one
    AudioInfo at the start; chunk indices in `drop` are left out."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    from tcvads_ros.runtime.audio_convert import FORMATS
    from tcvads_ros.runtime.sources import AUDIO_DATA_TYPE, AUDIO_INFO_TYPE, AUDIO_MSGS

    store = get_typestore(Stores.ROS2_HUMBLE)
    for name, text in AUDIO_MSGS.items():
        store.register(get_types_from_msg(text, name))
    t = store.types
    image, header, time = t["sensor_msgs/msg/Image"], t["std_msgs/msg/Header"], t["builtin_interfaces/msg/Time"]
    data, stamped, audio_info = t["audio_common_msgs/msg/AudioData"], t[AUDIO_DATA_TYPE], t[AUDIO_INFO_TYPE]
    dtype, scale = FORMATS[fmt]
    messages = []
    for i in range(int(round(seconds * fps))):
        rgb = red_scene(i, fps, [])
        ns = 10**9 + int(round(i / fps * 1e9))
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
