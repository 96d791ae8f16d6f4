"""Window statistics from running sums: temperature level and trend, acceleration.

Means, standard deviations and least-squares slopes need only sums over the window, so each
sample adds its terms to running (prefix) sums once on arrival and a window costs two look-ups,
whatever its length; minima and maxima, which sums cannot give, scan the stored samples. At
700 Hz (a chest strap) this is what keeps a 60 s window from being re-read every 0.25 s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from helo_stream.signal.features.acc import AccFeatures
from helo_stream.signal.features.temp import TempFeatures
from helo_stream.signal.incremental.base import IncrementalFeatures, SampleRing

__all__ = ["IncrementalAcc", "IncrementalTemp", "PrefixSums"]


class PrefixSums(SampleRing):
    """Running sums of per-sample terms, so any window's sum is a difference of two entries.

    Each stored row is the sum of the terms of every *earlier* sample (an exclusive prefix), so
    a window ``(start, end]`` sums to ``before(first sample after end) - before(first sample
    after start)``, valid as long as ``start`` is not older than the oldest sample held.
    """

    def __init__(self, *, n_terms: int, horizon_s: float, rate_hz: float) -> None:
        super().__init__(n_channels=n_terms, horizon_s=horizon_s, rate_hz=rate_hz)
        self._total = np.zeros(n_terms)

    def add(self, terms: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        """Append ``(n, n_terms)`` per-sample terms (NaN terms must already be zeroed)."""
        running = np.cumsum(terms, axis=0)
        before = np.vstack((self._total, self._total + running[:-1]))
        self._total = self._total + running[-1]
        self.push(before, timestamps_lsl)

    def window_sum(self, start_lsl: float, end_lsl: float) -> np.ndarray:
        """Sums of the terms of the samples stamped in ``(start_lsl, end_lsl]``."""
        first, lo, hi = self._bounds(start_lsl, end_lsl)
        cap = self.capacity
        at_lo = self._data[(first + lo) % cap] if lo < len(self) else self._total
        at_hi = self._data[(first + hi) % cap] if hi < len(self) else self._total
        return at_hi - at_lo


def _slope(n: float, st: float, sx: float, stt: float, stx: float) -> float:
    """Least-squares slope from sums over a window (times relative to a reference)."""
    if n < 2:
        return math.nan
    denom = stt - st * st / n
    if not denom > 0.0:
        return math.nan
    return (stx - st * sx / n) / denom


def _std(n: float, s: float, ss: float) -> float:
    if n < 2:
        return math.nan
    return math.sqrt(max(ss - s * s / n, 0.0) / (n - 1))


class IncrementalTemp(IncrementalFeatures):
    """:class:`~helo_stream.signal.features.temp.TempFeatures` from running sums."""

    modality: ClassVar[str] = TempFeatures.modality
    available: ClassVar[tuple[str, ...]] = TempFeatures.available

    def __init__(
        self, *, srate: float, features: Sequence[str] | None = None, horizon_s: float = 120.0
    ) -> None:
        super().__init__(srate=srate, features=features, horizon_s=horizon_s)
        # terms: valid, x, x^2, t, t^2, t*x (t relative to the first sample, for precision)
        self._sums = PrefixSums(n_terms=6, horizon_s=self.horizon_s, rate_hz=self.srate)
        self._samples = SampleRing(n_channels=1, horizon_s=self.horizon_s, rate_hz=self.srate)
        self._t_ref: float | None = None

    def _update(self, samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        if self._t_ref is None:
            self._t_ref = float(timestamps_lsl[0])
        x = samples[:, 0]
        valid = np.isfinite(x)
        x0 = np.where(valid, x, 0.0)
        t = np.where(valid, timestamps_lsl - self._t_ref, 0.0)
        terms = np.column_stack((valid.astype(np.float64), x0, x0 * x0, t, t * t, t * x0))
        self._sums.add(terms, timestamps_lsl)
        self._samples.push(samples, timestamps_lsl)

    def _compute_all(self, start_lsl: float, end_lsl: float) -> np.ndarray:
        n, sx, sxx, st, stt, stx = self._sums.window_sum(start_lsl, end_lsl)
        out = np.full(len(self.available), np.nan)
        if n < 1:
            return out
        values, _ = self._samples.window(start_lsl, end_lsl)
        out[0] = sx / n
        out[1] = _std(n, sx, sxx)
        out[2] = np.nanmin(values)
        out[3] = np.nanmax(values)
        out[4] = _slope(n, st, sx, stt, stx)
        return out


class IncrementalAcc(IncrementalFeatures):
    """:class:`~helo_stream.signal.features.acc.AccFeatures` from running sums.

    Per-sample magnitude and jerk are computed once on arrival (the jerk of a chunk's first
    sample uses the previous chunk's last), so a window sums them instead of recomputing.
    """

    modality: ClassVar[str] = AccFeatures.modality
    available: ClassVar[tuple[str, ...]] = AccFeatures.available
    n_channels: ClassVar[int] = 3

    def __init__(
        self, *, srate: float, features: Sequence[str] | None = None, horizon_s: float = 120.0
    ) -> None:
        super().__init__(srate=srate, features=features, horizon_s=horizon_s)
        # terms: complete, x, y, z, x^2, y^2, z^2, |a|, |a|^2, pair-complete, |jerk step|
        self._sums = PrefixSums(n_terms=11, horizon_s=self.horizon_s, rate_hz=self.srate)
        self._magnitude = SampleRing(n_channels=1, horizon_s=self.horizon_s, rate_hz=self.srate)
        self._previous: np.ndarray | None = None  # last sample of the previous chunk

    def _update(self, samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        complete = np.isfinite(samples).all(axis=1)
        xyz = np.where(complete[:, None], samples, 0.0)
        magnitude = np.sqrt(np.einsum("ij,ij->i", xyz, xyz))
        previous = self._previous if self._previous is not None else np.full(3, np.nan)
        steps = np.diff(np.vstack((previous, samples)), axis=0)
        pair = np.isfinite(steps).all(axis=1)
        steps = np.where(pair[:, None], steps, 0.0)
        jerk = np.sqrt(np.einsum("ij,ij->i", steps, steps))
        self._previous = samples[-1].copy()
        terms = np.column_stack(
            (
                complete.astype(np.float64),
                xyz,
                xyz * xyz,
                magnitude,
                magnitude * magnitude,
                pair.astype(np.float64),
                jerk,
            )
        )
        self._sums.add(terms, timestamps_lsl)
        self._magnitude.push(np.where(complete, magnitude, np.nan)[:, None], timestamps_lsl)

    def _compute_all(self, start_lsl: float, end_lsl: float) -> np.ndarray:
        sums = self._sums.window_sum(start_lsl, end_lsl)
        n = sums[0]
        out = np.full(len(self.available), np.nan)
        if n < 1:
            return out
        # A window's first sample pairs with the sample before the window, which the window
        # extractor does not see: take the first sample's jerk term back out.
        n_pairs, jerk_sum = sums[9], sums[10]
        first = self._sums.first_at_or_after(np.nextafter(start_lsl, np.inf))
        if first is not None and first[1] <= end_lsl:
            head = self._sums.window_sum(start_lsl, first[1])
            n_pairs -= head[9]
            jerk_sum -= head[10]
        out[0:3] = sums[1:4] / n
        out[6] = sums[7] / n
        magnitude, _ = self._magnitude.window(start_lsl, end_lsl)
        out[8] = np.nanmax(magnitude)
        if n >= 2:
            out[3:6] = [_std(n, s, ss) for s, ss in zip(sums[1:4], sums[4:7], strict=True)]
            out[7] = _std(n, sums[7], sums[8])
        if n_pairs > 0:
            out[9] = jerk_sum / n_pairs * self.srate
        return out
