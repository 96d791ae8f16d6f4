"""Electrodermal activity features from a once-filtered stream and an online SCR detector."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from helo_stream.signal.features.base import least_squares_slope
from helo_stream.signal.features.eda import (
    SCR_MIN_AMPLITUDE_US,
    SPLIT_HZ,
    EdaFeatures,
    scr_smoothing_hz,
    scr_statistics,
    tonic_phasic_statistics,
)
from helo_stream.signal.features.resp import DROPOUT_TOLERANCE_S
from helo_stream.signal.filters import CausalSosFilter, FilterKind
from helo_stream.signal.incremental.base import IncrementalFeatures, SampleRing
from helo_stream.signal.incremental.blocks import BlockAverager

__all__ = ["IncrementalEda", "RepeatedCausalFilter"]

#: Passes of each causal filter, chosen on real data (E4 and NeuroKit recordings) against
#: the zero-phase window extractor: one pass keeps the tonic's spread closest (less phase
#: smear); two passes match the phasic spread and the SCR rises (squared magnitude, as
#: ``sosfiltfilt``).
_TONIC_PASSES, _PHASIC_PASSES, _SMOOTH_PASSES = 1, 2, 2
#: Columns of the derived-signal ring.
_SIGNAL, _TONIC, _PHASIC, _SMOOTH = range(4)
#: Columns of the SCR ring (stamped with the peak's LSL time).
_CONFIRMED, _RISE, _PEAK_VALUE, _ONSET_TIME, _ONSET_CLIPPED = range(5)
#: Per-transition state of the smoothed signal: rising, not rising, undefined (a gap).
_RISING, _NOT_RISING, _UNDEFINED = 1, 0, -1


class RepeatedCausalFilter:
    """A causal Butterworth run ``passes`` times in series, state carried across chunks.

    The window extractors filter forward and backward, which squares the magnitude response
    (-6 dB at the cut-off). Streaming cannot run backwards; running the causal filter twice
    squares the magnitude too, so amplitudes match the reference, at the price of twice the
    phase distortion. Which matters more differs per signal, so each incremental extractor
    chooses (measured on real data, see the class notes of the extractors).
    """

    def __init__(
        self,
        *,
        kind: FilterKind,
        srate: float,
        low_hz: float | None = None,
        high_hz: float | None = None,
        order: int = 2,
        passes: int,
    ) -> None:
        self._passes = tuple(
            CausalSosFilter(kind=kind, srate=srate, low_hz=low_hz, high_hz=high_hz, order=order)
            for _ in range(passes)
        )

    def process(self, x: np.ndarray) -> np.ndarray:
        """Filter the next chunk (1-D, NaN gaps pass through as NaN and hold the state)."""
        for stage in self._passes:
            x = stage.process(x)
        return x


class IncrementalEda(IncrementalFeatures):
    """:class:`~helo_stream.signal.features.eda.EdaFeatures`, each sample filtered once.

    Every chunk is block-averaged to ~8 Hz (the partial block carried), split causally into
    tonic (low-pass 0.05 Hz) and phasic (high-pass 0.05 Hz) parts and smoothed at 1 Hz for SCR
    detection, each filter causal with carried state (:class:`RepeatedCausalFilter`). The derived
    signals go into one ring; window features are reductions over the window's slice.

    SCRs are found online with the window extractor's definition: an onset is a sample where the
    smoothed signal starts rising, a peak one where it stops; a peak is confirmed by the first
    non-rising sample after it and stored with its onset. A window counts the peaks confirmed in
    it; a rise already under way at the window's first sample counts from that sample (the
    window extractor's edge convention), and a rise interrupted by a gap is dropped.

    The tonic level and slope are the window mean and least-squares slope of the working signal
    itself: the tonic low-pass has unit gain at DC and keeps a linear trend, so the zero-phase
    tonic of a window has the window's mean and slope (to edge effects), whereas the causal
    tonic lags by ~4.5 s and would bias both by that much of the trend (measured on real data:
    a ten times larger slope error). Tonic and phasic spread come from the causal filters, whose
    lag changes them little.
    """

    modality: ClassVar[str] = EdaFeatures.modality
    available: ClassVar[tuple[str, ...]] = EdaFeatures.available
    undefined_ok: ClassVar[frozenset[str]] = EdaFeatures.undefined_ok

    def __init__(
        self, *, srate: float, features: Sequence[str] | None = None, horizon_s: float = 120.0
    ) -> None:
        super().__init__(srate=srate, features=features, horizon_s=horizon_s)
        reference = EdaFeatures(srate=srate)  # the same rate checks and block factor
        self.working_rate = reference.working_rate
        self._blocks = BlockAverager(
            factor=reference.block_factor,
            srate=self.srate,
            dropout_tolerance_s=DROPOUT_TOLERANCE_S,
        )
        rate = self.working_rate
        self._tonic = RepeatedCausalFilter(
            kind="lowpass", srate=rate, high_hz=SPLIT_HZ, passes=_TONIC_PASSES
        )
        self._phasic = RepeatedCausalFilter(
            kind="highpass", srate=rate, low_hz=SPLIT_HZ, passes=_PHASIC_PASSES
        )
        self._smooth = RepeatedCausalFilter(
            kind="lowpass", srate=rate, high_hz=scr_smoothing_hz(rate), passes=_SMOOTH_PASSES
        )
        self._derived = SampleRing(n_channels=4, horizon_s=self.horizon_s, rate_hz=rate)
        # A peak needs a rise and a fall: at most one SCR per two working samples.
        self._scrs = SampleRing(n_channels=5, horizon_s=self.horizon_s, rate_hz=rate / 2.0)
        # Detector state carried between chunks: the newest smoothed sample, its time, the
        # state of the transition into it and the onset of the rise under way (if any).
        self._last_smooth = np.nan
        self._last_time = np.nan
        self._last_state = _UNDEFINED
        self._onset: tuple[float, float, bool] | None = None  # time, value, clipped

    def _update(self, samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        signal, times = self._blocks.process(samples[:, 0], timestamps_lsl)
        if signal.size == 0:
            return
        smooth = self._smooth.process(signal)
        derived = np.column_stack(
            (signal, self._tonic.process(signal), self._phasic.process(signal), smooth)
        )
        self._derived.push(derived, times)
        self._detect_scrs(smooth, times)

    def _detect_scrs(self, smooth: np.ndarray, times: np.ndarray) -> None:
        """Find the onsets and confirmed peaks of this chunk (a loop per event, not per sample)."""
        values = np.concatenate(([self._last_smooth], smooth))
        stamps = np.concatenate(([self._last_time], times))
        step = np.diff(values)
        state = np.where(np.isfinite(step), (step > 0.0).astype(np.int8), np.int8(_UNDEFINED))
        before = np.concatenate(([self._last_state], state[:-1]))
        # Transition k (into values[k + 1]) differs from the one before: values[k] is an
        # extremum, a gap edge, or the end of a gap; each is an event.
        events = np.flatnonzero(state != before)
        for k in events:
            now, previous = state[k], before[k]
            if now == _UNDEFINED:
                self._onset = None  # a gap interrupts whatever rise was under way
            elif now == _RISING:
                # A rise starts at values[k]; after a gap it may have started unseen earlier.
                self._onset = (stamps[k], values[k], bool(previous == _UNDEFINED))
            elif previous == _RISING and self._onset is not None:
                rise = values[k] - self._onset[1]
                if rise >= SCR_MIN_AMPLITUDE_US:  # smaller rises stay small in every window
                    onset_time, _, clipped = self._onset
                    row = (stamps[k + 1], rise, values[k], onset_time, float(clipped))
                    self._scrs.push(np.array([row]), np.array([stamps[k]]))
                self._onset = None
        self._last_smooth = float(values[-1])
        self._last_time = float(stamps[-1])
        self._last_state = int(state[-1])

    def _compute_all(self, start_lsl: float, end_lsl: float) -> np.ndarray:
        out = np.full(len(self.available), np.nan)
        derived, times = self._derived.window(start_lsl, end_lsl)
        valid = np.isfinite(derived[:, _TONIC])
        if not valid.any():
            return out
        out[:5] = tonic_phasic_statistics(
            times[valid], derived[valid, _TONIC], derived[valid, _PHASIC]
        )
        # Level and trend from the working signal, spread from the causal tonic (class notes).
        out[0] = derived[valid, _SIGNAL].mean()
        out[1] = least_squares_slope(times[valid], derived[valid, _SIGNAL])
        out[5:] = scr_statistics(self._scr_rises(start_lsl, end_lsl, times[0], derived[0, _SMOOTH]))
        return out

    def _scr_rises(
        self, start_lsl: float, end_lsl: float, first_time: float, first_smooth: float
    ) -> np.ndarray:
        """Rise of every SCR peaking in the window and confirmed by ``end_lsl``, window-clipped."""
        scrs, _ = self._scrs.window(start_lsl, end_lsl)
        scrs = scrs[scrs[:, _CONFIRMED] <= end_lsl]
        onset_before = scrs[:, _ONSET_TIME] < first_time
        # A rise first seen after a gap may have begun before it: it belongs only to windows
        # that start after the gap, counted from their first sample.
        unseen_start = (scrs[:, _ONSET_CLIPPED] > 0.0) & (scrs[:, _ONSET_TIME] > first_time)
        rises = np.where(onset_before, scrs[:, _PEAK_VALUE] - first_smooth, scrs[:, _RISE])
        return rises[~unseen_start]
