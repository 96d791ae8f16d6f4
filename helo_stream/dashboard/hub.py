"""What the dashboard knows: per (address, pipeline, subject), the newest message and its history.

The hub is plain Python (no web framework) so that the throttling and offline logic is the same
whatever serves it. Subscriber threads call :meth:`Hub.ingest` for every message; the web
server calls :meth:`Hub.flush` a few times a second and sends what it returns, so a pipeline
publishing at 100 Hz costs the browser no more than ``1 / flush period`` updates per subject.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Hub", "SubjectState"]

#: Seconds of arrivals the message rate is averaged over.
RATE_WINDOW_S = 5.0
#: Seconds between two status-only updates of a subject that received nothing new.
STATUS_EVERY_S = 1.0


@dataclass
class SubjectState:
    """One subject of one pipeline on one publisher address."""

    key: str
    address: str
    pipeline: str
    subject: str
    labels: list[str]
    first_seen: float
    latest: dict[str, Any] | None = None
    last_wall: float = 0.0
    history_t: deque[float] = field(default_factory=deque)
    history_d: deque[list[float]] = field(default_factory=deque)
    arrivals: deque[float] = field(default_factory=deque)
    n_received: int = 0
    n_missed: int = 0
    n_restarts: int = 0
    transport_ms: float | None = None
    new_points: list[tuple[float, list[float]]] = field(default_factory=list)
    dirty: bool = False
    last_status_push: float = 0.0
    last_status: str = "live"


class Hub:
    """Collects messages from any number of subscribers and hands out throttled updates.

    Parameters
    ----------
    offline_after_s : float
        A subject that published nothing for this long is shown offline and its modalities as
        missing: when every stream of a pipeline stops, the pipeline emits no windows at all,
        so silence is the only thing a subscriber can observe.
    history_s : float
        Seconds of history kept for the stacked-area chart.
    history_step_s : float
        At most one history point per this many seconds per subject (bounds memory and the
        snapshot a new browser receives).
    clock : callable
        Wall clock in seconds (``time.time``); a parameter so replays of the past stay testable.
    """

    def __init__(
        self,
        *,
        offline_after_s: float = 5.0,
        history_s: float = 300.0,
        history_step_s: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.offline_after_s = float(offline_after_s)
        self.history_s = float(history_s)
        self.history_step_s = float(history_step_s)
        self.clock = clock
        self._lock = threading.Lock()
        self._subjects: dict[str, SubjectState] = {}

    # -- input ----------------------------------------------------------------------------

    def ingest(self, message: dict[str, Any], *, address: str) -> None:
        """Take one decoded message (from a subscriber thread)."""
        labels = message.get("labels")
        distribution = message.get("distribution")
        if not isinstance(labels, list) or not isinstance(distribution, list):
            return
        if len(labels) != len(distribution):
            return
        now = self.clock()
        pipeline = str(message.get("pipeline", "?"))
        subject = str(message.get("subject", ""))
        key = f"{address}|{pipeline}|{subject}"
        with self._lock:
            state = self._subjects.get(key)
            if state is None or state.labels != labels:
                # new subject, or its pipeline restarted with other labels: start afresh
                state = SubjectState(key, address, pipeline, subject, list(labels), now)
                self._subjects[key] = state
            seq = message.get("seq")
            last_seq = None if state.latest is None else state.latest.get("seq")
            if isinstance(seq, int) and isinstance(last_seq, int):
                if seq == last_seq:
                    return  # the publisher re-sent its latest message to a reconnecting socket
                if seq < last_seq:
                    state.n_restarts += 1  # the publisher started again from 0
                elif seq > last_seq + 1:
                    state.n_missed += seq - last_seq - 1
            state.latest = message
            state.last_wall = now
            state.n_received += 1
            state.arrivals.append(now)
            while state.arrivals and state.arrivals[0] < now - RATE_WINDOW_S:
                state.arrivals.popleft()
            published = message.get("published_unix")
            if isinstance(published, (int, float)):
                state.transport_ms = max(0.0, (now - published) * 1000.0)
            if not state.history_t or now - state.history_t[-1] >= self.history_step_s:
                point = [round(float(p), 5) for p in distribution]
                state.history_t.append(now)
                state.history_d.append(point)
                state.new_points.append((now, point))
                while state.history_t and state.history_t[0] < now - self.history_s:
                    state.history_t.popleft()
                    state.history_d.popleft()
            state.dirty = True

    # -- output ---------------------------------------------------------------------------

    def _status(self, state: SubjectState, now: float) -> str:
        return "offline" if now - state.last_wall > self.offline_after_s else "live"

    def _rate(self, state: SubjectState, now: float) -> float:
        recent = [t for t in state.arrivals if t >= now - RATE_WINDOW_S]
        span = min(RATE_WINDOW_S, max(now - state.first_seen, 1e-3))
        return len(recent) / span if len(recent) > 1 else 0.0

    def _summary(self, state: SubjectState, now: float) -> dict[str, Any]:
        status = self._status(state, now)
        latest = state.latest or {}
        reported = dict(latest.get("modalities", {}))
        health = {name: "missing" for name in reported} if status == "offline" else reported
        return {
            "key": state.key,
            "address": state.address,
            "pipeline": state.pipeline,
            "subject": state.subject,
            "status": status,
            "age_s": round(now - state.last_wall, 2),
            "rate_hz": round(self._rate(state, now), 2),
            "n_received": state.n_received,
            "n_missed": state.n_missed,
            "n_restarts": state.n_restarts,
            "health": health,
            "reported": reported,
            "transport_ms": None if state.transport_ms is None else round(state.transport_ms, 2),
        }

    def _full(self, state: SubjectState, now: float, *, history: bool) -> dict[str, Any]:
        out = self._summary(state, now)
        out["labels"] = state.labels
        out["latest"] = _compact(state.latest)
        if history:
            out["history"] = {"t": list(state.history_t), "d": list(state.history_d)}
        else:
            out["points"] = {
                "t": [t for t, _ in state.new_points],
                "d": [d for _, d in state.new_points],
            }
        return out

    def snapshot(self) -> dict[str, Any]:
        """Everything, with history: what a browser gets when it (re)connects."""
        now = self.clock()
        with self._lock:
            subjects = [self._full(s, now, history=True) for s in self._subjects.values()]
        return {"type": "snapshot", "now": now, "subjects": subjects, **self.settings()}

    def flush(self) -> dict[str, Any] | None:
        """Updates since the last flush (None when there is nothing to say).

        A subject with new messages sends its newest one plus the new history points; an idle
        one sends its status once a second, so the page sees it go offline.
        """
        now = self.clock()
        updates = []
        with self._lock:
            for state in self._subjects.values():
                status = self._status(state, now)
                if state.dirty:
                    updates.append(self._full(state, now, history=False))
                elif status != state.last_status or now - state.last_status_push >= STATUS_EVERY_S:
                    updates.append(self._summary(state, now))
                else:
                    continue
                state.dirty = False
                state.new_points = []
                state.last_status = status
                state.last_status_push = now
        if not updates:
            return None
        return {"type": "update", "now": now, "subjects": updates}

    def settings(self) -> dict[str, Any]:
        return {"offline_after_s": self.offline_after_s, "history_s": self.history_s}

    def subjects(self) -> list[str]:
        with self._lock:
            return list(self._subjects)


def _compact(message: dict[str, Any] | None) -> dict[str, Any] | None:
    """The fields the page shows (labels travel once per subject, not with every update)."""
    if message is None:
        return None
    latency = message.get("latency_ms", {})
    out = {
        "seq": message.get("seq"),
        "window": message.get("window"),
        "published_unix": message.get("published_unix"),
        "distribution": [
            round(float(p), 5) if math.isfinite(float(p)) else 0.0
            for p in message.get("distribution", [])
        ],
        "top": message.get("top"),
        "modalities": message.get("modalities", {}),
        "latency_ms": latency if isinstance(latency, dict) else {},
        "model": message.get("model"),
    }
    if "scores" in message:  # a multi-label model: presence scores and the labels present
        out["scores"] = [
            round(float(p), 5) if math.isfinite(float(p)) else 0.0 for p in message["scores"]
        ]
        out["present"] = list(message.get("present", []))
        out["threshold"] = message.get("threshold")
    return out
