"""Per-window signal quality: flag transient bad data and keep it away from the features.

Structural problems (wrong channel count or rate) are refused when a stream is resolved; what
remains are transient faults inside a window, judged here on the samples the scheduler cut:
non-finite values (a NaN/inf the source stored instead of feeding its filter), values outside
the device profile's plausible range, values pinned at a range bound (saturation), a flat line
(a detached sensor), too few samples (a gap) or too many (a drifting clock).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from helo_stream.buffers.ring_buffer import RingBuffer

__all__ = [
    "QUALITY_FLAGS",
    "StreamQuality",
    "WindowQuality",
    "assess_window",
    "coverage_flag",
    "range_bounds",
]

#: Every flag :func:`assess_window` may raise, in reporting order.
QUALITY_FLAGS = (
    "nonfinite",
    "out_of_range",
    "saturated",
    "flat",
    "low_coverage",
    "excess_samples",
)
#: Fewer than this fraction of the nominal sample count is a gap worth reporting.
LOW_COVERAGE = 0.9
#: More than this multiple of the nominal count means the timestamps run slower than the data.
EXCESS_SAMPLES = 1.1
#: Fraction of a window pinned at a range bound that counts as saturation.
SATURATED_FRACTION = 0.1
#: Fraction of unusable samples beyond which the modality is treated as absent (the default of
#: the pipeline's ``window.max_unusable_fraction``).
UNUSABLE_FRACTION = 0.5


@dataclass(frozen=True)
class WindowQuality:
    """What :func:`assess_window` found in one modality's window.

    Attributes
    ----------
    flags : tuple of str
        Subset of :data:`QUALITY_FLAGS`.
    samples, timestamps_lsl : ndarray
        The window with unusable rows (non-finite or out of range) removed.
    usable : bool
        False when the data must not reach the features (flat line, or most rows unusable).
    """

    flags: tuple[str, ...]
    samples: np.ndarray
    timestamps_lsl: np.ndarray
    usable: bool


def assess_window(
    samples: np.ndarray,
    timestamps_lsl: np.ndarray,
    *,
    srate: float,
    length_s: float,
    ranges: Sequence[tuple[float, float] | None] | None = None,
    max_unusable_fraction: float = UNUSABLE_FRACTION,
) -> WindowQuality:
    """Flag one modality's window and drop its unusable rows (vectorised, no copies when clean).

    More than ``max_unusable_fraction`` of unusable rows, or a flat line, makes it unusable.
    """
    samples = np.asarray(samples, dtype=np.float64)
    n = samples.shape[0]
    flags: set[str] = set()
    if n == 0:
        return WindowQuality(("low_coverage",), samples, timestamps_lsl, usable=False)
    bad = ~np.isfinite(samples).all(axis=1)
    if bad.any():
        flags.add("nonfinite")
    bounds = range_bounds(ranges)
    if bounds is not None:
        low, high = bounds
        with np.errstate(invalid="ignore"):
            outside = ((samples < low) | (samples > high)).any(axis=1)
            pinned = ((samples == low) | (samples == high)).any(axis=1)
        if outside.any():
            flags.add("out_of_range")
            bad |= outside
        if np.count_nonzero(pinned) >= SATURATED_FRACTION * n:
            flags.add("saturated")
    if bad.any():
        keep = ~bad
        samples, timestamps_lsl = samples[keep], timestamps_lsl[keep]
    usable = np.count_nonzero(bad) <= max_unusable_fraction * n
    if samples.shape[0] >= 2 and np.all(np.ptp(samples, axis=0) == 0):
        flags.add("flat")
        usable = False
    coverage = coverage_flag(n, srate * length_s)
    if coverage is not None:
        flags.add(coverage)
    ordered = tuple(f for f in QUALITY_FLAGS if f in flags)
    return WindowQuality(ordered, samples, timestamps_lsl, usable=usable)


def range_bounds(
    ranges: Sequence[tuple[float, float] | None] | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-channel (low, high) arrays of a profile's plausible ranges; None if it sets none."""
    if ranges is None or all(r is None for r in ranges):
        return None
    return (
        np.array([-np.inf if r is None else r[0] for r in ranges]),
        np.array([np.inf if r is None else r[1] for r in ranges]),
    )


def coverage_flag(n: int, expected: float) -> str | None:
    """``low_coverage``/``excess_samples`` for ``n`` samples where ``expected`` were due.

    A gap-free stream puts expected +- 1 samples in (end - L, end]: window ends are phase
    locked to the first sample (end = first + k step + L), so for a slow stream a sample sits on
    each bound and microseconds of clock-correction noise decide its side. At 1 Hz and L = 5
    the fractional margins are half a sample, so nearly every window of a replayed feature
    stream was flagged; a gap or drift must exceed one sample as well.
    """
    if expected <= 0:
        return None
    if n < min(LOW_COVERAGE * expected, expected - 1):
        return "low_coverage"
    if n > max(EXCESS_SAMPLES * expected, expected + 1):
        return "excess_samples"
    return None


#: Columns of :class:`StreamQuality`'s ring: running counts of the rows before each row.
_ROW, _BAD, _NONFINITE, _OUTSIDE, _PINNED, _CHANGES, _CHANGED = range(7)


class StreamQuality:
    """:func:`assess_window` of a stream's windows from running counts, without cutting them.

    Judging each window from its samples copies and scans 60 s of every stream four times a
    second. Instead every buffered chunk is scanned once (:meth:`push`): each row stores how
    many bad, non-finite, out-of-range, pinned and changed rows came before it, so a window's
    counts are two lookups. A window that holds bad rows (rare) is judged by
    :func:`assess_window` itself on its samples, because its flatness is decided after dropping
    them; the result is the same either way.

    Parameters
    ----------
    srate : float
        Nominal rate (coverage); 0 for an irregular stream.
    capacity : int
        Rows kept: the source buffer's capacity (older windows cannot be cut anyway).
    ranges : sequence of (low, high) or None
        The device profile's plausible range per channel.
    max_unusable_fraction : float
        See :func:`assess_window`.
    """

    def __init__(
        self,
        *,
        srate: float,
        capacity: int,
        ranges: Sequence[tuple[float, float] | None] | None = None,
        max_unusable_fraction: float = UNUSABLE_FRACTION,
    ) -> None:
        self.srate = float(srate)
        self.ranges = ranges
        self.max_unusable_fraction = float(max_unusable_fraction)
        self._bounds = range_bounds(ranges)
        self._rows = RingBuffer(n_channels=7, capacity=capacity)
        self._totals = np.zeros(6)  # rows, bad, nonfinite, outside, pinned, changes so far
        self._last: np.ndarray | None = None  # the newest row (flatness runs across chunks)

    def push(self, samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        """Count the next buffered chunk (filtered samples (n, ch), NaN where unusable)."""
        n = samples.shape[0]
        if n == 0:
            return
        flags = np.zeros((n, 6))
        flags[:, _ROW] = 1.0
        nonfinite = ~np.isfinite(samples).all(axis=1)
        flags[:, _NONFINITE] = nonfinite
        bad = nonfinite
        if self._bounds is not None:
            low, high = self._bounds
            with np.errstate(invalid="ignore"):
                outside = ((samples < low) | (samples > high)).any(axis=1)
                flags[:, _PINNED] = ((samples == low) | (samples == high)).any(axis=1)
            flags[:, _OUTSIDE] = outside
            bad = bad | outside
        flags[:, _BAD] = bad
        previous = samples[:1] if self._last is None else self._last[np.newaxis]
        changed = np.empty(n, dtype=bool)
        changed[0] = bool(np.any(samples[0] != previous[0]))
        changed[1:] = np.any(samples[1:] != samples[:-1], axis=1)
        flags[:, _CHANGES] = changed
        running = np.cumsum(flags, axis=0)
        rows = np.empty((n, 7))
        rows[:, :6] = running - flags + self._totals  # counts before each row
        rows[:, _CHANGED] = changed
        self._totals = self._totals + running[-1]
        self._last = samples[-1].copy()
        self._rows.push(rows, timestamps_lsl)

    def assess(
        self,
        start_lsl: float,
        end_lsl: float,
        window: Callable[[], tuple[np.ndarray, np.ndarray]],
    ) -> tuple[tuple[str, ...], int, bool]:
        """Flags, usable sample count and usability of the window ``(start_lsl, end_lsl]``.

        ``window()`` returns the window's samples and timestamps; it is called only when the
        window holds bad rows.
        """
        first, after = self._rows.edges(start_lsl, end_lsl)
        if first is None:
            return ("low_coverage",), 0, False
        end_counts = self._totals if after is None else after[:6]
        counts = end_counts - first[:6]
        n, n_bad = int(counts[_ROW]), int(counts[_BAD])
        if n_bad:
            samples, timestamps = window()
            q = assess_window(
                samples,
                timestamps,
                srate=self.srate,
                length_s=end_lsl - start_lsl,
                ranges=self.ranges,
                max_unusable_fraction=self.max_unusable_fraction,
            )
            return q.flags, int(q.timestamps_lsl.shape[0]), q.usable
        found = set()
        if counts[_PINNED] >= SATURATED_FRACTION * n:
            found.add("saturated")
        # changes after the window's first row (its own change is relative to the row before)
        flat = n >= 2 and counts[_CHANGES] - first[_CHANGED] == 0
        if flat:
            found.add("flat")
        coverage = coverage_flag(n, self.srate * (end_lsl - start_lsl))
        if coverage is not None:
            found.add(coverage)
        return tuple(f for f in QUALITY_FLAGS if f in found), n, not flat
