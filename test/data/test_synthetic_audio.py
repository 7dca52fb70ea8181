# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The sound tracks of `tcvads synth --audio` (generator version 3): exact, aligned to the
frames, reproducible, and leaving the pictures and the earlier versions alone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tcvads_ros.data import synthetic as syn
from tcvads_ros.data import synthetic_audio as sa
from tcvads_ros.data.annotations import Segment

CFG = syn.SynthConfig(videos=12, seed=5, width=96, height=72, frames=144, fps=24.0, audio=True)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth_audio")
    plans = syn.generate(out, CFG, progress=False)
    return out, plans, sa.read_sounds(out / sa.SOUNDS_FILE)


def test_each_video_has_a_track_as_long_as_its_frames_and_meta_says_version_3(bench):
    out, plans, _ = bench
    meta = json.loads((out / "meta.json").read_text())
    assert meta["generator_version"] == syn.AUDIO_VERSION == 3 and meta["audio"]["rate"] == sa.AUDIO_RATE
    for plan in plans:
        samples, rate = sa.read_wav(out / "videos" / f"{plan.name}.wav")
        assert rate == sa.AUDIO_RATE and samples.size == round(CFG.frames / CFG.fps * rate)
        assert np.abs(samples).max() < 1.0  # never clipped hard


def test_the_same_seed_gives_the_same_sound_and_without_audio_nothing_changes(bench, tmp_path):
    out, plans, _ = bench
    again = tmp_path / "again"
    syn.generate(again, CFG, progress=False)
    for plan in plans[:3]:
        assert (again / "videos" / f"{plan.name}.wav").read_bytes() == (out / "videos" / f"{plan.name}.wav").read_bytes()
    assert (again / sa.SOUNDS_FILE).read_bytes() == (out / sa.SOUNDS_FILE).read_bytes()
    quiet = syn.SynthConfig(**{**CFG.__dict__, "audio": False})
    assert syn.plan_benchmark(quiet) == plans  # the plan does not depend on the sound
    syn.generate(tmp_path / "v2", quiet, progress=False)
    assert not list((tmp_path / "v2" / "videos").glob("*.wav")) and not (tmp_path / "v2" / sa.SOUNDS_FILE).exists()
    assert json.loads((tmp_path / "v2" / "meta.json").read_text())["generator_version"] == syn.GENERATOR_VERSION == 2
    # A version-3 video without abuse is pixel-identical to its version-2 rendering.
    plain = next(p for p in plans if "B5" not in p.label)
    assert np.array_equal(syn.render_video(plain, CFG), syn.render_video(plain, quiet))


def test_every_anomaly_sound_starts_at_the_frame_that_shows_it_and_stands_out(bench):
    out, plans, sounds = bench
    by_video = {p.name: p for p in plans}
    checked = set()
    for event in sounds:
        if event.episode is None:
            continue
        plan = by_video[event.video]
        (seg, episode), = [(s, e) for s, e in syn._layers(plan, CFG)[2] if s.label == event.episode
                           and s.start / CFG.fps - 1e-3 <= event.start_s < s.end / CFG.fps]
        phases = [episode.phase(u) for u in range(seg.end - seg.start)]
        marks = {"gunshot": "firing", "explosion": "flash", "crash": "impact"}
        if event.sound in marks:  # the sound starts on a frame that shows its cause
            frame = round(event.start_s * CFG.fps)  # to the nearest sample: 1/16000 s
            assert abs(event.start_s - frame / CFG.fps) <= 1.0 / sa.AUDIO_RATE, event
            assert phases[frame - seg.start] == marks[event.sound], event
        else:  # sounds that last the whole episode start with it
            assert event.start_s == pytest.approx(seg.start / CFG.fps, abs=1.0 / sa.AUDIO_RATE), event
        samples, _ = sa.read_wav(out / "videos" / f"{event.video}.wav")
        loud = sa.loudness_db(samples, event.start_s, min(event.end_s, event.start_s + 0.1))
        background = np.median([sa.loudness_db(samples, t, t + 0.1) for t in np.arange(0, CFG.frames / CFG.fps, 0.1)])
        assert loud > background + 6.0, (event, loud, background)
        checked.add(event.sound)
    assert {"gunshot", "explosion", "crash"} <= checked, checked


def test_normal_videos_carry_distractor_sounds_away_from_the_episodes(bench):
    _, plans, sounds = bench
    for plan in plans:
        mine = [e for e in sounds if e.video == plan.name]
        distractors = [e for e in mine if e.episode is None]
        assert all(e.sound in sa.DISTRACTORS for e in distractors)
        if plan.label == "A":
            assert distractors, f"{plan.name}: a normal video without a distractor"
        for seg in plan.episodes:
            for e in distractors:
                assert e.end_s <= seg.start / CFG.fps or e.start_s >= seg.end / CFG.fps, (plan.name, e)


def test_verbal_abuse_is_heard_but_barely_seen():
    """Half the abuse episodes of version 3 are shouting at a standing figure: its picture moves
    far less than a beating's (less than a fifth), while its sound is shouting."""
    def plan_for(verbal: bool) -> syn.VideoPlan:
        return next(p for i in range(100) if syn.is_verbal(
            p := syn.VideoPlan(i, f"v{i}", "test", 0, "B5-0-0", (Segment("B5", 24, 96),)), CFG, 0) == verbal)

    def motion(plan: syn.VideoPlan) -> float:  # frame-to-frame change of the episode's own layer
        layer = syn.render_video(plan, CFG).astype(np.float32) - syn.render_video(plan, CFG, anomalies=False)
        return float(np.abs(np.diff(layer[24:96], axis=0)).mean())

    verbal, beating = plan_for(True), plan_for(False)
    assert motion(verbal) < 0.2 * motion(beating)
    _, heard = syn.sound_track(verbal, CFG)
    assert [e.sound for e in heard if e.episode == "B5"] == ["shouting"]
    _, heard = syn.sound_track(beating, CFG)
    assert [e.sound for e in heard if e.episode == "B5"] == ["abuse_screams"]
