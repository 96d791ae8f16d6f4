"""A session's emotion-distribution timeline from JSON lines of messages (and markers).

The input is what ``helo-stream listen [--markers] [--out FILE]`` or ``helo-stream run --json``
print: one JSON object per line, either an emotion message (``"schema": "helo-stream/..."``)
or a protocol marker ``{"marker": "stress" | "end:stress", "lsl": t, "subject": ...}``. Window
ends and marker times share the LSL clock, so conditions line up with the windows.
"""

from __future__ import annotations

import colorsys
import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Condition",
    "Run",
    "Session",
    "conditions_from_markers",
    "plot_timeline",
    "read_session",
    "split_runs",
]

#: A gap between windows longer than this many steps breaks the area (no interpolation).
GAP_STEPS = 4
CONDITION_COLORS = {
    "baseline": "#8c8c8c",
    "stress": "#d62728",
    "amusement": "#2ca02c",
    "meditation": "#1f77b4",
}


@dataclass
class Session:
    """Messages and markers read from a JSON-lines file."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    markers: list[dict[str, Any]] = field(default_factory=list)
    n_skipped: int = 0
    #: line numbers of ``messages`` and ``markers`` in the file (to tell runs apart)
    message_lines: list[int] = field(default_factory=list)
    marker_lines: list[int] = field(default_factory=list)


@dataclass
class Run:
    """One pipeline run for one subject: its messages (``seq`` rising) and its markers."""

    pipeline: str
    subject: str
    messages: list[dict[str, Any]]
    markers: list[dict[str, Any]]
    first_line: int
    last_line: int


@dataclass(frozen=True)
class Condition:
    """One protocol condition on the LSL clock."""

    name: str
    start: float
    end: float


def read_session(path: Path, *, progress: bool = True) -> Session:
    """Read messages and markers; lines that are neither (log lines, blanks) are counted."""
    from tqdm import tqdm

    session = Session()
    size = path.stat().st_size
    with (
        path.open(encoding="utf-8") as handle,
        tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            desc=f"reading {path.name}",
            disable=None if progress else True,
            leave=False,
        ) as bar,
    ):
        for number, line in enumerate(handle):
            bar.update(len(line.encode("utf-8")))
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                session.n_skipped += 1
                continue
            if not isinstance(record, dict):
                session.n_skipped += 1
            elif "marker" in record and isinstance(record.get("lsl"), (int, float)):
                session.markers.append(record)
                session.marker_lines.append(number)
            elif "distribution" in record and "labels" in record and "window" in record:
                session.messages.append(record)
                session.message_lines.append(number)
            else:
                session.n_skipped += 1
    return session


def conditions_from_markers(
    markers: Iterable[dict[str, Any]], *, until: float | None = None
) -> list[Condition]:
    """Pair ``<condition>`` / ``end:<condition>`` markers into intervals.

    A condition still open at the end (the recording stopped first) ends at ``until``.
    """
    open_at: dict[str, float] = {}
    found: list[Condition] = []
    for marker in sorted(markers, key=lambda m: float(m["lsl"])):
        text, t = str(marker["marker"]), float(marker["lsl"])
        if text.startswith("end:"):
            name = text[4:]
            if name in open_at:
                found.append(Condition(name, open_at.pop(name), t))
        else:
            open_at.setdefault(text, t)
    if until is not None:
        found += [Condition(name, t, until) for name, t in open_at.items() if until > t]
    return sorted(found, key=lambda c: c.start)


def split_runs(session: Session) -> list[Run]:
    """Messages per (pipeline, subject) and run, with the markers that belong to each run.

    ``--out`` appends, so a file may hold several runs of one subject; a run starts where
    ``seq`` does not increase. At speeds above 1x the LSL times of consecutive replays
    overlap, so markers are assigned by their place in the file: inside a run's lines to that
    run; between runs, ``end:`` markers to the run before and condition starts to the next.
    """
    runs: list[Run] = []
    current: dict[tuple[str, str], Run] = {}
    for line, msg in zip(session.message_lines, session.messages, strict=True):
        key = (str(msg.get("pipeline")), str(msg.get("subject")))
        run = current.get(key)
        seq = msg.get("seq")
        last_seq = run.messages[-1].get("seq") if run is not None else None
        if run is None or (isinstance(seq, int) and isinstance(last_seq, int) and seq <= last_seq):
            run = Run(key[0], key[1], [], [], line, line)
            current[key] = run
            runs.append(run)
        run.messages.append(msg)
        run.last_line = line
    for line, marker in zip(session.marker_lines, session.markers, strict=True):
        candidates = [r for r in runs if marker.get("subject") in (None, "", r.subject)]
        inside = [r for r in candidates if r.first_line < line < r.last_line]
        before = [r for r in candidates if r.last_line < line]
        after = [r for r in candidates if r.first_line > line]
        if inside:
            target = inside[-1]
        elif str(marker["marker"]).startswith("end:"):
            target = before[-1] if before else (after[0] if after else None)
        else:
            target = after[0] if after else (before[-1] if before else None)
        if target is not None:
            target.markers.append(marker)
    return runs


def label_color(index: int) -> str:
    """The dashboard's colours: golden-angle hues, alternating lightness."""
    hue = (index * 137.508) % 360 / 360
    lightness = 0.58 if index % 2 else 0.48
    r, g, b = colorsys.hls_to_rgb(hue, lightness, 0.62)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def _segments(t: np.ndarray, step: float) -> list[slice]:
    """Index ranges without gaps longer than ``GAP_STEPS`` steps."""
    if len(t) == 0:
        return []
    breaks = np.flatnonzero(np.diff(t) > GAP_STEPS * step) + 1
    edges = [0, *breaks.tolist(), len(t)]
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


def plot_timeline(
    session: Session,
    *,
    out: Path,
    subject: str | None = None,
    title: str | None = None,
    run: int = -1,
    dpi: int = 120,
) -> dict[str, Any]:
    """Draw one panel per (pipeline, subject): stacked distribution, top emotion, conditions.

    ``run`` picks which run of each subject to draw when the file holds several (Python
    indexing: -1 the last, 0 the first). Returns a summary (subjects drawn, messages, runs,
    conditions) for the caller to report.
    """
    all_runs = [r for r in split_runs(session) if subject is None or r.subject == subject]
    chosen: dict[tuple[str, str], Run] = {}
    n_runs: dict[tuple[str, str], int] = {}
    for key in dict.fromkeys((r.pipeline, r.subject) for r in all_runs):
        mine = [r for r in all_runs if (r.pipeline, r.subject) == key]
        n_runs[key] = len(mine)
        if -len(mine) <= run < len(mine):
            chosen[key] = mine[run]
    messages = [m for r in chosen.values() for m in r.messages]
    if not messages:
        raise ValueError(
            "no emotion messages to plot" + (f" for subject {subject!r}" if subject else "")
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {key: r.messages for key, r in chosen.items()}
    t0 = min(float(m["window"]["end"]) for m in messages)

    fig = plt.figure(figsize=(13, 1.0 + 3.6 * len(groups)), dpi=dpi)
    grid = fig.add_gridspec(3 * len(groups), 1, height_ratios=[1, 1, 7] * len(groups), hspace=0.12)
    summary: dict[str, Any] = {
        "subjects": [],
        "messages": len(messages),
        "conditions": [],
        "runs": n_runs,
    }
    main_ax = None
    for row, ((pipeline, name), msgs) in enumerate(sorted(groups.items())):
        msgs.sort(key=lambda m: float(m["window"]["end"]))
        labels = list(msgs[-1]["labels"])
        msgs = [m for m in msgs if list(m["labels"]) == labels]
        t = np.array([float(m["window"]["end"]) for m in msgs]) - t0
        dist = np.array([m["distribution"] for m in msgs], dtype=float).T  # labels x time
        step = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
        colors = [label_color(i) for i in range(len(labels))]

        top_ax = fig.add_subplot(grid[3 * row], sharex=main_ax)
        cond_ax = fig.add_subplot(grid[3 * row + 1], sharex=top_ax)
        main_ax = fig.add_subplot(grid[3 * row + 2], sharex=top_ax)
        for part in _segments(t, step):
            main_ax.stackplot(t[part], dist[:, part], colors=colors, linewidth=0)
        main_ax.set_ylim(0, 1)
        main_ax.set_ylabel("probability")
        main_ax.set_xlim(t[0] - step / 2, t[-1] + step / 2)

        # the top emotion as coloured runs, named where a run is long enough to read
        top_idx = np.argmax(dist, axis=0)
        run_edges = [0, *(np.flatnonzero(np.diff(top_idx)) + 1).tolist(), len(t)]
        span = max(t[-1] - t[0], step)
        for a, b in itertools.pairwise(run_edges):
            x0, x1 = t[a] - step / 2, t[b - 1] + step / 2
            top_ax.axvspan(x0, x1, color=colors[top_idx[a]], linewidth=0)
            if (x1 - x0) / span > 0.06:
                top_ax.text(
                    (x0 + x1) / 2,
                    0.5,
                    labels[top_idx[a]],
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white",
                    fontweight="bold",
                )
        top_ax.set_title(f"{name} · {pipeline} ({len(msgs)} windows)", loc="left", fontsize=10)
        top_ax.set_yticks([])
        top_ax.set_ylabel("top", rotation=0, ha="right", va="center")
        top_ax.tick_params(labelbottom=False)
        cond_ax.set_yticks([])
        cond_ax.set_ylabel("protocol", rotation=0, ha="right", va="center")
        cond_ax.tick_params(labelbottom=False)

        marks = chosen[(pipeline, name)].markers
        conditions = conditions_from_markers(marks, until=float(msgs[-1]["window"]["end"]))
        # protocol conditions: a strip of their own, and light shading over the areas
        for cond in conditions:
            x0, x1 = cond.start - t0, cond.end - t0
            color = CONDITION_COLORS.get(cond.name, "#9467bd")
            cond_ax.axvspan(x0, x1, color=color, alpha=0.85, linewidth=0)
            mid = (max(x0, t[0]) + min(x1, t[-1])) / 2
            cond_ax.text(
                mid,
                0.5,
                cond.name,
                ha="center",
                va="center",
                fontsize=8,
                color="white",
                fontweight="bold",
                clip_on=True,
            )
            main_ax.axvspan(x0, x1, color=color, alpha=0.22, linewidth=0, zorder=3)
            for edge in (x0, x1):
                main_ax.axvline(edge, color=color, linewidth=1.2, linestyle="--", zorder=4)
            summary["conditions"].append(
                {"subject": name, "condition": cond.name, "start": cond.start, "end": cond.end}
            )
        summary["subjects"].append(name)
        if row == 0:
            handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors]
            main_ax.legend(
                handles,
                labels,
                loc="upper left",
                bbox_to_anchor=(1.005, 1.0),
                fontsize=7.5,
                ncol=1 if len(labels) <= 12 else 2,
                frameon=False,
            )
    assert main_ax is not None
    main_ax.set_xlabel("seconds since the first window end (LSL clock)")
    fig.suptitle(
        title or "helo-stream session: emotion distribution over time",
        x=0.02,
        ha="left",
        fontsize=12,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return summary
