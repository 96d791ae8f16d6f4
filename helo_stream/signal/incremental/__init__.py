"""Incremental feature extractors: every sample filtered and scanned once, windows reduced.

:func:`make_incremental_features` is what the pipeline calls: it returns the incremental
extractor of a modality when one exists and otherwise wraps the window extractor
(:class:`WindowedBatch`), which is also the reference engine the incremental ones are checked and
benchmarked against. The extractors are named ``Incremental<Modality>`` after their base
:class:`IncrementalFeatures` (an LSL *stream* is what feeds them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from helo_stream.signal.features import make_extractor
from helo_stream.signal.incremental.base import IncrementalFeatures, WindowedBatch
from helo_stream.signal.incremental.cardiac import IncrementalBvp, IncrementalEcg
from helo_stream.signal.incremental.dmer_peripheral import IncrementalDmerGsr, IncrementalDmerPpg
from helo_stream.signal.incremental.eda import IncrementalEda
from helo_stream.signal.incremental.eeg import IncrementalEeg
from helo_stream.signal.incremental.emg import IncrementalEmg
from helo_stream.signal.incremental.resp import IncrementalResp
from helo_stream.signal.incremental.stats import IncrementalAcc, IncrementalTemp

__all__ = [
    "INCREMENTAL_EXTRACTORS",
    "Engine",
    "IncrementalFeatures",
    "WindowedBatch",
    "make_incremental_features",
]

#: ``"incremental"``: filter and detect once per chunk; ``"batch"``: re-process every window.
Engine = Literal["incremental", "batch"]

INCREMENTAL_EXTRACTORS: dict[str, type[IncrementalFeatures]] = {
    cls.modality: cls
    for cls in (
        IncrementalTemp,
        IncrementalAcc,
        IncrementalEmg,
        IncrementalEda,
        IncrementalResp,
        IncrementalBvp,
        IncrementalEcg,
        IncrementalEeg,
        IncrementalDmerGsr,
        IncrementalDmerPpg,
    )
}


def make_incremental_features(
    kind: str,
    *,
    srate: float,
    features: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
    horizon_s: float = 120.0,
    engine: Engine = "incremental",
) -> IncrementalFeatures:
    """A fresh extractor (no history) for modality ``kind``, one per stream connection.

    ``channels`` (the stream's channel labels) is passed on to extractors that take it.

    Raises
    ------
    ValueError
        For an unknown kind or engine, an unusable ``srate`` or unknown feature names.
    """
    if engine not in ("incremental", "batch"):
        raise ValueError(f"engine must be 'incremental' or 'batch', got {engine!r}")
    cls = INCREMENTAL_EXTRACTORS.get(kind) if engine == "incremental" else None
    if cls is not None:
        if cls.takes_channels and channels is not None:
            return cls(  # type: ignore[call-arg]
                srate=srate, features=features, channels=tuple(channels), horizon_s=horizon_s
            )
        return cls(srate=srate, features=features, horizon_s=horizon_s)
    extractor = make_extractor(kind, srate=srate, features=features, channels=channels)
    return WindowedBatch(extractor, horizon_s=horizon_s)
