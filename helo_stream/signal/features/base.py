"""The per-modality feature-extractor interface and the window helpers every extractor shares.

An extractor turns one window of one modality into a fixed-length float vector. The pipeline
calls it every ``step`` seconds on live data and thousands of times when datasets are built
offline, so extractors are cheap, stateless between windows (apart from coefficients designed
once in ``__init__``) and deterministic, and they never raise on bad data: a feature that
cannot be computed on a window is NaN.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

__all__ = [
    "ModalityFeatures",
    "SignalWindow",
    "block_mean",
    "decimate_window",
    "fill_gaps",
    "least_squares_slope",
    "select_features",
    "sosfiltfilt_padlen",
    "validate_srate",
]


class ModalityFeatures(abc.ABC):
    """Compute named features of one modality on one window.

    Subclasses set the class attributes and implement :meth:`_compute_all`; the base class
    validates the input, handles empty and all-NaN windows, and selects the requested features.

    Parameters
    ----------
    srate
        Nominal sampling rate of the stream in Hz.
    features
        Names to compute, in the order of the output vector; ``None`` selects ``available``.
    """

    modality: ClassVar[str]
    available: ClassVar[tuple[str, ...]]
    #: Features that are undefined (NaN) by their definition in some windows, e.g. the mean
    #: amplitude of SCRs in a window without one; the others are NaN only when the computation
    #: failed, which makes the pipeline treat the whole modality as absent in that window.
    undefined_ok: ClassVar[frozenset[str]] = frozenset()
    n_channels: ClassVar[int] = 1
    #: Whether ``__init__`` takes ``channels`` (labels): extractors whose layout varies by device.
    takes_channels: ClassVar[bool] = False

    def __init__(self, *, srate: float, features: Sequence[str] | None = None) -> None:
        self.srate = validate_srate(srate)
        self._names, self._index = select_features(self.modality, self.available, features)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(srate={self.srate:g}, features={list(self._names)})"

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the computed features, in output order."""
        return self._names

    def compute(self, samples: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
        """Compute the selected features on one window.

        Parameters
        ----------
        samples
            ``(n, n_channels)`` samples, oldest first; NaN marks missing samples. A 1-D array is
            accepted for single-channel modalities.
        timestamps
            ``(n,)`` sample times in seconds (LSL clock). Used for slopes and to detect dropped
            samples; non-finite entries are replaced by the nominal sample grid.

        Returns
        -------
        numpy.ndarray
            float64 vector of ``len(names)``; NaN where a feature cannot be computed.

        Raises
        ------
        ValueError
            If the shapes do not match (a caller error, unlike bad sample values).
        """
        x = np.asarray(samples, dtype=np.float64)
        if x.ndim == 1 and self.n_channels == 1:
            x = x[:, np.newaxis]
        if x.ndim != 2 or x.shape[1] != self.n_channels:
            raise ValueError(
                f"{self.modality} samples must have shape (n, {self.n_channels}), "
                f"got {np.shape(samples)}"
            )
        t = np.asarray(timestamps, dtype=np.float64)
        if t.shape != (x.shape[0],):
            raise ValueError(
                f"timestamps must have shape ({x.shape[0]},) to match samples, got {t.shape}"
            )
        finite = np.isfinite(x)
        if x.shape[0] == 0 or not finite.any():
            return np.full(len(self._names), np.nan)
        window = SignalWindow(x, finite, _time_axis(t, self.srate), self.srate)
        values = np.asarray(self._compute_all(window), dtype=np.float64)
        if values.shape != (len(self.available),):
            raise RuntimeError(
                f"{type(self).__name__}._compute_all returned shape {values.shape}, "
                f"expected ({len(self.available)},)"
            )
        return values[self._index]

    @abc.abstractmethod
    def _compute_all(self, window: SignalWindow) -> np.ndarray:
        """Return every feature of ``available``, in that order (NaN where not computable)."""


class SignalWindow:
    """One modality's window as an extractor sees it: samples, which of them are finite, their
    times, the nominal rate.

    ``samples`` is ``(n, n_channels)`` float64 with NaN kept; at least one sample is finite.
    Built by :meth:`ModalityFeatures.compute` from one stream's cut; the scheduler's aligned
    multi-stream window is :class:`helo_stream.windows.Window`.
    """

    __slots__ = ("finite", "samples", "srate", "times")

    def __init__(
        self, samples: np.ndarray, finite: np.ndarray, times: np.ndarray, srate: float
    ) -> None:
        self.samples = samples
        self.finite = finite
        self.times = times
        self.srate = srate

    def spans_match_nominal(
        self, start: np.ndarray, stop: np.ndarray, *, tolerance_s: float
    ) -> np.ndarray:
        """Whether the time between sample indices ``start`` and ``stop`` fits the nominal rate.

        A count of samples is only a duration when no samples were dropped in between; dropped
        samples (absent rather than NaN) show as timestamps further apart than the count
        implies. ``tolerance_s`` absorbs timestamp jitter. Durations themselves are taken from
        the sample count, which jittery LSL timestamps would otherwise add noise to.
        """
        nominal = (stop - start) / self.srate
        return np.abs((self.times[stop] - self.times[start]) - nominal) <= tolerance_s


def select_features(
    modality: str, available: Sequence[str], features: Sequence[str] | None
) -> tuple[tuple[str, ...], np.ndarray]:
    """Validate requested feature names; return them and their indices into ``available``.

    ``None`` selects every available feature. Both extractor engines (per window and
    incremental) select features the same way, so a pipeline's feature list means one thing.
    """
    if features is None:
        names = tuple(available)
    else:
        if isinstance(features, str):
            raise ValueError("features must be a sequence of names, not a single string")
        names = tuple(features)
        unknown = [name for name in names if name not in available]
        if unknown:
            raise ValueError(
                f"unknown {modality} feature(s) {unknown}; available: {list(available)}"
            )
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"duplicated {modality} feature(s) {duplicated}")
    index = np.array([list(available).index(name) for name in names], dtype=np.intp)
    return names, index


def validate_srate(srate: object) -> float:
    """A sampling rate as a positive finite float, or a ValueError naming what was given."""
    if isinstance(srate, bool) or not isinstance(srate, int | float | np.integer | np.floating):
        raise ValueError(f"srate must be a positive finite number of Hz, got {srate!r}")
    if not (math.isfinite(float(srate)) and float(srate) > 0.0):
        raise ValueError(f"srate must be a positive finite number of Hz, got {srate!r}")
    return float(srate)


def _time_axis(timestamps: np.ndarray, srate: float) -> np.ndarray:
    """Timestamps where finite, the nominal grid through the first finite one elsewhere."""
    ok = np.isfinite(timestamps)
    if ok.all():
        return timestamps
    grid = np.arange(timestamps.size, dtype=np.float64) / srate
    if ok.any():
        first = int(np.argmax(ok))
        grid += timestamps[first] - grid[first]
    return np.where(ok, timestamps, grid)


def fill_gaps(x: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """Linearly interpolate the non-finite samples of a 1-D signal (edges held constant).

    Detectors and zero-phase filters cannot take NaN; interpolating keeps the sample grid intact
    so indices stay aligned with time, and callers use ``finite`` to discard anything that
    depends on the interpolated part.
    """
    if finite.all():
        return x
    idx = np.arange(x.size)
    return np.interp(idx, idx[finite], x[finite])


def block_mean(x: np.ndarray, factor: int) -> np.ndarray:
    """Decimate a 1-D signal by averaging non-overlapping blocks of ``factor`` samples.

    The boxcar average is the anti-aliasing filter, adequate for slow signals (respiration,
    skin conductance) sampled far above their bandwidth. Blocks are aligned to the end of the
    window, so the newest samples are always used; up to ``factor - 1`` oldest samples drop.
    """
    if factor <= 1:
        return x
    n_blocks = x.size // factor
    return x[x.size - n_blocks * factor :].reshape(n_blocks, factor).mean(axis=1)


def decimate_window(window: SignalWindow, factor: int) -> tuple[SignalWindow, np.ndarray]:
    """Block-average a single-channel window by ``factor`` (see :func:`block_mean`).

    Gaps are interpolated first; a decimated sample counts as missing when any of its source
    samples was. Returns the decimated window and its gap-free signal.
    """
    finite = window.finite[:, 0]
    signal = block_mean(fill_gaps(window.samples[:, 0], finite), factor)
    if factor <= 1:
        return window, signal
    finite_dec = block_mean(finite.astype(np.float64), factor) == 1.0
    times = block_mean(window.times, factor)
    samples = np.where(finite_dec, signal, np.nan)[:, np.newaxis]
    return SignalWindow(samples, finite_dec[:, np.newaxis], times, window.srate / factor), signal


def least_squares_slope(t: np.ndarray, y: np.ndarray) -> float:
    """Ordinary least-squares slope of ``y`` over ``t`` (y units per second); NaN if undefined."""
    if t.size < 2:
        return math.nan
    tc = t - t.mean()
    denom = float(np.dot(tc, tc))
    if not denom > 0.0:
        return math.nan
    return float(np.dot(tc, y - y.mean()) / denom)


def sosfiltfilt_padlen(sos: np.ndarray) -> int:
    """Default edge padding of ``scipy.signal.sosfiltfilt``; it cannot filter signals this short."""
    n_zeros = min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return 3 * (2 * len(sos) + 1 - n_zeros)
