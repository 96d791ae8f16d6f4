"""EEG features: differential entropy (DE) per frequency band and channel, as DMER computed it.

DE of a Gaussian signal of variance σ² is ``0.5 * log(2πe σ²)``; computed per band it is the
standard EEG emotion feature (SEED, DMER). DMER (Yang et al., Sci Data 2024; the authors'
``fea4eeg.py``) estimates the band variance spectrally on each 1-s segment: the segment is
Hann-windowed, transformed with a 256-point FFT (numpy truncates the 300-sample segment to its
first 256 samples), ``|X|²`` is averaged over the bins ``floor(lo / fs * 256)`` to
``floor(hi / fs * 256)`` inclusive, and
``DE = 0.5 log(mean |X|²) + 0.5 log(2πe / round(fs / 256))``.
``method="dmer"`` reproduces that exactly, so a model trained on the released DMER features
sees the same numbers live; ``method="variance"`` is the time-domain definition (zero-phase
Butterworth band-pass, variance per 1-s segment), which is what MNE-based analyses compute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
import scipy.signal

from helo_stream.signal.features.base import ModalityFeatures, SignalWindow, sosfiltfilt_padlen

__all__ = [
    "DE_BANDS",
    "DMER_EEG_CHANNELS",
    "EegFeatures",
    "eeg_feature_names",
    "ringing_samples",
]

#: DMER's bands (``fea4eeg.py``: (1, 4), (4, 8), (8, 14), (14, 31), (31, 49) Hz).
DE_BANDS: dict[str, tuple[float, float]] = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 14.0),
    "beta": (14.0, 31.0),
    "gamma": (31.0, 49.0),
}

#: The 18 DSI-24 channels of DMER in feature-column order (see ``devices/dsi24.yaml``).
DMER_EEG_CHANNELS: tuple[str, ...] = (
    "P3", "C3", "F3", "Fz", "F4", "C4", "P4", "Cz", "Fp1",
    "Fp2", "T3", "T5", "O1", "O2", "F7", "F8", "T6", "T4",
)  # fmt: skip

#: FFT length of DMER's spectral estimate.
DMER_NFFT = 256

Method = Literal["dmer", "variance"]


def eeg_feature_names(channels: Sequence[str]) -> tuple[str, ...]:
    """``eeg_de_<band>_<channel>``, channel-major with bands fastest: DMER's column order.

    DMER stores DE as (segments, bands, channels) and flattens it in MATLAB (column-major), so
    column ``5 * channel + band`` of the released features is that band of that channel.
    """
    return tuple(f"eeg_de_{band}_{ch}" for ch in channels for band in DE_BANDS)


class EegFeatures(ModalityFeatures):
    """Differential entropy in 5 bands per channel, averaged over the window's 1-s segments.

    The window is cut into whole 1-s segments aligned to its end (the newest samples are always
    used; a partial oldest second is dropped); DE is computed per segment and averaged over the
    segments without missing samples. A 1-s window with a 1-s step therefore gives exactly the
    rows of DMER's feature files. NaN where no complete segment exists.

    Parameters
    ----------
    srate
        Sampling rate in Hz; above twice the top band edge (49 Hz).
    features
        Names to compute (``eeg_de_<band>_<channel>``); ``None`` for all.
    channels
        Channel labels, in the column order of the samples, or a channel count (labels
        ``ch0``...). The default is DMER's 18 DSI-24 channels.
    method
        ``"dmer"`` (spectral, as the DMER authors) or ``"variance"`` (band-pass + variance).
    notch_hz
        Mains frequency to notch (zero-phase IIR, Q 30) before either method; ``None`` for none.
    order
        Butterworth order of the band-pass filters of ``method="variance"``.
    """

    modality: ClassVar[str] = "eeg"
    available: ClassVar[tuple[str, ...]] = eeg_feature_names(DMER_EEG_CHANNELS)
    n_channels: ClassVar[int] = len(DMER_EEG_CHANNELS)

    def __init__(
        self,
        *,
        srate: float,
        features: Sequence[str] | None = None,
        channels: Sequence[str] | int = DMER_EEG_CHANNELS,
        method: Method = "dmer",
        notch_hz: float | None = None,
        order: int = 4,
    ) -> None:
        if isinstance(channels, int | np.integer) and not isinstance(channels, bool):
            if channels < 1:
                raise ValueError(f"channels must be at least 1, got {channels}")
            labels = tuple(f"ch{i}" for i in range(int(channels)))
        elif isinstance(channels, str) or not isinstance(channels, Sequence) or not channels:
            raise ValueError(
                f"channels must be a non-empty sequence of labels or a count, got {channels!r}"
            )
        else:
            labels = tuple(str(c) for c in channels)
            if len(set(labels)) != len(labels):
                raise ValueError(f"channel labels must be unique, got {list(labels)}")
        if method not in ("dmer", "variance"):
            raise ValueError(f"method must be 'dmer' or 'variance', got {method!r}")
        # Per-instance channel set: shadows the class defaults the base class reads.
        self.available = eeg_feature_names(labels)  # type: ignore[misc]
        self.n_channels = len(labels)  # type: ignore[misc]
        super().__init__(srate=srate, features=features)
        top = max(hi for _, hi in DE_BANDS.values())
        if self.srate <= 2.0 * top:
            raise ValueError(
                f"EEG DE features need srate above {2.0 * top:g} Hz (bands up to {top:g} Hz), "
                f"got {self.srate:g} Hz"
            )
        self.channels = labels
        self.method: Method = method
        self.segment = round(self.srate)  # samples per 1-s segment
        self._notch: np.ndarray | None = None
        if notch_hz is not None:
            if not (0.0 < float(notch_hz) < self.srate / 2.0):
                raise ValueError(f"notch_hz must be in (0, {self.srate / 2:g}), got {notch_hz!r}")
            b, a = scipy.signal.iirnotch(float(notch_hz), 30.0, fs=self.srate)
            self._notch = scipy.signal.tf2sos(b, a)
        if method == "dmer":
            # ``scipy.signal.hann`` as the authors call it: the symmetric window.
            self._taper = scipy.signal.windows.hann(self.segment, sym=True)
            self._band_matrix = _dmer_band_matrix(self.srate)
            self._offset = 0.5 * math.log(
                2.0 * math.pi * math.e / max(round(self.srate / DMER_NFFT), 1)
            )
        else:
            self._band_sos = [
                scipy.signal.butter(order, band, btype="bandpass", output="sos", fs=self.srate)
                for band in DE_BANDS.values()
            ]
            # Odd-reflection padding as long as each filter rings, as MNE pads its IIR filters
            # (``estimate_ringing_samples``): the default few dozen samples of scipy leave the
            # 1-4 Hz band's outer seconds dominated by the edge transient.
            self._ringing = [ringing_samples(sos) for sos in self._band_sos]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(srate={self.srate:g}, channels={list(self.channels)}, "
            f"method={self.method!r}, n_features={len(self.names)})"
        )

    def segment_de(self, samples: np.ndarray) -> np.ndarray:
        """DE of every whole 1-s segment of gap-free ``(n, n_channels)`` samples.

        Returns ``(n_segments, n_bands, n_channels)``; segments are aligned to the end.
        """
        x = np.asarray(samples, dtype=np.float64)
        if self._notch is not None and x.shape[0] > sosfiltfilt_padlen(self._notch):
            x = scipy.signal.sosfiltfilt(self._notch, x, axis=0)
        n_seg = x.shape[0] // self.segment
        if n_seg == 0:
            return np.empty((0, len(DE_BANDS), x.shape[1]))
        if self.method == "dmer":
            segs = _segments(x, n_seg, self.segment)  # (n_seg, segment, n_ch)
            spectrum = np.fft.rfft(segs * self._taper[:, None], n=DMER_NFFT, axis=1)
            power = spectrum.real**2 + spectrum.imag**2
            band_power = np.einsum("bk,skc->sbc", self._band_matrix, power)
            with np.errstate(divide="ignore"):
                return 0.5 * np.log(band_power) + self._offset
        if x.shape[0] < 2:
            return np.full((n_seg, len(DE_BANDS), x.shape[1]), np.nan)
        out = np.empty((n_seg, len(DE_BANDS), x.shape[1]))
        for b, (sos, ringing) in enumerate(zip(self._band_sos, self._ringing, strict=True)):
            padlen = min(ringing, x.shape[0] - 1)
            filtered = scipy.signal.sosfiltfilt(sos, x, axis=0, padtype="odd", padlen=padlen)
            var = _segments(filtered, n_seg, self.segment).var(axis=1)
            with np.errstate(divide="ignore"):
                out[:, b, :] = 0.5 * np.log(2.0 * math.pi * math.e * var)
        return out

    def _compute_all(self, window: SignalWindow) -> np.ndarray:
        finite = window.finite
        x = window.samples
        if not finite.all():
            # Interpolate gaps so filters and the FFT stay defined; segments touching a gap
            # are discarded below, so interpolated values never reach a feature.
            idx = np.arange(x.shape[0])
            x = x.copy()
            for ch in np.flatnonzero(~finite.all(axis=0)):
                ok = finite[:, ch]
                if not ok.any():
                    x[:, ch] = 0.0
                else:
                    x[:, ch] = np.interp(idx, idx[ok], x[ok, ch])
        de = self.segment_de(x)  # (n_seg, n_bands, n_ch)
        n_seg = de.shape[0]
        if n_seg == 0:
            return np.full(len(self.available), np.nan)
        complete = _segments(finite, n_seg, self.segment).all(axis=1)  # (n_seg, n_ch)
        de = np.where(complete[:, None, :] & np.isfinite(de), de, np.nan)
        counts = np.isfinite(de).sum(axis=0)
        with np.errstate(invalid="ignore"):
            mean = np.where(counts > 0, np.nansum(de, axis=0) / np.maximum(counts, 1), np.nan)
        # (n_bands, n_ch) -> channel-major, bands fastest (the order of ``available``).
        return mean.T.reshape(-1)


def _segments(x: np.ndarray, n_seg: int, length: int) -> np.ndarray:
    """The last ``n_seg`` whole segments of ``x`` along axis 0: ``(n_seg, length, ...)``."""
    tail = x[x.shape[0] - n_seg * length :]
    return tail.reshape(n_seg, length, *x.shape[1:])


def ringing_samples(sos: np.ndarray, *, threshold: float = 1e-3) -> int:
    """Index of the last impulse-response sample above ``threshold`` times its peak.

    The same estimate as ``mne.filter.estimate_ringing_samples``, so that padding, and with it
    the values near window edges, match MNE's ``filter_data(method="iir")``.
    """
    n = 4096
    while True:
        impulse = np.zeros(n)
        impulse[0] = 1.0
        h = np.abs(scipy.signal.sosfilt(sos, impulse))
        above = np.flatnonzero(h > threshold * h.max())
        last = int(above[-1]) if above.size else 0
        if last < n // 2 or n >= 1 << 22:
            return last
        n *= 2


def _dmer_band_matrix(srate: float) -> np.ndarray:
    """``(n_bands, nfft // 2 + 1)`` averaging weights over DMER's inclusive bin ranges."""
    n_bins = DMER_NFFT // 2 + 1
    matrix = np.zeros((len(DE_BANDS), n_bins))
    for b, (lo, hi) in enumerate(DE_BANDS.values()):
        start = math.floor(lo / srate * DMER_NFFT)
        end = math.floor(hi / srate * DMER_NFFT)
        matrix[b, start : end + 1] = 1.0 / (end + 1 - start)
    return matrix
