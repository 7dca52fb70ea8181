# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Ring buffers: contents equal a plain list's tail, memory fixed however much is pushed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcvads_ros.runtime.ring_buffer import ArrayRingBuffer, RingBuffer


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(1, 9),
    pushes=st.integers(0, 40),
    n=st.one_of(st.none(), st.integers(-2, 12)),
)
def test_array_ring_matches_the_tail_of_a_list(capacity, pushes, n):
    ring = ArrayRingBuffer(capacity, (2,), np.float32)
    rows = [np.array([i, -i], np.float32) for i in range(pushes)]
    for row in rows:
        ring.push(row)
    held = rows[-capacity:] if rows else []
    take = len(held) if n is None else max(0, min(n, len(held)))
    expected = np.array(held[len(held) - take :], np.float32).reshape(take, 2)
    got = ring.latest(n)
    np.testing.assert_array_equal(got, expected)
    assert len(ring) == len(held) and ring.total == pushes and ring.full == (pushes >= capacity)


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(1, 9),
    pushes=st.integers(0, 40),
    n=st.one_of(st.none(), st.integers(-2, 12)),
)
def test_object_ring_matches_the_tail_of_a_list(capacity, pushes, n):
    ring: RingBuffer[int] = RingBuffer(capacity)
    for i in range(pushes):
        ring.push(i)
    held = list(range(pushes))[-capacity:] if pushes else []
    expected = held if n is None else held[len(held) - max(0, min(n, len(held))) :]
    assert ring.latest(n) == expected
    assert list(ring) == held and len(ring) == len(held) and ring.total == pushes


def test_latest_returns_a_copy():
    ring = ArrayRingBuffer(3, 2)
    ring.push(np.ones(2))
    view = ring.latest()
    view[:] = 5
    np.testing.assert_array_equal(ring.latest(), np.ones((1, 2)))


def test_memory_is_fixed_over_a_long_stream():
    ring = ArrayRingBuffer(64, (128,), np.float32)
    frames: RingBuffer[np.ndarray] = RingBuffer(16)
    size = ring.nbytes
    for i in range(20_000):
        ring.push(np.full(128, i, np.float32))
        frames.push(np.zeros((2, 2, 3), np.uint8))
    assert ring.nbytes == size == 64 * 128 * 4
    assert len(frames) == 16 and ring.latest(1)[0, 0] == 19_999


def test_wrong_shapes_and_capacities_are_refused():
    ring = ArrayRingBuffer(4, (3,))
    with pytest.raises(ValueError, match="shape"):
        ring.push(np.zeros(4))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="capacity"):
            RingBuffer(bad)
    with pytest.raises(IndexError):
        RingBuffer(2).newest()


def test_clear_and_newest():
    frames: RingBuffer[str] = RingBuffer(2)
    frames.push("a")
    frames.push("b")
    frames.push("c")
    assert frames.newest() == "c" and frames.latest() == ["b", "c"]
    frames.clear()
    assert len(frames) == 0 and frames.total == 3
    ring = ArrayRingBuffer(2, ())
    ring.push(np.float32(1))
    ring.clear()
    assert ring.latest().shape == (0,)
