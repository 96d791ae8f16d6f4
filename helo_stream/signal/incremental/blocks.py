"""Chunk-by-chunk block averaging for slow signals streamed at high rates."""

from __future__ import annotations

import numpy as np

__all__ = ["BlockAverager"]


class BlockAverager:
    """Average non-overlapping blocks of ``factor`` samples of one channel, across chunks.

    The window extractors of slow signals (skin conductance, respiration) block-average a 700 Hz
    chest stream to 8-25 Hz; streamed, the incomplete block at the end of a chunk is carried to
    the next one, so every sample is averaged exactly once and the output does not depend on how
    the stream was chunked.

    Parameters
    ----------
    factor
        Samples per block (1 passes samples through).
    srate
        Nominal input rate in Hz, to recognise dropped samples.
    dropout_tolerance_s
        A timestamp step longer than the nominal period by more than this means samples were
        dropped; the sample after the hole is treated as missing, so that filters pause and
        detectors restart there rather than joining signal across the hole.

    Notes
    -----
    A block holding a missing (NaN) sample is NaN. A block is stamped with the LSL time of its
    last sample: the moment it became known, which keeps "known at ``end``" well defined for
    everything derived from it.
    """

    def __init__(self, *, factor: int, srate: float, dropout_tolerance_s: float) -> None:
        if factor < 1:
            raise ValueError(f"factor must be at least 1, got {factor}")
        self.factor = int(factor)
        self._max_step_s = 1.0 / srate + dropout_tolerance_s
        self._carry_x = np.empty(0, dtype=np.float64)
        self._carry_t = np.empty(0, dtype=np.float64)
        self._last_t = -np.inf

    def process(self, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block means of the complete blocks so far and their stamps (each may be empty)."""
        # The stream's first sample has no predecessor, hence no hole before it.
        previous = self._last_t if np.isfinite(self._last_t) else t[0]
        steps = np.diff(t, prepend=previous)
        self._last_t = float(t[-1])
        x = np.where(steps > self._max_step_s, np.nan, x)
        if self.factor == 1:
            return x, t
        if self._carry_x.size:
            x = np.concatenate((self._carry_x, x))
            t = np.concatenate((self._carry_t, t))
        n_full = (x.size // self.factor) * self.factor
        self._carry_x, self._carry_t = x[n_full:].copy(), t[n_full:].copy()
        blocks = x[:n_full].reshape(-1, self.factor).mean(axis=1)
        return blocks, t[self.factor - 1 : n_full : self.factor]
