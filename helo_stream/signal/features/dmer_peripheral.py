"""DMER's GSR and PPG features: statistics of a 5-s span, its derivatives and its spectrum.

A port of the DMER authors' ``perifeaext.py`` (``featurefromgsr`` / ``featurefromppg``), so that
a model trained on the released feature files takes features computed live from an ES1
wristband. For each 5-s span (20 GSR samples at 4 Hz, 500 PPG samples at 100 Hz) it computes
the median, mean, standard deviation, minimum, maximum and the shares of samples equal to the
minimum and to the maximum of ``x``, ``diff(x)`` and ``diff(diff(x))``; the median, mean,
standard deviation, minimum, maximum and range of the complex FFT of ``x``; and, for GSR only,
the mean Welch PSD (``scipy.signal.welch(x, 4)``, one Hann segment over the span).

The authors' FFT statistics are complex numbers (numpy orders complex values by real part, then
imaginary part); the released files keep only their real parts, and so does this port: the real
part of a median, minimum, maximum or range of complex values is that statistic of the real
parts, and the standard deviation is the real ``np.std`` of the complex spectrum.

The authors band-pass PPG 0.5-8 Hz (order-3 Butterworth) over a whole clip, zero-phase; live,
that filter is the pipeline's causal ``filter`` of the PPG modality (``pipelines/dmer_live.yaml``),
so the extractor itself does not filter. GSR is used unfiltered, as the authors did.

The authors step the 5-s span by 1 s: one feature row per second, stamped at the span's end. A
window's value is the mean of the rows of the spans that end on each whole second of the window
(counted back from its end) and fit inside the samples given; the incremental extractor
(:mod:`helo_stream.signal.incremental.dmer_peripheral`) also uses the seconds before the
window, so that a window of ``L`` seconds averages exactly the ``L`` rows the released files
hold for it.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.signal

from helo_stream.signal.features.base import ModalityFeatures, SignalWindow

__all__ = [
    "DMER_GSR_FEATURES",
    "DMER_PPG_FEATURES",
    "DMER_SPAN_S",
    "DmerGsrFeatures",
    "DmerPpgFeatures",
    "dmer_span_features",
    "span_rows",
]

_STATS = ("median", "mean", "std", "min", "max", "minratio", "maxratio")
_FFT_STATS = ("median", "mean", "std", "min", "max", "range")


def _peripheral_names(prefix: str) -> tuple[str, ...]:
    names = [f"{prefix}_{s}" for s in _STATS]
    names += [f"{prefix}_d1_{s}" for s in _STATS]
    names += [f"{prefix}_d2_{s}" for s in _STATS]
    names += [f"{prefix}_fft_{s}" for s in _FFT_STATS]
    return tuple(names)


#: ``perifeaext.featurefromgsr``: statistics of x, diff(x), diff(diff(x)), of its FFT, and the
#: mean Welch PSD; the names of columns 90-117 of DMER's ``feas``.
DMER_GSR_FEATURES: tuple[str, ...] = (*_peripheral_names("gsr"), "gsr_welch_mean")
#: ``perifeaext.featurefromppg``: as GSR without the Welch PSD; columns 118-144.
DMER_PPG_FEATURES: tuple[str, ...] = _peripheral_names("ppg")

#: Length of DMER's GSR/PPG feature span in seconds (``wndsize=5``); rows step by 1 s.
DMER_SPAN_S = 5.0
#: The sampling rate the authors pass to ``signal.welch`` for GSR (hard-coded 4 Hz).
_WELCH_FS = 4.0


def _statistics(x: np.ndarray) -> list[float]:
    """``statisfeatures``: median, mean, std, min, max, min ratio, max ratio."""
    if x.size == 0:
        return [np.nan] * 7
    low, high = float(np.min(x)), float(np.max(x))
    return [
        float(np.median(x)),
        float(np.mean(x)),
        float(np.std(x)),
        low,
        high,
        float(np.count_nonzero(x == low)) / x.size,
        float(np.count_nonzero(x == high)) / x.size,
    ]


def _spectral_statistics(x: np.ndarray) -> list[float]:
    """Real parts of ``freqfeatures``: median, mean, std, min, max, range of ``fft(x)``."""
    spectrum = np.fft.fft(x)
    real = spectrum.real
    low, high = float(np.min(real)), float(np.max(real))
    return [
        float(np.median(real)),
        float(np.mean(real)),
        float(np.std(spectrum)),
        low,
        high,
        high - low,
    ]


def dmer_span_features(span: np.ndarray, *, welch: bool) -> np.ndarray:
    """One DMER feature row of a gap-free 1-D span: 27 values, 28 with ``welch`` (GSR)."""
    x = np.asarray(span, dtype=np.float64).reshape(-1)
    row = _statistics(x) + _statistics(np.diff(x)) + _statistics(np.diff(x, n=2))
    row += _spectral_statistics(x)
    if welch:
        _, psd = scipy.signal.welch(x, _WELCH_FS, nperseg=min(256, x.size))
        row.append(float(np.mean(psd)))
    return np.asarray(row)


def span_rows(n_samples: int, *, srate: float, n_rows: int | None = None) -> list[slice]:
    """Sample slices of the 5-s spans ending on each whole second back from the last sample.

    ``n_rows`` caps how many (newest first); only spans that fit in ``n_samples`` are given.
    """
    span = round(DMER_SPAN_S * srate)
    step = round(srate)
    out = []
    stop = n_samples
    while stop - span >= 0 and (n_rows is None or len(out) < n_rows):
        out.append(slice(stop - span, stop))
        stop -= step
    return out


class _DmerPeripheral(ModalityFeatures):
    """Mean DMER row over the 5-s spans of a window (shared by GSR and PPG)."""

    welch: ClassVar[bool]

    def __init__(self, *, srate: float, features: tuple[str, ...] | None = None) -> None:
        super().__init__(srate=srate, features=features)
        if round(DMER_SPAN_S * self.srate) < 3:
            raise ValueError(
                f"DMER {self.modality} features need at least 3 samples per 5-s span, "
                f"got srate {self.srate:g} Hz"
            )

    def _compute_all(self, window: SignalWindow) -> np.ndarray:
        x = window.samples[:, 0]
        finite = window.finite[:, 0]
        rows = [
            dmer_span_features(x[s], welch=self.welch)
            for s in span_rows(x.size, srate=self.srate)
            if finite[s].all()
        ]
        if not rows:
            return np.full(len(self.available), np.nan)
        return np.mean(rows, axis=0)


class DmerGsrFeatures(_DmerPeripheral):
    """DMER's 28 GSR features (``featurefromgsr``), the ES1 wristband's 4 Hz ``gsr`` stream.

    A separate kind from ``eda`` (the E4/RespiBAN tonic/phasic/SCR features): the DMER model
    was trained on these statistics, which are not skin-conductance physiology features.
    """

    modality: ClassVar[str] = "gsr"
    available: ClassVar[tuple[str, ...]] = DMER_GSR_FEATURES
    welch: ClassVar[bool] = True


class DmerPpgFeatures(_DmerPeripheral):
    """DMER's 27 PPG features (``featurefromppg``), the ES1 wristband's 100 Hz ``ppg`` stream.

    A separate kind from ``bvp`` (heart rate and HRV of the E4's BVP).
    """

    modality: ClassVar[str] = "ppg"
    available: ClassVar[tuple[str, ...]] = DMER_PPG_FEATURES
    welch: ClassVar[bool] = False
