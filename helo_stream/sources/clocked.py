"""A recorded stream played on a simulated clock, for the live window scheduler.

The offline path (``helo-stream process``, training, evaluation) places its windows with the
live :class:`~helo_stream.windows.scheduler.WindowScheduler` itself, so the first window, the
half-period margin at each end, the streams waited for and the windows skipped after an outage
are the live ones. The scheduler only reads each source's first and newest timestamp and its
state; :class:`ClockedStream` answers those as a replay at speed 1 with no transport delay
would: at clock ``t`` every sample stamped up to ``t`` has arrived, and the stream's state
follows the silence since its newest sample by the live rule
(:func:`~helo_stream.sources.health.state_after_silence`; before its first sample the silence
counts from ``opened_at``, as live from opening the inlet).

>>> import numpy as np
>>> stream = ClockedStream(np.arange(5.0), srate=1.0, stale_after_s=2.0, missing_after_s=10.0)
>>> stream.advance(2.5)
>>> stream.buffer.latest_timestamp, stream.state
(2.0, 'ok')
>>> stream.advance(7.5)
>>> stream.buffer.latest_timestamp, stream.state
(4.0, 'stale')
"""

from __future__ import annotations

import numpy as np

from helo_stream.sources.health import StreamState, state_after_silence

__all__ = ["ClockedStream"]


class ClockedStream:
    """One recorded stream's timestamps (seconds, increasing) seen at a moving clock.

    Parameters
    ----------
    timestamps
        The stream's sample times on the recording clock.
    srate
        Nominal rate (the scheduler's half-period margin); 0 for an irregular stream.
    stale_after_s, missing_after_s
        The pipeline's thresholds, in seconds of recording clock.
    opened_at
        When the silence of a stream that has sent nothing yet starts counting (the start of
        the recording); its first timestamp by default.
    """

    def __init__(
        self,
        timestamps: np.ndarray,
        *,
        srate: float,
        stale_after_s: float,
        missing_after_s: float,
        opened_at: float | None = None,
    ) -> None:
        self.timestamps = np.asarray(timestamps, dtype=np.float64)
        self.srate = float(srate)
        self.stale_after_s = float(stale_after_s)
        self.missing_after_s = float(missing_after_s)
        first = float(self.timestamps[0]) if len(self.timestamps) else 0.0
        self.opened_at = first if opened_at is None else float(opened_at)
        self.now = -np.inf
        self._n = 0  # samples stamped at or before ``now``

    def advance(self, now: float) -> None:
        """Move the clock to ``now`` (never backwards)."""
        if now < self.now:
            raise ValueError(f"the clock cannot go back from {self.now} to {now}")
        self.now = float(now)
        self._n = int(np.searchsorted(self.timestamps, self.now, side="right"))

    # -- what the scheduler reads (SupportsWindowing) ---------------------------------------
    @property
    def buffer(self) -> ClockedStream:
        return self

    @property
    def health(self) -> ClockedStream:
        return self

    @property
    def first_timestamp(self) -> float | None:
        return float(self.timestamps[0]) if self._n else None

    @property
    def latest_timestamp(self) -> float | None:
        return float(self.timestamps[self._n - 1]) if self._n else None

    @property
    def state(self) -> StreamState:
        since = self.timestamps[self._n - 1] if self._n else self.opened_at
        return state_after_silence(
            self.now - since,
            stale_after_s=self.stale_after_s,
            missing_after_s=self.missing_after_s,
        )

    def window(self, t_start: float, t_end: float) -> tuple[np.ndarray, np.ndarray]:
        """Timestamps in ``(t_start, t_end]`` (the scheduler cuts none with ``cut_data=False``)."""
        lo, hi = np.searchsorted(self.timestamps[: self._n], [t_start, t_end], side="right")
        ts = self.timestamps[lo:hi]
        return np.empty((len(ts), 0)), ts
