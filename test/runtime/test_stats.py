# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A stream's one statistics object: counts added from several threads are all kept, a copy
taken meanwhile never fails, and a part's scoped view names its counts under its prefix."""

from __future__ import annotations

import threading

from tcvads_ros.runtime.stats import Counters


def test_counts_from_many_threads_are_all_kept_and_copies_never_fail():
    counts = Counters()
    copies = []

    def count(thread: int) -> None:
        for i in range(2000):
            counts.add("shared")
            counts.add(f"t{thread}_{i % 50}")  # new names while another thread copies

    threads = [threading.Thread(target=count, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        copies.append(counts.snapshot())
    for thread in threads:
        thread.join()
    assert counts["shared"] == 8000 and len(counts) == 1 + 4 * 50
    assert all(copy.get("shared", 0) <= 8000 for copy in copies)


def test_a_scoped_view_counts_into_the_same_object_under_its_prefix():
    counts = Counters()
    events = counts.scoped("events_")
    events.add("started")
    events.add("ended", 2)
    counts.add("processed")
    assert counts.snapshot() == {"events_started": 1, "events_ended": 2, "processed": 1}
    assert events.snapshot() == {"started": 1, "ended": 2} and dict(events) == events.snapshot()
    assert events["started"] == 1 and events["never"] == 0 and "started" in events and "processed" not in events
    assert counts.get("missing", 0) == 0 and counts.get("missing") is None
