"""Surface EMG amplitude features from a once-filtered stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from helo_stream.signal.features.emg import EMG_HIGHPASS, EmgFeatures, emg_statistics
from helo_stream.signal.filters import CausalSosFilter
from helo_stream.signal.incremental.base import IncrementalFeatures, SampleRing

__all__ = ["IncrementalEmg"]


class IncrementalEmg(IncrementalFeatures):
    """:class:`~helo_stream.signal.features.emg.EmgFeatures`, high-passing each sample once.

    The 20 Hz high-pass runs causally on arrival (state carried, NaN gaps skipped) instead of
    zero-phase on every window; the amplitude statistics are phase-blind, so only the first
    second after the stream starts differs from the window extractor (filter settling).
    """

    modality: ClassVar[str] = EmgFeatures.modality
    available: ClassVar[tuple[str, ...]] = EmgFeatures.available

    def __init__(
        self, *, srate: float, features: Sequence[str] | None = None, horizon_s: float = 120.0
    ) -> None:
        super().__init__(srate=srate, features=features, horizon_s=horizon_s)
        EmgFeatures(srate=srate)  # the same check of the rate against the pass band
        low_hz, order = EMG_HIGHPASS
        self._filter = CausalSosFilter(
            kind="highpass", srate=self.srate, low_hz=low_hz, order=order
        )
        self._cleaned = SampleRing(n_channels=1, horizon_s=self.horizon_s, rate_hz=self.srate)

    def _update(self, samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        self._cleaned.push(self._filter.process(samples), timestamps_lsl)

    def _compute_all(self, start_lsl: float, end_lsl: float) -> np.ndarray:
        cleaned, _ = self._cleaned.window(start_lsl, end_lsl)
        cleaned = cleaned[:, 0]
        finite = np.isfinite(cleaned)
        if not finite.any() or not np.ptp(cleaned[finite]) > 0.0:
            return np.full(len(self.available), np.nan)
        return emg_statistics(cleaned, finite, srate=self.srate)
