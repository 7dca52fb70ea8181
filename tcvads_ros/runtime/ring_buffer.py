# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Fixed-capacity ring buffers: O(1) push, memory bounded however long the stream runs.

`ArrayRingBuffer` keeps fixed-shape numpy rows (per-frame backbone features) in one
preallocated array; `RingBuffer` keeps arbitrary objects (frames for the fine stage's pre-roll).
Both count every item ever pushed (`total`), so callers can tell which stream positions the
buffer still holds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


def _check_capacity(capacity: int) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 1:
        raise ValueError(f"ring buffer capacity must be a positive integer, got {capacity!r}")
    return int(capacity)


class RingBuffer(Generic[T]):
    """The last `capacity` objects pushed, oldest first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = _check_capacity(capacity)
        self._items: deque[T] = deque(maxlen=self.capacity)
        self.total = 0

    def push(self, item: T) -> None:
        self._items.append(item)
        self.total += 1

    def latest(self, n: int | None = None) -> list[T]:
        """The newest `n` items (all held items when None), oldest first."""
        if n is None or n >= len(self._items):
            return list(self._items)
        if n <= 0:
            return []
        return list(self._items)[-n:]

    def newest(self) -> T:
        if not self._items:
            raise IndexError("ring buffer is empty")
        return self._items[-1]

    def clear(self) -> None:
        self._items.clear()

    @property
    def full(self) -> bool:
        return len(self._items) == self.capacity

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items))


class ArrayRingBuffer:
    """The last `capacity` rows of shape `item_shape`, stored in one preallocated array."""

    def __init__(
        self, capacity: int, item_shape: tuple[int, ...] | int, dtype: np.dtype | type = np.float32
    ) -> None:
        self.capacity = _check_capacity(capacity)
        shape = (item_shape,) if isinstance(item_shape, (int, np.integer)) else tuple(item_shape)
        self.item_shape = tuple(int(s) for s in shape)
        self._data = np.zeros((self.capacity, *self.item_shape), dtype=dtype)
        self._next = 0  # slot the next push writes
        self._size = 0
        self.total = 0

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def push(self, item: np.ndarray) -> None:
        item = np.asarray(item)
        if item.shape != self.item_shape:
            raise ValueError(
                f"ring buffer holds items of shape {self.item_shape}, got {item.shape}"
            )
        self._data[self._next] = item
        self._next = (self._next + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)
        self.total += 1

    def latest(self, n: int | None = None) -> np.ndarray:
        """A copy of the newest `n` rows (all held rows when None), oldest first: (n, *item_shape)."""
        n = self._size if n is None else max(0, min(int(n), self._size))
        start = (self._next - n) % self.capacity
        if start + n <= self.capacity:
            return self._data[start : start + n].copy()
        return np.concatenate([self._data[start:], self._data[: (start + n) % self.capacity]])

    def clear(self) -> None:
        self._next = 0
        self._size = 0

    @property
    def full(self) -> bool:
        return self._size == self.capacity

    @property
    def nbytes(self) -> int:
        return int(self._data.nbytes)

    def __len__(self) -> int:
        return self._size
