"""Offline plots of recorded ``helo-stream`` sessions (``helo-stream plot``)."""

from helo_stream.plots.timeline import (
    Condition,
    Run,
    Session,
    conditions_from_markers,
    plot_timeline,
    read_session,
    split_runs,
)

__all__ = [
    "Condition",
    "Run",
    "Session",
    "conditions_from_markers",
    "plot_timeline",
    "read_session",
    "split_runs",
]
