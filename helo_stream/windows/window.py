"""One aligned multi-stream window, the unit that features and the model consume."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helo_stream.sources.health import StreamState

__all__ = ["Window"]


@dataclass(frozen=True)
class Window:
    """Samples of every stream in ``(start_lsl, end_lsl]``.

    Attributes
    ----------
    seq : int
        Position in the scheduler's output, from 0 without gaps.
    start_lsl, end_lsl : float
        Window bounds in LSL seconds; identical for every stream.
    data : dict
        Modality -> (samples (n, ch) float64, timestamps (n,) LSL seconds); possibly empty for
        a stale or missing stream. Empty when the scheduler does not cut data (``cut_data``).
    status : dict
        Modality -> health state of its stream when the window was cut.
    completed_local : float
        ``pylsl.local_clock()`` when the sample that completed the window had been received;
        ``published_local - completed_local`` is the pipeline's latency for this window.
    """

    seq: int
    start_lsl: float
    end_lsl: float
    data: dict[str, tuple[np.ndarray, np.ndarray]]
    status: dict[str, StreamState]
    completed_local: float

    @property
    def length_s(self) -> float:
        return self.end_lsl - self.start_lsl

    def n_samples(self, modality: str) -> int:
        return int(self.data[modality][1].shape[0])
