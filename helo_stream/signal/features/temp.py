"""Skin temperature features: level, spread and trend."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from helo_stream.signal.features.base import ModalityFeatures, SignalWindow, least_squares_slope

__all__ = ["TempFeatures"]


class TempFeatures(ModalityFeatures):
    """Statistics of a skin temperature window in °C (e.g. Empatica E4, 4 Hz).

    Peripheral skin temperature drifts slowly with vasoconstriction under stress, so the trend
    (least-squares slope over the sample timestamps, robust to a few missing samples) carries
    as much information as the level. Missing samples are ignored.
    """

    modality: ClassVar[str] = "temp"
    available: ClassVar[tuple[str, ...]] = (
        "temp_mean",  # °C
        "temp_std",  # °C
        "temp_min",  # °C
        "temp_max",  # °C
        "temp_slope",  # °C/s
    )
    n_channels: ClassVar[int] = 1

    def _compute_all(self, window: SignalWindow) -> np.ndarray:
        valid = window.finite[:, 0]
        values = window.samples[valid, 0]
        std = values.std(ddof=1) if values.size >= 2 else np.nan
        slope = least_squares_slope(window.times[valid], values)
        return np.array([values.mean(), std, values.min(), values.max(), slope])
