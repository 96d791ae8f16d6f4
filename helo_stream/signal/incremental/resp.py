"""Respiration features from a once-cleaned stream and an online khodadad2018 breath detector."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import ClassVar, NamedTuple

import numpy as np

from helo_stream.signal.features.resp import (
    BAND_HZ,
    DROPOUT_TOLERANCE_S,
    RespFeatures,
    breath_statistics,
)
from helo_stream.signal.incremental.base import IncrementalFeatures, SampleRing
from helo_stream.signal.incremental.blocks import BlockAverager
from helo_stream.signal.incremental.eda import RepeatedCausalFilter

__all__ = ["AMPLITUDE_CONTEXT_S", "IncrementalResp"]

#: ``nk.rsp_findpeaks(method="khodadad2018")`` drops an extremum whose swing to the next one is
#: at most this fraction of the median swing.
_AMPLITUDE_MIN = 0.3
#: The median swing is taken over the extrema of the last minute: NeuroKit takes it over its
#: window (60 s in the pipelines); online only the past is known.
AMPLITUDE_CONTEXT_S = 60.0
#: Columns of the breath ring (stamped with the peak's LSL time).
(
    _CONFIRMED,
    _TROUGH_TIME,
    _TROUGH_VALUE,
    _PEAK_VALUE,
    _TROUGH_INDEX,
    _PEAK_INDEX,
    _TROUGH_GAPS,
    _PEAK_GAPS,
) = range(8)


class _Extremum(NamedTuple):
    """One extremum of the cleaned signal and when it became known."""

    value: float
    index: int  # working-sample index since the stream started
    time: float  # LSL time of the sample
    confirmed: float  # LSL time of the sample that made the decision about it
    gaps: int  # missing working samples up to and including this one


class _OpenInterval:
    """The extremum so far between the last zero crossing and now."""

    __slots__ = ("best", "gaps_at_start", "want_max")

    def __init__(self, *, want_max: bool, gaps_at_start: int) -> None:
        self.want_max = want_max
        self.gaps_at_start = gaps_at_start
        self.best: tuple[float, int, float] | None = None  # value, index, time

    def scan(self, values: np.ndarray, first_index: int, stamps: np.ndarray) -> None:
        """Take in more samples of the interval (NumPy picks the first extreme, as NeuroKit)."""
        if values.size == 0:
            return
        k = int(np.argmax(values) if self.want_max else np.argmin(values))
        value = float(values[k])
        if (
            self.best is None
            or (self.want_max and value > self.best[0])
            or (not self.want_max and value < self.best[0])
        ):
            self.best = (value, first_index + k, float(stamps[k]))


class IncrementalResp(IncrementalFeatures):
    """:class:`~helo_stream.signal.features.resp.RespFeatures`, each sample cleaned once.

    Every chunk is block-averaged to ~25 Hz (the partial block carried) and band-passed
    0.05-3 Hz with a causal filter run twice (:class:`~helo_stream.signal.incremental.eda.
    RepeatedCausalFilter`: the magnitude of ``nk.rsp_clean``'s zero-phase filter, so breath
    depths match). Breaths are found online the way ``nk.rsp_findpeaks(method="khodadad2018")``
    finds them in a window, each stage decided as soon as the samples it needs have arrived:

    1. the extremum between two zero crossings (maximum after a rising crossing, minimum after
       a falling one), known at the sample after the closing crossing;
    2. kept when its swing to the next extremum exceeds 0.3 times the median swing of the last
       :data:`AMPLITUDE_CONTEXT_S` (NeuroKit: of the window), known with that next extremum;
    3. dropped when it lies between its kept neighbours (a monotonic triple; NeuroKit decides
       every triple on the list before removals, and so does this), known with the next one;
    4. the surviving extrema alternate; a survivor above the previous one is a peak, and the
       two make a breath (trough, peak), stamped with the peak time and the decision time.

    A window uses the breaths confirmed by its end whose trough lies in it; their statistics
    are the window extractor's (:func:`~helo_stream.signal.features.resp.breath_statistics`).
    """

    modality: ClassVar[str] = RespFeatures.modality
    available: ClassVar[tuple[str, ...]] = RespFeatures.available

    def __init__(
        self, *, srate: float, features: Sequence[str] | None = None, horizon_s: float = 120.0
    ) -> None:
        super().__init__(srate=srate, features=features, horizon_s=horizon_s)
        reference = RespFeatures(srate=srate)  # the same rate checks and block factor
        self.working_rate = reference.working_rate
        self._blocks = BlockAverager(
            factor=reference.block_factor,
            srate=self.srate,
            dropout_tolerance_s=DROPOUT_TOLERANCE_S,
        )
        low_hz, high_hz = BAND_HZ
        self._clean = RepeatedCausalFilter(
            kind="bandpass", srate=self.working_rate, low_hz=low_hz, high_hz=high_hz, passes=1
        )
        rate = self.working_rate
        self._derived = SampleRing(n_channels=2, horizon_s=self.horizon_s, rate_hz=rate)
        # Extrema need two zero crossings, so at most one breath per four working samples.
        self._breaths = SampleRing(n_channels=8, horizon_s=self.horizon_s, rate_hz=rate / 4.0)
        # Detector state carried between chunks.
        self._n_seen = 0  # working samples so far
        self._gaps = 0  # missing working samples so far
        self._last_value = np.nan
        self._last_time = np.nan
        self._interval: _OpenInterval | None = None
        self._pending: _Extremum | None = None  # awaiting its swing to the next extremum
        self._swings: deque[tuple[float, float]] = deque()  # (time, swing) within the context
        self._kept: deque[_Extremum] = deque(maxlen=2)  # the last two kept extrema
        self._survivor: _Extremum | None = None  # the last extremum of the alternating list

    def _update(self, samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        signal, times = self._blocks.process(samples[:, 0], timestamps_lsl)
        if signal.size == 0:
            return
        cleaned = self._clean.process(signal)
        self._derived.push(np.column_stack((signal, cleaned)), times)
        self._find_extrema(cleaned, times)

    def _find_extrema(self, cleaned: np.ndarray, times: np.ndarray) -> None:
        """Close the zero-crossing intervals of this chunk (a loop per crossing, not sample).

        ``values[0]`` is the previous chunk's newest sample: crossings between chunks are seen,
        and it is scanned with this chunk since scanning stops one sample short of the newest.
        """
        values = np.concatenate(([self._last_value], cleaned))
        stamps = np.concatenate(([self._last_time], times))
        first_index = self._n_seen - 1  # index of values[0]
        gaps = np.concatenate(([self._gaps], self._gaps + np.cumsum(np.isnan(cleaned))))
        positive, negative = values > 0.0, values < 0.0
        rising = negative[:-1] & positive[1:]
        crossings = np.flatnonzero(rising | (positive[:-1] & negative[1:]))
        scanned = 0
        for j in crossings:
            interval = self._interval
            if interval is not None:
                interval.scan(values[scanned:j], first_index + scanned, stamps[scanned:j])
                clean = gaps[j] == interval.gaps_at_start
                if clean and interval.best is not None:
                    value, index, time = interval.best
                    confirmed = float(stamps[j + 1])
                    gaps_at = interval.gaps_at_start  # none since the interval opened
                    self._gate(_Extremum(value, index, time, confirmed, gaps_at))
            self._interval = _OpenInterval(want_max=bool(rising[j]), gaps_at_start=int(gaps[j]))
            scanned = j
        if self._interval is not None:
            last = values.size - 1
            self._interval.scan(values[scanned:last], first_index + scanned, stamps[scanned:last])
        self._n_seen += cleaned.size
        self._gaps = int(gaps[-1])
        self._last_value = float(values[-1])
        self._last_time = float(stamps[-1])

    def _gate(self, extremum: _Extremum) -> None:
        """Stage 2: keep the pending extremum if its swing to this one is not tiny."""
        pending, self._pending = self._pending, extremum
        if pending is None:
            return
        swing = abs(extremum.value - pending.value)
        self._swings.append((extremum.time, swing))
        while self._swings[0][0] < extremum.time - AMPLITUDE_CONTEXT_S:
            self._swings.popleft()
        median = float(np.median([s for _, s in self._swings]))
        if swing > _AMPLITUDE_MIN * median:
            self._alternate(pending._replace(confirmed=extremum.confirmed))

    def _alternate(self, kept: _Extremum) -> None:
        """Stage 3: the previous kept extremum survives unless it lies between its neighbours."""
        if len(self._kept) == 2:
            before, middle = self._kept
            if np.sign(middle.value - before.value) + np.sign(kept.value - middle.value) == 0:
                self._survive(middle._replace(confirmed=kept.confirmed))
        elif len(self._kept) == 1:
            self._survive(self._kept[0]._replace(confirmed=kept.confirmed))  # stream start
        self._kept.append(kept)

    def _survive(self, extremum: _Extremum) -> None:
        """Stage 4: a survivor above the previous survivor closes a breath."""
        trough, self._survivor = self._survivor, extremum
        if trough is None or not extremum.value > trough.value:
            return
        row = np.empty((1, 8))
        row[0, _CONFIRMED] = extremum.confirmed
        row[0, _TROUGH_TIME] = trough.time
        row[0, _TROUGH_VALUE] = trough.value
        row[0, _PEAK_VALUE] = extremum.value
        row[0, _TROUGH_INDEX] = trough.index
        row[0, _PEAK_INDEX] = extremum.index
        row[0, _TROUGH_GAPS] = trough.gaps
        row[0, _PEAK_GAPS] = extremum.gaps
        self._breaths.push(row, np.array([extremum.time]))

    def _compute_all(self, start_lsl: float, end_lsl: float) -> np.ndarray:
        out = np.full(len(self.available), np.nan)
        derived, _ = self._derived.window(start_lsl, end_lsl)
        signal = derived[:, 0][np.isfinite(derived[:, 0])]
        if signal.size < 2 or not np.ptp(signal) > 0.0:
            return out  # flat (sensor off): the cleaned signal is filter round-off
        breaths, _ = self._breaths.window(start_lsl, end_lsl)
        breaths = breaths[
            (breaths[:, _CONFIRMED] <= end_lsl) & (breaths[:, _TROUGH_TIME] > start_lsl)
        ]
        if breaths.shape[0] < 2:
            return out
        trough_gaps, peak_gaps = breaths[:, _TROUGH_GAPS], breaths[:, _PEAK_GAPS]
        return breath_statistics(
            troughs=breaths[:, _TROUGH_INDEX],
            peaks=breaths[:, _PEAK_INDEX],
            depth=breaths[:, _PEAK_VALUE] - breaths[:, _TROUGH_VALUE],
            working_rate=self.working_rate,
            peak_to_peak_clean=peak_gaps[1:] == peak_gaps[:-1],
            inhale_clean=trough_gaps == peak_gaps,
            cycle_clean=trough_gaps[1:] == trough_gaps[:-1],
        )
