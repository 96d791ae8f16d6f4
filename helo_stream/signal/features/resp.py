"""Respiration features: breathing rate, depth and inhalation/exhalation timing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import scipy.signal

from helo_stream.signal.features.base import (
    ModalityFeatures,
    SignalWindow,
    decimate_window,
    sosfiltfilt_padlen,
)

__all__ = [
    "BAND_HZ",
    "BREATH_RANGE_S",
    "DROPOUT_TOLERANCE_S",
    "MIN_BREATHS",
    "RespFeatures",
    "breath_statistics",
    "resp_block_factor",
]

#: Pass band of ``nk.rsp_clean(method="khodadad2018")``, order 2.
BAND_HZ: tuple[float, float] = (0.05, 3.0)
#: Breathing lives below 1 Hz; faster streams (chest 700 Hz) are block-averaged to this rate,
#: which is what makes a 60 s window cheap without changing the detected breaths.
_WORKING_RATE_HZ = 25.0
#: Plausible breath-to-breath intervals (40 down to 3 breaths/min); others are artefacts.
BREATH_RANGE_S: tuple[float, float] = (1.5, 20.0)
#: Fewest valid breaths for any statistic.
MIN_BREATHS = 2
#: Timestamp/sample-count mismatch beyond which a breath is taken to contain dropped samples.
DROPOUT_TOLERANCE_S = 0.25


def resp_block_factor(srate: float) -> int:
    """Samples averaged per block so that breaths are detected at about 25 Hz (both engines)."""
    return max(1, math.floor(srate / _WORKING_RATE_HZ))


def breath_statistics(
    *,
    troughs: np.ndarray,
    peaks: np.ndarray,
    depth: np.ndarray,
    working_rate: float,
    peak_to_peak_clean: np.ndarray,
    inhale_clean: np.ndarray,
    cycle_clean: np.ndarray,
) -> np.ndarray:
    """The five breathing features from the breaths of one window.

    Shared by both engines so that a breath's plausibility and the statistics mean the same.

    Parameters
    ----------
    troughs, peaks
        Working-sample indices of ``n >= 2`` breaths, ``troughs[i] < peaks[i] <
        troughs[i + 1]``; durations come from sample counts (jitter-free), never timestamps.
    depth
        ``(n,)`` peak minus preceding trough of the cleaned signal.
    working_rate
        Rate (Hz) the indices count at.
    peak_to_peak_clean, inhale_clean, cycle_clean
        Whether each span holds no missing or dropped sample: ``(n - 1,)`` from peak ``i`` to
        ``i + 1``, ``(n,)`` from trough ``i`` to peak ``i``, ``(n - 1,)`` from trough ``i`` to
        trough ``i + 1``.
    """
    out = np.full(5, np.nan)
    period_s = np.diff(peaks) / working_rate
    ok = peak_to_peak_clean & (period_s >= BREATH_RANGE_S[0]) & (period_s <= BREATH_RANGE_S[1])
    if np.count_nonzero(ok) >= MIN_BREATHS:
        rate = 60.0 / period_s[ok]
        out[0] = rate.mean()
        out[1] = rate.std(ddof=1)

    if np.count_nonzero(inhale_clean) >= MIN_BREATHS:
        out[2] = depth[inhale_clean].mean()
        out[3] = depth[inhale_clean].std(ddof=1)

    # Whole cycles trough -> peak -> next trough, plausible in length, give the I/E ratio.
    cycle_s = np.diff(troughs) / working_rate
    cycle_ok = cycle_clean & (cycle_s >= BREATH_RANGE_S[0]) & (cycle_s <= BREATH_RANGE_S[1])
    if np.count_nonzero(cycle_ok) >= MIN_BREATHS:
        inhale = (peaks[:-1] - troughs[:-1])[cycle_ok]
        exhale = (troughs[1:] - peaks[:-1])[cycle_ok]
        out[4] = inhale.sum() / exhale.sum()
    return out


class RespFeatures(ModalityFeatures):
    """Breathing features from a respiration (chest belt/inductance) window.

    The window is block-averaged to ~25 Hz, band-passed as ``nk.rsp_clean(method=
    "khodadad2018")`` does (coefficients designed once), and breaths are delimited by
    ``nk.rsp_findpeaks(method="khodadad2018")`` (a peak is end of inhalation, a trough end of
    exhalation). Amplitudes are in the units of the input (e.g. % for the RespiBAN).
    """

    modality: ClassVar[str] = "resp"
    available: ClassVar[tuple[str, ...]] = (
        "resp_rate_mean",  # breaths/min, from peak-to-peak intervals
        "resp_rate_std",  # breaths/min
        "resp_amplitude_mean",  # peak minus preceding trough of the cleaned signal
        "resp_amplitude_std",
        "resp_ie_ratio",  # total inhalation time / total exhalation time
    )
    n_channels: ClassVar[int] = 1

    def __init__(self, *, srate: float, features: Sequence[str] | None = None) -> None:
        super().__init__(srate=srate, features=features)
        if self.srate <= 2.0 * BAND_HZ[1]:
            raise ValueError(
                f"RESP features need srate above {2.0 * BAND_HZ[1]:g} Hz, got {self.srate:g} Hz"
            )
        self._factor = resp_block_factor(self.srate)
        self._sos = scipy.signal.butter(
            2, BAND_HZ, btype="bandpass", output="sos", fs=self.working_rate
        )
        self._padlen = sosfiltfilt_padlen(self._sos)

    @property
    def block_factor(self) -> int:
        """Input samples averaged into one working sample."""
        return self._factor

    @property
    def working_rate(self) -> float:
        """Rate (Hz) breaths are detected at after block averaging."""
        return self.srate / self._factor

    def clean(self, signal: np.ndarray) -> np.ndarray:
        """Band-pass a gap-free signal at :attr:`working_rate` as ``nk.rsp_clean`` does."""
        return scipy.signal.sosfiltfilt(self._sos, signal)

    def find_breaths(self, cleaned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Peaks and troughs with ``troughs[i] < peaks[i] < troughs[i + 1]``; empty if none."""
        none = np.empty(0, dtype=np.intp)
        # The detector works between zero crossings and needs at least two extrema, i.e. three
        # crossings; with fewer it takes the median of nothing.
        sign = np.sign(cleaned)
        sign = sign[sign != 0]
        if np.count_nonzero(sign[1:] != sign[:-1]) < 3:
            return none, none
        import neurokit2 as nk  # deferred: a 3 s import, only needed once computing

        try:
            info = nk.rsp_findpeaks(cleaned, sampling_rate=self.working_rate, method="khodadad2018")
        except IndexError:
            # NeuroKit indexes the first two extrema without checking there are two; a window
            # with about one breath (or only tiny ripples) has no breaths to report.
            return none, none
        peaks = np.asarray(info["RSP_Peaks"], dtype=np.intp)
        troughs = np.asarray(info["RSP_Troughs"], dtype=np.intp)
        return peaks, troughs

    def _compute_all(self, window: SignalWindow) -> np.ndarray:
        out = np.full(len(self.available), np.nan)
        work, signal = decimate_window(window, self._factor)
        if signal.size <= self._padlen or not np.ptp(signal) > 0.0:
            # Too short to filter, or flat (sensor off): only filter round-off to detect on.
            return out
        cleaned = self.clean(signal)
        peaks, troughs = self.find_breaths(cleaned)
        n = min(peaks.size, troughs.size)
        if n < 2:
            return out
        peaks, troughs = peaks[:n], troughs[:n]
        missing = np.concatenate(([0], np.cumsum(~work.finite[:, 0])))

        def clean_span(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
            return (missing[stop + 1] == missing[start]) & work.spans_match_nominal(
                start, stop, tolerance_s=DROPOUT_TOLERANCE_S
            )

        return breath_statistics(
            troughs=troughs,
            peaks=peaks,
            depth=cleaned[peaks] - cleaned[troughs],
            working_rate=work.srate,
            peak_to_peak_clean=clean_span(peaks[:-1], peaks[1:]),
            inhale_clean=clean_span(troughs, peaks),
            cycle_clean=clean_span(troughs[:-1], troughs[1:]),
        )
