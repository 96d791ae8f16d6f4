"""A fixed-size ring buffer of multi-channel samples and their LSL timestamps.

Memory is allocated once; pushes and window reads are vectorised copies plus a binary search
on the timestamps, so the cost of cutting a window does not depend on how long the stream runs.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["RingBuffer"]


class RingBuffer:
    """The most recent ``capacity`` samples of one stream, in arrival order.

    Parameters
    ----------
    n_channels : int
        Number of channels (columns) of every sample.
    capacity : int
        Number of samples kept; older samples are overwritten.
    dtype : dtype
        Sample dtype of the storage (timestamps are always float64 LSL seconds).

    Notes
    -----
    Timestamps must be strictly increasing across pushes: :meth:`window` relies on it for its
    binary search. :class:`~helo_stream.sources.lsl_source.LSLSource` drops samples whose
    timestamps do not advance before they reach the buffer; :meth:`push` rejects them.
    """

    def __init__(self, *, n_channels: int, capacity: int, dtype: DTypeLike = np.float64) -> None:
        if n_channels < 1:
            raise ValueError(f"n_channels must be at least 1, got {n_channels}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._data = np.zeros((capacity, n_channels), dtype=dtype)
        self._ts = np.zeros(capacity, dtype=np.float64)
        self._capacity = int(capacity)
        self._n_channels = int(n_channels)
        self._head = 0  # physical index of the next write
        self._count = 0

    # -- properties -----------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def n_channels(self) -> int:
        return self._n_channels

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def __len__(self) -> int:
        return self._count

    @property
    def first_timestamp(self) -> float | None:
        """LSL time of the oldest sample still held, None when empty."""
        if self._count == 0:
            return None
        return float(self._ts[(self._head - self._count) % self._capacity])

    @property
    def latest_timestamp(self) -> float | None:
        """LSL time of the newest sample, None when empty."""
        if self._count == 0:
            return None
        return float(self._ts[(self._head - 1) % self._capacity])

    # -- writing --------------------------------------------------------------------------
    def push(self, data: np.ndarray, timestamps: np.ndarray) -> None:
        """Append ``data`` (n, n_channels) with ``timestamps`` (n,), overwriting the oldest.

        A chunk longer than the capacity keeps only its last ``capacity`` samples.

        Raises
        ------
        ValueError
            On a shape mismatch or timestamps that are not strictly increasing (within the
            chunk and with respect to the newest sample held).
        """
        timestamps = np.asarray(timestamps, dtype=np.float64)
        data = np.asarray(data)
        if data.ndim == 1 and self._n_channels == 1:
            data = data.reshape(-1, 1)
        n = timestamps.shape[0] if timestamps.ndim == 1 else -1
        if data.shape != (n, self._n_channels):
            raise ValueError(
                f"expected data of shape (n, {self._n_channels}) and timestamps of shape (n,), "
                f"got {data.shape} and {timestamps.shape}"
            )
        if n == 0:
            return
        latest = self.latest_timestamp
        if (latest is not None and not timestamps[0] > latest) or (
            n > 1 and not np.all(timestamps[1:] > timestamps[:-1])
        ):
            raise ValueError("timestamps must be strictly increasing and after the newest held")
        cap = self._capacity
        if n >= cap:
            self._data[:] = data[n - cap :]
            self._ts[:] = timestamps[n - cap :]
            self._head = 0
            self._count = cap
            return
        end = self._head + n
        if end <= cap:
            self._data[self._head : end] = data
            self._ts[self._head : end] = timestamps
        else:
            split = cap - self._head
            self._data[self._head :] = data[:split]
            self._ts[self._head :] = timestamps[:split]
            self._data[: n - split] = data[split:]
            self._ts[: n - split] = timestamps[split:]
        self._head = end % cap
        self._count = min(self._count + n, cap)

    def clear(self) -> None:
        """Forget every sample (the storage is kept)."""
        self._head = 0
        self._count = 0

    # -- reading --------------------------------------------------------------------------
    def _segments(self) -> tuple[int, np.ndarray, np.ndarray]:
        """Physical start of the oldest sample and the timestamps as two sorted views."""
        start = (self._head - self._count) % self._capacity
        stop = start + self._count
        if stop <= self._capacity:
            return start, self._ts[start:stop], self._ts[:0]
        return start, self._ts[start:], self._ts[: stop - self._capacity]

    def _count_through(self, t: float, seg1: np.ndarray, seg2: np.ndarray) -> int:
        """Number of held samples with timestamp ``<= t`` (both segments are sorted)."""
        return int(np.searchsorted(seg1, t, side="right") + np.searchsorted(seg2, t, side="right"))

    def _logical_slice(self, arr: np.ndarray, start: int, lo: int, hi: int) -> np.ndarray:
        """A contiguous copy of logical samples ``[lo, hi)`` of ``arr``."""
        cap = self._capacity
        a, b = start + lo, start + hi
        if b <= cap:
            return arr[a:b].copy()
        if a >= cap:
            return arr[a - cap : b - cap].copy()
        return np.concatenate((arr[a:], arr[: b - cap]))

    def _bounds(self, t_start: float, t_end: float) -> tuple[int, int, int]:
        start, seg1, seg2 = self._segments()
        lo = self._count_through(t_start, seg1, seg2)
        hi = self._count_through(t_end, seg1, seg2)
        return start, lo, max(lo, hi)

    def window(self, t_start: float, t_end: float) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the samples with ``t_start < timestamp <= t_end``.

        Returns
        -------
        data : ndarray, shape (n, n_channels)
            C-contiguous copy; safe to keep after later pushes.
        timestamps : ndarray, shape (n,)
            LSL seconds.
        """
        if self._count == 0:
            return np.empty((0, self._n_channels), self._data.dtype), np.empty(0, np.float64)
        start, lo, hi = self._bounds(t_start, t_end)
        return (
            self._logical_slice(self._data, start, lo, hi),
            self._logical_slice(self._ts, start, lo, hi),
        )

    def span(self, t_start: float, t_end: float) -> tuple[int, float | None, float | None]:
        """Count, first and last timestamp of the samples in ``(t_start, t_end]``, no copies."""
        if self._count == 0:
            return 0, None, None
        start, lo, hi = self._bounds(t_start, t_end)
        if hi == lo:
            return 0, None, None
        cap = self._capacity
        return hi - lo, float(self._ts[(start + lo) % cap]), float(self._ts[(start + hi - 1) % cap])

    def edges(self, t_start: float, t_end: float) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The first row in ``(t_start, t_end]`` and the first row after ``t_end`` (None when
        there is none), no copies: enough to read running totals stored in the rows."""
        if self._count == 0:
            return None, None
        start, lo, hi = self._bounds(t_start, t_end)
        cap = self._capacity
        first = self._data[(start + lo) % cap] if hi > lo else None
        after = self._data[(start + hi) % cap] if hi < self._count else None
        return first, after

    def first_at_or_after(self, t: float) -> tuple[np.ndarray, float] | None:
        """The oldest held sample whose timestamp is ``>= t`` (a row copy and its time)."""
        if self._count == 0:
            return None
        start, seg1, seg2 = self._segments()
        before = int(np.searchsorted(seg1, t, side="left") + np.searchsorted(seg2, t, side="left"))
        if before >= self._count:
            return None
        i = (start + before) % self._capacity
        return self._data[i].copy(), float(self._ts[i])

    def __repr__(self) -> str:
        return (
            f"RingBuffer(n_channels={self._n_channels}, capacity={self._capacity}, "
            f"len={self._count}, dtype={self._data.dtype})"
        )
