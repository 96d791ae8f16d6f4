"""Electrodermal activity features: tonic level and trend, phasic activity, skin conductance
responses (SCRs)."""

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
    least_squares_slope,
    sosfiltfilt_padlen,
)

__all__ = [
    "SCR_MIN_AMPLITUDE_US",
    "SCR_SMOOTH_HZ",
    "SPLIT_HZ",
    "EdaFeatures",
    "eda_block_factor",
    "scr_smoothing_hz",
    "scr_statistics",
    "tonic_phasic_statistics",
]

#: Tonic/phasic boundary of ``nk.eda_phasic(method="highpass")`` (Biopac AcqKnowledge), order 2.
SPLIT_HZ = 0.05
#: Skin conductance changes far slower than this; faster streams are block-averaged down to it.
_WORKING_RATE_HZ = 8.0
#: SCRs are detected on the signal low-passed here: responses rise over 1-3 s, while faster
#: wiggles are sensor noise that would split one response into several.
SCR_SMOOTH_HZ = 1.0
#: Smallest SCR amplitude (onset trough to peak), the usual 0.01 µS criterion.
SCR_MIN_AMPLITUDE_US = 0.01


def eda_block_factor(srate: float) -> int:
    """Samples averaged per block so that the decomposition runs at about 8 Hz.

    Both engines (per window and incremental) use it, so they see the same working signal.
    """
    return max(1, math.floor(srate / _WORKING_RATE_HZ))


def scr_smoothing_hz(working_rate: float) -> float:
    """Cut-off of the SCR smoothing low-pass at ``working_rate`` (kept below Nyquist)."""
    return min(SCR_SMOOTH_HZ, 0.45 * working_rate)


def tonic_phasic_statistics(times: np.ndarray, tonic: np.ndarray, phasic: np.ndarray) -> np.ndarray:
    """Tonic mean, slope and std, phasic std and max over the valid samples of a window.

    Shared by both engines so the five features mean the same; the inputs hold only valid
    (non-missing) samples, at least one.
    """
    out = np.full(5, np.nan)
    out[0] = tonic.mean()
    out[1] = least_squares_slope(times, tonic)
    if tonic.size >= 2:
        out[2] = tonic.std(ddof=1)
        out[3] = phasic.std(ddof=1)
    out[4] = phasic.max()
    return out


def scr_statistics(amplitudes: np.ndarray) -> np.ndarray:
    """SCR count and mean amplitude from candidate rise amplitudes (µS) of one window.

    Rises under :data:`SCR_MIN_AMPLITUDE_US` are noise, not responses; the mean is NaN when
    none is left.
    """
    kept = amplitudes[amplitudes >= SCR_MIN_AMPLITUDE_US]
    return np.array([kept.size, kept.mean() if kept.size else np.nan])


class EdaFeatures(ModalityFeatures):
    """Tonic/phasic EDA features from a window in µS (E4 wrist 4 Hz, RespiBAN chest 700 Hz).

    Streams faster than ~8 Hz are block-averaged to about 8 Hz first. The tonic/phasic split is
    ``nk.eda_phasic(method="highpass")`` (zero-phase Butterworth low- and high-pass at 0.05 Hz)
    with coefficients designed once and without its DataFrame.

    SCRs are found trough-to-peak on the 1 Hz low-passed signal: a rise from a local minimum
    (onset) to the next local maximum of at least :data:`SCR_MIN_AMPLITUDE_US`. NeuroKit's SCR
    detectors are not used because they keep peaks above 10 % of the window's largest one, so
    in a calm window noise becomes "responses"; and peaks of the high-passed phasic part
    include the filter's rebound after a large response.
    """

    modality: ClassVar[str] = "eda"
    available: ClassVar[tuple[str, ...]] = (
        "eda_tonic_mean",  # µS
        "eda_tonic_slope",  # µS/s, least squares over the window
        "eda_tonic_std",  # µS
        "eda_phasic_std",  # µS
        "eda_phasic_max",  # µS
        "eda_scr_count",  # SCRs in the window
        "eda_scr_amplitude_mean",  # µS, mean SCR amplitude (NaN without SCRs)
    )
    undefined_ok: ClassVar[frozenset[str]] = frozenset({"eda_scr_amplitude_mean"})
    n_channels: ClassVar[int] = 1

    def __init__(self, *, srate: float, features: Sequence[str] | None = None) -> None:
        super().__init__(srate=srate, features=features)
        self._factor = eda_block_factor(self.srate)
        rate = self.srate / self._factor
        if rate <= 2.0 * SPLIT_HZ:
            raise ValueError(f"EDA features need srate above {2 * SPLIT_HZ:g} Hz, got {srate}")
        self._low = scipy.signal.butter(2, SPLIT_HZ, btype="lowpass", output="sos", fs=rate)
        self._high = scipy.signal.butter(2, SPLIT_HZ, btype="highpass", output="sos", fs=rate)
        self._smooth = scipy.signal.butter(
            2, scr_smoothing_hz(rate), btype="lowpass", output="sos", fs=rate
        )
        self._padlen = max(sosfiltfilt_padlen(sos) for sos in (self._low, self._high, self._smooth))

    @property
    def block_factor(self) -> int:
        """Input samples averaged into one working sample."""
        return self._factor

    @property
    def working_rate(self) -> float:
        """Rate (Hz) the decomposition runs at after block averaging."""
        return self.srate / self._factor

    def decompose(self, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tonic and phasic parts of a gap-free signal at :attr:`working_rate`.

        Equals ``nk.eda_phasic(signal, sampling_rate=working_rate, method="highpass")``.
        """
        tonic = scipy.signal.sosfiltfilt(self._low, signal)
        phasic = scipy.signal.sosfiltfilt(self._high, signal)
        return tonic, phasic

    def _compute_all(self, window: SignalWindow) -> np.ndarray:
        out = np.full(len(self.available), np.nan)
        work, signal = decimate_window(window, self._factor)
        if signal.size <= self._padlen:
            return out
        valid = work.finite[:, 0]
        if not valid.any():
            return out
        tonic, phasic = self.decompose(signal)
        out[:5] = tonic_phasic_statistics(work.times[valid], tonic[valid], phasic[valid])
        out[5:] = scr_statistics(self.scr_amplitudes(signal, valid))
        return out

    def scr_amplitudes(self, signal: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Trough-to-peak amplitudes (µS) of the candidate SCRs of a gap-free working signal.

        Every rise is returned (:func:`scr_statistics` applies the amplitude criterion).
        Responses whose rise touches a missing sample are dropped. A rise already under way at
        the window start counts from the first sample, since its peak lies in this window.
        """
        smooth = scipy.signal.sosfiltfilt(self._smooth, signal)
        rising = np.diff(smooth) > 0.0
        onsets = np.flatnonzero(~rising[:-1] & rising[1:]) + 1
        if rising.size and rising[0]:
            onsets = np.concatenate(([0], onsets))
        peaks = np.flatnonzero(rising[:-1] & ~rising[1:]) + 1
        which = np.searchsorted(onsets, peaks) - 1
        has_onset = which >= 0
        peaks, onsets = peaks[has_onset], onsets[which[has_onset]]
        amplitudes = smooth[peaks] - smooth[onsets]
        missing = np.concatenate(([0], np.cumsum(~valid)))
        return amplitudes[missing[peaks + 1] == missing[onsets]]
