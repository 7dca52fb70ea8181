# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The fine stage's clip rule (runtime/clips.py), shared by the pipeline and fine_node."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tcvads_ros.runtime.clips import ClipCache, ClipCollector, pad_clip


def frames(stamps, start_index=0):
    return [SimpleNamespace(stamp=s, index=start_index + i) for i, s in enumerate(stamps)]


def test_clip_cache_is_bounded_by_time_and_by_count():
    cache = ClipCache(seconds=1.0, max_frames=100)
    for f in frames([i * 0.1 for i in range(50)]):
        cache.push(f)
    held = cache.clip(-1, 10)
    assert held[0].stamp == pytest.approx(3.9) and held[-1].stamp == pytest.approx(4.9)
    small = ClipCache(seconds=100.0, max_frames=5)
    for f in frames(range(20)):
        small.push(f)
    assert [f.stamp for f in small.clip(0, 100)] == [15, 16, 17, 18, 19]


def test_clip_cache_cuts_by_stamp():
    cache = ClipCache(seconds=10.0, max_frames=100)
    for f in frames([i * 0.1 for i in range(40)]):
        if f.index % 4 == 0:
            cache.push(f)
    assert [f.index for f in cache.clip(0.75, 2.05)] == [8, 12, 16, 20]
    assert cache.newest_stamp() == pytest.approx(3.6)


def test_clip_cache_starts_afresh_when_the_clock_goes_back():
    cache = ClipCache(seconds=2.0, max_frames=100)
    for f in frames([100.0, 100.5, 101.0]):
        cache.push(f)
    cache.push(SimpleNamespace(stamp=0.0, index=0))  # bag replayed from the start
    assert [f.stamp for f in cache.clip(-1, 1e9)] == [0.0]
    with pytest.raises(ValueError):
        ClipCache(seconds=0, max_frames=1)


def event(kind, event_id="e1", stamp=1.0):
    return SimpleNamespace(kind=kind, event_id=event_id, stamp=stamp)


def test_pad_clip_repeats_edge_frames_where_the_stream_was_missing():
    assert pad_clip([1, 2, 3, 4, 5], 4, 2, 2) == [1, 2, 3, 4]
    assert pad_clip([3, 4, 5], 4, 2, 1) == [3, 3, 4, 5]  # stream began just before the start
    assert pad_clip([1, 2, 3], 4, 2, 2) == [1, 2, 3, 3]  # stream ended just after it
    assert pad_clip([7], 3, 2, 0) == [7, 7, 7]


def collector(length=4, pre_roll=2, timeout_s=10.0):
    cache = ClipCache(seconds=100.0, max_frames=100)
    return cache, ClipCollector(cache, length=length, pre_roll=pre_roll, timeout_s=timeout_s)


def test_clip_collector_cuts_pre_roll_and_post_frames_around_the_start():
    cache, clips = collector()
    for f in frames([0.0, 1.0, 2.0, 3.0]):
        cache.push(f)
    clips.announce(event("start", stamp=2.0), header="h")
    assert clips.ready() is None  # one frame after the start is still missing
    cache.push(SimpleNamespace(stamp=4.0, index=4))
    cache.push(SimpleNamespace(stamp=5.0, index=5))
    clip = clips.ready()
    assert [f.stamp for f in clip.items] == [1.0, 2.0, 3.0, 4.0]
    assert clip.header == "h" and clip.event.kind == "start"
    assert clips.ready() is None  # taken once


def test_clip_collector_coalesces_starts_and_follows_the_event():
    cache, clips = collector()
    for f in frames([0.0, 1.0]):
        cache.push(f)
    clips.announce(event("start", "a", 1.0))
    clips.announce(event("start", "b", 1.5))  # while "a" collects: folded into its clip
    clips.announce(event("update", "b", 1.6))  # another event's update: ignored
    clips.announce(event("end", "a", 1.2))  # "a" ended at 1.2 s ...
    assert clips.ready() is None  # ... but the camera's frames have not reached 1.2 s yet
    cache.push(SimpleNamespace(stamp=1.1, index=2))
    cache.push(SimpleNamespace(stamp=1.3, index=3))  # now they have: cut with the event's frames
    clip = clips.ready()
    assert clip.coalesced == ["b"] and clip.event.kind == "end"
    assert [f.stamp for f in clip.items] == [0.0, 1.0, 1.1, 1.1]  # 1.3 s is after the end
    assert clips.stats["triggers"] == 2 and clips.stats["triggers_coalesced"] == 1


def test_clip_collector_times_out_on_a_stopped_camera_and_counts_clips_without_frames(caplog):
    cache, clips = collector(timeout_s=2.0)
    cache.push(SimpleNamespace(stamp=10.0, index=0))
    clips.announce(event("start", stamp=10.0), split=10.0)
    cache.push(SimpleNamespace(stamp=11.0, index=1))
    assert clips.ready() is None
    cache.push(SimpleNamespace(stamp=12.5, index=2))  # 2 s of camera time passed
    assert len(clips.ready().items) == 4
    empty_cache, empty = collector()
    empty.announce(event("start", stamp=5.0))
    empty.announce(event("end", stamp=6.0))
    assert empty.ready() is None and empty.stats["clips_not_covered"] == 1
    assert "no explanation, its clip's frames are not in the cache (none at all)" in caplog.text
    with pytest.raises(ValueError):
        ClipCollector(empty_cache, length=2, pre_roll=3, timeout_s=1.0)


def test_clip_collector_never_fills_a_stale_start_with_later_frames():
    cache, clips = collector(timeout_s=2.0)
    clips.announce(event("start", stamp=5.0))  # replayed to a fine_node started long after
    for f in frames([100.0, 100.5, 101.0, 101.5, 102.0]):
        cache.push(f)
    assert clips.ready() is None and clips.stats["clips_not_covered"] == 1


def test_clip_collector_drops_a_clip_whose_frames_begin_after_its_event():
    cache, clips = collector(timeout_s=10.0)
    clips.announce(event("start", stamp=5.0))  # replayed to a fine_node that started at 7.5 s
    for f in frames([7.5, 8.0, 8.5, 9.0]):
        cache.push(f)
    assert clips.ready() is None and clips.stats["clips_not_covered"] == 1
    cache, clips = collector()
    clips.announce(event("start", "early", stamp=9.2))  # a start just before the first frame
    cache.push(SimpleNamespace(stamp=9.6, index=9))
    assert clips.ready(flush=True).items[0].stamp == 9.6  # within COVER_S: kept


def test_clip_collector_flush_cuts_the_clip_being_collected():
    cache, clips = collector()
    for f in frames([0.0, 1.0, 2.0]):
        cache.push(f)
    clips.announce(event("start", stamp=2.0))
    assert clips.ready() is None
    clip = clips.ready(flush=True)  # shutting down: classify what arrived
    assert [f.stamp for f in clip.items] == [1.0, 2.0, 2.0, 2.0] and clips.ready(flush=True) is None
