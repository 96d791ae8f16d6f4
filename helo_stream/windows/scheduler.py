"""Cut aligned windows across streams of different rates on the LSL clock.

Window ends are ``t0 + k * step`` (never accumulated, so no float drift), with ``t0`` the first
moment every required stream has a full window behind it. A window is emitted once every required
stream that is still delivering (``ok``) has all its samples up to the end: a sample within half
a sampling period of the end (or past it). Ends fall on the sample grid of streams that started
together, and clock synchronisation moves a stamp by microseconds either way; waiting for a
stamp strictly at or past the end would then wait a whole period (250 ms at 4 Hz) for the next
sample on about half of the windows. Stale and missing streams are not waited for, so one
silent wristband never stalls the others.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Protocol

import numpy as np
import pylsl

from helo_stream.sources.health import StreamState
from helo_stream.windows.window import Window

__all__ = ["SupportsWindowing", "WindowScheduler"]


class _Buffer(Protocol):
    @property
    def first_timestamp(self) -> float | None: ...

    @property
    def latest_timestamp(self) -> float | None: ...

    def window(self, t_start: float, t_end: float) -> tuple[np.ndarray, np.ndarray]: ...


class _Health(Protocol):
    @property
    def state(self) -> StreamState: ...


class SupportsWindowing(Protocol):
    """What the scheduler needs of a source (an :class:`~helo_stream.sources.LSLSource`).

    A source may also offer ``receive_time_local(t_lsl) -> float | None`` for precise
    latency (without it, the time of :meth:`WindowScheduler.poll` is used) and a ``state``
    attribute equal to ``health.state`` that is cheaper to read on every poll.
    """

    @property
    def buffer(self) -> _Buffer: ...

    @property
    def health(self) -> _Health: ...


#: Window ends are sums of floats: a sample stamped at exactly the end must count as reaching it.
TIME_EPS_S = 1e-9


class WindowScheduler:
    """Emit every complete window ``(t - length_s, t]``, in order.

    Parameters
    ----------
    sources : mapping
        Modality -> source; every source's data and status go into each window.
    length_s : float
        Window length L in seconds.
    step_s : float
        Distance between consecutive window ends in seconds (LSL clock).
    required : collection of str
        Modalities whose streams are waited for while they are ``ok``; the first window end is
        ``max(first timestamp of these streams) + length_s``.
    cut_data : bool
        Copy each window's samples into :attr:`Window.data`. A consumer that keeps its own
        running state (the live pipeline) turns this off and reads only the bounds and states.

    Notes
    -----
    :meth:`poll` does not pull the sources; pull them first (one loop, one thread). If every
    required stream is stale or missing no window is produced; when one comes back, the
    windows that ended during the outage are skipped (counted in :attr:`n_skipped`) instead of
    being emitted in a burst of near-empty windows, and ``seq`` continues without a gap.
    """

    def __init__(
        self,
        *,
        sources: Mapping[str, SupportsWindowing],
        length_s: float,
        step_s: float,
        required: Collection[str],
        cut_data: bool = True,
    ) -> None:
        if length_s <= 0 or step_s <= 0:
            raise ValueError(f"length_s and step_s must be positive, got {length_s}, {step_s}")
        required = list(dict.fromkeys(required))
        unknown = [name for name in required if name not in sources]
        if unknown:
            raise ValueError(f"required modalities {unknown} have no source; have {list(sources)}")
        if not required:
            raise ValueError("at least one modality must be required to pace the windows")
        self._sources = dict(sources)
        # Half a sampling period per stream (0 for irregular streams): see the module docstring.
        self._margin_s = {name: _half_period(src) for name, src in self._sources.items()}
        self.length_s = float(length_s)
        self.step_s = float(step_s)
        self.required: tuple[str, ...] = tuple(required)
        self.cut_data = bool(cut_data)
        self._t0_lsl: float | None = None
        self._k = 0  # index of the next window end: t0 + k * step
        self._seq = 0
        self._in_outage = False
        self.n_skipped = 0

    @property
    def first_end_lsl(self) -> float | None:
        """End of the first window (LSL seconds), None until it is known."""
        return self._t0_lsl

    @property
    def next_end_lsl(self) -> float | None:
        """End of the next window to be emitted, None until the first is known."""
        return None if self._t0_lsl is None else self._end(self._k)

    @property
    def n_emitted(self) -> int:
        return self._seq

    def _end(self, k: int) -> float:
        assert self._t0_lsl is not None
        return self._t0_lsl + k * self.step_s

    def _establish_t0(self, states: Mapping[str, StreamState]) -> bool:
        """Fix the first window end once every delivering required stream has data."""
        firsts: list[float] = []
        for name in self.required:
            first = self._sources[name].buffer.first_timestamp
            if first is not None:
                firsts.append(first)
            elif states[name] == "ok":
                return False  # still expected to start: wait for it (until it goes stale)
        if not firsts:
            return False
        self._t0_lsl = max(firsts) + self.length_s
        return True

    def poll(self) -> list[Window]:
        """Every window that is complete now and was not returned before, oldest first."""
        states = {name: _state_of(src) for name, src in self._sources.items()}
        delivering = [name for name in self.required if states[name] == "ok"]
        if not delivering:
            self._in_outage = self._t0_lsl is not None
            return []
        if self._t0_lsl is None and not self._establish_t0(states):
            return []
        latest = {name: self._sources[name].buffer.latest_timestamp for name in delivering}
        if any(t is None for t in latest.values()):
            return []
        horizon = min(t + self._margin_s[name] for name, t in latest.items() if t is not None)
        if self._in_outage:
            self._in_outage = False
            self._skip_to(horizon)
        windows: list[Window] = []
        while True:
            end = self._end(self._k)
            if end > horizon + TIME_EPS_S:
                break
            windows.append(self._cut(end, states, delivering))
            self._k += 1
        return windows

    def waiting_for(self) -> dict[str, float | None] | None:
        """What the next window is short of: modality -> LSL time its stream must reach.

        The value is None for a stream that has sent nothing yet. An empty dict means a window
        is complete now (:meth:`poll` returns it); None means no required stream is delivering,
        so there is nothing to wait for but their health. The loop sleeps on this instead of
        polling.
        """
        delivering = [name for name in self.required if _state_of(self._sources[name]) == "ok"]
        if not delivering:
            return None
        latest = {name: self._sources[name].buffer.latest_timestamp for name in delivering}
        if self._t0_lsl is None:
            return {name: None for name, t in latest.items() if t is None}
        end = self._end(self._k)
        short: dict[str, float | None] = {}
        for name, t in latest.items():
            due = end - self._margin_s[name]
            if t is None or t < due - TIME_EPS_S:
                short[name] = None if t is None else due
        return short

    def _skip_to(self, horizon_lsl: float) -> None:
        """After a total outage, resume at the first window ending at or after ``horizon``."""
        assert self._t0_lsl is not None
        k = max(self._k, math.ceil((horizon_lsl - self._t0_lsl) / self.step_s - 1e-9))
        self.n_skipped += k - self._k
        self._k = k

    def _cut(
        self, end_lsl: float, states: Mapping[str, StreamState], delivering: list[str]
    ) -> Window:
        start_lsl = end_lsl - self.length_s
        data = (
            {name: src.buffer.window(start_lsl, end_lsl) for name, src in self._sources.items()}
            if self.cut_data
            else {}
        )
        completed: list[float] = []
        for name in delivering:
            receive = getattr(self._sources[name], "receive_time_local", None)
            when = receive(end_lsl - self._margin_s[name]) if receive is not None else None
            if when is not None:
                completed.append(when)
        window = Window(
            seq=self._seq,
            start_lsl=start_lsl,
            end_lsl=end_lsl,
            data=data,
            status=dict(states),
            completed_local=max(completed) if completed else pylsl.local_clock(),
        )
        self._seq += 1
        return window


def _half_period(source: SupportsWindowing) -> float:
    srate = getattr(source, "srate", 0.0) or 0.0
    return 0.5 / float(srate) if srate > 0 else 0.0


def _state_of(source: SupportsWindowing) -> StreamState:
    state = getattr(source, "state", None)
    return state if state is not None else source.health.state
