"""Record a live session as it happens: every published message and every raw input sample.

Layout of a record directory::

    messages.jsonl          one published message per line, in publishing order
    streams/<modality>.csv  header ``timestamp_lsl,<channel labels>``, one raw sample per line
    session.json            pipeline, subject, streams (written once at open)

Files are only ever appended to and flushed to the operating system at least every
``flush_s`` seconds (messages: each one), so a ``kill -9`` of the process loses at most the
last second; a crash of the machine itself is not covered (no fsync, which would cost far more
than the data). A reader skips a last line that was cut mid-write:
:func:`read_messages` and :func:`read_stream` parse up to the last complete record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["SessionRecorder", "read_messages", "read_stream"]

#: Longest time raw samples may sit in a write buffer before they are flushed, seconds.
FLUSH_S = 0.5


class SessionRecorder:
    """Append-only recording of a run (see the module docstring for the layout).

    Parameters
    ----------
    directory : path
        Created if needed; existing files of the same names are appended to.
    flush_s : float
        Upper bound on how long raw samples stay in memory before reaching the OS.
    clock_wall : callable
        Monotonic clock for the flush schedule.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        flush_s: float = FLUSH_S,
        clock_wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = Path(directory)
        (self.directory / "streams").mkdir(parents=True, exist_ok=True)
        self.flush_s = float(flush_s)
        self._clock_wall = clock_wall
        self._messages: IO[str] | None = open(  # noqa: SIM115 - lives as long as the recorder
            self.directory / "messages.jsonl", "a", encoding="utf-8"
        )
        self._streams: dict[str, IO[str]] = {}
        self._last_flush_wall = clock_wall()
        self.n_messages = 0
        self.n_samples: dict[str, int] = {}

    def open_stream(self, modality: str, *, channel_labels: Sequence[str]) -> None:
        """Start (or continue) ``streams/<modality>.csv``."""
        path = self.directory / "streams" / f"{modality}.csv"
        new = not path.exists() or path.stat().st_size == 0
        handle = open(path, "a", encoding="utf-8")  # noqa: SIM115
        if new:
            handle.write(",".join(["timestamp_lsl", *channel_labels]) + "\n")
            handle.flush()
        self._streams[modality] = handle
        self.n_samples.setdefault(modality, 0)

    def write_session(self, info: Mapping[str, Any]) -> None:
        (self.directory / "session.json").write_text(json.dumps(dict(info), indent=2) + "\n")

    def samples(self, modality: str, samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        """Append raw samples (n, ch) with their LSL timestamps (n,)."""
        handle = self._streams.get(modality)
        if handle is None or timestamps_lsl.shape[0] == 0:
            return
        table = np.column_stack((timestamps_lsl, samples))
        lines = "\n".join(",".join(f"{v:.17g}" for v in row) for row in table.tolist())
        handle.write(lines + "\n")
        self.n_samples[modality] += int(timestamps_lsl.shape[0])
        self.maybe_flush()

    def message(self, message: Mapping[str, Any]) -> None:
        """Append one published message and flush it at once (they come a few per second)."""
        if self._messages is None:
            return
        self._messages.write(json.dumps(message, allow_nan=False) + "\n")
        self._messages.flush()
        self.n_messages += 1

    def maybe_flush(self) -> None:
        """Flush the raw streams when the last flush is ``flush_s`` old (cheap to call often)."""
        now = self._clock_wall()
        if now - self._last_flush_wall >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        for handle in self._streams.values():
            handle.flush()
        if self._messages is not None:
            self._messages.flush()
        self._last_flush_wall = self._clock_wall()

    def close(self) -> None:
        """Flush and close every file; safe to call twice."""
        for handle in self._streams.values():
            handle.close()
        self._streams.clear()
        if self._messages is not None:
            self._messages.close()
            self._messages = None

    def __enter__(self) -> SessionRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _complete_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    return lines[:-1]  # the part after the last newline is empty or cut mid-write


def read_messages(directory: str | Path) -> list[dict[str, Any]]:
    """Every completely written message of a record directory, in order."""
    return [json.loads(line) for line in _complete_lines(Path(directory) / "messages.jsonl")]


def read_stream(directory: str | Path, modality: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Channel labels, samples (n, ch) and LSL timestamps (n,) of a recorded raw stream."""
    lines = _complete_lines(Path(directory) / "streams" / f"{modality}.csv")
    header = lines[0].split(",")
    if len(lines) == 1:
        return header[1:], np.empty((0, len(header) - 1)), np.empty(0)
    table = np.array([[float(v) for v in line.split(",")] for line in lines[1:]], dtype=np.float64)
    return header[1:], table[:, 1:], table[:, 0]
