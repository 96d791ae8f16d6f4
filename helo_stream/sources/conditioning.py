"""What a stream's samples go through before the buffer: one rule for live and recorded data.

A NaN or infinite value would poison a causal filter's state for good, so the filter sees the
last finite row instead (zeros before any) and the buffer stores NaN for that row again: the
windows then flag and drop it (:mod:`helo_stream.windows.quality`). The live source applies this
chunk by chunk as it pulls (:class:`~helo_stream.sources.lsl_source.LSLSource`), the offline path
to a whole recorded stream at once (:mod:`helo_stream.pipeline.offline`); the filter carries its
state across chunks, so both give the same samples.

>>> import numpy as np
>>> conditioner = SampleConditioner(n_channels=1)
>>> out, n_bad = conditioner.process(np.array([[1.0], [np.nan], [3.0]]))
>>> out.ravel().tolist(), n_bad
([1.0, nan, 3.0], 1)
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["SampleConditioner", "SupportsProcess", "hold_last_finite"]


@runtime_checkable
class SupportsProcess(Protocol):
    """A causal filter: ``process(chunk)`` returns the filtered chunk, carrying its state."""

    def process(self, chunk: np.ndarray) -> np.ndarray: ...


def hold_last_finite(samples: np.ndarray, bad: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """``samples`` with each ``bad`` row replaced by the last good row before it (``previous``
    before the first one); a row with only some channels non-finite is held whole."""
    out = np.array(samples, dtype=np.float64, copy=True)
    good_idx = np.where(~bad, np.arange(out.shape[0]), -1)
    last_good = np.maximum.accumulate(good_idx)
    rows = np.flatnonzero(bad)
    src = last_good[rows]
    has_prev = src >= 0
    out[rows[has_prev]] = out[src[has_prev]]
    out[rows[~has_prev]] = previous
    return out


class SampleConditioner:
    """Hold-last-finite, then the causal filter, then NaN back in the non-finite rows.

    Parameters
    ----------
    n_channels
        Channels of the stream.
    filter
        The modality's causal filter (a fresh one per stream connection), or None.
    name
        Used in error messages.
    """

    def __init__(
        self, *, n_channels: int, filter: SupportsProcess | None = None, name: str = "stream"
    ) -> None:
        if filter is not None and not isinstance(filter, SupportsProcess):
            raise TypeError(f"filter must have a process(chunk) method, got {type(filter)!r}")
        self.n_channels = int(n_channels)
        self.filter = filter
        self.name = name
        self._last_finite = np.zeros(self.n_channels, dtype=np.float64)

    def process(self, samples: np.ndarray) -> tuple[np.ndarray, int]:
        """The conditioned chunk and its number of non-finite rows.

        The chunk is a new float64 array, except without a filter and with nothing to hold:
        then it is ``samples`` itself (as float64), so pass an array you own.
        """
        samples = np.asarray(samples, dtype=np.float64)
        n = samples.shape[0]
        if n == 0:
            return samples.reshape(0, self.n_channels).copy(), 0
        bad = ~np.isfinite(samples).all(axis=1)
        n_bad = int(np.count_nonzero(bad))
        if n_bad:
            samples = hold_last_finite(samples, bad, self._last_finite)
        self._last_finite = samples[-1].copy()
        if self.filter is not None:
            samples = np.asarray(self.filter.process(samples), dtype=np.float64)
            if samples.shape != (n, self.n_channels):
                raise ValueError(
                    f"filter of {self.name!r} returned shape {samples.shape}, "
                    f"expected {(n, self.n_channels)}"
                )
        if n_bad:
            samples[bad] = np.nan
        return samples, n_bad
