"""Three-axis accelerometer features: posture (per-axis means) and movement (magnitude, jerk)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from helo_stream.signal.features.base import ModalityFeatures, SignalWindow

__all__ = ["AccFeatures"]


class AccFeatures(ModalityFeatures):
    """Statistics of a 3-axis acceleration window, in the units of the input.

    Units are not converted (E4: 1/64 g, so gravity reads 64; RespiBAN: whatever the pipeline
    delivers) because the extractor cannot know them; scale in the pipeline if models must mix
    devices. Samples with any axis missing are ignored; jerk uses only consecutive complete
    samples. Physical activity confounds physiological arousal, so these features let the
    model discount movement-driven changes in heart rate and EDA.
    """

    modality: ClassVar[str] = "acc"
    available: ClassVar[tuple[str, ...]] = (
        "acc_x_mean",
        "acc_y_mean",
        "acc_z_mean",
        "acc_x_std",
        "acc_y_std",
        "acc_z_std",
        "acc_mag_mean",  # Euclidean norm of the acceleration vector
        "acc_mag_std",
        "acc_mag_max",
        "acc_mag_jerk_mean",  # mean norm of the jerk vector (derivative of acceleration), per s
    )
    n_channels: ClassVar[int] = 3

    def _compute_all(self, window: SignalWindow) -> np.ndarray:
        out = np.full(len(self.available), np.nan)
        complete = window.finite.all(axis=1)
        xyz = window.samples[complete]
        if xyz.shape[0] == 0:
            return out
        magnitude = np.sqrt(np.einsum("ij,ij->i", xyz, xyz))
        out[0:3] = xyz.mean(axis=0)
        out[6] = magnitude.mean()
        out[8] = magnitude.max()
        if xyz.shape[0] >= 2:
            out[3:6] = xyz.std(axis=0, ddof=1)
            out[7] = magnitude.std(ddof=1)
        pairs = complete[1:] & complete[:-1]
        if pairs.any():
            step = np.diff(window.samples, axis=0)[pairs]
            out[9] = np.sqrt(np.einsum("ij,ij->i", step, step)).mean() * window.srate
        return out
