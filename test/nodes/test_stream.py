# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Flow control of the nodes: newest-wins slot, stats windows."""

from __future__ import annotations

import math
import threading

import pytest

from tcvads_ros.nodes.stream import CameraWatchdog, LatestSlot, StreamStats, take_each


def test_latest_slot_keeps_the_newest_and_counts_replaced_items_as_dropped():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True and slot.put(3) is True
    assert slot.take(timeout=0) == 3 and slot.dropped == 2
    assert slot.take(timeout=0.01) is None
    assert slot.put(4) is False  # the slot was emptied by take(): not a drop


def test_latest_slot_drops_what_it_holds_at_close_and_whatever_comes_after():
    slot = LatestSlot()
    assert slot.close() is False  # nothing held
    slot = LatestSlot()
    slot.put("held")
    assert slot.close() is True and slot.dropped == 1  # the held item is dropped, not forgotten
    assert slot.put("late") is True and slot.dropped == 2
    assert slot.take(timeout=0) is None


def test_stream_stats_balance_at_every_moment_of_a_frames_life():
    stats = StreamStats(clock=lambda: 0.0)

    def balance():
        t = stats.totals()
        fates = sum(t[f"total_{k}"] for k in ("skipped", "processed", "dropped", "rejected", "queued"))
        assert t["total_frames_in"] == fates, t
        assert t["total_queued"] >= 0
        return t

    stats.arrived(queued=False)
    stats.arrived(queued=True)
    assert balance()["total_queued"] == 1  # handed over, not yet run
    stats.arrived(queued=True)
    stats.drop_queued()  # it replaced the first, never taken
    stats.processed(0.01)
    stats.arrived(queued=True)
    stats.reject("truncated")  # handed over, refused by the converter
    stats.reject("bad_message", queued=False)  # refused on arrival
    t = balance()
    assert (t["total_frames_in"], t["total_skipped"], t["total_dropped"], t["total_processed"]) == (5, 1, 1, 1)
    assert (t["total_rejected"], t["total_queued"]) == (2, 0)
    assert stats.window()["frames_in"] == 5


def test_stream_stats_balance_under_concurrent_producers_and_a_consumer():
    """The camera callback, the inference thread and a diagnostics snapshot race: every snapshot
    balances (a frame is never counted in without its fate)."""
    stats, slot, snapshots = StreamStats(), LatestSlot(), []
    done = threading.Event()

    def camera():
        for k in range(4000):
            wanted = k % 4 == 0
            stats.arrived(queued=wanted)
            if wanted and slot.put(k):
                stats.drop_queued()

    def model():
        while not slot.closed:
            if slot.take(timeout=0.01) is not None:
                stats.processed(0.0)

    def diagnostics():
        while not done.is_set():
            snapshots.append(stats.totals())

    threads = [threading.Thread(target=f) for f in (camera, model, diagnostics)]
    for thread in threads:
        thread.start()
    threads[0].join()
    if slot.close():
        stats.drop_queued()
    threads[1].join()
    done.set()
    threads[2].join()
    snapshots.append(stats.totals())
    for t in snapshots:
        assert t["total_frames_in"] == sum(
            t[f"total_{k}"] for k in ("skipped", "processed", "dropped", "rejected", "queued")), t
        assert 0 <= t["total_queued"] <= 3, t  # in the slot, being run, being handed over
    final = snapshots[-1]
    assert final["total_frames_in"] == 4000 and final["total_queued"] == 0
    assert final["total_processed"] + final["total_dropped"] == 1000


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


def test_stream_stats_keep_the_models_share_of_the_latency():
    stats = StreamStats(clock=lambda: 1.0)
    stats.processed(0.030, model_s=0.020)
    stats.processed(0.050, model_s=0.040)
    stats.processed(0.010)  # no model time given: not in the model's mean
    w = stats.window()
    assert w["latency_mean_ms"] == pytest.approx(30.0) and w["model_mean_ms"] == pytest.approx(30.0)
    assert math.isnan(stats.window()["model_mean_ms"])


def test_the_watchdog_resubscribes_then_reports_error_then_exits_while_a_publisher_is_matched():
    dog = CameraWatchdog(timeout_s=5.0)
    assert dog.check(100.0, publishers=1) is None  # never had a frame: not armed
    dog.frame_arrived(100.0)
    assert [dog.check(t, 1) for t in (101.0, 104.9)] == [None, None]
    assert dog.check(105.0, 1) == "resubscribe" and dog.silent_s(105.0) == 5.0
    assert [dog.check(t, 1) for t in (106.0, 109.9)] == [None, None]  # giving the new reader a chance
    assert [dog.check(t, 1) for t in (110.0, 114.0)] == ["error", "error"]
    assert dog.check(115.0, 1) == "exit"
    dog.frame_arrived(116.0)  # frames again: starts over
    assert dog.check(117.0, 1) is None and dog.check(121.0, 1) == "resubscribe"


def test_the_watchdog_leaves_a_camera_that_stopped_alone_and_can_be_turned_off():
    dog = CameraWatchdog(timeout_s=5.0)
    dog.frame_arrived(0.0)
    assert [dog.check(t, publishers=0) for t in (5.0, 50.0, 500.0)] == [None] * 3  # gone: STALE only
    assert dog.check(501.0, publishers=1) == "resubscribe"  # a publisher again, and still nothing
    stays = CameraWatchdog(timeout_s=5.0, exit_when_stuck=False)
    stays.frame_arrived(0.0)
    assert [stays.check(t, 1) for t in (5.0, 10.0, 15.0, 60.0)] == ["resubscribe", "error", "error", "error"]
    off = CameraWatchdog(timeout_s=0.0)
    off.frame_arrived(0.0)
    assert off.check(1e6, 1) is None


def test_one_counters_object_holds_the_frames_the_clock_and_the_pipeline_and_windows_are_differences():
    """A node's stream has one statistics object: the frame clock and the pipeline count into it
    where they happen, and /diagnostics reads windows and totals from its snapshots."""
    from tcvads_ros.nodes.stream import CLOCK
    from tcvads_ros.runtime.sampling import FrameClock, SnippetSampler
    from tcvads_ros.runtime.stats import Counters

    counts = Counters()
    stats, clock = StreamStats(counts, clock=lambda: 1.0), FrameClock(10.0, stats=counts.scoped(CLOCK))
    sampler = SnippetSampler(4, counts)
    # Three frames lost in transport; the clock counts a loss once 96 numbers have passed it.
    stamps = [k / 10 for k in range(300) if k not in (51, 52, 60)]
    for stamp in stamps[:100]:
        stats.arrived(queued=sampler.select(clock.number(stamp)))
    counts.add("fine_errors")
    first = stats.window()
    for stamp in stamps[100:]:
        stats.arrived(queued=sampler.select(clock.number(stamp)))
    second, totals = stats.window(), stats.totals()
    assert first["frames_in"] + second["frames_in"] == totals["total_frames_in"] == len(stamps)
    assert totals["total_lost"] == first["lost"] + second["lost"] == clock.stats["lost"] == 3
    assert (first["fine_errors"], second["fine_errors"], totals["fine_errors"]) == (1, 0, 1)
    assert totals["total_frames"] == len(stamps) and "missing_frames" not in totals  # the clock's, not the sampler's
    assert totals["total_skipped"] + totals["total_queued"] == len(stamps)


def test_take_each_wakes_on_any_camera_and_takes_the_newest_of_every_camera_that_has_one():
    wakeup = threading.Condition()
    front, back = LatestSlot(wakeup), LatestSlot(wakeup)
    assert take_each([front, back], timeout=0.01) == [None, None]
    front.put("f1")
    front.put("f2")  # replaces f1, never taken: dropped
    assert take_each([front, back], timeout=0.01) == ["f2", None] and front.dropped == 1
    got = []
    consumer = threading.Thread(target=lambda: got.append(take_each([front, back], timeout=30)))
    consumer.start()
    back.put("b1")
    consumer.join(30)
    assert got == [[None, "b1"]]
    front.close()  # one camera closed: the others are still waited on
    back.put("b2")
    assert take_each([front, back], timeout=0.01) == [None, "b2"]
    back.close()
    assert take_each([front, back], timeout=30) == [None, None]  # all closed: returns at once
    with pytest.raises(ValueError, match="one condition"):
        take_each([LatestSlot(), LatestSlot()])


def test_the_sounds_counts_are_windowed_where_the_stream_has_sound_and_totalled_under_their_names():
    """A stream whose pipeline or microphone counted any ``audio.`` name reports the window of
    the counts the level reads (``audio_<name>``); totals keep every ``audio.`` name as counted."""
    from tcvads_ros.runtime.stats import Counters

    counts = Counters()
    stats = StreamStats(counts, clock=lambda: 0.0)
    assert not [key for key in stats.window() if key.startswith("audio")]  # no sound: nothing said of it
    audio = counts.scoped("audio.")
    audio.add_many({"chunks": 10, "chunks_lost": 2, "snippets_missing": 1, "clipped_chunks": 3})
    first = stats.window()
    assert (first["audio_chunks"], first["audio_chunks_lost"], first["audio_chunks_late"]) == (10, 2, 0)
    assert (first["audio_chunks_refused"], first["audio_snippets_missing"]) == (0, 1)
    audio.add_many({"chunks": 5, "chunks_refused": 1, "refused_no_info": 1})
    second, totals = stats.window(), stats.totals()
    assert (second["audio_chunks"], second["audio_chunks_lost"], second["audio_chunks_refused"]) == (5, 0, 1)
    assert totals["audio.chunks"] == 15 and totals["audio.clipped_chunks"] == 3 and totals["audio.refused_no_info"] == 1
