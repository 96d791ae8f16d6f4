"""Streams whose channels are already features: one row per second, a window takes the mean.

Released datasets often hold features instead of signals (DMER's ``.mat`` files: EEG
differential entropy, GSR/PPG statistics, one row per second). Replayed, each is a 1 Hz LSL
stream whose channel labels are the feature names. A pipeline modality fed by such a stream
(``features_stream`` in ``pipelines/*.yaml``, kind ``features`` in the device profile) gets the
mean of the rows stamped in the window: the same value the modality's own extractor gives on
the raw signal, whose window value is itself the mean of the per-second rows (EEG DE of each
1-s segment, GSR/PPG statistics of the 5-s span ending on each second). So a model sees the
same feature names and scale whichever of the two streams feeds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from helo_stream.signal.features.base import ModalityFeatures, SignalWindow

__all__ = ["PrecomputedFeatures"]


class PrecomputedFeatures(ModalityFeatures):
    """Per-channel mean of the complete rows of a window of a feature stream.

    Parameters
    ----------
    srate
        Nominal rate of the feature stream (1 Hz for DMER).
    features
        Names to pass on (channel labels); ``None`` for all.
    channels
        The stream's channel labels, which are the feature names.

    Notes
    -----
    A row with any missing value is left out, so one dropped channel cannot bias a mean with
    a row the others do not have; NaN when the window holds no complete row.
    """

    modality: ClassVar[str] = "features"
    available: ClassVar[tuple[str, ...]] = ()
    takes_channels: ClassVar[bool] = True

    def __init__(
        self,
        *,
        srate: float,
        features: Sequence[str] | None = None,
        channels: Sequence[str] | None = None,
    ) -> None:
        if channels is None or isinstance(channels, str) or len(channels) == 0:
            raise ValueError(
                "a 'features' stream needs its channel labels (the feature names), "
                f"got {channels!r}"
            )
        labels = tuple(str(c) for c in channels)
        if len(set(labels)) != len(labels):
            raise ValueError(f"feature stream channel labels must be unique, got {list(labels)}")
        # Per-instance layout: shadows the class defaults the base class reads.
        self.available = labels  # type: ignore[misc]
        self.n_channels = len(labels)  # type: ignore[misc]
        super().__init__(srate=srate, features=features)

    def _compute_all(self, window: SignalWindow) -> np.ndarray:
        complete = window.finite.all(axis=1)
        if not complete.any():
            return np.full(len(self.available), np.nan)
        return window.samples[complete].mean(axis=0)
