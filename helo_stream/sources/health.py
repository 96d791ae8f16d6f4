"""Stream health: is a stream delivering, at what rate, with which timing faults.

Two clocks are involved and never mixed: sample times are LSL seconds (``_lsl``), the age of the
last delivery is measured on the monotonic wall clock of this process (``_wall``), because a
stream that stops sending has no LSL timestamps left to judge it by.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from helo_stream.buffers.ring_buffer import RingBuffer

__all__ = [
    "EFFECTIVE_RATE_SPAN_S",
    "HealthTracker",
    "StreamHealth",
    "StreamState",
    "state_after_silence",
]

StreamState = Literal["ok", "stale", "missing"]

#: Seconds of the newest timestamps used to estimate the effective sampling rate.
EFFECTIVE_RATE_SPAN_S = 10.0
#: A gap is an interval longer than this many nominal sample periods ...
GAP_PERIODS = 3.0
#: ... or, for irregular streams (nominal rate 0), longer than this many seconds.
IRREGULAR_GAP_S = 0.5


@dataclass(frozen=True)
class StreamHealth:
    """A snapshot of one stream's health.

    Attributes
    ----------
    nominal_srate : float
        Rate the stream advertises (0 for irregular streams), Hz.
    effective_srate : float | None
        Rate measured over the newest ~10 s of timestamps; None with fewer than two samples.
    last_sample_lsl : float | None
        LSL timestamp of the newest accepted sample.
    last_receive_wall_age_s : float | None
        Seconds (monotonic wall clock) since samples last arrived; None if none ever did.
    n_samples : int
        Samples accepted into the buffer.
    n_gaps : int
        Intervals between consecutive accepted samples longer than 3 nominal periods
        (0.5 s for irregular streams).
    n_backward_jumps : int
        Times the timestamps went back (or repeated); each starts a run of dropped samples.
    n_dropped : int
        Samples dropped because their timestamp was not after the newest accepted one.
    n_nonfinite : int
        Accepted samples holding NaN or infinity (stored as NaN, flagged per window).
    n_reconnects : int
        Times the stream came back (``ok``) after being ``missing``.
    state : {"ok", "stale", "missing"}
        ``stale`` after ``stale_after_s`` and ``missing`` after ``missing_after_s`` wall seconds
        without samples (counted from opening when none arrived yet); ``missing`` at once when
        the inlet reports the stream lost.
    """

    nominal_srate: float
    effective_srate: float | None
    last_sample_lsl: float | None
    last_receive_wall_age_s: float | None
    n_samples: int
    n_gaps: int
    n_backward_jumps: int
    state: StreamState
    n_dropped: int = 0
    n_nonfinite: int = 0
    n_reconnects: int = 0


class HealthTracker:
    """Counters and timing checks of one stream, fed chunk by chunk.

    Parameters
    ----------
    nominal_srate : float
        Advertised rate in Hz; 0 for irregular streams.
    stale_after_s, missing_after_s : float
        Wall-clock seconds without samples before the stream is ``stale`` / ``missing``.
    clock_wall : callable
        Monotonic clock in seconds; injectable for tests.
    """

    def __init__(
        self,
        *,
        nominal_srate: float,
        stale_after_s: float = 2.0,
        missing_after_s: float = 10.0,
        clock_wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if stale_after_s <= 0 or missing_after_s < stale_after_s:
            raise ValueError(
                "need 0 < stale_after_s <= missing_after_s, got "
                f"stale_after_s={stale_after_s}, missing_after_s={missing_after_s}"
            )
        self.nominal_srate = float(nominal_srate)
        self.stale_after_s = float(stale_after_s)
        self.missing_after_s = float(missing_after_s)
        self._clock_wall = clock_wall
        # The relative margin keeps an interval of exactly 3 periods (in float) from counting.
        self.gap_threshold_s = (
            GAP_PERIODS / self.nominal_srate if self.nominal_srate > 0 else IRREGULAR_GAP_S
        ) * (1.0 + 1e-9)
        self.n_samples = 0
        self.n_gaps = 0
        self.n_backward_jumps = 0
        self.n_dropped = 0
        self.n_nonfinite = 0
        self.n_reconnects = 0
        self._was_missing = False
        self.last_sample_lsl: float | None = None
        self._prev_kept = True
        self._lost = False
        self._opened_wall = clock_wall()
        self._last_receive_wall: float | None = None
        self._last_checked_wall = self._opened_wall

    def mark_opened(self) -> None:
        """Start the no-data clock now (a stream that never sends goes stale from here)."""
        self._opened_wall = self._clock_wall()
        self._last_checked_wall = self._opened_wall
        self._lost = False

    def mark_checked(self) -> None:
        """The inlet is being asked for samples now.

        Silence is measured up to the last time we looked, not up to now: a pipeline that was
        busy for a few seconds has not looked, and must not take its own delay for a silent
        device (the samples are waiting in the inlet).
        """
        self._last_checked_wall = self._clock_wall()

    def count_nonfinite(self, n: int) -> None:
        """``n`` accepted samples held NaN or infinity."""
        self.n_nonfinite += int(n)

    def mark_lost(self) -> None:
        """The inlet reported the stream lost: ``missing`` until samples arrive again."""
        self._lost = True

    def accept(self, timestamps_lsl: np.ndarray) -> np.ndarray:
        """Check a chunk's timestamps and update the counters.

        Returns
        -------
        keep : ndarray of bool, shape (n,)
            True for samples whose timestamp is after every timestamp accepted before it;
            the others (backward jumps, repeats, NaN) must not reach the buffer.
        """
        ts = np.asarray(timestamps_lsl, dtype=np.float64)
        n = ts.shape[0]
        if n == 0:
            return np.zeros(0, dtype=bool)
        last = -np.inf if self.last_sample_lsl is None else self.last_sample_lsl
        previous = np.empty(n, dtype=np.float64)
        previous[0] = last
        previous[1:] = ts[:-1]
        # fmax ignores NaN, so one NaN timestamp cannot block everything after it.
        running_max = np.fmax.accumulate(previous)
        keep = ts > running_max
        kept_before = np.empty(n, dtype=bool)
        kept_before[0] = self._prev_kept
        kept_before[1:] = keep[:-1]
        self.n_backward_jumps += int(np.count_nonzero(~keep & kept_before))
        n_kept = int(np.count_nonzero(keep))
        self.n_dropped += n - n_kept
        self._prev_kept = bool(keep[-1])
        if n_kept:
            kept = ts if n_kept == n else ts[keep]
            if self.last_sample_lsl is not None:
                self.n_gaps += int(kept[0] - self.last_sample_lsl > self.gap_threshold_s)
            if n_kept > 1:
                self.n_gaps += int(np.count_nonzero(np.diff(kept) > self.gap_threshold_s))
            self.last_sample_lsl = float(kept[-1])
            self.n_samples += n_kept
            if self._was_missing or self.state == "missing":
                self.n_reconnects += int(self.n_samples > n_kept)
                self._was_missing = False
            self._last_receive_wall = self._clock_wall()
            self._lost = False
        return keep

    @property
    def last_receive_wall_age_s(self) -> float | None:
        if self._last_receive_wall is None:
            return None
        return self._clock_wall() - self._last_receive_wall

    @property
    def state(self) -> StreamState:
        if self._lost:
            return "missing"
        since = self._last_receive_wall
        if since is None:
            since = self._opened_wall
        return state_after_silence(
            self._last_checked_wall - since,
            stale_after_s=self.stale_after_s,
            missing_after_s=self.missing_after_s,
        )

    def snapshot(self, buffer: RingBuffer) -> StreamHealth:
        """The current :class:`StreamHealth`, the rate measured on ``buffer``'s timestamps."""
        return StreamHealth(
            nominal_srate=self.nominal_srate,
            effective_srate=effective_srate(buffer),
            last_sample_lsl=self.last_sample_lsl,
            last_receive_wall_age_s=self.last_receive_wall_age_s,
            n_samples=self.n_samples,
            n_gaps=self.n_gaps,
            n_backward_jumps=self.n_backward_jumps,
            state=self.state,
            n_dropped=self.n_dropped,
            n_nonfinite=self.n_nonfinite,
            n_reconnects=self.n_reconnects,
        )


def state_after_silence(
    silence_s: float, *, stale_after_s: float, missing_after_s: float
) -> StreamState:
    """A stream's state after ``silence_s`` seconds without samples.

    >>> state_after_silence(1.0, stale_after_s=2.0, missing_after_s=10.0)
    'ok'
    >>> state_after_silence(2.5, stale_after_s=2.0, missing_after_s=10.0)
    'stale'
    """
    if silence_s > missing_after_s:
        return "missing"
    if silence_s > stale_after_s:
        return "stale"
    return "ok"


def effective_srate(buffer: RingBuffer, *, span_s: float = EFFECTIVE_RATE_SPAN_S) -> float | None:
    """Samples per second over the newest ``span_s`` seconds held in ``buffer``."""
    latest = buffer.latest_timestamp
    if latest is None:
        return None
    n, first, last = buffer.span(latest - span_s, latest)
    if n < 2 or first is None or last is None or last <= first:
        return None
    return (n - 1) / (last - first)
