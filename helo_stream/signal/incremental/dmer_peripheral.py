"""DMER GSR/PPG features on a stream: one 5-s span per whole second, averaged per window.

The authors' rows (:mod:`helo_stream.signal.features.dmer_peripheral`) each describe the 5 s
before a whole second. A window ``(start, end]`` of a DMER pipeline holds the rows stamped at
``end``, ``end - 1``, ... down to just after ``start``; this extractor computes exactly those
rows, each from the 5 s of samples before its stamp, which for the oldest rows reach up to 4 s
before the window. So a window's value is the mean of the same rows a replayed DMER file gives
for it (the window extractor, which sees only the window, can only average the rows whose span
fits inside it). Samples are kept as they arrive (the PPG band-pass is the pipeline's causal
filter, applied once per chunk at the source).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from helo_stream.signal.features.dmer_peripheral import (
    DMER_SPAN_S,
    DmerGsrFeatures,
    DmerPpgFeatures,
    dmer_span_features,
)
from helo_stream.signal.incremental.base import IncrementalFeatures, SampleRing

__all__ = ["IncrementalDmerGsr", "IncrementalDmerPpg"]

#: A span may miss this many samples to timestamp jitter and still count.
_MISSING_TOLERANCE = 1


class _IncrementalDmerPeripheral(IncrementalFeatures):
    welch: ClassVar[bool]

    def __init__(
        self, *, srate: float, features: Sequence[str] | None = None, horizon_s: float = 120.0
    ) -> None:
        super().__init__(srate=srate, features=features, horizon_s=horizon_s + DMER_SPAN_S)
        self.span_samples = round(DMER_SPAN_S * self.srate)
        if self.span_samples < 3:
            raise ValueError(
                f"DMER {self.modality} features need at least 3 samples per 5-s span, "
                f"got srate {self.srate:g} Hz"
            )
        self._samples = SampleRing(n_channels=1, horizon_s=self.horizon_s, rate_hz=self.srate)

    def _update(self, samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        self._samples.push(samples, timestamps_lsl)

    def _compute_all(self, start_lsl: float, end_lsl: float) -> np.ndarray:
        n_rows = math.floor((end_lsl - start_lsl) + 1e-9)
        x, t = self._samples.window(end_lsl - n_rows + 1 - DMER_SPAN_S, end_lsl)
        x = x[:, 0]
        stamps = end_lsl - np.arange(n_rows, dtype=np.float64)
        stops = np.searchsorted(t, stamps, side="right")
        starts = np.searchsorted(t, stamps - DMER_SPAN_S, side="right")
        rows = []
        for a, b in zip(starts, stops, strict=True):
            if b - a < self.span_samples - _MISSING_TOLERANCE:
                continue
            span = x[max(a, b - self.span_samples) : b]
            if np.isfinite(span).all():
                rows.append(dmer_span_features(span, welch=self.welch))
        if not rows:
            return np.full(len(self.available), np.nan)
        return np.mean(rows, axis=0)


class IncrementalDmerGsr(_IncrementalDmerPeripheral):
    """:class:`~helo_stream.signal.features.dmer_peripheral.DmerGsrFeatures` on a stream."""

    modality: ClassVar[str] = DmerGsrFeatures.modality
    available: ClassVar[tuple[str, ...]] = DmerGsrFeatures.available
    welch: ClassVar[bool] = True


class IncrementalDmerPpg(_IncrementalDmerPeripheral):
    """:class:`~helo_stream.signal.features.dmer_peripheral.DmerPpgFeatures` on a stream."""

    modality: ClassVar[str] = DmerPpgFeatures.modality
    available: ClassVar[tuple[str, ...]] = DmerPpgFeatures.available
    welch: ClassVar[bool] = False
