"""Predict when a sample stamped ``t_lsl`` will reach this process, on its local clock.

A window can only complete once its last samples have arrived. Knowing when that will be lets
the pipeline sleep until then and pull each inlet about once per window, instead of polling
every few milliseconds (which costs more CPU than the features themselves). The prediction is
learnt from the stream itself, so it holds for a device whose clock is offset from ours, for a
replay at any speed and for a recording replayed with timestamps in the past.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ArrivalModel"]


class ArrivalModel:
    """Arrival time on the local clock as a line of the sample timestamp, from recent receipts.

    Parameters
    ----------
    history : int
        Receipts remembered (one per pulled chunk).
    min_span_s : float
        Local seconds the receipts must span before a pace other than 1 is believed.
    pace_snap : float
        A measured pace within this relative distance of 1 is taken as exactly 1 (real time):
        the receipts' own pull delays make a measured pace jitter by a few percent.

    Notes
    -----
    The stream advances ``pace`` timestamp seconds per local second (1 for a device or a
    replay at 1x, 4 for a replay at 4x). A chunk received at local time ``r`` whose newest stamp
    is ``s`` was sent at ``r`` or before, so ``r - s / pace`` over-estimates the stream's offset
    by the time the chunk waited; the smallest value among recent receipts (those pulled the
    moment they arrived) is the estimate. The prediction is a lower bound: a caller that wakes
    then and finds nothing yet waits on the inlet itself.
    """

    def __init__(
        self, *, history: int = 64, min_span_s: float = 1.0, pace_snap: float = 0.05
    ) -> None:
        if history < 2:
            raise ValueError(f"history must be at least 2, got {history}")
        self._local = np.zeros(history, dtype=np.float64)
        self._stamp = np.zeros(history, dtype=np.float64)
        self._n = 0
        self._head = 0
        self.min_span_s = float(min_span_s)
        self.pace_snap = float(pace_snap)
        self._pace = 1.0

    def observe(self, receive_local: float, stamp_lsl: float) -> None:
        """A chunk whose newest sample is stamped ``stamp_lsl`` was pulled at ``receive_local``."""
        capacity = self._local.shape[0]
        self._local[self._head] = receive_local
        self._stamp[self._head] = stamp_lsl
        self._head = (self._head + 1) % capacity
        self._n = min(self._n + 1, capacity)
        oldest = (self._head - self._n) % capacity
        newest = (self._head - 1) % capacity
        span_local = self._local[newest] - self._local[oldest]
        if span_local >= self.min_span_s:
            pace = (self._stamp[newest] - self._stamp[oldest]) / span_local
            self._pace = 1.0 if pace <= 0 or abs(pace - 1.0) <= self.pace_snap else float(pace)

    @property
    def pace(self) -> float:
        """Timestamp seconds per local second (1.0 until measured)."""
        return self._pace

    def predict_local(self, stamp_lsl: float) -> float | None:
        """Earliest local time the sample stamped ``stamp_lsl`` can be expected; None before any
        receipt."""
        if self._n == 0:
            return None
        n = self._n
        offset = float(np.min(self._local[:n] - self._stamp[:n] / self._pace))
        return offset + stamp_lsl / self._pace
