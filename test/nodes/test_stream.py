"""Flow control of the nodes: newest-wins slot, stats windows, clip cache, bounded clip queue."""

from __future__ import annotations

import math
import threading
from types import SimpleNamespace

import pytest

from tcvads_ros.nodes.stream import ClipCache, ClipCollector, LatestSlot, StreamStats
from tcvads_ros.runtime.pipeline import pad_clip


def test_latest_slot_keeps_the_newest_and_counts_replaced_items_as_dropped():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True and slot.put(3) is True
    assert slot.take(timeout=0) == 3 and slot.dropped == 2
    assert slot.take(timeout=0.01) is None
    assert slot.put(4) is False  # the slot was emptied by take(): not a drop


def test_latest_slot_wakes_a_waiting_consumer_and_close_ends_it():
    slot, got = LatestSlot(), []
    consumer = threading.Thread(target=lambda: got.append(slot.take(timeout=5)))
    consumer.start()
    slot.put("frame")
    consumer.join(5)
    assert got == ["frame"]
    consumer = threading.Thread(target=lambda: got.append(slot.take(timeout=5)))
    consumer.start()
    slot.close()
    consumer.join(5)
    assert not consumer.is_alive() and got == ["frame", None] and slot.closed


def test_stream_stats_windows_rates_latency_and_totals():
    now = [0.0]
    stats = StreamStats(clock=lambda: now[0])
    for _ in range(20):
        stats.count("frames_in")
    for latency in (0.010, 0.030):
        stats.processed(latency)
    stats.processed(math.nan)  # a missing latency does not poison the mean
    stats.count("dropped", 2)
    stats.reject("truncated")
    stats.reject("truncated")
    stats.reject("unsupported_encoding")
    now[0] = 2.0
    w = stats.window()
    assert w["window_s"] == 2.0 and w["frames_in"] == 20
    assert w["input_rate_hz"] == 10.0 and w["processing_rate_hz"] == 1.5
    assert w["latency_mean_ms"] == pytest.approx(20.0) and w["latency_max_ms"] == pytest.approx(30.0)
    assert (w["dropped"], w["rejected"]) == (2, 3)
    now[0] = 3.0
    w = stats.window()  # a new, empty window
    assert w["frames_in"] == 0 and math.isnan(w["latency_mean_ms"]) and w["window_s"] == 1.0
    t = stats.totals()
    assert (t["total_frames_in"], t["total_processed"], t["total_dropped"], t["total_rejected"]) == (20, 3, 2, 3)
    assert t["rejected_by_reason"] == {"truncated": 2, "unsupported_encoding": 1}


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
    assert [f.stamp for f in clip.frames] == [1.0, 2.0, 3.0, 4.0]
    assert clip.header == "h" and clip.event.kind == "start"
    assert clips.ready() is None  # taken once


def test_clip_collector_coalesces_starts_and_follows_the_event():
    cache, clips = collector()
    for f in frames([0.0, 1.0]):
        cache.push(f)
    clips.announce(event("start", "a", 1.0))
    clips.announce(event("start", "b", 1.5))  # while "a" collects: folded into its clip
    clips.announce(event("update", "b", 1.6))  # another event's update: ignored
    clips.announce(event("end", "a", 1.2))  # "a" ended: cut the clip with what there is
    clip = clips.ready()
    assert clip.coalesced == ["b"] and clip.event.kind == "end"
    assert [f.stamp for f in clip.frames] == [0.0, 1.0, 1.0, 1.0]
    assert clips.stats["triggers"] == 2 and clips.stats["triggers_coalesced"] == 1


def test_clip_collector_times_out_on_a_stopped_camera_and_counts_empty_clips():
    cache, clips = collector(timeout_s=2.0)
    cache.push(SimpleNamespace(stamp=10.0, index=0))
    clips.announce(event("start", stamp=10.0), split=10.0)
    cache.push(SimpleNamespace(stamp=11.0, index=1))
    assert clips.ready() is None
    cache.push(SimpleNamespace(stamp=12.5, index=2))  # 2 s of camera time passed
    assert len(clips.ready().frames) == 4
    empty_cache, empty = collector()
    empty.announce(event("start", stamp=5.0))
    empty.announce(event("end", stamp=6.0))
    assert empty.ready() is None and empty.stats["empty_clips"] == 1
    with pytest.raises(ValueError):
        ClipCollector(empty_cache, length=2, pre_roll=3, timeout_s=1.0)


def test_clip_collector_never_fills_a_stale_start_with_later_frames():
    cache, clips = collector(timeout_s=2.0)
    clips.announce(event("start", stamp=5.0))  # replayed to a fine_node started long after
    for f in frames([100.0, 100.5, 101.0, 101.5, 102.0]):
        cache.push(f)
    assert clips.ready() is None and clips.stats["empty_clips"] == 1


def test_clip_collector_drops_a_clip_whose_frames_begin_after_its_event():
    cache, clips = collector(timeout_s=10.0)
    clips.announce(event("start", stamp=5.0))  # replayed to a fine_node that started at 7.5 s
    for f in frames([7.5, 8.0, 8.5, 9.0]):
        cache.push(f)
    assert clips.ready() is None and clips.stats["clips_not_covered"] == 1
    cache, clips = collector()
    clips.announce(event("start", "early", stamp=9.2))  # a start just before the first frame
    cache.push(SimpleNamespace(stamp=9.6, index=9))
    assert clips.ready(flush=True).frames[0].stamp == 9.6  # within COVER_S: kept


def test_clip_collector_flush_cuts_the_clip_being_collected():
    cache, clips = collector()
    for f in frames([0.0, 1.0, 2.0]):
        cache.push(f)
    clips.announce(event("start", stamp=2.0))
    assert clips.ready() is None
    clip = clips.ready(flush=True)  # shutting down: classify what arrived
    assert [f.stamp for f in clip.frames] == [1.0, 2.0, 2.0, 2.0] and clips.ready(flush=True) is None


def test_stream_stats_keep_the_models_share_of_the_latency():
    stats = StreamStats(clock=lambda: 1.0)
    stats.processed(0.030, model_s=0.020)
    stats.processed(0.050, model_s=0.040)
    stats.processed(0.010)  # no model time given: not in the model's mean
    w = stats.window()
    assert w["latency_mean_ms"] == pytest.approx(30.0) and w["model_mean_ms"] == pytest.approx(30.0)
    assert math.isnan(stats.window()["model_mean_ms"])
