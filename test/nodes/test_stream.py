"""Flow control of the nodes: newest-wins slot, stats windows, clip cache, bounded clip queue."""

from __future__ import annotations

import math
import threading
from types import SimpleNamespace

import pytest

from tcvads_ros.nodes.stream import ClipCache, ClipQueue, LatestSlot, StreamStats


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


def test_clip_cache_keeps_one_frame_in_every_n_and_cuts_by_stamp():
    cache = ClipCache(seconds=10.0, max_frames=100, every=4)
    wanted = []
    for f in frames([i * 0.1 for i in range(40)]):
        wanted.append(cache.wants())
        cache.push(f)
    assert wanted == [i % 4 == 0 for i in range(40)]
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


def test_clip_queue_coalesces_per_event_and_drops_the_oldest_when_full():
    queue = ClipQueue(capacity=2)
    queue.put("a", 1)
    queue.put("b", 2)
    queue.put("a", 3)  # same event again: replaces its waiting job, keeps its place
    assert queue.coalesced == 1 and len(queue) == 2
    queue.put("c", 4)  # full: the oldest waiting job ("a") is dropped
    assert queue.dropped == 1
    assert queue.take(timeout=0) == ("b", 2)
    assert queue.take(timeout=0) == ("c", 4)
    assert queue.take(timeout=0.01) is None
    queue.close()
    assert queue.take(timeout=5) is None
    with pytest.raises(ValueError):
        ClipQueue(0)
