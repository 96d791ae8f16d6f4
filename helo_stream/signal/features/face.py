"""Face features: the per-second LBP-TOP histograms of a face feature stream, per window.

The camera source (``helo-stream camera``) and DMER's released video features both give one
768-value sample per second: normalised 256-bin local-binary-pattern histograms on the XY, XT
and YT planes of a 1-s clip (see :mod:`helo_stream.signal.lbptop`). A window of several seconds
is summarised by the mean histogram, which is again a normalised histogram per plane; a 1-s
window passes the sample through unchanged, i.e. the rows of DMER's feature files.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from helo_stream.signal.features.base import ModalityFeatures, SignalWindow
from helo_stream.signal.lbptop import LBPTOP_PLANES, N_BINS

__all__ = ["FACE_FEATURES", "FaceFeatures"]

#: ``face_lbptop_<plane>_<bin>``, planes XY, XT, YT, bins 0-255: DMER's column order.
FACE_FEATURES: tuple[str, ...] = tuple(
    f"face_lbptop_{plane}_{b}" for plane in LBPTOP_PLANES for b in range(N_BINS)
)


class FaceFeatures(ModalityFeatures):
    """Mean LBP-TOP histogram over the window's samples (a 1 Hz, 768-channel stream).

    Samples with any missing value are left out (a histogram with a hole is not a histogram);
    NaN when none is complete.
    """

    modality: ClassVar[str] = "face"
    available: ClassVar[tuple[str, ...]] = FACE_FEATURES
    n_channels: ClassVar[int] = len(FACE_FEATURES)

    def _compute_all(self, window: SignalWindow) -> np.ndarray:
        complete = window.finite.all(axis=1)
        if not complete.any():
            return np.full(len(self.available), np.nan)
        return window.samples[complete].mean(axis=0)
