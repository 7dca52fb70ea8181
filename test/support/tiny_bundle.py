# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A tiny untrained bundle for the runtime tests: the real export path on toy-sized models.

The coarse graphs use the project's own InterpretableMobileNet, FramePreprocess and QACM at
toy width. The fine stage is a stand-in with the FineStage interface of docs/ARCHITECTURE.md
(`preprocess`, `encode_images`, `forward(features, text) -> dict(probs, video_scores)` around
the real EnhancedRWKV) whose image encoder is one convolution instead of a CLIP ViT, so the
bundle exports and runs in about a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from tcvads_ros.models.audio import AudioEncoder, AudioEncoderConfig
from tcvads_ros.models.mobilenet import FramePreprocess, InterpretableMobileNet, MobileNetConfig
from tcvads_ros.models.qacm import QACM
from tcvads_ros.models.rwkv import EnhancedRWKV
from tcvads_ros.runtime.audio_features import AudioSpec
from tcvads_ros.runtime.bundle import AUDIO_GRAPH, Manifest
from tcvads_ros.training.export import (
    CoarseBackboneGraph,
    CoarseQACMGraph,
    FineImageGraph,
    FineTemporalGraph,
    export_bundle,
)

CLASSES = ["Normal", "Fighting", "Explosion"]
CAPTIONS = ["an empty street", "people fighting", "a fire", "a car on a road", "a crowd running"]


class Fine(nn.Module):
    def __init__(self, dim, tau=0.07):
        super().__init__()
        self.preprocess = FramePreprocess((0.48, 0.46, 0.41), (0.27, 0.26, 0.28))
        self.image = nn.Conv2d(3, dim, 4, stride=4)
        self.temporal = EnhancedRWKV(dim, n_blocks=2)
        self.tau = tau

    def encode_images(self, images):
        return nn.functional.normalize(self.image(images).mean((2, 3)), dim=-1)

    def forward(self, features, text):
        video = nn.functional.normalize(self.temporal(features), dim=-1)
        logits = video @ text.t() / self.tau  # Exp. 15-16
        video_scores = logits.topk(logits.shape[1] // 16 + 1, dim=1).values.mean(1)
        return {"logits": logits, "probs": logits.softmax(-1), "video_scores": video_scores,
                "video_probs": video_scores.softmax(-1)}


# The audio settings of a tiny bundle with sound (`tiny_manifest(audio=TINY_AUDIO.to_dict())`):
# the default feature rule, a small audio feature.
TINY_AUDIO = AudioSpec(embedding_dim=4)


def tiny_manifest(**overrides) -> Manifest:
    fields = dict(
        format_version=0, created="", versions={},
        coarse_input_size=(32, 32), coarse_mean=(0.485, 0.456, 0.406), coarse_std=(0.229, 0.224, 0.225),
        feature_dim=16, fine_input_size=(32, 32), fine_mean=(0.48, 0.46, 0.41), fine_std=(0.27, 0.26, 0.28),
        fine_feature_dim=12, fine_clip_snippets=6, snippet_frames=16, window=8, fps=25.0, stride=1,
        thresholds={"coarse": 0.5}, class_names=list(CLASSES), captions=list(CAPTIONS), tau=0.07, top_m=2,
    )
    fields.update(overrides)
    return Manifest(**fields)


def tiny_graphs(manifest: Manifest, seed: int = 0) -> dict[str, nn.Module]:
    torch.manual_seed(seed)
    fine = Fine(manifest.fine_feature_dim, manifest.tau)
    graphs = {
        "coarse_backbone": CoarseBackboneGraph(
            FramePreprocess(manifest.coarse_mean, manifest.coarse_std),
            InterpretableMobileNet(MobileNetConfig(
                width_mult=0.25, input_size=manifest.coarse_input_size[0], feature_dim=manifest.feature_dim,
                mean=manifest.coarse_mean, std=manifest.coarse_std,
            )),
        ),
        "coarse_qacm": CoarseQACMGraph(QACM(manifest.sizes()["qacm_dim"], hidden=8)),
        "fine_image": FineImageGraph(fine),
        "fine_temporal": FineTemporalGraph(fine),
    }
    audio = manifest.audio_spec
    if audio is not None:
        graphs[AUDIO_GRAPH] = AudioEncoder(AudioEncoderConfig(n_mels=audio.n_mels, embedding_dim=audio.embedding_dim,
                                                              channels=4))
    # Untrained batch norms (zero bias, unit statistics) let the toy backbone's activations die
    # out to ~1e-7; random affine parameters give outputs worth comparing between backends.
    for module in [m for g in graphs.values() for m in g.modules()]:
        if isinstance(module, nn.BatchNorm2d) and module.num_features > 1:
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, 0.0, 0.5)
    return graphs


def tiny_text_table(manifest: Manifest, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    c, k, d = len(manifest.class_names), len(manifest.captions), manifest.fine_feature_dim

    def unit(*shape):
        x = rng.standard_normal(shape).astype(np.float32)
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    return {"class_caption": unit(c, k, d), "captions": unit(k, d)}


def make_tiny_bundle(out: Path, **overrides):
    """Export the tiny graphs to `out`; returns (bundle, graph modules)."""
    manifest = tiny_manifest(**overrides)
    graphs = tiny_graphs(manifest)
    return export_bundle(graphs, tiny_text_table(manifest), manifest, out), graphs


def make_tiny_run(folder: Path, threshold: float = 0.5) -> Path:
    """A training run folder (tcvads_ros/training/run_folder.py) with untrained tiny real models."""
    from tcvads_ros.models.registry import create_model
    from tcvads_ros.training.run_folder import RunFolder

    repo = Path(__file__).resolve().parents[2]
    run = RunFolder(folder)
    student_cfg = {"input": "frames", "backbone": {"preset": "tiny", "feature_dim": 16},
                   "hidden": 8, "dropout": 0.0}
    student = create_model("qacm_student", **student_cfg)
    run.save_model("student", student, "qacm_student", student_cfg, {
        "input": "frames", "input_size": 32, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
        "snippet_frames": 16, "window": student.qacm.receptive_field})
    fine_cfg = {"clip_model": f"local-dir:{repo / 'config/train/clip-tiny'}", "n_ctx": 4, "top_m": 2}
    model_args = {"class_names": list(CLASSES), "captions": list(CAPTIONS)}
    fine = create_model("fine", **fine_cfg, **model_args)
    run.save_model("fine", fine, "fine", fine_cfg, {"model_args": model_args, "clip_snippets": 4,
                                                    "fps": 25.0})
    run.write_json("calibration.json", {"threshold": threshold, "method": "f1"})
    return folder


class RednessBackbone(nn.Module):
    """A coarse 'backbone' whose feature is how red the frame is (mean of R - G after the
    ImageNet normalisation), with that difference as its CAM: a model of known behaviour, so
    node and transport tests can assert where events start and end."""

    def __init__(self, feature_dim: int, cam_size: int = 8):
        super().__init__()
        self.feature_dim, self.cam_size = feature_dim, cam_size

    def forward_with_maps(self, x):
        red = nn.functional.adaptive_avg_pool2d(x[:, :1] - x[:, 1:2], self.cam_size)
        return red.mean((2, 3)).repeat(1, self.feature_dim), red

    def cam_from_maps(self, maps):
        return maps[:, 0]


class RednessQACM(nn.Module):
    """Logit of every window position from its redness: sigmoid(gain * (red - level))."""

    receptive_field = 1

    def __init__(self, level: float, gain: float = 8.0):
        super().__init__()
        self.level, self.gain = level, gain

    def forward(self, features):
        return self.gain * (features[..., 0] - self.level)


def make_redness_bundle(out: Path, level: float = 1.0, **overrides):
    """A bundle whose coarse score is high exactly while the frame is mostly red (see
    `red_scene`), with the tiny fine stage: for tests of timing, transport and shutdown."""
    manifest = tiny_manifest(**{"window": 4, "fine_clip_snippets": 4, **overrides})
    graphs = tiny_graphs(manifest)
    graphs["coarse_backbone"] = CoarseBackboneGraph(
        FramePreprocess(manifest.coarse_mean, manifest.coarse_std), RednessBackbone(manifest.feature_dim))
    graphs["coarse_qacm"] = CoarseQACMGraph(RednessQACM(level))
    return export_bundle(graphs, tiny_text_table(manifest), manifest, out)


def red_scene(i: int, fps: float, anomalies: list[tuple[float, float]], size=(96, 128)) -> np.ndarray:
    """Frame i of a grey street with a moving walker; during each (start, end) second span of
    `anomalies` a red fire fills most of the picture."""
    h, w = size
    t = i / fps
    rgb = np.full((h, w, 3), 110, np.uint8)
    rgb[h // 2:, :] = 80  # the road
    x = int((t * 20) % (w - 12))
    rgb[h // 3:h // 3 + 24, x:x + 12] = (60, 60, 140)  # a walker in blue
    if any(start <= t < end for start, end in anomalies):
        rgb[h // 8:, w // 8:w - w // 8] = (230, 40, 20)
    return rgb


def write_red_video(path: Path, seconds: float, fps: float, anomalies: list[tuple[float, float]]) -> Path:
    """`red_scene` as an MJPEG AVI (OpenCV writes it everywhere)."""
    import cv2

    frames = [red_scene(i, fps, anomalies) for i in range(int(round(seconds * fps)))]
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_red_bag(path: Path, seconds: float, fps: float, anomalies: list[tuple[float, float]],
                  topic: str = "/camera/image_raw") -> Path:
    """`red_scene` as a rosbag2 (sqlite3) of rgb8 sensor_msgs/Image on `topic`, stamped from 1 s
    after the epoch, written with the rosbags library (no ROS needed)."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    image, header, time = (store.types[t] for t in
                           ("sensor_msgs/msg/Image", "std_msgs/msg/Header", "builtin_interfaces/msg/Time"))
    with Writer(path, version=9) as writer:
        connection = writer.add_connection(topic, image.__msgtype__, typestore=store)
        for i in range(int(round(seconds * fps))):
            rgb = red_scene(i, fps, anomalies)
            ns = 10**9 + int(round(i / fps * 1e9))
            msg = image(header=header(stamp=time(sec=ns // 10**9, nanosec=ns % 10**9), frame_id="camera"),
                        height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8", is_bigendian=0,
                        step=3 * rgb.shape[1], data=rgb.reshape(-1))
            writer.write(connection, ns, store.serialize_cdr(msg, image.__msgtype__))
    return path
