"""Blood volume pulse (photoplethysmogram) features: heart rate and HRV from pulse peaks."""

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

__all__ = ["BvpFeatures"]

#: Pass band of ``nk.ppg_clean(method="elgendi")`` (Elgendi et al. 2013), order 2.
_BAND_HZ = (0.5, 8.0)


class BvpFeatures(ModalityFeatures):
    """Heart rate and time-domain HRV from a BVP/PPG window (e.g. Empatica E4, 64 Hz).

    The window is band-passed zero-phase exactly as ``nk.ppg_clean(method="elgendi")`` does,
    but with coefficients designed once here instead of on every call (designing them was most
    of ``nk.ppg_clean``'s cost on a 60 s window); systolic peaks come from
    ``nk.ppg_findpeaks`` (Elgendi), refined to sub-sample position.
    ``nk.ppg_process`` is avoided: it builds DataFrames and rate interpolations not needed here.
    The pass band makes the result insensitive to whether the pipeline pre-filtered the stream.
    """

    modality: ClassVar[str] = "bvp"
    available: ClassVar[tuple[str, ...]] = CARDIAC_FEATURES
    n_channels: ClassVar[int] = 1

    def __init__(self, *, srate: float, features: Sequence[str] | None = None) -> None:
        super().__init__(srate=srate, features=features)
        if self.srate <= 2.0 * _BAND_HZ[1]:
            raise ValueError(
                f"BVP features need srate above {2.0 * _BAND_HZ[1]:g} Hz (pulse band up to "
                f"{_BAND_HZ[1]:g} Hz), got {self.srate:g} Hz"
            )
        self._sos = scipy.signal.butter(2, _BAND_HZ, btype="bandpass", output="sos", fs=self.srate)
        self._padlen = sosfiltfilt_padlen(self._sos)

    @property
    def sos(self) -> np.ndarray:
        """The cleaning band-pass (second-order sections), shared with the incremental engine."""
        return self._sos

    def clean(self, signal: np.ndarray) -> np.ndarray:
        """Band-pass a gap-free 1-D BVP signal as ``nk.ppg_clean(method="elgendi")`` does."""
        return scipy.signal.sosfiltfilt(self._sos, signal)

    def find_peaks(self, cleaned: np.ndarray) -> np.ndarray:
        """Systolic peak indices of a cleaned signal; empty where no pulse wave is found."""
        if cleaned.size <= self._padlen:
            return np.empty(0, dtype=np.intp)
        import neurokit2 as nk  # deferred: a 3 s import, only needed once computing

        try:
            info = nk.ppg_findpeaks(cleaned, sampling_rate=self.srate, method="elgendi")
        except IndexError:
            # NeuroKit's Elgendi detector indexes the first wave onset without checking that
            # one exists; a window with no pulse wave at all (flat, or all above threshold)
            # therefore raises instead of returning no peaks.
            return np.empty(0, dtype=np.intp)
        return np.asarray(info["PPG_Peaks"], dtype=np.intp)

    def _compute_all(self, window: SignalWindow) -> np.ndarray:
        finite = window.finite[:, 0]
        signal = fill_gaps(window.samples[:, 0], finite)
        if signal.size <= self._padlen or not np.ptp(signal) > 0.0:
            # Too short to filter, or flat (sensor off): only filter round-off to detect on.
            return np.full(len(self.available), np.nan)
        cleaned = self.clean(signal)
        return cardiac_features(self.find_peaks(cleaned), window, waveform=cleaned)
