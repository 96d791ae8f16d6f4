"""Per-window signal quality: flag transient bad data and keep it away from the features.

Structural problems (wrong channel count or rate) are refused when a stream is resolved; what
remains are transient faults inside a window, judged here on the samples the scheduler cut:
non-finite values (a NaN/inf the source stored instead of feeding its filter), values outside
the device profile's plausible range, values pinned at a range bound (saturation), a flat line
(a detached sensor), too few samples (a gap) or too many (a drifting clock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["QUALITY_FLAGS", "WindowQuality", "assess_window"]

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
#: Fraction of unusable samples beyond which the modality is treated as absent.
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
) -> WindowQuality:
    """Flag one modality's window and drop its unusable rows (vectorised, no copies when clean)."""
    samples = np.asarray(samples, dtype=np.float64)
    n = samples.shape[0]
    flags: set[str] = set()
    if n == 0:
        return WindowQuality(("low_coverage",), samples, timestamps_lsl, usable=False)
    bad = ~np.isfinite(samples).all(axis=1)
    if bad.any():
        flags.add("nonfinite")
    if ranges is not None and any(r is not None for r in ranges):
        low = np.array([-np.inf if r is None else r[0] for r in ranges])
        high = np.array([np.inf if r is None else r[1] for r in ranges])
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
    usable = np.count_nonzero(bad) <= UNUSABLE_FRACTION * n
    if samples.shape[0] >= 2 and np.all(np.ptp(samples, axis=0) == 0):
        flags.add("flat")
        usable = False
    expected = srate * length_s
    if expected > 0:
        # A gap-free stream puts expected +- 1 samples in (end - L, end]: window ends are phase
        # locked to the first sample (end = first + k step + L), so for a slow stream a sample
        # sits on each bound and microseconds of clock-correction noise decide its side. At
        # 1 Hz and L = 5 the fractional margins are half a sample, so nearly every window of a
        # replayed feature stream was flagged; a gap or drift must exceed one sample as well.
        if n < min(LOW_COVERAGE * expected, expected - 1):
            flags.add("low_coverage")
        elif n > max(EXCESS_SAMPLES * expected, expected + 1):
            flags.add("excess_samples")
    ordered = tuple(f for f in QUALITY_FLAGS if f in flags)
    return WindowQuality(ordered, samples, timestamps_lsl, usable=usable)
