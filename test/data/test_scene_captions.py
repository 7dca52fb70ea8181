# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
import json

import numpy as np

from tcvads_ros.data import annotations as ann
from tcvads_ros.data import scene_captions
from tcvads_ros.data import synthetic as syn

CFG = syn.SynthConfig(videos=12, seed=5, width=96, height=72, frames=96, fps=12.0)


def _event_texts(code):
    """Every phrasing of one kind, with the who/where slots cut off (prefixes to look for)."""
    return [t.split("{")[0] for (c, _), texts in scene_captions.EVENTS.items() if c == code for t in texts]


def test_captions_file_has_one_caption_per_snippet_and_is_deterministic(tmp_path):
    plans = syn.generate(tmp_path / "a", CFG, progress=False)
    syn.generate(tmp_path / "b", CFG, progress=False)
    text = (tmp_path / "a" / syn.CAPTIONS_FILE).read_text(encoding="utf-8")
    assert text == (tmp_path / "b" / syn.CAPTIONS_FILE).read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines()]
    snippets = CFG.frames // ann.SNIPPET_FRAMES
    assert len(rows) == len(plans) * snippets
    for plan in plans:
        mine = [r for r in rows if r["video"] == plan.name]
        assert [r["snippet"] for r in mine] == list(range(snippets))
        assert [r["frame"] for r in mine] == [s * ann.SNIPPET_FRAMES for s in range(snippets)]
        assert {r["split"] for r in mine} == {plan.split}
        assert all(isinstance(r["caption"], str) and len(r["caption"].split()) >= 2 for r in mine)


def test_a_caption_names_the_episode_under_way_and_only_then():
    seen = set()
    for plan in syn.plan_benchmark(CFG):
        captions = syn.snippet_captions(plan, CFG)
        labels = ann.frame_labels(plan.episodes, CFG.frames)
        for s, caption in enumerate(captions):
            frame = s * ann.SNIPPET_FRAMES
            active = [seg.label for seg in plan.episodes if seg.start <= frame < seg.end]
            for code in syn.ANOMALY_CODES:
                mentioned = any(p.strip() and p in caption for p in _event_texts(code))
                assert mentioned == (code in active), (plan.name, frame, code, caption)
            assert bool(labels[frame]) == bool(active)
            seen.update(active)
    assert seen == set(syn.ANOMALY_CODES)


def test_phases_follow_the_drawing():
    seg = ann.Segment("B2", 10, 70)
    plan = syn.VideoPlan(0, "x", "test", 0, "B2", (seg,))
    cfg = syn.SynthConfig(videos=1, seed=0, width=96, height=72, frames=96, fps=12.0)
    phases = [f.events[0][1] for f in syn.scene_facts(plan, cfg, list(range(seg.start, seg.end)))]
    assert phases[0] == "aiming" and "firing" in phases and phases[-1] == "bleeding"
    assert syn.scene_facts(plan, cfg, [0, 70])[0].events == () == syn.scene_facts(plan, cfg, [70])[0].events


def test_wording_varies():
    facts = syn.SceneFacts(frame=0, walkers=3, joggers=1, crowd=False, chat=True, cars=1,
                           events=(("B4", "running"),))
    texts = {scene_captions.caption(facts, np.random.default_rng(i)) for i in range(60)}
    assert len(texts) > 30
    assert sum("riot" in t for t in texts) < len(texts)  # the class name is not in every caption
