"""Streaming EEG differential entropy: filter each chunk once, keep running sums, reduce windows.

Every sample is notch-filtered (mains) and band-passed into DMER's five bands with causal
Butterworth filters designed by MNE (``mne.filter.construct_iir_filter``, via
:class:`~helo_stream.signal.filters.CausalSosFilter` with ``design="mne"``), the filter state
carried from chunk to chunk. Per band and channel the extractor then keeps only running
(prefix) sums of the filtered samples and of their squares, and of the unusable samples: the
variance of any 1-s segment is two differences of those sums, so a window costs a few
subtractions however long it is, and no filtered signal is stored.

A window ``(start, end]`` is cut into whole 1-s segments counted back from ``end``; the
differential entropy of a segment is ``0.5 * ln(2πe σ²)`` of its band-passed samples, and the
window's value is the mean over the segments that have every sample (a segment touching a gap
or holding fewer samples than one second's worth is left out). That is the time-domain
definition of DE (``EegFeatures(method="variance")``), which is what an MNE analysis computes;
DMER's released features use a spectral estimate of the same quantity (``method="dmer"``),
whose absolute level differs by the Hann window's energy, so a model trained on the released
files should be fine-tuned on, or normalised per subject with, features from this stage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from helo_stream.signal.features.eeg import DE_BANDS, DMER_EEG_CHANNELS, eeg_feature_names
from helo_stream.signal.filters import CausalSosFilter
from helo_stream.signal.incremental.base import IncrementalFeatures, SampleRing

__all__ = ["EEG_BAND_ORDER", "EEG_NOTCH_WIDTH_HZ", "IncrementalEeg"]

#: Butterworth order of each band-pass (MNE doubles it for a band: 8 poles).
EEG_BAND_ORDER = 4
#: Width of the mains band-stop around ``notch_hz`` (MNE's ``notch_filter`` default is 1 Hz;
#: a causal IIR that narrow rings for seconds, 4 Hz settles within a segment).
EEG_NOTCH_WIDTH_HZ = 4.0
#: Slack on a segment's sample count for timestamp jitter (fraction of a sample per second).
_COUNT_TOLERANCE = 1


class IncrementalEeg(IncrementalFeatures):
    """Differential entropy per band and channel from raw EEG, every sample filtered once.

    Parameters
    ----------
    srate
        Nominal rate in Hz; above twice the top band edge (49 Hz).
    features
        Names to compute (``eeg_de_<band>_<channel>``); ``None`` for all.
    channels
        The stream's channel labels in column order (default: DMER's 18 DSI-24 channels).
    horizon_s
        How far back a window may start.
    notch_hz
        Mains frequency removed before the band-pass (50 Hz, where DMER was recorded); ``None``
        for no notch. Ignored when at or above Nyquist.
    """

    modality: ClassVar[str] = "eeg"
    available: ClassVar[tuple[str, ...]] = eeg_feature_names(DMER_EEG_CHANNELS)
    n_channels: ClassVar[int] = len(DMER_EEG_CHANNELS)
    takes_channels: ClassVar[bool] = True

    def __init__(
        self,
        *,
        srate: float,
        features: Sequence[str] | None = None,
        channels: Sequence[str] = DMER_EEG_CHANNELS,
        horizon_s: float = 120.0,
        notch_hz: float | None = 50.0,
    ) -> None:
        if isinstance(channels, str) or not channels:
            raise ValueError(f"channels must be a non-empty sequence of labels, got {channels!r}")
        labels = tuple(str(c) for c in channels)
        if len(set(labels)) != len(labels):
            raise ValueError(f"channel labels must be unique, got {list(labels)}")
        # Per-instance channel set: shadows the class defaults the base class reads.
        self.available = eeg_feature_names(labels)  # type: ignore[misc]
        self.n_channels = len(labels)  # type: ignore[misc]
        super().__init__(srate=srate, features=features, horizon_s=horizon_s)
        top = max(hi for _, hi in DE_BANDS.values())
        if self.srate <= 2.0 * top:
            raise ValueError(
                f"EEG DE features need srate above {2.0 * top:g} Hz (bands up to {top:g} Hz), "
                f"got {self.srate:g} Hz"
            )
        self.channels = labels
        n_ch = self.n_channels
        self._notch: CausalSosFilter | None = None
        half = EEG_NOTCH_WIDTH_HZ / 2.0
        if notch_hz is not None and float(notch_hz) + half < self.srate / 2.0:
            self._notch = CausalSosFilter(
                kind="bandstop",
                srate=self.srate,
                low_hz=float(notch_hz) - half,
                high_hz=float(notch_hz) + half,
                order=2,
                n_channels=n_ch,
                design="mne",
            )
        self._bands = [
            CausalSosFilter(
                kind="bandpass",
                srate=self.srate,
                low_hz=lo,
                high_hz=hi,
                order=EEG_BAND_ORDER,
                n_channels=n_ch,
                design="mne",
            )
            for lo, hi in DE_BANDS.values()
        ]
        self.segment_samples = round(self.srate)
        n_bands = len(self._bands)
        # Ring columns: prefix sums of x (bands x channels), of x² (same), of unusable samples.
        self._n_sums = n_bands * n_ch
        self._prefix = SampleRing(
            n_channels=2 * self._n_sums + n_ch, horizon_s=self.horizon_s, rate_hz=self.srate
        )
        self._totals = np.zeros(2 * self._n_sums + n_ch)
        self._first_lsl = math.inf

    def _update(self, samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        x = samples if self._notch is None else self._notch.process(samples)
        bad = ~np.isfinite(x)
        filtered = np.concatenate([band.process(x) for band in self._bands], axis=1)
        filtered = np.where(np.isfinite(filtered), filtered, 0.0)
        increments = np.concatenate((filtered, filtered * filtered, bad.astype(np.float64)), axis=1)
        prefix = np.cumsum(increments, axis=0) + self._totals
        self._totals = prefix[-1].copy()
        self._prefix.push(prefix, timestamps_lsl)
        self._first_lsl = min(self._first_lsl, float(timestamps_lsl[0]))

    def _compute_all(self, start_lsl: float, end_lsl: float) -> np.ndarray:
        n_out = len(self.available)
        n_seg = math.floor((end_lsl - start_lsl) + 1e-9)
        if n_seg < 1:
            return np.full(n_out, np.nan)
        # Two seconds earlier than the window: the prefix just before its first segment.
        prefix, times = self._prefix.window(start_lsl - 2.0, end_lsl)
        bounds = end_lsl - np.arange(n_seg, -1, -1, dtype=np.float64)  # oldest first
        idx = np.searchsorted(times, bounds, side="right") - 1  # last sample <= bound
        at = np.where(idx[:, None] >= 0, prefix[np.maximum(idx, 0)], 0.0)
        known = (idx >= 0) | (bounds < self._first_lsl)  # before the stream: sums are zero
        sums = np.diff(at, axis=0)  # (n_seg, columns)
        counts = np.diff(idx).astype(np.float64)
        n_sums, n_ch = self._n_sums, self.n_channels
        s1, s2 = sums[:, :n_sums], sums[:, n_sums : 2 * n_sums]
        n_bad = sums[:, 2 * n_sums :]
        complete = (
            known[:-1] & known[1:] & (np.abs(counts - self.segment_samples) <= _COUNT_TOLERANCE)
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / counts[:, None]
            var = s2 / counts[:, None] - mean * mean
            de = 0.5 * np.log(2.0 * math.pi * math.e * var)
        clean = np.tile(n_bad < 0.5, (1, len(self._bands)))  # (n_seg, bands * channels)
        usable = complete[:, None] & clean & np.isfinite(de) & (var > 0)
        counted = usable.sum(axis=0)
        total = np.where(usable, de, 0.0).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_band = np.where(counted > 0, total / counted, np.nan)  # band-major columns
        # band-major (band, channel) -> channel-major, bands fastest (the order of available).
        return per_band.reshape(len(self._bands), n_ch).T.reshape(-1)
