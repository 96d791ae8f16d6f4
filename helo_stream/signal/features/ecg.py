"""Electrocardiogram features: heart rate and HRV from R-peaks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import scipy.signal

from helo_stream.signal.features.base import (
    ModalityFeatures,
    SignalWindow,
    fill_gaps,
    sosfiltfilt_padlen,
)
from helo_stream.signal.features.cardiac import CARDIAC_FEATURES, cardiac_features

__all__ = ["ECG_HIGHPASS_HZ", "ECG_HIGHPASS_ORDER", "ECG_POWERLINE_HZ", "EcgFeatures"]

#: ``nk.ecg_clean(method="neurokit")``: order-5 Butterworth high-pass at 0.5 Hz ...
ECG_HIGHPASS_HZ = 0.5
ECG_HIGHPASS_ORDER = 5
#: ... then a moving average over one period of the mains frequency (Europe: 50 Hz).
ECG_POWERLINE_HZ = 50.0


class EcgFeatures(ModalityFeatures):
    """Heart rate and time-domain HRV from an ECG window (e.g. RespiBAN chest strap, 700 Hz).

    Cleaning reproduces ``nk.ecg_clean(method="neurokit")`` with coefficients designed once;
    R-peaks come from ``nk.ecg_findpeaks(method="neurokit")``, the array-level detector behind
    ``nk.ecg_peaks`` (which adds a DataFrame and optional artefact correction per call).
    Upright R waves are assumed, as in the RespiBAN lead placement.
    """

    modality: ClassVar[str] = "ecg"
    available: ClassVar[tuple[str, ...]] = CARDIAC_FEATURES
    n_channels: ClassVar[int] = 1

    def __init__(self, *, srate: float, features: Sequence[str] | None = None) -> None:
        super().__init__(srate=srate, features=features)
        if self.srate < 100.0:
            raise ValueError(f"ECG features need srate of at least 100 Hz, got {self.srate:g} Hz")
        self._sos = scipy.signal.butter(
            ECG_HIGHPASS_ORDER, ECG_HIGHPASS_HZ, btype="highpass", output="sos", fs=self.srate
        )
        self._powerline_b = np.ones(int(self.srate / ECG_POWERLINE_HZ))
        self._padlen = max(sosfiltfilt_padlen(self._sos), 3 * self._powerline_b.size)

    def clean(self, signal: np.ndarray) -> np.ndarray:
        """Clean a gap-free 1-D ECG as ``nk.ecg_clean(method="neurokit")`` does."""
        highpassed = scipy.signal.sosfiltfilt(self._sos, signal)
        b = self._powerline_b
        return scipy.signal.filtfilt(b, [b.size], highpassed, method="pad")

    def find_peaks(self, cleaned: np.ndarray) -> np.ndarray:
        """R-peak indices of a cleaned signal; empty where no QRS complex is found."""
        if cleaned.size <= self._padlen:
            return np.empty(0, dtype=np.intp)
        import neurokit2 as nk  # deferred: a 3 s import, only needed once computing

        info = nk.ecg_findpeaks(cleaned, sampling_rate=self.srate, method="neurokit")
        return np.asarray(info["ECG_R_Peaks"], dtype=np.intp)

    def _compute_all(self, window: SignalWindow) -> np.ndarray:
        signal = fill_gaps(window.samples[:, 0], window.finite[:, 0])
        if signal.size <= self._padlen or not np.ptp(signal) > 0.0:
            # Too short to filter, or flat (sensor off): only filter round-off to detect on.
            return np.full(len(self.available), np.nan)
        cleaned = self.clean(signal)
        return cardiac_features(self.find_peaks(cleaned), window, waveform=cleaned)
