"""The live terminal view of ``helo-stream listen --pretty``: bars per subject, drawn with rich.

:class:`TerminalView` is handed to :class:`rich.live.Live` once; rich re-renders it at its own
refresh rate, so a pipeline publishing at 100 Hz costs the terminal no more than that rate.
Messages arrive from the listening loop (and protocol markers from their thread), hence the lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

__all__ = ["TerminalView", "render_live"]

_STATE_STYLE = {"ok": "green", "stale": "yellow", "missing": "red"}
_BAR_WIDTH = 24
#: Above this many labels the bars are laid out in two columns.
_ONE_COLUMN_MAX = 12
_RATE_WINDOW_S = 5.0


def top_labels(message: Mapping[str, Any], k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` most probable labels of a message, for compact printing."""
    p = np.asarray(message["distribution"])
    order = np.argsort(p)[::-1][:k]
    return [(message["labels"][i], float(p[i])) for i in order]


def _bar(p: float, width: int = _BAR_WIDTH) -> str:
    filled = max(0.0, min(1.0, p)) * width
    full = int(filled)
    partial = " ▏▎▍▌▋▊▉"[int((filled - full) * 8)] if full < width else ""
    return ("█" * full + partial).ljust(width)


def _bars(msg: Mapping[str, Any], top: int | None) -> Table:
    """Labelled bars: the ``top`` largest sorted, or every label in the pipeline's order.

    A multi-label message (with ``scores``) draws each label's presence probability on a fixed
    0-1 scale, the labels in ``present`` marked with a check, since there the absolute value
    against the threshold is what matters, not the share of a distribution.
    """
    multilabel = "scores" in msg
    values = msg["scores"] if multilabel else msg["distribution"]
    present = set(msg.get("present", ()))
    probs = [(str(label), float(p)) for label, p in zip(msg["labels"], values, strict=False)]
    if top is not None:
        probs = sorted(probs, key=lambda lp: lp[1], reverse=True)[:top]
    # all labels: scale bars to the largest probability so that small differences show
    scale = (
        1.0 if top is not None or multilabel else max(0.1, max((p for _, p in probs), default=1.0))
    )
    columns = 2 if len(probs) > _ONE_COLUMN_MAX else 1
    table = Table.grid(padding=(0, 1))
    for _ in range(columns):
        table.add_column(justify="right", style="bold")
        table.add_column()
        table.add_column(justify="right")
    rows = (len(probs) + columns - 1) // columns
    for r in range(rows):
        cells: list[Any] = []
        for c in range(columns):
            i = c * rows + r
            if i >= len(probs):
                cells += ["", "", ""]
                continue
            label, p = probs[i]
            if multilabel:
                style = "green" if label in present else "blue"
                mark = " ✓" if label in present else "  "
                cells += [label, Text(_bar(p / scale), style=style), f"{p:6.1%}{mark}"]
                continue
            style = "cyan" if label == msg.get("top") else "blue"
            cells += [label, Text(_bar(p / scale), style=style), f"{p:6.1%}"]
        table.add_row(*cells)
    return table


def _panel(
    msg: Mapping[str, Any],
    *,
    top: int | None,
    rate_hz: float | None = None,
    silent_s: float | None = None,
    offline_after_s: float | None = None,
    condition: str | None = None,
) -> Panel:
    offline = silent_s is not None and offline_after_s is not None and silent_s > offline_after_s
    health = Text()
    for name, state in msg.get("modalities", {}).items():
        shown = "missing" if offline else state
        health.append(f"{name}:{shown} ", style=_STATE_STYLE.get(shown, "white"))
    latency = msg.get("latency_ms", {}).get("window_to_publish")
    latency_text = f"{latency:.1f} ms" if isinstance(latency, (int, float)) else "n/a"
    parts = [f"seq {msg.get('seq')}", f"latency {latency_text}"]
    if rate_hz is not None:
        parts.append(f"{rate_hz:.1f} msg/s")
    parts.append(f"window end {msg.get('window', {}).get('end', float('nan')):.2f}")
    if condition:
        parts.append(f"condition {condition}")
    footer = Text("  ".join(parts), style="dim")
    status = f" · [red]offline: no message for {silent_s:.0f} s[/]" if offline else ""
    if "scores" in msg:
        present = ", ".join(msg.get("present", ())) or "none"
        threshold = msg.get("threshold")
        at = f" (≥ {threshold:.0%})" if isinstance(threshold, (int, float)) else ""
        summary = f"present{at}: [green]{present}[/]"
    else:
        summary = f"top: [cyan]{msg.get('top', '?')}[/]"
    title = (
        f"[bold]{msg.get('subject') or '(no subject)'}[/] · {msg.get('pipeline', '?')} · "
        f"{summary}{status}"
    )
    return Panel(
        Group(_bars(msg, top), health, footer),
        title=title,
        title_align="left",
        border_style="red" if offline else "white",
    )


def render_live(
    latest: Mapping[str, Mapping[str, Any]], *, received: int = 0, top: int | None = 5
) -> RenderableType:
    """The newest message of each subject (keyed by subject) as panels of bars.

    ``top=None`` draws every label in the pipeline's order (rows that do not jump around).
    """
    if not latest:
        return Text("waiting for messages ...", style="dim")
    panels: list[RenderableType] = [_panel(latest[s], top=top) for s in sorted(latest)]
    panels.append(Text(f"{received} message(s) received — Ctrl-C to quit", style="dim"))
    return Group(*panels)


class TerminalView:
    """Live state for ``listen --pretty``: newest message, rate and condition per subject.

    Parameters
    ----------
    top : int | None
        Show only the ``top`` most probable labels, or all of them (None).
    offline_after_s : float
        A subject silent this long is flagged offline and its modalities shown missing (a
        pipeline whose streams all stopped publishes nothing, so silence is what is seen).
    clock : callable
        Monotonic seconds.
    """

    def __init__(
        self,
        *,
        top: int | None = None,
        offline_after_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.top = top
        self.offline_after_s = offline_after_s
        self.clock = clock
        self.received = 0
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str], dict[str, Any]] = {}
        self._arrivals: dict[tuple[str, str], deque[float]] = {}
        self._conditions: dict[str, str | None] = {}

    def add(self, message: dict[str, Any]) -> None:
        key = (str(message.get("pipeline", "")), str(message.get("subject", "")))
        now = self.clock()
        with self._lock:
            self.received += 1
            self._latest[key] = message
            arrivals = self._arrivals.setdefault(key, deque())
            arrivals.append(now)
            while arrivals and arrivals[0] < now - _RATE_WINDOW_S:
                arrivals.popleft()

    def add_marker(self, *, subject: str, marker: str) -> None:
        """A protocol marker: ``"<condition>"`` starts it, ``"end:<condition>"`` ends it."""
        with self._lock:
            self._conditions[subject] = None if marker.startswith("end:") else marker

    def __rich__(self) -> RenderableType:
        now = self.clock()
        with self._lock:
            if not self._latest:
                return Text("waiting for messages ...", style="dim")
            panels: list[RenderableType] = []
            for key in sorted(self._latest):
                arrivals = self._arrivals[key]
                recent = [t for t in arrivals if t >= now - _RATE_WINDOW_S]
                span = min(_RATE_WINDOW_S, max(now - arrivals[0], 1e-3)) if arrivals else 1.0
                panels.append(
                    _panel(
                        self._latest[key],
                        top=self.top,
                        rate_hz=len(recent) / span if len(recent) > 1 else 0.0,
                        silent_s=now - arrivals[-1] if arrivals else None,
                        offline_after_s=self.offline_after_s,
                        condition=self._conditions.get(key[1]),
                    )
                )
            received = self.received
        panels.append(Text(f"{received} message(s) received — Ctrl-C to quit", style="dim"))
        return Group(*panels)
