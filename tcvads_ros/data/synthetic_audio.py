# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The sound track of a `tcvads synth` video (generator version 3, ``--audio``).

Each video gets a mono WAV beside it (``videos/<name>.wav``, 16-bit PCM at `AUDIO_RATE`), exactly
as long as the video, that belongs to its frames:

- **ambient sound of the camera** (the same camera sounds alike in every video): street noise,
  an engine hum, footsteps and a crowd murmur, each at the camera's own level;
- **distractors that must not alarm**: a door slam, a car horn, a few bars of music, on normal
  videos and in the normal parts of abnormal ones;
- **each anomaly's sound, aligned to its frames** (`synthetic.Episode.phase`): a gunshot at every
  muzzle flash, an explosion's boom and decay from its flash, a crash's impact and breaking glass
  at the collision, shouting and blows for fighting, shouting and screams for abuse, a crowd's
  roar with shouts for a riot, and shouting at a standing figure for verbal abuse: a kind that
  can be heard but barely seen (`synthetic.VerbalAbuse`, annotated ``B5`` abuse).

Every sound placed is listed with its exact time in ``sounds.jsonl`` beside the annotations
(`SoundEvent`), so tests and benchmarks know what can be heard when. All sound is drawn with
NumPy from random streams of its own (`synthetic._AUDIO`): the frames of a version-3 video do
not depend on its sound, and versions 1-2 (no ``--audio``) are unchanged.

The sounds are made, not recorded: tones, filtered noise and envelopes, loud where the real thing
is loud. A model trained on them has learnt these drawings of sound, not real gunshots.
"""

from __future__ import annotations

import json
import math
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

AUDIO_RATE = 16000  # samples per second: speech and impacts; enough for log-mel features
SOUNDS_FILE = "sounds.jsonl"  # every sound placed, with its time (docs/synthetic.md)
# Distractors: loud, short or tonal sounds of ordinary streets, which must not alarm.
DISTRACTORS = ("door_slam", "car_horn", "music")
# Overall level: the loudest sounds (an explosion, a gunshot) just below full scale.
HEADROOM = 0.9


@dataclass(frozen=True)
class SoundEvent:
    """One sound placed in a video's track: what, when (seconds, half-open), and the episode it
    belongs to (its XD code, or None for a distractor)."""

    video: str
    sound: str
    start_s: float
    end_s: float
    episode: str | None = None


# --------------------------------------------------------------------------- building blocks


def _band(x: np.ndarray, low: float, high: float, rate: int = AUDIO_RATE) -> np.ndarray:
    """`x` with only the frequencies in [low, high] Hz (an exact FFT mask)."""
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1.0 / rate)
    spectrum[(freqs < low) | (freqs > high)] = 0
    return np.fft.irfft(spectrum, n=x.size)


def _normalised(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return x / peak if peak > 0 else x


def _decay(n: int, seconds: float, rate: int = AUDIO_RATE) -> np.ndarray:
    return np.exp(-np.arange(n) / (seconds * rate))


def _seconds(s: float, rate: int = AUDIO_RATE) -> int:
    """A length in samples: at least one."""
    return max(1, int(round(s * rate)))


def _at(s: float, rate: int = AUDIO_RATE) -> int:
    """A position in samples: the sample nearest `s` seconds, never before the first."""
    return max(0, int(round(s * rate)))


def _voice(rng: np.random.Generator, seconds: float, pitch: float, glide: float = 0.0) -> np.ndarray:
    """A voiced sound: a harmonic series on a wavering pitch (vibrato, `glide` Hz over its length),
    shaped by two formant bands, with syllable-like loudness swings."""
    n = _seconds(seconds)
    t = np.arange(n) / AUDIO_RATE
    f0 = pitch + glide * t / max(seconds, 1e-3) + 0.04 * pitch * np.sin(2 * np.pi * rng.uniform(4, 7) * t)
    phase = 2 * np.pi * np.cumsum(f0) / AUDIO_RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    formant = rng.uniform(600, 900)
    x = _band(x, 0.5 * formant, 3.0 * formant) + 0.3 * x
    syllables = 0.55 + 0.45 * np.abs(np.sin(np.pi * rng.uniform(3, 5) * t + rng.uniform(0, np.pi)))
    edge = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.03)
    return _normalised(x * syllables * edge)


def gunshot(rng: np.random.Generator) -> np.ndarray:
    """A crack (broadband, 2 ms attack) and its echo, 0.5 s."""
    n = _seconds(0.5)
    crack = rng.standard_normal(n) * _decay(n, 0.035)
    crack[: _seconds(0.002)] *= np.linspace(0, 1, _seconds(0.002))
    echo = np.zeros(n)
    lag = _seconds(rng.uniform(0.08, 0.15))
    echo[lag:] = 0.35 * _band(crack, 200, 3000)[: n - lag]
    thump = np.sin(2 * np.pi * 90 * np.arange(n) / AUDIO_RATE) * _decay(n, 0.05)
    return _normalised(crack + echo + 0.6 * thump)


def explosion(rng: np.random.Generator) -> np.ndarray:
    """A boom: low rumble with a sub-bass swell, decaying over about two seconds; debris after."""
    n = _seconds(2.5)
    rumble = _band(rng.standard_normal(n), 20, 400) * _decay(n, 0.7)
    t = np.arange(n) / AUDIO_RATE
    swell = np.sin(2 * np.pi * 38 * t) * _decay(n, 0.5) * np.minimum(1.0, t / 0.01)
    debris = np.zeros(n)
    for _ in range(12):
        at = _at(rng.uniform(0.3, 2.0))
        hit = _band(rng.standard_normal(_seconds(0.05)), 800, 5000) * _decay(_seconds(0.05), 0.01)
        debris[at:at + hit.size] += 0.3 * hit[: n - at]
    return _normalised(_normalised(rumble) + swell + debris)


def crash(rng: np.random.Generator) -> np.ndarray:
    """An impact (low thud, metal) followed by breaking glass: high tinkles over half a second."""
    n = _seconds(1.2)
    t = np.arange(n) / AUDIO_RATE
    thud = _band(rng.standard_normal(n), 40, 600) * _decay(n, 0.12)
    metal = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(300, 1200, 4)) * _decay(n, 0.25) / 4
    glass = np.zeros(n)
    for _ in range(25):
        at = _at(rng.uniform(0.02, 0.7))
        m = _seconds(0.04)
        tinkle = np.sin(2 * np.pi * rng.uniform(2500, 6000) * np.arange(m) / AUDIO_RATE) * _decay(m, 0.008)
        glass[at:at + m] += rng.uniform(0.2, 0.6) * tinkle[: n - at]
    return _normalised(_normalised(thud) + 0.5 * metal + glass)


def roar(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """A crowd roaring: loud broadband murmur swelling and falling, shouts on top."""
    n = _seconds(seconds)
    t = np.arange(n) / AUDIO_RATE
    bed = _normalised(_band(rng.standard_normal(n), 150, 4000))
    swell = 0.7 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.2, 0.5) * t + rng.uniform(0, np.pi))
    out = bed * swell
    for _ in range(max(1, int(seconds * 2))):
        shout = _voice(rng, rng.uniform(0.3, 0.8), rng.uniform(180, 320))
        at = _at(rng.uniform(0, max(seconds - 0.8, 0.01)))
        out[at:at + shout.size] += 0.6 * shout[: n - at]
    return _normalised(out)


def shouting(rng: np.random.Generator, seconds: float, scream: bool = False, blows: bool = False) -> np.ndarray:
    """Angry shouting in bursts over `seconds`; with `scream`, high gliding screams too; with
    `blows`, dull thuds of strikes."""
    n = _seconds(seconds)
    out = np.zeros(n)
    at = 0
    while at < n:
        shout = _voice(rng, rng.uniform(0.3, 0.9), rng.uniform(170, 280), glide=rng.uniform(-40, 60))
        out[at:at + shout.size] += shout[: n - at]
        at += shout.size + _seconds(rng.uniform(0.08, 0.35))
    if scream:
        for _ in range(max(1, int(seconds / 1.5))):
            cry = _voice(rng, rng.uniform(0.4, 0.9), rng.uniform(550, 800), glide=rng.uniform(100, 300))
            start = _at(rng.uniform(0, max(seconds - 0.9, 0.01)))
            out[start:start + cry.size] += 0.8 * cry[: n - start]
    if blows:
        for _ in range(max(1, int(seconds * 2))):
            m = _seconds(0.08)
            thud = _band(rng.standard_normal(m), 60, 500) * _decay(m, 0.02)
            start = _at(rng.uniform(0, max(seconds - 0.1, 0.01)))
            out[start:start + m] += 0.7 * _normalised(thud)[: n - start]
    return _normalised(out)


def door_slam(rng: np.random.Generator) -> np.ndarray:
    """A door slammed shut: a dull wooden thud and a rattle, 0.4 s."""
    n = _seconds(0.4)
    thud = _band(rng.standard_normal(n), 50, 300) * _decay(n, 0.06)
    rattle = _band(rng.standard_normal(n), 1000, 3000) * _decay(n, 0.03) * 0.2
    return _normalised(thud + rattle)


def car_horn(rng: np.random.Generator) -> np.ndarray:
    """A car horn: two detuned square-ish tones held for about half a second."""
    n = _seconds(rng.uniform(0.4, 0.9))
    t = np.arange(n) / AUDIO_RATE
    x = sum(np.sign(np.sin(2 * np.pi * f * t)) for f in (rng.uniform(380, 420), rng.uniform(480, 520)))
    edge = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
    return _normalised(_band(x, 200, 4000) * edge)


def music(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """A few bars of music from a passing car or a shop: chords of soft tones with a beat."""
    n = _seconds(seconds)
    t = np.arange(n) / AUDIO_RATE
    beat = rng.uniform(1.6, 2.4)  # beats per second
    roots = rng.choice([196.0, 220.0, 246.9, 261.6, 293.7], size=int(seconds / 2) + 1)
    chord = roots[np.minimum((t / 2).astype(int), roots.size - 1)]
    x = sum(np.sin(2 * np.pi * chord * ratio * t) for ratio in (1.0, 1.26, 1.5))
    pulse = 0.6 + 0.4 * np.exp(-((t * beat) % 1.0) / 0.15)
    return _normalised(x * pulse)


@dataclass(frozen=True)
class Ambience:
    """A camera's background: levels of street noise, engine hum, footsteps and crowd murmur."""

    street: float
    engine: float
    engine_hz: float
    footsteps: float
    steps_per_s: float
    murmur: float


def camera_ambience(rng: np.random.Generator) -> Ambience:
    """A camera's background levels, from the camera's own random stream (the same in every
    video of that camera)."""
    return Ambience(street=rng.uniform(0.02, 0.05), engine=rng.uniform(0.0, 0.04), engine_hz=rng.uniform(45, 110),
                    footsteps=rng.uniform(0.0, 0.08), steps_per_s=rng.uniform(1.6, 2.2), murmur=rng.uniform(0.0, 0.05))


def ambient(rng: np.random.Generator, amb: Ambience, n: int) -> np.ndarray:
    """`n` samples of the camera's background."""
    t = np.arange(n) / AUDIO_RATE
    street = amb.street * _normalised(_band(rng.standard_normal(n), 30, 2500))
    hum = amb.engine * (np.sin(2 * np.pi * amb.engine_hz * t) + 0.5 * np.sin(4 * np.pi * amb.engine_hz * t)) \
        * (0.6 + 0.4 * np.sin(2 * np.pi * 0.1 * t + rng.uniform(0, np.pi)))
    murmur = amb.murmur * _normalised(_band(rng.standard_normal(n), 300, 3000)) \
        * (0.5 + 0.5 * np.abs(np.sin(2 * np.pi * 2.2 * t)))
    steps = np.zeros(n)
    m = _seconds(0.03)
    step = _band(rng.standard_normal(m), 100, 2000) * _decay(m, 0.006)
    for at in np.arange(rng.uniform(0, 1), n / AUDIO_RATE, 1.0 / amb.steps_per_s):
        i = _at(at + rng.normal(0, 0.02))
        steps[i:i + m] += amb.footsteps * _normalised(step)[: max(0, n - i)]
    return street + hum + murmur + steps


# --------------------------------------------------------------------------- a video's track


def episode_sounds(code: str, phases: list[str], fps: float, rng: np.random.Generator,
                   verbal: bool = False) -> list[tuple[str, float, np.ndarray, float]]:
    """The sounds of one episode as (name, offset in seconds from its first frame, samples,
    level), aligned to what its frames show (`phases`: `Episode.phase` of each frame)."""
    seconds = len(phases) / fps
    if code == "B2":  # a gunshot at the first frame of every muzzle flash
        return [("gunshot", u / fps, gunshot(rng), 0.9) for u, p in enumerate(phases)
                if p == "firing" and (u == 0 or phases[u - 1] != "firing")]
    if code == "G":  # the boom starts with the flash
        return [("explosion", 0.0, explosion(rng), 0.95)]
    if code == "B6":  # engines racing, then the impact at the collision
        impact = next((u for u, p in enumerate(phases) if p == "impact"), 0)
        return [("engines", 0.0, 0.5 * roar(rng, max(impact / fps, 0.1)), 0.25),
                ("crash", impact / fps, crash(rng), 0.85)]
    if code == "B4":
        return [("riot_roar", 0.0, roar(rng, seconds), 0.6)]
    if code == "B1":
        return [("fight", 0.0, shouting(rng, seconds, blows=True), 0.55)]
    if code == "B5":
        if verbal:
            return [("shouting", 0.0, shouting(rng, seconds), 0.6)]
        return [("abuse_screams", 0.0, shouting(rng, seconds, scream=True, blows=True), 0.55)]
    raise ValueError(f"no sound for episode code {code!r}")


def distractors(rng: np.random.Generator, seconds: float, busy: list[tuple[float, float]],
                normal: bool) -> list[tuple[str, float, np.ndarray, float]]:
    """Ordinary loud sounds at random moments outside the episodes (`busy`, seconds): one to three
    on a normal video, none to one on an abnormal one."""
    count = int(rng.integers(1, 4)) if normal else int(rng.integers(0, 2))
    placed: list[tuple[str, float, np.ndarray, float]] = []
    for _ in range(count):
        name = str(rng.choice(DISTRACTORS))
        sound = music(rng, rng.uniform(2.0, 4.0)) if name == "music" else \
            (door_slam if name == "door_slam" else car_horn)(rng)
        length = sound.size / AUDIO_RATE
        for _attempt in range(20):  # a free moment, away from the episodes and the other distractors
            at = rng.uniform(0.0, max(seconds - length, 0.0))
            taken = busy + [(s, s + x.size / AUDIO_RATE) for _, s, x, _ in placed]
            if all(at + length + 0.5 <= s or at >= e + 0.5 for s, e in taken):
                placed.append((name, at, sound, 0.5 if name == "music" else 0.7))
                break
    return placed


def render_track(video: str, seconds: float, ambience: Ambience, rng: np.random.Generator,
                 placed: list[tuple[str, float, np.ndarray, float, str | None]]) -> tuple[np.ndarray, list[SoundEvent]]:
    """Mix the background and the placed sounds (name, start s, samples, level, episode code) into
    `seconds` of int16 samples; the events list what was placed in `video`'s track (clipped to
    the track)."""
    n = _seconds(seconds)
    track = ambient(rng, ambience, n)
    events = []
    for sound, start, samples, level, episode in placed:
        i = _at(start)
        part = samples[: max(0, n - i)]
        track[i:i + part.size] += level * part
        if part.size:
            events.append(SoundEvent(video, sound, round(i / AUDIO_RATE, 6), round((i + part.size) / AUDIO_RATE, 6), episode))
    pcm = np.clip(track * HEADROOM, -1.0, 1.0)
    return (pcm * 32767).astype(np.int16), events


def write_wav(path: Path, samples: np.ndarray, rate: int = AUDIO_RATE) -> None:
    """Mono 16-bit PCM WAV (the standard library's `wave`)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A mono 16-bit WAV's samples (float32 in [-1, 1]) and its rate."""
    with wave.open(str(path), "rb") as src:
        if src.getnchannels() != 1 or src.getsampwidth() != 2:
            raise ValueError(f"{path}: expected mono 16-bit PCM")
        data = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
        return data.astype(np.float32) / 32768.0, src.getframerate()


def write_sounds(path: Path, events: list[SoundEvent]) -> None:
    """``sounds.jsonl``: one line per sound placed."""
    with open(path, "w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(asdict(event), sort_keys=True) + "\n")


def read_sounds(path: Path) -> list[SoundEvent]:
    with open(path, encoding="utf-8") as src:
        return [SoundEvent(**json.loads(line)) for line in src if line.strip()]


def loudness_db(samples: np.ndarray, start_s: float, end_s: float, rate: int = AUDIO_RATE) -> float:
    """RMS level in dB full scale of [start_s, end_s) of a track (tests, benchmark figures)."""
    part = samples[int(start_s * rate): max(int(start_s * rate) + 1, int(end_s * rate))]
    return 20.0 * math.log10(float(np.sqrt(np.mean(np.square(part, dtype=np.float64)))) + 1e-9)

