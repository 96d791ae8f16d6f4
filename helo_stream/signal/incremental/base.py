"""The incremental feature-extractor interface: chunks in once, window features out cheaply.

A window extractor (:mod:`helo_stream.signal.features`) re-filters and re-detects a whole window
at every step, so at a 0.25 s step each sample of a 60 s window is processed 240 times. An
incremental extractor sees every sample once: :meth:`IncrementalFeatures.update` filters each new
chunk with carried filter state and appends what it derives (cleaned signals, detected events)
to ring buffers stamped on the LSL clock; :meth:`IncrementalFeatures.compute` then reduces the
slice of those buffers that falls in a window ``(start, end]``. Updating chunk by chunk or with
the whole recording at once gives the same features, which is what lets the live pipeline and
the offline datasets share this code.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from helo_stream.buffers.ring_buffer import RingBuffer
from helo_stream.signal.features.base import ModalityFeatures, select_features, validate_srate

__all__ = ["IncrementalFeatures", "NanCounter", "SampleRing", "WindowedBatch"]

#: Extra room in every ring buffer beyond ``horizon_s`` (timestamp jitter, rounding).
_SLACK = 1.25


def ring_capacity(horizon_s: float, rate_hz: float) -> int:
    """Entries a ring needs to hold ``horizon_s`` seconds of items arriving at ``rate_hz``."""
    return max(16, math.ceil(horizon_s * rate_hz * _SLACK) + 16)


class IncrementalFeatures(abc.ABC):
    """Features of one modality, maintained as its samples arrive.

    Parameters
    ----------
    srate
        Nominal sampling rate of the stream in Hz.
    features
        Names to compute, in output order; ``None`` selects ``available``.
    horizon_s
        How far back (seconds before the newest sample) a window may still start; derived data
        older than that is forgotten. The pipeline's ring-buffer length.

    Notes
    -----
    :meth:`update` takes samples as the source delivers them: NaN marks a sample the device sent
    but that is unusable; absent samples (dropped by the network) show only as timestamps
    further apart than the nominal rate. Timestamps must increase strictly.
    """

    modality: ClassVar[str]
    available: ClassVar[tuple[str, ...]]
    #: See :attr:`~helo_stream.signal.features.base.ModalityFeatures.undefined_ok`.
    undefined_ok: ClassVar[frozenset[str]] = frozenset()
    n_channels: ClassVar[int] = 1
    #: Whether ``__init__`` takes ``channels`` (labels): extractors whose layout varies by device.
    takes_channels: ClassVar[bool] = False

    def __init__(
        self, *, srate: float, features: Sequence[str] | None = None, horizon_s: float = 120.0
    ) -> None:
        self.srate = validate_srate(srate)
        if not (isinstance(horizon_s, int | float) and horizon_s > 0):
            raise ValueError(f"horizon_s must be a positive number of seconds, got {horizon_s!r}")
        self.horizon_s = float(horizon_s)
        self._names, self._index = select_features(self.modality, self.available, features)
        self._latest_lsl = -math.inf

    def __repr__(self) -> str:
        return f"{type(self).__name__}(srate={self.srate:g}, features={list(self._names)})"

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the computed features, in output order."""
        return self._names

    def update(self, samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        """Take in the next chunk of the stream (``(n, n_channels)``, NaN where unusable)."""
        x = np.asarray(samples, dtype=np.float64)
        if x.ndim == 1 and self.n_channels == 1:
            x = x[:, np.newaxis]
        t = np.asarray(timestamps_lsl, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_channels or t.shape != (x.shape[0],):
            raise ValueError(
                f"{self.modality} chunk must be (n, {self.n_channels}) samples with (n,) "
                f"timestamps, got {np.shape(samples)} and {np.shape(timestamps_lsl)}"
            )
        if t.size == 0:
            return
        if not (t[0] > self._latest_lsl and np.all(np.diff(t) > 0)):
            raise ValueError("timestamps must increase strictly, within and across chunks")
        self._latest_lsl = float(t[-1])
        self._update(x, t)

    def compute(self, start_lsl: float, end_lsl: float) -> np.ndarray:
        """The selected features of the window ``(start_lsl, end_lsl]`` (NaN where undefined).

        Only what the stream let one know at ``end_lsl`` counts: an event confirmed by a later
        sample (a beat is detected a few hundred ms after its peak) belongs to later windows.
        So the features do not depend on how the samples were chunked, nor on how far the
        stream has advanced beyond ``end_lsl``: live and offline give the same numbers.
        The window must start within the horizon.
        """
        values = np.asarray(self._compute_all(float(start_lsl), float(end_lsl)), dtype=np.float64)
        if values.shape != (len(self.available),):
            raise RuntimeError(
                f"{type(self).__name__}._compute_all returned shape {values.shape}, "
                f"expected ({len(self.available)},)"
            )
        return values[self._index]

    @abc.abstractmethod
    def _update(self, samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        """Filter and detect on one validated chunk, appending to the extractor's buffers."""

    @abc.abstractmethod
    def _compute_all(self, start_lsl: float, end_lsl: float) -> np.ndarray:
        """Every feature of ``available`` for the window, in that order."""


class SampleRing(RingBuffer):
    """A :class:`RingBuffer` sized from a horizon and a rate, read as float64 windows."""

    def __init__(self, *, n_channels: int, horizon_s: float, rate_hz: float) -> None:
        super().__init__(n_channels=n_channels, capacity=ring_capacity(horizon_s, rate_hz))


class NanCounter:
    """Running count of unusable samples, so an interval between two sample indices can be
    checked for gaps without keeping the samples.

    ``before(i)`` is the number of NaN samples with index ``< i`` (indices count samples since
    the stream started); an interval ``[a, b]`` is clean when ``before(b + 1) == before(a)``.
    """

    def __init__(self) -> None:
        self.n_seen = 0
        self._nan_idx: list[np.ndarray] = []
        self._total = 0
        self._flat: np.ndarray = np.empty(0, dtype=np.int64)

    def push(self, bad: np.ndarray) -> None:
        """Register the next chunk's per-sample unusable flags."""
        idx = np.flatnonzero(bad)
        if idx.size:
            self._flat = np.concatenate((self._flat, idx + self.n_seen))
        self.n_seen += bad.size

    def before(self, index: np.ndarray) -> np.ndarray:
        """NaN samples with a sample index below each of ``index``."""
        return np.searchsorted(self._flat, index, side="left")

    def forget_before(self, index: int) -> None:
        """Drop bookkeeping for indices below ``index``; counts stay comparable (relative)."""
        if self._flat.size and self._flat[0] < index:
            self._flat = self._flat[np.searchsorted(self._flat, index) :]


class WindowedBatch(IncrementalFeatures):
    """Any window extractor behind the incremental interface.

    Samples are kept in a ring and the window extractor runs on each window's slice. This is the
    reference engine, and the right one for extractors that do no filtering or detection
    (statistics of temperature or acceleration cost microseconds either way).
    """

    def __init__(self, extractor: ModalityFeatures, *, horizon_s: float = 120.0) -> None:
        self.extractor = extractor
        self.modality = extractor.modality  # type: ignore[misc]
        self.available = extractor.available  # type: ignore[misc]
        self.undefined_ok = extractor.undefined_ok  # type: ignore[misc]
        self.n_channels = extractor.n_channels  # type: ignore[misc]
        super().__init__(srate=extractor.srate, features=extractor.names, horizon_s=horizon_s)
        self._ring = SampleRing(n_channels=self.n_channels, horizon_s=horizon_s, rate_hz=self.srate)

    def __repr__(self) -> str:
        return f"WindowedBatch({self.extractor!r})"

    def _update(self, samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        self._ring.push(samples, timestamps_lsl)

    def compute(self, start_lsl: float, end_lsl: float) -> np.ndarray:
        samples, timestamps = self._ring.window(start_lsl, end_lsl)
        return self.extractor.compute(samples, timestamps)

    def _compute_all(self, start_lsl: float, end_lsl: float) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError("WindowedBatch.compute selects through its extractor")
