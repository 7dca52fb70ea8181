# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`tcvads synth`: a synthetic surveillance benchmark with exact ground truth.

There are no real videos or weights on the machines this project is built on, so tests, demos,
training smoke runs and benchmarks use this generator instead. It draws a static camera over a
textured scene (buildings, road, paved plaza, grass, trees; mild seeded sensor noise) with
people-like figures (head, torso, swinging arms and legs) walking normally, and anomalous
episodes of the six XD-Violence kinds, each distinct in motion and appearance:

- ``B1`` fighting: two figures in fast, erratic contact, punching and shoving;
- ``B2`` shooting: a shooter with muzzle flashes and a victim who falls and bleeds;
- ``B4`` riot: a dense group running in all directions, arms raised, objects thrown, a fire;
- ``B5`` abuse: one figure repeatedly striking another who lies on the ground;
- ``B6`` car accident: two fast cars colliding, spinning, debris; the wreck burns and smokes;
- ``G`` explosion: a global flash, an expanding fireball, flying debris and smoke.

Normal videos (and the normal part of abnormal ones) carry harmless look-alikes: joggers, an
orderly crowd walking together, slow cars, a pair chatting with gestures. Every episode is drawn
by its own layer, only for the frames of its annotated half-open range ``[start, end)``; the
rest of the video is pixel-identical to the same video rendered without that layer.

Output layout (``OUT_DIR``)::

    videos/<name>.<ext>                  one video per sample (.avi MJPG by default)
    train.csv, test.csv                  'path,label' lists (path relative to OUT_DIR, XD label)
    annotations.txt                      XD-Violence test annotations: name s1 e1 s2 e2 ...
    annotations_multiclasses.txt         XD-Violence test annotations: name c1 s1 e1 ...
    train_annotations.txt                the same two formats for the train split (exact GT
    train_annotations_multiclasses.txt   everywhere, for validation)
    meta.json                            seed, fps, size, frames per video, version, class codes
    videos/<name>.wav, sounds.jsonl      with --audio (generator version 3): each video's sound
                                         track and every sound placed in it (synthetic_audio.py)
    captions.jsonl                       a caption per snippet: {"video", "split", "snippet",
                                         "frame", "caption"} (scene_captions.py words them)

Names follow XD-Violence: ``synth_0003__#seed1_label_B1-0-0`` (``_label_A`` for normal), up to
three codes. Frame numbers are at the video's frame rate. The same configuration and seed give
the same ground-truth bytes and the same frames; another seed gives other videos.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from tcvads_ros.configuration import from_mapping
from tcvads_ros.data import scene_captions, synthetic_audio
from tcvads_ros.data.annotations import (
    SNIPPET_FRAMES,
    XD_CODES,
    ListEntry,
    Segment,
    write_feature_list,
    write_xd_annotations,
    write_xd_multiclass,
    xd_label_string,
)
from tcvads_ros.errors import ConfigError, TcvadsError
from tcvads_ros.progress import progress_bar

GENERATOR = "tcvads synth"
GENERATOR_VERSION = 2  # 2: the car accident made visible (CarAccident)
AUDIO_VERSION = 3  # 3 (--audio): a sound track per video and verbal abuse (synthetic_audio.py)
# codec name -> (FourCC, file extension); all three are written and read back by opencv's FFmpeg.
CODECS: dict[str, tuple[str, str]] = {
    "mjpg": ("MJPG", ".avi"),
    "mp4v": ("mp4v", ".mp4"),
    "ffv1": ("FFV1", ".avi"),
}
ANOMALY_CODES: tuple[str, ...] = ("B1", "B2", "B4", "B5", "B6", "G")
CAPTIONS_FILE = "captions.jsonl"  # one caption per snippet, beside the videos (docs/synthetic.md)

# Independent random streams, so that one layer never shifts another's draws.
_PLAN, _CAMERA, _SCENE, _EPISODE, _NOISE, _CAPTION, _AUDIO = range(7)
CAMERA_SOUND = 1 << 20  # the key of a camera's ambient sound within the _AUDIO streams (beyond any video index)
_SHIFT = 4  # cv2 sub-pixel drawing: coordinates carry 4 fractional bits
_ONE = 1 << _SHIFT


@dataclass
class SynthConfig:
    """What `tcvads synth` generates. Invalid values raise `ConfigError` naming the option."""

    videos: int = 6
    seed: int = 0
    width: int = 224
    height: int = 168
    frames: int = 240
    fps: float = 24.0
    abnormal_share: float = 0.5
    test_share: float = 0.3
    codec: str = "mjpg"
    cameras: int = 4
    audio: bool = False  # generator version 3: sound tracks, verbal abuse (synthetic_audio.py)

    def __post_init__(self) -> None:
        checks = [
            (self.videos >= 1, "videos", "at least 1"),
            (self.seed >= 0, "seed", "a non-negative integer"),
            (self.width >= 64 and self.width % 2 == 0, "width", "an even number >= 64"),
            (self.height >= 48 and self.height % 2 == 0, "height", "an even number >= 48"),
            (1.0 <= self.fps <= 120.0, "fps", "between 1 and 120"),
            (self.frames >= 2 * SNIPPET_FRAMES, "frames", f"at least {2 * SNIPPET_FRAMES}"),
            (0.0 <= self.abnormal_share <= 1.0, "abnormal_share", "between 0 and 1"),
            (0.0 <= self.test_share <= 1.0, "test_share", "between 0 and 1"),
            (self.codec in CODECS, "codec", f"one of {', '.join(CODECS)}"),
            (self.cameras >= 1, "cameras", "at least 1"),
        ]
        for ok, key, expected in checks:
            if not ok:
                raise ConfigError(f"synth option '{key}' must be {expected}, got {getattr(self, key)!r}")

    @property
    def extension(self) -> str:
        return CODECS[self.codec][1]


@dataclass(frozen=True)
class VideoPlan:
    """One video of the benchmark: its name, split, camera and annotated episodes."""

    index: int
    name: str
    split: str  # "train" or "test"
    camera: int
    label: str  # XD label string, e.g. "B1-0-0" or "A"
    episodes: tuple[Segment, ...] = field(default_factory=tuple)


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


# --------------------------------------------------------------------------- planning


def _episodes(rng: np.random.Generator, kind: str, frames: int) -> list[Segment]:
    """1-2 episodes covering a minority (about 15-45 %) of the frames; sometimes a second kind."""
    count = 2 if rng.random() < 0.4 else 1
    kinds = [kind] * count
    if count == 2 and rng.random() < 0.5:
        kinds[1] = str(rng.choice([k for k in ANOMALY_CODES if k != kind]))
    slot = frames // count
    low = max(8, int(0.15 * frames / count))
    high = max(low + 1, int(0.45 * frames / count))
    segments = []
    for i, k in enumerate(kinds):
        length = int(rng.integers(low, min(high, slot - 2) + 1))
        start = i * slot + int(rng.integers(1, slot - length + 1))
        segments.append(Segment(k, start, start + length))
    return segments


def _split(n: int, share: float) -> int:
    """How many of `n` videos go to test: both splits get one when n >= 2 and 0 < share < 1."""
    k = round(n * share)
    if n >= 2 and 0.0 < share < 1.0:
        k = min(max(k, 1), n - 1)
    return k


def plan_benchmark(cfg: SynthConfig) -> list[VideoPlan]:
    """Decide every video's kind, split, camera and episodes, deterministically from the seed.

    Abnormal videos take their main kind from a shuffled cycle of the six codes, so six abnormal
    videos cover every kind. The test split takes the first videos of that cycle, so each split's
    kinds are balanced too (six abnormal test videos cover every kind), and each split gets
    normal and abnormal videos when the counts allow.
    """
    rng = _rng(cfg.seed, _PLAN)
    n_abnormal = _split(cfg.videos, cfg.abnormal_share)
    kinds = [str(k) for k in rng.permutation(ANOMALY_CODES)]
    abnormal_kinds = [kinds[i % len(kinds)] for i in range(n_abnormal)]
    groups = [abnormal_kinds, ["A"] * (cfg.videos - n_abnormal)]
    rows = []  # (kind, split)
    for group in groups:
        n_test = _split(len(group), cfg.test_share)
        rows += [(kind, "test" if i < n_test else "train") for i, kind in enumerate(group)]
    order = rng.permutation(len(rows))
    plans = []
    for index, row in enumerate(order):
        kind, split = rows[row]
        episodes = [] if kind == "A" else _episodes(rng, kind, cfg.frames)
        codes = list(dict.fromkeys(s.label for s in episodes)) or ["A"]
        label = xd_label_string(codes)
        plans.append(VideoPlan(
            index=index,
            name=f"synth_{index:04d}__#seed{cfg.seed}_label_{label}",
            split=split,
            camera=int(rng.integers(cfg.cameras)),
            label=label,
            episodes=tuple(episodes),
        ))
    return plans


# --------------------------------------------------------------------------- drawing primitives


def _p(x: float, y: float) -> tuple[int, int]:
    return int(round(x * _ONE)), int(round(y * _ONE))


def _circle(img, x, y, r, color) -> None:
    cv2.circle(img, _p(x, y), max(_ONE, int(r * _ONE)), color, -1, cv2.LINE_AA, _SHIFT)


def _line(img, a, b, color, thickness) -> None:
    cv2.line(img, _p(*a), _p(*b), color, max(1, int(round(thickness))), cv2.LINE_AA, _SHIFT)


def _poly(img, points, color) -> None:
    pts = (np.asarray(points) * _ONE).round().astype(np.int32)
    cv2.fillPoly(img, [pts], color, cv2.LINE_AA, _SHIFT)


def draw_person(img, x, y, h, *, tilt=0.0, legs=0.0, arms=(0.0, 0.0), shirt=(60, 90, 160),
                pants=(50, 50, 60), skin=(220, 180, 150)) -> None:
    """A figure of height `h` standing on (x, y): legs, torso, arms, head.

    `tilt` leans the whole body (radians, positive to the right; pi/2 lies on the ground),
    `legs` is the swing of the legs, `arms` the angles of the left and right arm from hanging
    down (positive turns towards the figure's right).
    """
    ux, uy = math.sin(tilt), -math.cos(tilt)  # body axis, up
    rx, ry = math.cos(tilt), math.sin(tilt)  # body right

    def at(lx, ly):
        return x + lx * rx + ly * ux, y + lx * ry + ly * uy

    def limb(origin, angle, length):
        dx, dy = -ux * math.cos(angle) + rx * math.sin(angle), -uy * math.cos(angle) + ry * math.sin(angle)
        return origin[0] + dx * length, origin[1] + dy * length

    hip, shoulder = at(0, 0.48 * h), at(0, 0.76 * h)
    for swing in (legs, -legs):
        _line(img, hip, limb(hip, swing, 0.48 * h), pants, 0.09 * h)
    centre = at(0, 0.62 * h)
    cv2.ellipse(img, _p(*centre), (max(_ONE, int(0.11 * h * _ONE)), max(_ONE, int(0.18 * h * _ONE))),
                math.degrees(tilt), 0, 360, shirt, -1, cv2.LINE_AA, _SHIFT)
    for angle in arms:
        hand = limb(shoulder, angle, 0.34 * h)
        _line(img, shoulder, hand, shirt, 0.065 * h)
        _circle(img, *hand, 0.035 * h, skin)
    _circle(img, *at(0, 0.89 * h), 0.085 * h, skin)


def draw_car(img, x, y, length, angle, color) -> None:
    """A car seen from above and behind: body, roof, windows, wheels; `angle` is its heading."""
    c, s = math.cos(angle), math.sin(angle)
    width = 0.45 * length

    def box(l0, l1, w0, w1):
        return [(x + lx * c - wy * s, y + lx * s + wy * c) for lx, wy in
                ((l0, w0), (l1, w0), (l1, w1), (l0, w1))]

    for lx in (-0.32, 0.32):
        for wy in (-0.52, 0.52):
            _poly(img, box(lx * length - 0.09 * length, lx * length + 0.09 * length,
                           wy * width - 0.07 * length, wy * width + 0.07 * length), (25, 25, 25))
    _poly(img, box(-0.5 * length, 0.5 * length, -0.5 * width, 0.5 * width), color)
    _poly(img, box(-0.2 * length, 0.25 * length, -0.38 * width, 0.38 * width),
          tuple(int(0.6 * v) for v in color))
    _poly(img, box(0.25 * length, 0.36 * length, -0.38 * width, 0.38 * width), (150, 175, 195))


def _disc(f: np.ndarray, x, y, r):
    """The part of frame `f` within radius `r` of (x, y) and each pixel's distance / r."""
    h, w = f.shape[:2]
    x0, x1 = max(0, int(x - r)), min(w, int(x + r) + 1)
    y0, y1 = max(0, int(y - r)), min(h, int(y + r) + 1)
    if x0 >= x1 or y0 >= y1 or r <= 0:
        return None, None
    yy, xx = np.mgrid[y0:y1, x0:x1]
    return f[y0:y1, x0:x1], (np.hypot(xx - x, yy - y) / r)[..., None]


def _glow(f: np.ndarray, x, y, r, color, strength) -> None:
    """Add a radial glow (a flash, fire) to the float frame `f` around (x, y)."""
    region, d = _disc(f, x, y, r)
    if region is not None:
        region += strength * np.clip(1.0 - d, 0.0, 1.0) ** 2 * np.asarray(color, np.float32)


def _haze(f: np.ndarray, x, y, r, color, alpha) -> None:
    """Blend a soft round cloud (smoke, a pool of blood) into the float frame `f`."""
    region, d = _disc(f, x, y, r)
    if region is not None:
        a = alpha * np.clip(1.2 - d, 0.0, 1.0)
        region *= 1.0 - a
        region += a * np.asarray(color, np.float32)


# --------------------------------------------------------------------------- the scene


@dataclass(frozen=True)
class Camera:
    """A static camera's background and the geometry figures and cars move in."""

    background: np.ndarray  # (H, W, 3) uint8 RGB
    horizon: float  # bottom of the buildings
    road: tuple[float, float]  # top and bottom of the road band

    @property
    def size(self) -> tuple[int, int]:
        return self.background.shape[1], self.background.shape[0]

    def person_height(self, y: float) -> float:
        """Perspective: figures lower in the image are closer and larger."""
        h = self.size[1]
        return 0.2 * h * (0.5 + 0.7 * (y - self.horizon) / (h - self.horizon))

    def plaza(self) -> tuple[float, float]:
        h = self.size[1]
        return self.road[1] + 0.12 * h, 0.97 * h


def _texture(rng, h, w, cell, amount) -> np.ndarray:
    coarse = rng.normal(0, 1, (max(2, h // cell), max(2, w // cell))).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)[..., None] * amount


def make_camera(seed: int, camera: int, width: int, height: int) -> Camera:
    """Draw one camera's static background: sky, buildings with windows, road, plaza, grass."""
    rng = _rng(seed, _CAMERA, camera)
    h, w = height, width
    horizon = h * rng.uniform(0.22, 0.3)
    road = (horizon + 0.04 * h, horizon + 0.04 * h + rng.uniform(0.15, 0.2) * h)
    f = np.empty((h, w, 3), np.float32)
    f[:] = np.asarray([120, 118, 112], np.float32) + rng.uniform(-15, 15, 3)
    f += _texture(rng, h, w, 6, 10) + _texture(rng, h, w, 2, 4)
    sky = np.linspace(1.0, 0.75, int(horizon))[:, None, None]
    f[: int(horizon)] = sky * np.asarray([175, 195, 220], np.float32)
    img = np.clip(f, 0, 255).astype(np.uint8)
    x = -rng.uniform(0, 0.1) * w
    while x < w:  # buildings
        bw = rng.uniform(0.15, 0.32) * w
        top = rng.uniform(0.05, 0.7) * horizon
        colour = tuple(int(v) for v in rng.uniform([90, 80, 70], [190, 170, 150]))
        cv2.rectangle(img, (int(x), int(top)), (int(x + bw), int(horizon)), colour, -1)
        step = max(4, int(0.05 * h))
        lit = tuple(int(v) for v in rng.uniform([150, 160, 170], [230, 230, 220]))
        for wy in range(int(top) + step // 2, int(horizon) - step, step):
            for wx in range(int(x) + step // 2, int(x + bw) - step // 2, step):
                c = lit if rng.random() < 0.3 else tuple(int(0.45 * v) for v in colour)
                cv2.rectangle(img, (wx, wy), (wx + step // 2, wy + step // 2), c, -1)
        x += bw + rng.uniform(0, 0.04) * w
    r0, r1 = int(road[0]), int(road[1])
    img[int(horizon): r0] = (165, 160, 150)  # pavement
    img[r0:r1] = np.clip(70 + _texture(rng, r1 - r0, w, 3, 6), 0, 255).astype(np.uint8)
    mid = (r0 + r1) // 2
    for dx in range(0, w, max(8, w // 12)):
        cv2.line(img, (dx, mid), (dx + max(4, w // 30), mid), (220, 215, 190), 1)
    cv2.line(img, (0, r1), (w, r1), (185, 180, 170), 2)
    for gy in range(r1 + 6, h, max(6, h // 14)):  # paving joints
        cv2.line(img, (0, gy), (w, gy), (100, 98, 94), 1)
    for _ in range(int(rng.integers(1, 3))):  # grass patches with trees
        gx, gy = rng.uniform(0, 0.8) * w, rng.uniform(r1 + 0.1 * h, 0.8 * h)
        gw, gh = rng.uniform(0.18, 0.35) * w, rng.uniform(0.12, 0.22) * h
        x0, y0, x1, y1 = int(gx), int(gy), min(w, int(gx + gw)), min(h, int(gy + gh))
        grass = np.asarray([70, 120, 55], np.float32) + _texture(rng, y1 - y0, x1 - x0, 2, 14)
        img[y0:y1, x0:x1] = np.clip(grass, 0, 255).astype(np.uint8)
        tx, ty = (x0 + x1) / 2, (y0 + y1) / 2
        _line(img, (tx, ty), (tx, ty - 0.12 * h), (80, 60, 40), 0.02 * h + 1)
        _circle(img, tx, ty - 0.16 * h, 0.07 * h, (40, 85, 40))
    img = cv2.GaussianBlur(img, (3, 3), 0)
    yy, xx = np.mgrid[0:h, 0:w]
    vignette = 1.0 - 0.25 * (((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2)
    return Camera((img * vignette[..., None]).astype(np.uint8), horizon, road)


def _clothes(rng, dark=False) -> dict:
    low, high = ([20, 20, 20], [80, 80, 90]) if dark else ([40, 40, 40], [220, 200, 200])
    return {
        "shirt": tuple(int(v) for v in rng.uniform(low, high)),
        "pants": tuple(int(v) for v in rng.uniform([25, 25, 30], [90, 90, 120])),
        "skin": tuple(int(v) for v in rng.uniform([150, 110, 80], [235, 200, 170])),
    }


class Walker:
    """A pedestrian (or jogger) crossing the frame at constant speed, wrapping at the edges."""

    def __init__(self, rng, cam: Camera, fps: float, speed: float, y: float | None = None,
                 x: float | None = None, direction: int | None = None, clothes=None):
        w, _ = cam.size
        top, bottom = cam.plaza()
        self.cam, self.fps = cam, fps
        self.y0 = rng.uniform(top, bottom) if y is None else y
        self.x0 = rng.uniform(0, w) if x is None else x
        self.dir = int(rng.choice([-1, 1])) if direction is None else direction
        self.speed = speed  # body heights per second
        self.phase0 = rng.uniform(0, 2 * math.pi)
        self.drift = rng.uniform(-0.05, 0.05) * self.cam.person_height(self.y0)
        self.clothes = clothes or _clothes(rng)

    @property
    def jogging(self) -> bool:
        return self.speed > 1.2

    def x_at(self, t: int) -> float:
        """Horizontal position at frame `t` (it wraps through a margin outside the frame)."""
        w, _ = self.cam.size
        h = self.cam.person_height(self.y0)
        margin = 0.2 * w
        return (self.x0 + self.dir * self.speed * h * t / self.fps) % (w + 2 * margin) - margin

    def visible(self, t: int) -> bool:
        return 0.0 <= self.x_at(t) < self.cam.size[0]

    def draw(self, img, t: int) -> None:
        h = self.cam.person_height(self.y0)
        x = self.x_at(t)
        y = self.y0 + self.drift * math.sin(t / self.fps)
        jog = self.jogging
        phase = self.phase0 + 2 * math.pi * (2.6 if jog else 1.8) * t / self.fps
        swing = math.sin(phase) * (0.75 if jog else 0.4)
        arms = (-swing * (1.6 if jog else 0.9), swing * (1.6 if jog else 0.9))
        draw_person(img, x, y, h, tilt=self.dir * (0.15 if jog else 0.0), legs=swing,
                    arms=arms, **self.clothes)


class Crowd:
    """An orderly group walking together: many figures, one shared direction and pace."""

    def __init__(self, rng, cam: Camera, fps: float):
        w, _ = cam.size
        top, bottom = cam.plaza()
        y = rng.uniform(top, bottom)
        x, direction = rng.uniform(0, w), int(rng.choice([-1, 1]))
        h = cam.person_height(y)
        self.members = [
            Walker(rng, cam, fps, speed=0.6, x=x + rng.uniform(-1.0, 1.0) * h,
                   y=float(np.clip(y + rng.uniform(-0.35, 0.35) * h, top, bottom)), direction=direction)
            for _ in range(int(rng.integers(5, 9)))
        ]
        self.members.sort(key=lambda m: m.y0)

    def visible(self, t: int) -> bool:
        return sum(m.visible(t) for m in self.members) >= 3

    def draw(self, img, t: int) -> None:
        for m in self.members:
            m.draw(img, t)


class Car:
    """A car driving slowly along the road, wrapping at the edges."""

    def __init__(self, rng, cam: Camera, fps: float):
        w, _ = cam.size
        self.cam, self.fps = cam, fps
        lane = int(rng.integers(2))
        self.y = cam.road[0] + (0.3 + 0.4 * lane) * (cam.road[1] - cam.road[0])
        self.dir = 1 if lane else -1
        self.x0 = rng.uniform(0, w)
        self.length = 1.0 * cam.person_height(self.y)
        self.speed = rng.uniform(0.8, 1.5) * self.length  # px per second
        self.colour = tuple(int(v) for v in rng.uniform(40, 230, 3))

    def x_at(self, t: int) -> float:
        w, _ = self.cam.size
        return (self.x0 + self.dir * self.speed * t / self.fps) % (w + 2 * self.length) - self.length

    def visible(self, t: int) -> bool:
        return 0.0 <= self.x_at(t) < self.cam.size[0]

    def draw(self, img, t: int) -> None:
        x = self.x_at(t)
        draw_car(img, x, self.y, self.length, 0.0 if self.dir > 0 else math.pi, self.colour)


class Chat:
    """Two figures standing face to face, gesturing slowly: the harmless twin of a fight."""

    def __init__(self, rng, cam: Camera, fps: float):
        w, _ = cam.size
        top, bottom = cam.plaza()
        self.y = rng.uniform(top, bottom)
        self.x = rng.uniform(0.15, 0.85) * w
        self.fps, self.h = fps, cam.person_height(self.y)
        self.clothes = [_clothes(rng), _clothes(rng)]
        self.phase = rng.uniform(0, 2 * math.pi, 2)

    def draw(self, img, t: int) -> None:
        for side, clothes, phase in zip((-1, 1), self.clothes, self.phase):
            gesture = 0.3 + 0.25 * math.sin(phase + 2 * math.pi * 0.4 * t / self.fps)
            draw_person(img, self.x + side * 0.3 * self.h, self.y, self.h,
                        arms=(0.1, -side * gesture) if side < 0 else (-side * gesture, -0.1), **clothes)


def make_scene(rng, cam: Camera, fps: float) -> list:
    """The normal activity of one video: walkers and, at random, the anomaly look-alikes."""
    actors: list = [Walker(rng, cam, fps, speed=rng.uniform(0.45, 0.8)) for _ in range(int(rng.integers(2, 6)))]
    if rng.random() < 0.5:
        actors.append(Walker(rng, cam, fps, speed=rng.uniform(1.8, 2.4)))  # jogger
    if rng.random() < 0.4:
        actors.append(Crowd(rng, cam, fps))
    if rng.random() < 0.35:
        actors.append(Chat(rng, cam, fps))
    for _ in range(int(rng.integers(0, 3))):
        actors.insert(0, Car(rng, cam, fps))
    return actors


# --------------------------------------------------------------------------- anomalous episodes


class Episode:
    """An anomaly layer drawn only inside its segment; `u` counts frames from its start."""

    def __init__(self, rng, cam: Camera, fps: float, segment: Segment):
        self.rng, self.cam, self.fps = rng, cam, fps
        self.length = segment.end - segment.start
        w, _ = cam.size
        top, bottom = cam.plaza()
        self.x = rng.uniform(0.3, 0.7) * w
        self.y = rng.uniform(top + 0.1 * (bottom - top), bottom)
        self.h = cam.person_height(self.y)
        self.jitter = rng.normal(0, 1, (self.length, 8))

    def phase(self, u: int) -> str:
        """What the episode shows at its frame `u`, for the captions (scene_captions.py)."""
        return "on"

    def draw(self, img, u: int) -> None:
        """Solid figures and objects, drawn onto the uint8 frame."""

    def effects(self, f: np.ndarray, u: int) -> None:
        """Light and smoke, blended into the float frame after all solid drawing."""


class Fighting(Episode):
    """B1: two figures in fast erratic contact, punching and shoving each other."""

    def __init__(self, *args):
        super().__init__(*args)
        self.clothes = [_clothes(self.rng), _clothes(self.rng)]
        self.punch = self.rng.random((self.length, 2))
        self.centre = np.cumsum(self.rng.normal(0, 0.06, self.length)) * self.h

    def draw(self, img, u: int) -> None:
        j, h = self.jitter[u], self.h
        gap = (0.2 + 0.12 * abs(math.sin(2 * math.pi * 2.5 * u / self.fps))) * h
        for i, side in enumerate((-1, 1)):
            x = self.x + self.centre[u] + side * gap + 0.07 * h * j[i]
            y = self.y + 0.04 * h * j[2 + i]
            lean = -side * (0.25 + 0.15 * j[4 + i])
            strike = 1.55 if self.punch[u, i] < 0.5 else 0.7
            arms = (-side * strike, -side * (2.2 - strike))  # towards the opponent: punch or guard
            draw_person(img, x, y, h, tilt=lean, legs=0.3 + 0.15 * j[6 + i], arms=arms, **self.clothes[i])


class Shooting(Episode):
    """B2: a shooter fires (muzzle flashes); the victim falls and lies in a growing pool."""

    def __init__(self, *args):
        super().__init__(*args)
        w, _ = self.cam.size
        self.side = 1 if self.x < w / 2 else -1  # victim to the shooter's right (+1) or left
        self.distance = self.rng.uniform(0.25, 0.35) * w
        self.shots = [int(0.15 * self.length) + k * int(self.rng.integers(3, 7)) for k in range(int(self.rng.integers(2, 5)))]
        self.hit = self.shots[0] + 1
        self.clothes = [_clothes(self.rng, dark=True), _clothes(self.rng)]
        self.victim_dir = int(self.rng.choice([-1, 1]))

    def _hand(self):
        return self.x + self.side * 0.36 * self.h, self.y - 0.74 * self.h

    def phase(self, u: int) -> str:
        if any(0 <= u - s < 2 for s in self.shots):
            return "firing"
        if u < self.hit:
            return "aiming"
        return "bleeding" if u > self.hit + 6 else "falling"

    def _victim(self, u):
        walked = min(u, self.hit) * 0.6 * self.h / self.fps * self.victim_dir
        return self.x + self.side * self.distance + walked, self.y

    def draw(self, img, u: int) -> None:
        h = self.h
        draw_person(img, self.x, self.y, h, tilt=-self.side * 0.05, legs=0.25,
                    arms=(self.side * 1.5, self.side * 1.45), **self.clothes[0])
        hand = self._hand()
        _line(img, hand, (hand[0] + self.side * 0.1 * h, hand[1]), (20, 20, 20), 0.05 * h)
        vx, vy = self._victim(u)
        fall = min(1.0, max(0.0, (u - self.hit) / 6))
        if u < self.hit:
            swing = math.sin(2 * math.pi * 1.8 * u / self.fps) * 0.4
            draw_person(img, vx, vy, h, legs=swing, arms=(-swing, swing), **self.clothes[1])
        else:
            draw_person(img, vx, vy, h, tilt=self.side * fall * math.pi / 2, legs=0.2 * fall,
                        arms=(self.side * 2.0 * fall, self.side * 1.2 * fall), **self.clothes[1])

    def effects(self, f, u: int) -> None:
        hand = self._hand()
        if any(0 <= u - s < 2 for s in self.shots):
            x, y = hand[0] + self.side * 0.14 * self.h, hand[1]
            _glow(f, x, y, 0.45 * self.h, (255, 230, 150), 1.2)
            _glow(f, x, y, 0.12 * self.h, (255, 255, 255), 3.0)
        if u > self.hit + 6:
            vx, vy = self._victim(u)
            grow = min(1.0, (u - self.hit - 6) / (0.5 * self.fps))
            _haze(f, vx + self.side * 0.5 * self.h, vy, 0.35 * self.h * grow + 1, (120, 10, 10), 0.85)


class Riot(Episode):
    """B4: a dense group running in all directions, arms raised, throwing objects; a fire."""

    def __init__(self, *args):
        super().__init__(*args)
        w, _ = self.cam.size
        top, bottom = self.cam.plaza()
        n, T = int(self.rng.integers(10, 17)), self.length
        self.clothes = [_clothes(self.rng, dark=self.rng.random() < 0.6) for _ in range(n)]
        # piecewise-constant velocities, re-drawn every few frames: chaotic, not a flow
        change = np.cumsum(self.rng.integers(3, 8, (n, T)), axis=1)
        velocity = self.rng.normal(0, 1, (n, T + 8, 2)) * 2.2 * self.h / self.fps
        steps = np.stack([velocity[i, np.minimum(np.searchsorted(change[i], np.arange(T)), T + 7)] for i in range(n)])
        start = np.stack([self.rng.uniform(0.1 * w, 0.9 * w, n), self.rng.uniform(top, bottom, n)], axis=1)
        pos = start[:, None, :] + np.cumsum(steps, axis=1)
        # reflect at the plaza's bounds
        for axis, (lo, hi) in enumerate(((0.05 * w, 0.95 * w), (top, bottom))):
            span = hi - lo
            p = np.mod(pos[..., axis] - lo, 2 * span)
            pos[..., axis] = lo + np.where(p > span, 2 * span - p, p)
        self.pos = pos
        self.arms = self.rng.uniform(1.6, 3.0, (n, T, 2)) * np.array([-1, 1])
        self.throws = [(int(self.rng.integers(0, max(1, T - 10))), int(self.rng.integers(n)),
                        self.rng.uniform(-3, 3) * self.h / self.fps) for _ in range(int(self.rng.integers(3, 7)))]
        self.fire = (self.rng.uniform(0.2, 0.8) * w, self.rng.uniform(top, bottom))

    def phase(self, u: int) -> str:
        return "throwing" if any(0 <= u - t0 < 10 for t0, _, _ in self.throws) else "running"

    def draw(self, img, u: int) -> None:
        order = np.argsort(self.pos[:, u, 1])
        for i in order:
            x, y = self.pos[i, u]
            h = self.cam.person_height(y)
            swing = math.sin(2 * math.pi * 2.8 * u / self.fps + i) * 0.7
            draw_person(img, x, y, h, tilt=0.2 * self.jitter[u, i % 8], legs=swing,
                        arms=tuple(self.arms[i, u]), **self.clothes[i])
        for t0, who, vx in self.throws:
            k = u - t0
            if 0 <= k < 10:
                x, y = self.pos[who, t0]
                h = self.cam.person_height(y)
                _circle(img, x + vx * k, y - 0.9 * h - 0.35 * h * k + 0.05 * h * k * k, 0.05 * h + 0.5, (60, 40, 25))

    def effects(self, f, u: int) -> None:
        x, y = self.fire
        h = self.cam.person_height(y)
        flicker = 0.8 + 0.4 * abs(self.jitter[u, 0])
        _glow(f, x, y - 0.2 * h, 0.5 * h * flicker, (255, 120, 20), 1.5)
        _glow(f, x, y - 0.15 * h, 0.2 * h, (255, 230, 120), 1.5)
        _haze(f, x + 0.1 * h, y - 0.8 * h, 0.5 * h, (50, 50, 50), 0.35)


class Abuse(Episode):
    """B5: a figure stands over another lying on the ground and strikes it again and again."""

    def __init__(self, *args):
        super().__init__(*args)
        self.side = int(self.rng.choice([-1, 1]))
        self.period = self.fps / self.rng.uniform(1.8, 2.6)
        self.clothes = [_clothes(self.rng, dark=True), _clothes(self.rng)]

    def draw(self, img, u: int) -> None:
        h, j = self.h, self.jitter[u]
        phase = (u % self.period) / self.period
        strike = math.exp(-((phase - 0.55) / 0.08) ** 2)  # the blow lands at 55 % of each cycle
        feet = self.x - self.side * 0.5 * h
        draw_person(img, feet, self.y + 0.03 * h * strike, h, tilt=self.side * math.pi / 2,
                    legs=0.15 + 0.2 * strike * j[0], arms=(self.side * (2.6 + 0.4 * strike * j[1]), self.side * 2.2),
                    **self.clothes[1])
        raise_ = 3.0 * (1 - phase / 0.55) + 0.3 if phase < 0.55 else 0.3 + 2.7 * (phase - 0.55) / 0.45
        lean = -self.side * (0.15 + 0.45 * strike + 0.2 * max(0.0, 0.55 - phase))
        arm = -self.side * raise_
        draw_person(img, self.x + self.side * 0.35 * h, self.y - 0.06 * h, h, tilt=lean,
                    legs=0.2 + 0.3 * strike, arms=(arm, arm * 0.9), **self.clothes[0])


class CarAccident(Episode):
    """B6: two fast cars swerve into each other, spin away and burn: impact flash, debris, a fire
    on the wreck and a plume of dark smoke that lasts to the episode's end.

    (Generator version 2: the cars are twice a figure's size where they collide, the impact comes
    early, at 10-20 % of the episode, and the wreck burns. In version 1 cars a few pixels long
    crashed late and left a faint grey haze on the grey road: most of the labelled frames showed
    two cars driving or a small, still wreck, and no model, not even one trained with frame
    labels, told them from normal traffic.)"""

    def __init__(self, *args):
        super().__init__(*args)
        w, _ = self.cam.size
        r0, r1 = self.cam.road
        self.yc = (r0 + r1) / 2
        self.xc = self.rng.uniform(0.35, 0.65) * w
        self.hit = max(2, int(self.rng.uniform(0.1, 0.2) * self.length))
        self.length_px = 2.0 * self.cam.person_height(self.yc)
        lanes = (r0 + 0.25 * (r1 - r0), r0 + 0.75 * (r1 - r0))
        self.start = [(self.xc - 0.35 * w, lanes[1]), (self.xc + 0.35 * w, lanes[0])]
        self.ends = [(self.xc - 0.45 * self.length_px, self.yc), (self.xc + 0.45 * self.length_px, self.yc)]
        self.colours = [tuple(int(v) for v in self.rng.uniform(40, 230, 3)) for _ in range(2)]
        self.spin = self.rng.uniform(1.5, 3.0, 2) * self.rng.choice([-1, 1], 2)
        self.debris = self.rng.normal(0, 1, (24, 2)) * self.length_px * 0.08
        self.debris_colour = [(200, 220, 235) if k % 2 else self.colours[k % 4 // 2] for k in range(24)]
        self.drift = self.rng.uniform(-0.3, 0.3)  # the wind on the smoke, in plume heights

    def phase(self, u: int) -> str:
        k = u - self.hit
        if k < 0:
            return "speeding"
        return "impact" if k < 3 else "wreck"

    def _car(self, k, u):
        (sx, sy), (ex, ey) = self.start[k], self.ends[k]
        heading = math.atan2(ey - sy, ex - sx)
        if u <= self.hit:
            a = u / self.hit
            return sx + (ex - sx) * a, sy + (ey - sy) * a, heading
        settle = 1 - math.exp(-(u - self.hit) / 6)
        back = -0.6 * self.length_px * settle
        return (ex + back * math.cos(heading), ey + back * math.sin(heading) + (k - 0.5) * 0.4 * self.length_px * settle,
                heading + self.spin[k] * settle)

    def draw(self, img, u: int) -> None:
        for k in range(2):
            draw_car(img, *self._car(k, u)[:2], self.length_px, self._car(k, u)[2], self.colours[k])
        if u > self.hit:
            spread = 1 - math.exp(-(u - self.hit) / 5)
            for d, colour in zip(self.debris, self.debris_colour):
                _circle(img, self.xc + d[0] * 6 * spread, self.yc + d[1] * 6 * spread, 0.03 * self.length_px + 0.5, colour)

    def effects(self, f, u: int) -> None:
        k = u - self.hit
        if 0 <= k < 3:
            _glow(f, self.xc, self.yc, 1.2 * self.length_px, (255, 240, 200), 1.0 - 0.3 * k)
        if k > 2:
            grow = min(1.0, k / self.fps)
            flicker = 0.8 + 0.2 * self.jitter[u, 0]
            _glow(f, self.xc, self.yc, (0.3 + 0.3 * grow) * self.length_px, (255, 140, 30), 1.3 * flicker)
            for j in range(3):  # the plume: dark puffs rising from the fire, bigger as they rise
                rise = (j + 1) / 3 * grow
                _haze(f, self.xc + self.drift * rise * self.length_px, self.yc - 1.3 * rise * self.length_px,
                      (0.25 + 0.35 * rise) * self.length_px, (45, 42, 40), 0.7)


class Explosion(Episode):
    """G: a global flash, a fireball that expands and fades, debris thrown out, then smoke."""

    def __init__(self, *args):
        super().__init__(*args)
        w, h = self.cam.size
        self.radius = self.rng.uniform(0.18, 0.28) * min(w, h) * 1.4
        angle = self.rng.uniform(0, 2 * math.pi, 30)
        speed = self.rng.uniform(0.03, 0.08, 30) * self.radius * 4
        self.velocity = np.stack([np.cos(angle) * speed, np.sin(angle) * speed - 0.1 * self.radius], 1)

    def phase(self, u: int) -> str:
        if u < 3:
            return "flash"
        return "fireball" if math.exp(-u / (0.45 * self.length)) > 0.35 else "smoke"

    def draw(self, img, u: int) -> None:
        g = 0.03 * self.radius
        for vx, vy in self.velocity:
            _circle(img, self.x + vx * u / 4, self.y + vy * u / 4 + g * (u / 4) ** 2, 0.012 * self.radius + 0.6, (35, 30, 25))

    def effects(self, f, u: int) -> None:
        f += 140.0 * math.exp(-u / 3)  # the flash lights the whole scene
        r = self.radius * (1 - math.exp(-(u + 1) / 4))
        fade = math.exp(-u / (0.45 * self.length))
        if u > 2:
            _haze(f, self.x, self.y - 0.3 * r, 1.2 * r, (45, 42, 40), 0.6 * (1 - fade))
        _glow(f, self.x, self.y - 0.3 * r, r, (255, 140, 30), 2.0 * fade)
        _glow(f, self.x, self.y - 0.3 * r, 0.5 * r, (255, 250, 210), 2.5 * fade)


class VerbalAbuse(Episode):
    """B5 heard, barely seen (generator version 3, with its sound): a figure shouts at another who
    stands still; the shouter leans in and gestures a little more than a chatting pair does."""

    def __init__(self, *args):
        super().__init__(*args)
        self.side = int(self.rng.choice([-1, 1]))
        self.clothes = [_clothes(self.rng, dark=True), _clothes(self.rng)]

    def phase(self, u: int) -> str:
        return "shouting"

    def draw(self, img, u: int) -> None:
        h = self.h
        gesture = 0.45 + 0.35 * math.sin(2 * math.pi * 1.2 * u / self.fps)
        draw_person(img, self.x, self.y, h, tilt=-self.side * 0.08,
                    arms=(self.side * gesture, self.side * 0.3), **self.clothes[0])
        draw_person(img, self.x + self.side * 0.32 * h, self.y, h, arms=(0.1, -0.1), **self.clothes[1])


EPISODES: dict[str, type[Episode]] = {
    "B1": Fighting, "B2": Shooting, "B4": Riot, "B5": Abuse, "B6": CarAccident, "G": Explosion,
}


# --------------------------------------------------------------------------- rendering and writing


def _layers(plan: VideoPlan, cfg: SynthConfig, anomalies: bool = True):
    """The camera, the normal scene's actors and the (segment, episode) layers of one video."""
    cam = make_camera(cfg.seed, plan.camera, cfg.width, cfg.height)
    scene = make_scene(_rng(cfg.seed, _SCENE, plan.index), cam, cfg.fps)
    episodes = [(seg, episode_class(plan, cfg, k)(_rng(cfg.seed, _EPISODE, plan.index, k), cam, cfg.fps, seg))
                for k, seg in enumerate(plan.episodes)] if anomalies else []
    return cam, scene, episodes


def is_verbal(plan: VideoPlan, cfg: SynthConfig, k: int) -> bool:
    """Whether episode `k` of `plan` is verbal abuse: with --audio, half the abuse episodes (from a
    random stream of their own, so that nothing else changes)."""
    return cfg.audio and plan.episodes[k].label == "B5" and _rng(cfg.seed, _AUDIO, plan.index, k).random() < 0.5


def episode_class(plan: VideoPlan, cfg: SynthConfig, k: int) -> type[Episode]:
    return VerbalAbuse if is_verbal(plan, cfg, k) else EPISODES[plan.episodes[k].label]


def sound_track(plan: VideoPlan, cfg: SynthConfig) -> tuple[np.ndarray, list]:
    """The video's sound (int16 at `synthetic_audio.AUDIO_RATE`, as long as the video) and the
    sounds placed in it (`synthetic_audio.SoundEvent`), aligned to its episodes' frames."""
    _, _, episodes = _layers(plan, cfg)
    rng = _rng(cfg.seed, _AUDIO, plan.index)
    seconds = cfg.frames / cfg.fps
    placed, busy = [], []
    for k, (seg, episode) in enumerate(episodes):
        phases = [episode.phase(u) for u in range(seg.end - seg.start)]
        start = seg.start / cfg.fps
        busy.append((start, seg.end / cfg.fps + 2.0))  # an explosion's boom outlasts its frames
        for name, offset, samples, level in synthetic_audio.episode_sounds(
                seg.label, phases, cfg.fps, rng, verbal=is_verbal(plan, cfg, k)):
            placed.append((name, start + offset, samples, level, seg.label))
    for name, at, samples, level in synthetic_audio.distractors(rng, seconds, busy, normal=plan.label == "A"):
        placed.append((name, at, samples, level, None))
    ambience = synthetic_audio.camera_ambience(_rng(cfg.seed, _AUDIO, CAMERA_SOUND, plan.camera))
    return synthetic_audio.render_track(plan.name, seconds, ambience, rng, placed)


@dataclass(frozen=True)
class SceneFacts:
    """What one frame of a video shows, as data; `scene_captions` puts it into words."""

    frame: int
    walkers: int  # people walking alone at a normal pace, in view
    joggers: int
    crowd: bool  # the orderly group walking together is in view
    chat: bool  # the pair chatting face to face
    cars: int  # cars driving slowly along the road, in view
    events: tuple[tuple[str, str], ...] = ()  # (XD code, Episode.phase) of the episodes under way


def scene_facts(plan: VideoPlan, cfg: SynthConfig, frames: list[int]) -> list[SceneFacts]:
    """The facts of the given frames of a video, from the same layers that draw it."""
    _, scene, episodes = _layers(plan, cfg)
    facts = []
    for t in frames:
        walkers = [a for a in scene if isinstance(a, Walker) and a.visible(t)]
        events = tuple((seg.label, ep.phase(t - seg.start)) for seg, ep in episodes if seg.start <= t < seg.end)
        facts.append(SceneFacts(
            frame=t,
            walkers=sum(not a.jogging for a in walkers),
            joggers=sum(a.jogging for a in walkers),
            crowd=any(isinstance(a, Crowd) and a.visible(t) for a in scene),
            chat=any(isinstance(a, Chat) for a in scene),
            cars=sum(isinstance(a, Car) and a.visible(t) for a in scene),
            events=events,
        ))
    return facts


def snippet_captions(plan: VideoPlan, cfg: SynthConfig) -> list[str]:
    """One caption per complete snippet, describing its first frame (the frame that stands for
    it, docs/ARCHITECTURE.md); the wording is drawn from the video's own caption stream."""
    snippets = cfg.frames // SNIPPET_FRAMES
    facts = scene_facts(plan, cfg, [s * SNIPPET_FRAMES for s in range(snippets)])
    return [scene_captions.caption(f, _rng(cfg.seed, _CAPTION, plan.index, s)) for s, f in enumerate(facts)]


def write_captions(path: Path, plans: list[VideoPlan], cfg: SynthConfig) -> None:
    """``captions.jsonl``: one JSON object per snippet of every video (both splits)."""
    with open(path, "w", encoding="utf-8") as f:
        for plan in plans:
            for s, text in enumerate(snippet_captions(plan, cfg)):
                f.write(json.dumps({"video": plan.name, "split": plan.split, "snippet": s,
                                    "frame": s * SNIPPET_FRAMES, "caption": text}) + "\n")


def render_frames(plan: VideoPlan, cfg: SynthConfig, anomalies: bool = True,
                  only: Collection[int] | None = None) -> Iterator[np.ndarray]:
    """Yield the video's frames, RGB uint8 (H, W, 3).

    With ``anomalies=False`` the episode layers are left out and nothing else changes: each
    layer and the sensor noise draw from their own random stream. With ``only``, just those
    frame numbers are drawn and yielded (in order), pixel-identical to the full rendering.
    """
    cam, scene, episodes = _layers(plan, cfg, anomalies)
    noise = _rng(cfg.seed, _NOISE, plan.index)
    shape = (cfg.height, cfg.width, 3)
    for t in range(cfg.frames):
        if only is not None and t not in only:
            noise.standard_normal(shape, dtype=np.float32)  # keep the noise stream in step
            continue
        img = cam.background.copy()
        for actor in scene:
            actor.draw(img, t)
        active = [(t - seg.start, ep) for seg, ep in episodes if seg.start <= t < seg.end]
        for u, ep in active:
            ep.draw(img, u)
        f = img.astype(np.float32)
        for u, ep in active:
            ep.effects(f, u)
        f += noise.standard_normal(f.shape, dtype=np.float32) * 2.5  # sensor noise
        yield np.clip(f, 0, 255).astype(np.uint8)


def render_video(plan: VideoPlan, cfg: SynthConfig, anomalies: bool = True) -> np.ndarray:
    """All frames of one video, (T, H, W, 3) RGB uint8."""
    return np.stack(list(render_frames(plan, cfg, anomalies)))


def write_video(path: Path, frames: Iterator[np.ndarray], cfg: SynthConfig, progress=None) -> None:
    fourcc, _ = CODECS[cfg.codec]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), cfg.fps, (cfg.width, cfg.height))
    if not writer.isOpened():
        raise TcvadsError(f"{path}: this OpenCV build cannot write codec '{cfg.codec}' ({fourcc}); "
                          f"try --codec {'mp4v' if cfg.codec != 'mp4v' else 'mjpg'}")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            if progress is not None:
                progress.update(1)
    finally:
        writer.release()


def read_meta(folder: str | Path) -> dict | None:
    """The meta.json of a `tcvads synth` folder (the layout above), or None where the folder has
    none or it cannot be read as one."""
    try:
        meta = json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _prepare(out_dir: Path, cfg: SynthConfig) -> None:
    """Create OUT_DIR; refuse a non-empty folder that is not an earlier benchmark (no data lost)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise TcvadsError(f"{out_dir}: exists and is not a folder; choose another OUT_DIR")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if (read_meta(out_dir) or {}).get("generator") != GENERATOR:
            raise TcvadsError(f"{out_dir}: folder is not empty and holds no earlier synthetic benchmark; "
                              "choose a new or empty OUT_DIR")
        for old in (out_dir / "videos").glob("synth_*"):
            old.unlink()
        (out_dir / synthetic_audio.SOUNDS_FILE).unlink(missing_ok=True)
    try:
        (out_dir / "videos").mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise TcvadsError(f"{out_dir}: cannot write there ({exc.strerror}); choose a writable OUT_DIR") from exc


def generate(out_dir: str | Path, cfg: SynthConfig, progress: bool = True) -> list[VideoPlan]:
    """Write the whole benchmark (layout in the module docstring) and return its plans."""
    out_dir = Path(out_dir)
    _prepare(out_dir, cfg)
    plans = plan_benchmark(cfg)
    sounds = []
    with progress_bar(total=len(plans) * cfg.frames, unit="frame", desc="synth", show=progress) as bar:
        for plan in plans:
            write_video(out_dir / "videos" / f"{plan.name}{cfg.extension}", render_frames(plan, cfg), cfg, bar)
            if cfg.audio:
                track, placed = sound_track(plan, cfg)
                synthetic_audio.write_wav(out_dir / "videos" / f"{plan.name}.wav", track)
                sounds += placed
    if cfg.audio:
        synthetic_audio.write_sounds(out_dir / synthetic_audio.SOUNDS_FILE, sounds)
    for split, prefix in (("test", ""), ("train", "train_")):
        chosen = [p for p in plans if p.split == split]
        segments = {p.name: list(p.episodes) for p in chosen}
        write_xd_annotations(out_dir / f"{prefix}annotations.txt", segments)
        write_xd_multiclass(out_dir / f"{prefix}annotations_multiclasses.txt", segments)
        write_feature_list(out_dir / f"{split}.csv",
                           [ListEntry(f"videos/{p.name}{cfg.extension}", p.label) for p in chosen])
    meta = {
        "generator": GENERATOR,
        "generator_version": AUDIO_VERSION if cfg.audio else GENERATOR_VERSION,
        **({"audio": {"rate": synthetic_audio.AUDIO_RATE, "format": "wav pcm_s16le mono",
                      "path": "videos/<name>.wav", "sounds": synthetic_audio.SOUNDS_FILE}} if cfg.audio else {}),
        "seed": cfg.seed,
        "fps": cfg.fps,
        "width": cfg.width,
        "height": cfg.height,
        "frames_per_video": cfg.frames,
        "snippet_frames": SNIPPET_FRAMES,
        "codec": cfg.codec,
        "extension": cfg.extension,
        "videos": len(plans),
        "abnormal_videos": sum(p.label != "A" for p in plans),
        "test_videos": sum(p.split == "test" for p in plans),
        "cameras": cfg.cameras,
        "class_codes": XD_CODES,
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_captions(out_dir / CAPTIONS_FILE, plans, cfg)
    return plans


def contact_sheet(cfg: SynthConfig, columns: int = 4) -> np.ndarray:
    """One row per anomaly kind (frames spread over its episode) and one normal row, RGB."""
    rows = []
    for k, code in enumerate(("A", *ANOMALY_CODES)):
        start, end = cfg.frames // 4, cfg.frames // 4 + cfg.frames // 3
        episodes = () if code == "A" else (Segment(code, start, end),)
        plan = VideoPlan(k, f"example_{code}", "test", k % cfg.cameras, code, episodes)
        frames = render_video(plan, cfg)
        picks = np.linspace(start + 2, end - 3, columns).round().astype(int)
        tiles = [frames[i].copy() for i in picks]
        title = f"{code} {XD_CODES[code]}" if code != "A" else "A Normal (look-alikes)"
        for i, tile in zip(picks, tiles):
            tile[:14] //= 4  # a dark strip keeps the caption readable
            cv2.putText(tile, f"{title}  t={i}", (3, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


# --------------------------------------------------------------------------- command line


def configure_parser(parser: argparse.ArgumentParser) -> None:
    d = SynthConfig()
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path,
                        help="folder to write (new, empty, or an earlier synthetic benchmark)")
    parser.add_argument("--videos", type=int, default=d.videos, help=f"number of videos (default {d.videos})")
    parser.add_argument("--seed", type=int, default=d.seed, help="random seed; same seed, same output")
    parser.add_argument("--width", type=int, default=d.width, help=f"frame width (default {d.width})")
    parser.add_argument("--height", type=int, default=d.height, help=f"frame height (default {d.height})")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, default=None,
                        help=f"length of each video in seconds (default {d.frames / d.fps:g})")
    length.add_argument("--frames", type=int, default=None, help="length of each video in frames")
    parser.add_argument("--fps", type=float, default=d.fps, help=f"frame rate (default {d.fps:g})")
    parser.add_argument("--abnormal-share", type=float, default=d.abnormal_share,
                        help=f"share of abnormal videos (default {d.abnormal_share})")
    parser.add_argument("--test-share", type=float, default=d.test_share,
                        help=f"share of videos in the test split (default {d.test_share})")
    parser.add_argument("--codec", default=d.codec,
                        help=f"video codec: {', '.join(f'{k} ({v[1]})' for k, v in CODECS.items())} (default {d.codec})")
    parser.add_argument("--cameras", type=int, default=d.cameras,
                        help=f"number of distinct camera scenes (default {d.cameras})")
    parser.add_argument("--audio", action="store_true",
                        help=f"generator version {AUDIO_VERSION}: also a sound track per video (videos/<name>.wav) "
                             "and verbal abuse, a kind heard more than seen (docs/synthetic.md)")
    parser.add_argument("--contact-sheet", type=Path, default=None, metavar="PNG",
                        help="also write a picture with example frames of every kind")


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    fps = args.fps
    frames = args.frames
    if frames is None:
        seconds = SynthConfig.frames / SynthConfig.fps if args.seconds is None else args.seconds
        if seconds <= 0:
            raise ConfigError(f"synth option 'seconds' must be positive, got {seconds!r}")
        frames = int(round(seconds * fps)) if fps > 0 else 0
    return from_mapping(SynthConfig, {
        "videos": args.videos, "seed": args.seed, "width": args.width, "height": args.height,
        "frames": frames, "fps": fps, "abnormal_share": args.abnormal_share,
        "test_share": args.test_share, "codec": args.codec.lower(), "cameras": args.cameras,
        "audio": bool(getattr(args, "audio", False)),
    })


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    plans = generate(args.out_dir, cfg)
    if args.contact_sheet is not None:
        sheet = contact_sheet(cfg)
        if not cv2.imwrite(str(args.contact_sheet), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise TcvadsError(f"{args.contact_sheet}: could not write the contact sheet (is it a .png path?)")
    n_test = sum(p.split == "test" for p in plans)
    n_abnormal = sum(p.label != "A" for p in plans)
    print(f"wrote {len(plans)} video(s) ({n_abnormal} abnormal; {len(plans) - n_test} train, {n_test} test) "
          f"of {cfg.frames} frames at {cfg.width}x{cfg.height}, {cfg.fps:g} fps to {args.out_dir}")
    return 0
