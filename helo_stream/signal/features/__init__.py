"""Per-modality feature extractors and the registry the pipeline picks them from.

Each extractor turns one window of one modality into a fixed-length float64 vector (NaN where
a feature cannot be computed on that window). Keys are the modality kinds of device streams.
"""

from __future__ import annotations

from collections.abc import Sequence

from helo_stream.signal.features.acc import AccFeatures
from helo_stream.signal.features.base import ModalityFeatures
from helo_stream.signal.features.dmer_peripheral import DmerGsrFeatures, DmerPpgFeatures
from helo_stream.signal.features.ecg import EcgFeatures
from helo_stream.signal.features.eda import EdaFeatures
from helo_stream.signal.features.eeg import EegFeatures
from helo_stream.signal.features.emg import EmgFeatures
from helo_stream.signal.features.face import FaceFeatures
from helo_stream.signal.features.ppg import BvpFeatures
from helo_stream.signal.features.precomputed import PrecomputedFeatures
from helo_stream.signal.features.resp import RespFeatures
from helo_stream.signal.features.temp import TempFeatures

__all__ = [
    "FEATURE_EXTRACTORS",
    "AccFeatures",
    "BvpFeatures",
    "DmerGsrFeatures",
    "DmerPpgFeatures",
    "EcgFeatures",
    "EdaFeatures",
    "EegFeatures",
    "EmgFeatures",
    "FaceFeatures",
    "ModalityFeatures",
    "PrecomputedFeatures",
    "RespFeatures",
    "TempFeatures",
    "make_extractor",
]

FEATURE_EXTRACTORS: dict[str, type[ModalityFeatures]] = {
    cls.modality: cls
    for cls in (
        BvpFeatures,
        EcgFeatures,
        EdaFeatures,
        RespFeatures,
        TempFeatures,
        AccFeatures,
        EmgFeatures,
        # DMER's devices: DSI-24 EEG, ES1 wristband GSR/PPG (the authors' statistics, not the
        # E4's eda/bvp physiology), LBP-TOP face streams, and replayed per-second features.
        EegFeatures,
        DmerGsrFeatures,
        DmerPpgFeatures,
        FaceFeatures,
        PrecomputedFeatures,
    )
}


def make_extractor(
    kind: str,
    *,
    srate: float,
    features: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
) -> ModalityFeatures:
    """Build the extractor for modality ``kind`` (a key of :data:`FEATURE_EXTRACTORS`).

    ``channels`` (the stream's channel labels) reaches extractors whose channel set varies by
    device (``takes_channels``, e.g. EEG); fixed-layout extractors ignore it.

    Raises
    ------
    ValueError
        For an unknown kind (the message lists the known ones), an unusable ``srate`` or
        unknown feature names (the message lists the available ones).
    """
    try:
        cls = FEATURE_EXTRACTORS[kind]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown modality kind {kind!r}; available: {sorted(FEATURE_EXTRACTORS)}"
        ) from None
    if cls.takes_channels and channels is not None:
        return cls(srate=srate, features=features, channels=tuple(channels))  # type: ignore[call-arg]
    return cls(srate=srate, features=features)
