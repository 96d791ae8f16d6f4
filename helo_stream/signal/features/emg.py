"""Surface electromyogram features: muscle activation amplitude and its time-domain shape."""

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

__all__ = ["EMG_HIGHPASS", "EmgFeatures", "emg_statistics"]

#: Surface EMG energy lies above ~20 Hz; below are electrode offset and motion artefacts.
_HIGHPASS_HZ = 20.0
_HIGHPASS_ORDER = 4
#: ``(cut-off Hz, Butterworth order)`` of the high-pass, for the incremental extractor.
EMG_HIGHPASS = (_HIGHPASS_HZ, _HIGHPASS_ORDER)


class EmgFeatures(ModalityFeatures):
    """Amplitude features of a surface EMG window (e.g. RespiBAN chest strap, 700 Hz), in mV.

    The window is high-passed zero-phase at 20 Hz first: amplitude statistics of raw EMG are
    dominated by the electrode's DC offset and movement artefacts, and a window-local filter
    makes the features the same whether or not the pipeline pre-filtered the stream. Missing
    samples are interpolated for the filter and then excluded from every statistic.
    """

    modality: ClassVar[str] = "emg"
    available: ClassVar[tuple[str, ...]] = (
        "emg_rms",  # root mean square
        "emg_mav",  # mean absolute value
        "emg_std",  # standard deviation
        "emg_p90",  # 90th percentile of the rectified signal
        "emg_wl",  # waveform length per second (mean |difference| x srate)
        "emg_zc_rate",  # zero crossings per second
    )
    n_channels: ClassVar[int] = 1

    def __init__(self, *, srate: float, features: Sequence[str] | None = None) -> None:
        super().__init__(srate=srate, features=features)
        if self.srate <= 2.0 * _HIGHPASS_HZ:
            raise ValueError(
                f"EMG features need srate above {2.0 * _HIGHPASS_HZ:g} Hz, got {self.srate:g} Hz"
            )
        self._sos = scipy.signal.butter(
            _HIGHPASS_ORDER, _HIGHPASS_HZ, btype="highpass", output="sos", fs=self.srate
        )
        self._padlen = sosfiltfilt_padlen(self._sos)

    def clean(self, signal: np.ndarray) -> np.ndarray:
        """High-pass a gap-free 1-D EMG at 20 Hz, zero-phase."""
        return scipy.signal.sosfiltfilt(self._sos, signal)

    def _compute_all(self, window: SignalWindow) -> np.ndarray:
        finite = window.finite[:, 0]
        signal = fill_gaps(window.samples[:, 0], finite)
        if signal.size <= self._padlen or not np.ptp(signal) > 0.0:
            return np.full(len(self.available), np.nan)
        return emg_statistics(self.clean(signal), finite, srate=self.srate)


def emg_statistics(cleaned: np.ndarray, finite: np.ndarray, *, srate: float) -> np.ndarray:
    """:attr:`EmgFeatures.available` of a high-passed signal; ``finite`` marks real samples.

    Shared by the window and the incremental extractor, so both define the features alike.
    """
    out = np.full(len(EmgFeatures.available), np.nan)
    values = cleaned[finite]
    if values.size == 0:
        return out
    rectified = np.abs(values)
    out[0] = np.sqrt(np.mean(values**2))
    out[1] = rectified.mean()
    out[2] = values.std(ddof=1) if values.size >= 2 else np.nan
    out[3] = np.percentile(rectified, 90.0)
    pairs = finite[1:] & finite[:-1]
    if pairs.any():
        step = np.diff(cleaned)[pairs]
        out[4] = np.abs(step).mean() * srate
        sign = np.signbit(cleaned)
        out[5] = np.count_nonzero((sign[1:] != sign[:-1])[pairs]) / pairs.sum() * srate
    return out
