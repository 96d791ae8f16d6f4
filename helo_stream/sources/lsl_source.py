"""One LSL inlet feeding a ring buffer: pulls, timestamp checks, causal filtering.

Time domains: sample timestamps are LSL seconds (``_lsl``, the inlet's clock after the
``clocksync`` post-processing); ``last_receive_local`` is ``pylsl.local_clock()`` of this
process when samples arrived (the reference for latency); staleness uses the monotonic wall clock
(``_wall``) inside :class:`~helo_stream.sources.health.HealthTracker`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pylsl
from pylsl.util import LostError
from pylsl.util import TimeoutError as LSLTimeoutError

from helo_stream.buffers.ring_buffer import RingBuffer
from helo_stream.sources.arrival import ArrivalModel
from helo_stream.sources.conditioning import SampleConditioner, SupportsProcess
from helo_stream.sources.health import HealthTracker, StreamHealth, StreamState

__all__ = [
    "IRREGULAR_ASSUMED_SRATE",
    "PROCESSING_FLAGS",
    "LSLSource",
    "buffer_capacity",
    "open_sources",
    "processing_flags_mask",
]

#: pylsl post-processing flag for each name accepted in a pipeline's ``processing_flags``.
PROCESSING_FLAGS: dict[str, int] = {
    "clocksync": pylsl.proc_clocksync,
    "dejitter": pylsl.proc_dejitter,
    "monotonize": pylsl.proc_monotonize,
    "threadsafe": pylsl.proc_threadsafe,
}

#: Irregular streams (nominal rate 0) are sized as if they sent this many samples per second,
#: the same convention liblsl uses for their inlet buffer ("x100 in samples").
IRREGULAR_ASSUMED_SRATE = 100.0
#: Largest chunk taken from the inlet per call, in seconds of samples (bounded below).
_PULL_CHUNK_S = 10.0
_PULL_CHUNK_MIN = 256
#: Lower bound of the inlet's own buffer, seconds.
#: A pipeline that falls behind (a replay faster than it can compute) loses nothing for this long.
_MIN_INLET_BUFLEN_S = 360
#: How many chunk arrivals are remembered to date when a given sample was received.
_RECEIPTS = 4096

_NUMERIC_DTYPES: dict[int, type[np.generic]] = {
    pylsl.cf_float32: np.float32,
    pylsl.cf_double64: np.float64,
    pylsl.cf_int8: np.int8,
    pylsl.cf_int16: np.int16,
    pylsl.cf_int32: np.int32,
    pylsl.cf_int64: np.int64,
}


def buffer_capacity(buffer_s: float, srate: float) -> int:
    """Samples a source keeps for ``buffer_s`` seconds of a stream at ``srate`` Hz (0: irregular).

    >>> buffer_capacity(90.0, 4.0), buffer_capacity(1.0, 0.0)
    (360, 100)
    """
    rate = srate if srate > 0 else IRREGULAR_ASSUMED_SRATE
    return max(math.ceil(buffer_s * rate), 1)


def processing_flags_mask(flags: Sequence[str]) -> int:
    """OR of the pylsl ``proc_*`` constants named in ``flags``."""
    mask = pylsl.proc_none
    for flag in flags:
        try:
            mask |= PROCESSING_FLAGS[flag]
        except KeyError:
            raise ValueError(
                f"unknown processing flag {flag!r}; expected any of {sorted(PROCESSING_FLAGS)}"
            ) from None
    return mask


class LSLSource:
    """An LSL stream pulled into a :class:`RingBuffer` of float64 samples.

    Parameters
    ----------
    info : pylsl.StreamInfo
        A resolved stream (see :func:`~helo_stream.sources.resolve.resolve_pipeline_streams`).
    modality : str
        Name of the pipeline modality this stream feeds (for messages and logs).
    buffer_s : float
        Seconds of samples kept in the ring buffer; the inlet buffers at least as much (and at
        least 30 s), so a pull that comes late loses nothing.
    processing_flags : sequence of str
        pylsl post-processing (``clocksync``, ``dejitter``, ``monotonize``, ``threadsafe``).
    filter : SupportsProcess | None
        Applied once per pulled chunk, before the buffer, carrying its state across chunks.
    stale_after_s, missing_after_s : float
        Wall-clock seconds without samples before the stream is ``stale`` / ``missing``.

    Notes
    -----
    Only numeric streams are supported (a string stream cannot fill a sample buffer). Samples
    whose timestamp does not advance are dropped and counted in :attr:`health`. A sample with a
    NaN or infinite value would poison the filter's state for good, so the filter sees the last
    finite value instead and the buffer stores NaN for that sample (counted in
    ``health.n_nonfinite``; windows flag and drop it, see :mod:`helo_stream.windows.quality`).
    ``on_raw(samples, timestamps_lsl)``, when set, receives every accepted chunk before
    filtering (the recorder uses it); ``on_filtered`` receives it as buffered (filtered, NaN
    where unusable), once, which is what incremental feature extractors feed on. The inlet is
    created with ``recover=True``: when an outlet with the same ``source_id`` reappears, liblsl
    reconnects by itself and the stream returns to ``ok`` with its next samples (within about a
    second; ``clocksync`` keeps answering for the new outlet), counted in
    ``health.n_reconnects``. ``tests/robustness/test_dropout.py`` checks this end to end.
    """

    def __init__(
        self,
        *,
        info: pylsl.StreamInfo,
        modality: str,
        buffer_s: float,
        processing_flags: Sequence[str] = ("clocksync",),
        filter: SupportsProcess | None = None,
        stale_after_s: float = 2.0,
        missing_after_s: float = 10.0,
    ) -> None:
        if buffer_s <= 0:
            raise ValueError(f"buffer_s must be positive, got {buffer_s}")
        fmt = info.channel_format()
        if fmt not in _NUMERIC_DTYPES:
            raise ValueError(
                f"stream {info.name()!r} ({info.source_id()!r}) has a non-numeric channel format "
                "(string or undefined); only numeric streams can be buffered"
            )
        self._info = info
        self.modality = modality
        self.buffer_s = float(buffer_s)
        self.processing_flags = tuple(processing_flags)
        self._flags_mask = processing_flags_mask(self.processing_flags)
        # hold-last-finite, filter, NaN back: the same rule the offline path applies
        self._conditioner = SampleConditioner(
            n_channels=int(info.channel_count()), filter=filter, name=modality
        )
        #: Called with every accepted raw chunk (samples (n, ch) float64, timestamps (n,)).
        self.on_raw: Callable[[np.ndarray, np.ndarray], None] | None = None
        #: Called with every buffered chunk (filtered samples (n, ch) float64, timestamps (n,)).
        self.on_filtered: Callable[[np.ndarray, np.ndarray], None] | None = None
        self._srate = float(info.nominal_srate())
        self._n_channels = int(info.channel_count())

        rate = self._srate if self._srate > 0 else IRREGULAR_ASSUMED_SRATE
        capacity = buffer_capacity(self.buffer_s, self._srate)
        self._buffer = RingBuffer(n_channels=self._n_channels, capacity=capacity)
        self._chunk_samples = min(capacity, max(math.ceil(_PULL_CHUNK_S * rate), _PULL_CHUNK_MIN))
        # liblsl writes each pull straight into this array; it is reused for every pull.
        self._dest = np.empty((self._chunk_samples, self._n_channels), dtype=_NUMERIC_DTYPES[fmt])
        self._dest_ts = np.empty(self._chunk_samples, dtype=np.float64)
        # When each chunk arrived (local clock), keyed by its newest LSL timestamp.
        self._receipts = RingBuffer(n_channels=1, capacity=_RECEIPTS)
        self._arrival = ArrivalModel()
        self._last_receive_local: float | None = None
        self._health = HealthTracker(
            nominal_srate=self._srate,
            stale_after_s=stale_after_s,
            missing_after_s=missing_after_s,
        )
        # max_buflen is in seconds for regular streams and in hundreds of samples otherwise,
        # which matches the capacity assumed above for irregular streams. It is at least
        # _MIN_INLET_BUFLEN_S so that a burst (a reconnecting device flushing its backlog) is not
        # cut before it reaches the filter and the counters, even with a short ring buffer.
        max_buflen = max(math.ceil(self.buffer_s), _MIN_INLET_BUFLEN_S)
        # One pull moves at most one chunk (~10 s): a pipeline catching up takes its backlog in
        # steps, so the ring buffer never overwrites samples that pending windows still need.
        self._max_calls = 1
        self._inlet: pylsl.StreamInlet | None = pylsl.StreamInlet(
            info,
            max_buflen=max_buflen,
            max_chunklen=0,
            recover=True,
            processing_flags=self._flags_mask,
        )

    # -- lifecycle ------------------------------------------------------------------------
    def open(self, timeout: float = 10.0) -> None:
        """Subscribe to the stream and, with ``clocksync``, get the first clock offset.

        Fetching the first time-correction estimate here keeps it out of the first
        :meth:`pull`, which would otherwise wait for it.

        Raises
        ------
        TimeoutError
            The outlet did not answer within ``timeout`` seconds.
        ConnectionError
            The stream was lost while opening.
        """
        inlet = self._require_inlet()
        try:
            inlet.open_stream(timeout=timeout)
            if self._flags_mask & pylsl.proc_clocksync:
                inlet.time_correction(timeout=timeout)
        except LSLTimeoutError as err:
            raise TimeoutError(
                f"LSL stream {self.name!r} ({self.source_id!r}) did not open within {timeout} s"
            ) from err
        except LostError as err:
            self._health.mark_lost()
            raise ConnectionError(
                f"LSL stream {self.name!r} ({self.source_id!r}) was lost while opening"
            ) from err
        self._health.mark_opened()

    def close(self) -> None:
        """Unsubscribe and release the inlet; further pulls return 0. Safe to call twice."""
        if self._inlet is not None:
            self._inlet.close_stream()
            self._inlet = None

    def __enter__(self) -> LSLSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_inlet(self) -> pylsl.StreamInlet:
        if self._inlet is None:
            raise RuntimeError(f"LSL source {self.modality!r} is closed")
        return self._inlet

    # -- data -----------------------------------------------------------------------------
    def pull(self, timeout: float = 0.0) -> int:
        """Move what the inlet holds into the buffer, at most ~10 s of samples.

        Parameters
        ----------
        timeout : float
            With 0 (the default) take only what is there. Otherwise wait up to this many
            seconds for the first sample, then take it and whatever else is there: the loop
            waits on the stream a window is short of and wakes the moment its data arrive.

        Returns
        -------
        int
            Number of samples accepted into the buffer (dropped samples not counted).

        Notes
        -----
        A lost stream (``pylsl.LostError``) marks the health ``missing`` instead of raising.
        """
        inlet = self._inlet
        if inlet is None:
            return 0
        self._health.mark_checked()
        accepted = 0
        try:
            for _ in range(self._max_calls):
                n = 0
                if timeout > 0:
                    # liblsl's fixed-buffer pull waits until the buffer is full: ask for one
                    # sample with the timeout, then for the rest without waiting.
                    n = self._pull_into(inlet, 0, 1, timeout)
                    if n == 0:
                        break
                n += self._pull_into(inlet, n, self._chunk_samples - n, 0.0)
                if n == 0:
                    break
                accepted += self._ingest(self._dest[:n], self._dest_ts[:n].copy())
                if n < self._chunk_samples:
                    break
        except LostError:
            self._health.mark_lost()
        return accepted

    def _pull_into(self, inlet: pylsl.StreamInlet, at: int, count: int, timeout: float) -> int:
        """Pull up to ``count`` samples into rows ``at:`` of the reused destination."""
        if count <= 0:
            return 0
        _, timestamps = inlet.pull_chunk(
            timeout=timeout,
            max_samples=count,
            dest_obj=self._dest[at : at + count],
            as_numpy=True,
        )
        n = timestamps.shape[0]
        self._dest_ts[at : at + n] = timestamps
        return n

    def _ingest(self, chunk: np.ndarray, timestamps_lsl: np.ndarray) -> int:
        """Check, filter and buffer one pulled chunk; returns the number of samples kept."""
        keep = self._health.accept(timestamps_lsl)
        n_keep = int(np.count_nonzero(keep))
        if n_keep == 0:
            return 0
        if n_keep == keep.shape[0]:
            samples = chunk.astype(np.float64)  # always a copy: the pull destination is reused
        else:
            samples = chunk[keep].astype(np.float64, copy=False)
            timestamps_lsl = timestamps_lsl[keep]
        if self.on_raw is not None:
            self.on_raw(samples, timestamps_lsl)
        samples, n_bad = self._conditioner.process(samples)
        if n_bad:
            self._health.count_nonfinite(n_bad)
        self._buffer.push(samples, timestamps_lsl)
        if self.on_filtered is not None:
            self.on_filtered(samples, timestamps_lsl)
        now_local = pylsl.local_clock()
        self._last_receive_local = now_local
        self._receipts.push(np.array([[now_local]]), timestamps_lsl[-1:])
        self._arrival.observe(now_local, float(timestamps_lsl[-1]))
        return n_keep

    def receive_time_local(self, t_lsl: float) -> float | None:
        """``pylsl.local_clock()`` when the first sample stamped ``>= t_lsl`` was pulled.

        None if no such sample arrived yet (or it is older than the remembered chunks).
        """
        found = self._receipts.first_at_or_after(t_lsl)
        return None if found is None else float(found[0][0])

    def arrival_local(self, t_lsl: float) -> float | None:
        """Earliest ``pylsl.local_clock()`` at which the sample stamped ``t_lsl`` can arrive,
        learnt from this stream's receipts (see :class:`~helo_stream.sources.arrival.ArrivalModel`);
        None before any sample."""
        return self._arrival.predict_local(t_lsl)

    # -- properties -----------------------------------------------------------------------
    @property
    def buffer(self) -> RingBuffer:
        return self._buffer

    @property
    def health(self) -> StreamHealth:
        return self._health.snapshot(self._buffer)

    @property
    def state(self) -> StreamState:
        """``health.state`` without computing the rest of the snapshot (cheap; polled often)."""
        return self._health.state

    @property
    def info(self) -> pylsl.StreamInfo:
        return self._info

    @property
    def srate(self) -> float:
        """Nominal sampling rate in Hz (0 for irregular streams)."""
        return self._srate

    @property
    def n_channels(self) -> int:
        return self._n_channels

    @property
    def name(self) -> str:
        return self._info.name()

    @property
    def source_id(self) -> str:
        return self._info.source_id()

    @property
    def last_receive_local(self) -> float | None:
        """``pylsl.local_clock()`` when the newest chunk was pulled; None before any."""
        return self._last_receive_local

    @property
    def is_open(self) -> bool:
        return self._inlet is not None

    def __repr__(self) -> str:
        return (
            f"LSLSource(modality={self.modality!r}, name={self.name!r}, "
            f"source_id={self.source_id!r}, srate={self._srate}, n_channels={self._n_channels})"
        )


def open_sources(sources: Iterable[LSLSource], *, timeout: float = 10.0) -> None:
    """Open several sources at once.

    With ``clocksync`` each :meth:`LSLSource.open` waits ~0.6 s for liblsl's first clock-offset
    estimate; liblsl calls release the GIL, so opening in threads costs that wait once instead
    of once per stream. The first error (after all attempts finished) is raised.
    """
    sources = list(sources)
    if not sources:
        return
    with ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="lsl-open") as pool:
        futures = [pool.submit(source.open, timeout) for source in sources]
    for future in futures:
        future.result()
