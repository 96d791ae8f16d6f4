"""Replay a recording as fake LSL devices, paced like the real ones.

Each recorded stream gets an outlet that looks exactly like the device's (name, type,
source_id, channels and units from its device profile), so the live pipeline cannot tell a
replay from the wearables. A ``HeLo_Protocol`` marker stream announces the protocol conditions.

Pacing follows a fixed schedule rather than accumulated sleeps, so it never drifts: the sample
recorded at ``t`` is pushed at wall time ``wall0 + (t - t0) / speed`` (at the first tick after
it) and stamped ``lsl0 + (t - t0)``. Timestamps keep the recording's own spacing at any
speed, so sampling rates stay true; with ``loop`` every pass adds the session length.
``lead_s`` shifts that schedule back: the first ``lead_s`` recording seconds go out at once,
stamped in the past, so a pipeline with long windows can publish from its first step.

Every outlet occupies four ports of liblsl's port range (32 by default, so eight outlets per
machine). Consumers that discover streams through ``KnownPeers`` (no multicast) only probe that
range: for a WESAD ``.pkl`` replay (11 outlets), raise ``[ports] PortRange`` in
``lsl_api.cfg``.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from types import TracebackType

import numpy as np
import pylsl

from helo_stream.config.device import CHANNEL_DTYPES
from helo_stream.recordings.base import (
    RecordedStream,
    Recording,
    RecordingError,
    device_profile,
)
from helo_stream.sources.stream_info import profile_stream_info

PROTOCOL_STREAM = "HeLo_Protocol"
#: How long :meth:`RecordingPlayer.wait_for_consumers` gives marker listeners to connect.
MARKER_GRACE_S = 1.5
PROTOCOL_KEY = "protocol"


@dataclass
class PushLog:
    """When one outlet's chunks went out: for latency measurements against the consumer.

    One entry per push: ``pylsl.local_clock()`` right after it returned, and the first and
    last LSL timestamps it carried. Plain lists (cheap to append from the pacing loop);
    :meth:`as_array` gives the ``(n, 3)`` float64 array to analyse.
    """

    clock: list[float]
    first: list[float]
    last: list[float]

    def as_array(self) -> np.ndarray:
        """Columns ``clock, first, last``; ``(0, 3)`` when nothing was pushed."""
        return np.column_stack(
            [np.asarray(self.clock), np.asarray(self.first), np.asarray(self.last)]
        ).reshape(-1, 3)


@dataclass
class _Track:
    """One outlet's worth of samples, relative to the replay start."""

    key: str
    info: pylsl.StreamInfo
    rel: np.ndarray  # float64 seconds since t0, sorted
    data: np.ndarray | list[str]  # outlet dtype, or marker strings
    is_marker: bool
    cursor: int = 0
    cycle: int = 0


def _stream_info(stream: RecordedStream, subject: str) -> pylsl.StreamInfo:
    """The StreamInfo a real device would publish: from its profile, else as recorded."""
    if stream.device is not None:
        return profile_stream_info(device_profile(stream.device), stream.key, subject=subject)
    fmt = stream.channel_format if stream.channel_format in CHANNEL_DTYPES else "double64"
    if stream.is_marker:
        fmt = "string"
    info = pylsl.StreamInfo(
        stream.name,
        stream.type,
        stream.n_channels,
        float(stream.nominal_srate),
        fmt,
        stream.source_id or f"{subject}-{stream.name}",
    )
    desc = info.desc()
    for key in ("manufacturer", "model"):
        if stream.extra.get(key):
            desc.append_child_value(key, str(stream.extra[key]))
    channels = desc.append_child("channels")
    for label, unit in zip(stream.channel_labels, stream.units, strict=True):
        node = channels.append_child("channel")
        node.append_child_value("label", label)
        if unit:
            node.append_child_value("unit", unit)
        node.append_child_value("type", stream.type)
    return info


def _protocol_info(subject: str) -> pylsl.StreamInfo:
    info = pylsl.StreamInfo(
        PROTOCOL_STREAM, "Markers", 1, pylsl.IRREGULAR_RATE, "string", f"{subject}-protocol"
    )
    desc = info.desc()
    desc.append_child_value("manufacturer", "helo-stream")
    desc.append_child_value("model", "recording replay")
    channels = desc.append_child("channels")
    node = channels.append_child("channel")
    node.append_child_value("label", "condition")
    node.append_child_value("type", "Markers")
    return info


class RecordingPlayer:
    """Publishes a :class:`Recording` on LSL in real time (or ``speed`` times faster).

    Use :meth:`run` to play in the calling thread, or :meth:`start` to play in the background;
    :meth:`open` (also on entering the ``with`` block) creates the outlets beforehand so that
    consumers can connect before the first sample, and :meth:`close` destroys them so
    consumers see the streams disappear.

    Parameters
    ----------
    recording
        What to replay.
    speed
        Wall-clock speed-up; timestamps keep the recording's spacing regardless.
    loop
        Start again at the end, timestamps continuing (each pass adds the session length).
    start_s, duration_s
        Replay only ``[recording.start + start_s, + duration_s)``.
    subject
        Subject name in the profile streams' source ids (default: the recording's).
    chunk_s
        Wall-clock push interval: samples due within a tick go out as one chunk.
    lead_s
        Recording seconds pushed at once when playback starts, stamped in the past as if the
        replay had started ``lead_s`` earlier; pacing continues from there. With a lead of
        one window length (plus a little), a pipeline publishes its first window at once
        instead of after a full window of waiting, which benchmarks need.
    log_pushes
        Keep a :class:`PushLog` per outlet (:attr:`push_log`), so a benchmark can tell when
        each sample left the replay.
    """

    def __init__(
        self,
        recording: Recording,
        *,
        speed: float = 1.0,
        loop: bool = False,
        start_s: float = 0.0,
        duration_s: float | None = None,
        subject: str | None = None,
        chunk_s: float = 0.02,
        lead_s: float = 0.0,
        log_pushes: bool = False,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        if not chunk_s > 0:
            raise ValueError(f"chunk_s must be > 0, got {chunk_s}")
        if lead_s < 0:
            raise ValueError(f"lead_s must be >= 0, got {lead_s}")
        if start_s < 0:
            raise ValueError(f"start_s must be >= 0, got {start_s}")
        if duration_s is not None and not duration_s > 0:
            raise ValueError(f"duration_s must be > 0, got {duration_s}")
        self.recording = recording
        self.speed = float(speed)
        self.loop = loop
        self.chunk_s = float(chunk_s)
        self.lead_s = float(lead_s)
        self.log_pushes = log_pushes
        self.subject = subject or recording.subject
        t0 = recording.start + start_s
        t_end = recording.end if duration_s is None else min(recording.end, t0 + duration_s)
        if not t_end > t0:
            raise ValueError(
                f"start {start_s:g} s is past the end of the recording "
                f"({recording.duration_s:.1f} s long)"
            )
        self._t0 = t0
        self._period = t_end - t0
        self._tracks: list[_Track] = []
        for key, stream in recording.streams.items():
            if stream.name == PROTOCOL_STREAM:
                continue  # a recorded protocol stream is re-announced from the conditions
            self._tracks.append(self._make_track(key, stream, t0, t_end))
        self._tracks.append(self._protocol_track(t0, t_end))
        self.push_log: dict[str, PushLog] = (
            {t.key: PushLog([], [], []) for t in self._tracks} if log_pushes else {}
        )
        self._outlets: dict[str, pylsl.StreamOutlet] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()  # set while no thread is inside _play
        self._idle.set()
        self._player_thread: threading.Thread | None = None
        self._lsl0: float | None = None
        self._error: BaseException | None = None

    # -- construction ---------------------------------------------------------------------

    def _make_track(self, key: str, stream: RecordedStream, t0: float, t_end: float) -> _Track:
        ts = stream.timestamps
        if len(ts) > 1 and np.any(np.diff(ts) < 0):
            raise RecordingError(
                f"stream {key!r}: timestamps go back in time; cannot replay it in order",
                path=self.recording.path,
            )
        lo, hi = np.searchsorted(ts, [t0, t_end], side="left")
        info = _stream_info(stream, self.subject)
        rel = ts[lo:hi] - t0
        if stream.is_marker:
            data: np.ndarray | list[str] = [str(v) for v in stream.data[lo:hi, 0]]
            if stream.n_channels != 1:
                data = np.ascontiguousarray(stream.data[lo:hi]).astype(str)
        else:
            dtype = CHANNEL_DTYPES.get(
                stream.channel_format
                if stream.device is None
                else device_profile(stream.device).streams[stream.key].channel_format,
                np.float64,
            )
            data = np.ascontiguousarray(stream.data[lo:hi], dtype=dtype)
        return _Track(key, info, rel, data, stream.is_marker)

    def _protocol_track(self, t0: float, t_end: float) -> _Track:
        """Condition starts/ends inside the window; clipped ones are announced at its edges."""
        events: list[tuple[float, int, str]] = []
        for c in self.recording.conditions:
            if c.end <= t0 or c.start >= t_end:
                continue
            events.append((max(c.start, t0) - t0, 1, c.condition))
            events.append((min(c.end, t_end) - t0, 0, f"end:{c.condition}"))
        events.sort()  # at equal times an end (0) precedes the next start (1)
        rel = np.array([e[0] for e in events], dtype=np.float64)
        return _Track(PROTOCOL_KEY, _protocol_info(self.subject), rel, [e[2] for e in events], True)

    # -- properties -----------------------------------------------------------------------

    @property
    def stream_infos(self) -> dict[str, pylsl.StreamInfo]:
        """The StreamInfo of every outlet, keyed like ``recording.streams`` (+ ``protocol``)."""
        return {t.key: t.info for t in self._tracks}

    @property
    def source_ids(self) -> dict[str, str]:
        return {t.key: t.info.source_id() for t in self._tracks}

    @property
    def duration_s(self) -> float:
        """Length of one pass in recording seconds (wall time is this / speed)."""
        return self._period

    @property
    def lsl_start(self) -> float | None:
        """``pylsl.local_clock()`` at the start of playback (minus ``lead_s``): timestamps are
        this + (t - t0)."""
        return self._lsl0

    @property
    def is_open(self) -> bool:
        return self._outlets is not None

    @property
    def is_running(self) -> bool:
        """Whether samples are being played (by :meth:`start` or :meth:`run`)."""
        return not self._idle.is_set()

    # -- lifecycle ------------------------------------------------------------------------

    def open(self) -> RecordingPlayer:
        """Create the outlets (idempotent), so consumers can find them before playback."""
        with self._lock:
            if self._outlets is None:
                self._stop.clear()
                self._outlets = {t.key: pylsl.StreamOutlet(t.info) for t in self._tracks}
        return self

    def wait_for_consumers(self, *, timeout: float, stop: threading.Event | None = None) -> bool:
        """Block until every signal outlet has a consumer (markers excepted), or ``timeout``.

        A pipeline started together with the replay needs a moment to resolve and connect;
        samples pushed before an inlet connects never reach it, so the replay waits.
        """
        self.open()
        with self._lock:
            outlets = dict(self._outlets or {})
        waiting = [outlets[t.key] for t in self._tracks if not t.is_marker]
        deadline = time.monotonic() + timeout
        while waiting:
            waiting = [outlet for outlet in waiting if not outlet.have_consumers()]
            if not waiting:
                break
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                return False
            time.sleep(0.02)
        # Marker listeners (``listen --markers``, a recorder) are optional, but one that is
        # already looking finds the new outlet within a resolve round; without this grace the
        # condition in effect at the start, pushed first, would be lost to it.
        markers = [outlets[t.key] for t in self._tracks if t.is_marker]
        grace = min(time.monotonic() + MARKER_GRACE_S, deadline)
        while markers and not all(o.have_consumers() for o in markers):
            if time.monotonic() >= grace or (stop is not None and stop.is_set()):
                break
            time.sleep(0.02)
        return True

    def close(self) -> None:
        """Stop playback and destroy the outlets; consumers see the streams disappear."""
        self._stop.set()
        if self._player_thread is not threading.current_thread():
            self._idle.wait()  # playback notices the stop within one tick
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._lock:
            outlets, self._outlets = self._outlets, None
        if outlets:
            for key in list(outlets):
                del outlets[key]  # the last reference: liblsl destroys the outlet now

    def __enter__(self) -> RecordingPlayer:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self, *, progress: bool = False) -> RecordingPlayer:
        """Play in a background thread; :meth:`wait` or :meth:`close` to end it."""
        if self.is_running:
            raise RuntimeError("the player is already playing")
        self.open()
        self._error = None
        self._thread = threading.Thread(
            target=self._play_guarded,
            kwargs={"stop": None, "progress": progress},
            name=f"replay-{self.subject}",
            daemon=True,
        )
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for background playback to end; True when it has. Re-raises its error."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        if self._error is not None:
            raise self._error
        return True

    def run(self, *, stop: threading.Event | None = None, progress: bool = False) -> None:
        """Play in the calling thread until the end (never, with ``loop``) or ``stop`` is set."""
        self.open()
        self._play(stop=stop, progress=progress)

    # -- playback -------------------------------------------------------------------------

    def _play_guarded(self, *, stop: threading.Event | None, progress: bool) -> None:
        try:
            self._play(stop=stop, progress=progress)
        except BaseException as err:  # surfaced by wait()
            self._error = err

    def _play(self, *, stop: threading.Event | None, progress: bool) -> None:
        with self._lock:
            outlets = self._outlets
            if outlets is None:
                raise RuntimeError("the player is closed")
            if not self._idle.is_set():
                raise RuntimeError("the player is already playing")
            self._idle.clear()
            self._player_thread = threading.current_thread()
        try:
            self._play_loop(outlets, stop=stop, progress=progress)
        finally:
            self._player_thread = None
            self._idle.set()

    def _play_loop(
        self,
        outlets: dict[str, pylsl.StreamOutlet],
        *,
        stop: threading.Event | None,
        progress: bool,
    ) -> None:
        for track in self._tracks:
            track.cursor, track.cycle = 0, 0
        bar = None
        if progress and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(
                total=None if self.loop else round(self._period, 1),
                unit="s",
                leave=False,
                desc=f"replay {self.subject}",
                file=sys.stderr,
                bar_format="{desc}: {n:.1f}/{total} s [{elapsed}<{remaining}]"
                if not self.loop
                else "{desc}: {n:.1f} s [{elapsed}]",
            )
        for log in self.push_log.values():
            log.clock.clear()
            log.first.clear()
            log.last.clear()
        # With a lead, the schedule started lead_s recording seconds ago: position and stamps
        # both shift, so the leading samples carry their past timestamps.
        wall0 = time.monotonic()
        lsl0 = pylsl.local_clock() - self.lead_s
        self._lsl0 = lsl0
        tick = 0
        try:
            while True:
                position = (time.monotonic() - wall0) * self.speed + self.lead_s
                if not self.loop:
                    position = min(position, self._period)
                for track in self._tracks:
                    self._push_due(track, outlets[track.key], position, lsl0)
                if bar is not None:
                    bar.n = round(position if self.loop else min(position, self._period), 1)
                    bar.refresh()
                if not self.loop and position >= self._period:
                    return
                tick += 1
                delay = wall0 + tick * self.chunk_s - time.monotonic()
                if stop is not None and stop.is_set():
                    return
                if self._stop.wait(max(delay, 0.0)):
                    return
                if stop is not None and stop.is_set():
                    return
        finally:
            if bar is not None:
                bar.close()

    def _push_due(
        self, track: _Track, outlet: pylsl.StreamOutlet, position: float, lsl0: float
    ) -> None:
        """Push every sample of ``track`` due by ``position`` (recording seconds since t0)."""
        n = len(track.rel)
        if n == 0:
            return
        while True:
            offset = track.cycle * self._period
            local = position - offset
            # "right": markers may sit exactly at the window end (a clipped condition's end)
            hi = int(np.searchsorted(track.rel, local, side="right"))
            if hi > track.cursor:
                stamps = lsl0 + offset + track.rel[track.cursor : hi]
                if track.is_marker:
                    for value, stamp in zip(track.data[track.cursor : hi], stamps, strict=True):
                        sample = list(value) if isinstance(value, np.ndarray) else [value]
                        outlet.push_sample(sample, float(stamp))
                elif hi - track.cursor == 1:
                    outlet.push_sample(track.data[track.cursor], float(stamps[0]))
                else:
                    outlet.push_chunk(track.data[track.cursor : hi], stamps.tolist())
                log = self.push_log.get(track.key)
                if log is not None:
                    log.clock.append(pylsl.local_clock())
                    log.first.append(float(stamps[0]))
                    log.last.append(float(stamps[-1]))
                track.cursor = hi
            if self.loop and track.cursor >= n and local >= self._period:
                track.cycle += 1
                track.cursor = 0
                continue
            return
