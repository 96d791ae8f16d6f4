"""A ZeroMQ XSUB/XPUB broker with a last-value cache: many pipelines, one address for dashboards.

Pipelines connect their publishers (``publisher: {address: tcp://127.0.0.1:5559, bind: false}``)
to the broker's *frontend* (an XSUB socket); dashboards and ``helo-stream listen`` connect to its
*backend* (an XPUB socket). Every ``[topic, json]`` message is forwarded unchanged and in the
order it arrived from its publisher.

Why a cache here and not only in the publishers: a publisher's own last-value cache answers a
new subscription by re-sending its latest messages, but a subscription that reaches the broker
is forwarded upstream only as far as the broker's XSUB, and publishers that connect later never
see it. The broker therefore keeps the latest message of every (topic, pipeline, subject) itself
and sends the matching ones as soon as a subscription arrives, so a late dashboard shows every
subject at once. Subscriptions are still forwarded upstream (the publishers' caches answer
too); the duplicates this creates carry the same ``seq`` and
:class:`~helo_stream.receivers.zmq_subscriber.ZmqSubscriber` drops them.

The broker subscribes its frontend to everything, so it caches messages even while nobody is
listening. Sends never block: a subscriber that falls behind loses messages (ZeroMQ drops for
that subscriber only, once its ``send_hwm`` queue is full), and neither the broker nor the
pipelines ever wait for it.
"""

from __future__ import annotations

import errno
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import zmq

from helo_stream.config.pipeline import LOOPBACK_HOSTS
from helo_stream.sinks.zmq_publisher import PublisherError

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_FRONTEND",
    "Broker",
    "BrokerError",
    "BrokerStats",
    "CacheKey",
]

#: Where pipelines publish (XSUB, bound by the broker).
DEFAULT_FRONTEND = "tcp://127.0.0.1:5559"
#: Where dashboards and ``listen`` subscribe (XPUB, bound by the broker).
DEFAULT_BACKEND = "tcp://127.0.0.1:5560"
#: How long the loop waits for traffic before checking whether it was asked to stop.
POLL_INTERVAL_MS = 50

#: (topic, pipeline, subject): one cached message each. Two pipelines serving the same subject
#: (wrist and chest) are two panels on a dashboard, so the pipeline is part of the key.
CacheKey = tuple[bytes, str, str]


class BrokerError(PublisherError):
    """The broker cannot bind its addresses (in use, malformed, or off this machine).

    A :class:`~helo_stream.sinks.zmq_publisher.PublisherError`, so the command line reports it
    as one line and exit code 2 like every other unusable address.
    """


@dataclass
class BrokerStats:
    """Counters of a running broker (read them from any thread; they only grow)."""

    #: Messages received from publishers.
    received: int = 0
    #: Messages forwarded to subscribers (ZeroMQ may still drop some for slow subscribers).
    forwarded: int = 0
    #: Cached messages re-sent because a subscription arrived.
    resent: int = 0
    #: Subscriptions (and repeated subscriptions) seen from subscribers.
    subscriptions: int = 0
    #: Messages the backend refused at once (only if ZeroMQ would have had to block).
    dropped: int = 0
    #: Messages whose body was not a JSON object with ``pipeline``/``subject`` (still forwarded,
    #: cached under their topic alone).
    unparsed: int = 0


def check_local_address(address: str, *, role: str) -> None:
    """Refuse a tcp address that other machines could reach: the broker has no encryption.

    Raises
    ------
    BrokerError
        For a tcp host outside :data:`~helo_stream.config.pipeline.LOOPBACK_HOSTS`.
    """
    scheme, _, rest = address.partition("://")
    if scheme != "tcp":
        return
    host = rest.rsplit(":", 1)[0] if ":" in rest else rest
    if host not in LOOPBACK_HOSTS:
        raise BrokerError(
            f"the broker {role} {address} would be reachable from other machines; the broker "
            "has no CURVE encryption, so it binds only 127.0.0.1 (use tcp://127.0.0.1:PORT)"
        )


def _cache_key(topic: bytes, body: bytes) -> tuple[CacheKey, bool]:
    """The cache slot of one message, and whether its body could be read."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return (topic, "", ""), False
    if not isinstance(message, dict):
        return (topic, "", ""), False
    return (topic, str(message.get("pipeline", "")), str(message.get("subject", ""))), True


class Broker:
    """An XSUB/XPUB proxy with a last-value cache, usable in-process or from the CLI.

    Both addresses are bound in the constructor, so a port in use is reported to the caller
    at once; the proxy then runs in :meth:`run` (blocking, e.g. the CLI's main thread) or in a
    background thread after :meth:`start`. :meth:`stop` ends either within
    :data:`POLL_INTERVAL_MS` and closes both sockets.

    Parameters
    ----------
    frontend : str
        XSUB endpoint that publishers connect to; ``tcp://127.0.0.1:*`` picks a free port
        (see :attr:`frontend_endpoint`).
    backend : str
        XPUB endpoint that subscribers connect to.
    send_hwm : int
        Messages queued per subscriber before ZeroMQ drops for that subscriber.
    context : zmq.Context | None
        Shared context; the global instance by default.

    Raises
    ------
    BrokerError
        An address is in use, malformed or reachable from other machines.
    """

    def __init__(
        self,
        *,
        frontend: str = DEFAULT_FRONTEND,
        backend: str = DEFAULT_BACKEND,
        send_hwm: int = 1000,
        context: zmq.Context | None = None,
    ) -> None:
        if send_hwm < 1:
            raise ValueError(f"send_hwm must be at least 1, got {send_hwm}")
        check_local_address(frontend, role="frontend")
        check_local_address(backend, role="backend")
        self._context = context if context is not None else zmq.Context.instance()
        self._frontend: zmq.Socket | None = None
        self._backend: zmq.Socket | None = None
        try:
            self._frontend = self._bound(zmq.XSUB, frontend, role="frontend")
            self._backend = self._bound(zmq.XPUB, backend, role="backend", send_hwm=send_hwm)
        except BrokerError:
            self._close_sockets()
            raise
        # Subscribe upstream to everything: the cache must see every message even while no
        # subscriber is connected. XSUB replays it to every publisher that connects later.
        self._frontend.send(b"\x01")
        self.frontend_endpoint: str = self._frontend.getsockopt_string(zmq.LAST_ENDPOINT)
        self.backend_endpoint: str = self._backend.getsockopt_string(zmq.LAST_ENDPOINT)
        self.stats = BrokerStats()
        #: (topic, pipeline, subject) -> frames of its latest message.
        self._latest: dict[CacheKey, list[bytes]] = {}
        self._stop = threading.Event()
        self._running = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards _latest for cached_keys() from other threads

    def _bound(self, kind: int, address: str, *, role: str, send_hwm: int = 0) -> zmq.Socket:
        socket = self._context.socket(kind)
        socket.setsockopt(zmq.LINGER, 0)
        if kind == zmq.XPUB:
            socket.setsockopt(zmq.SNDHWM, send_hwm)
            # Report every subscription, also repeated ones: each newcomer gets the cache.
            socket.setsockopt(zmq.XPUB_VERBOSE, 1)
        try:
            socket.bind(address)
        except zmq.ZMQError as err:
            socket.close(linger=0)
            if err.errno == errno.EADDRINUSE:
                raise BrokerError(
                    f"cannot bind the broker {role} {address}: the address is already in use "
                    "(another broker or pipeline?); stop it or choose another port"
                ) from err
            raise BrokerError(f"cannot bind the broker {role} {address}: {err}") from err
        return socket

    # -- running -------------------------------------------------------------------------------
    def start(self) -> Broker:
        """Run the proxy in a daemon thread (for tests and embedding); returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("the broker is already running")
        self._thread = threading.Thread(target=self.run, name="helo-broker", daemon=True)
        self._thread.start()
        return self

    def run(
        self, *, on_tick: Callable[[BrokerStats], None] | None = None, tick_s: float = 10.0
    ) -> BrokerStats:
        """Forward messages and subscriptions until :meth:`stop`; closes the sockets at the end.

        Parameters
        ----------
        on_tick : callable | None
            Called with :attr:`stats` every ``tick_s`` seconds (the CLI prints counts).
        tick_s : float
            Seconds between ``on_tick`` calls.
        """
        if self._frontend is None or self._backend is None:
            raise RuntimeError("the broker is closed")
        frontend, backend = self._frontend, self._backend
        poller = zmq.Poller()
        poller.register(frontend, zmq.POLLIN)
        poller.register(backend, zmq.POLLIN)
        next_tick = time.monotonic() + tick_s
        self._running.set()
        try:
            while not self._stop.is_set():
                ready = dict(poller.poll(POLL_INTERVAL_MS))
                if backend in ready:
                    self._serve_subscriptions()
                if frontend in ready:
                    self._forward_messages()
                if on_tick is not None and time.monotonic() >= next_tick:
                    on_tick(self.stats)
                    next_tick = time.monotonic() + tick_s
        finally:
            self._close_sockets()
            self._running.clear()
        return self.stats

    def _forward_messages(self) -> None:
        """Everything queued on the frontend: cache it, forward it (never blocking)."""
        assert self._frontend is not None
        while True:
            try:
                frames = self._frontend.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            self.stats.received += 1
            if len(frames) >= 2:
                key, parsed = _cache_key(frames[0], frames[1])
                if not parsed:
                    self.stats.unparsed += 1
                with self._lock:
                    self._latest[key] = frames
            if self._send(frames):
                self.stats.forwarded += 1

    def _serve_subscriptions(self) -> None:
        """Forward (un)subscriptions upstream and answer subscriptions from the cache."""
        assert self._frontend is not None and self._backend is not None
        while True:
            try:
                event = self._backend.recv(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            # Upstream too, so the publishers' own caches answer (and any topic filtering they
            # do keeps working). The broker's own subscribe-all stays in force.
            self._frontend.send(event)
            if event[:1] != b"\x01":  # 0x00 = unsubscribe
                continue
            self.stats.subscriptions += 1
            prefix = event[1:]
            with self._lock:
                matching = [
                    frames
                    for (topic, _, _), frames in self._latest.items()
                    if topic.startswith(prefix)
                ]
            for frames in matching:
                if self._send(frames):
                    self.stats.resent += 1

    def _send(self, frames: list[bytes]) -> bool:
        assert self._backend is not None
        try:
            self._backend.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.Again:
            self.stats.dropped += 1
            return False
        return True

    # -- stopping ------------------------------------------------------------------------------
    def stop(self, *, timeout: float = 2.0) -> None:
        """Stop the loop and close both sockets; safe to call twice or before :meth:`start`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"the broker thread did not stop within {timeout} s")
            self._thread = None
        elif not self._running.is_set():
            self._close_sockets()  # never ran; a foreground run() closes its own sockets

    def _close_sockets(self) -> None:
        for socket in (self._frontend, self._backend):
            if socket is not None:
                socket.close(linger=0)
        self._frontend = None
        self._backend = None

    @property
    def closed(self) -> bool:
        return self._frontend is None

    def cached_keys(self) -> list[CacheKey]:
        """The (topic, pipeline, subject) slots currently cached."""
        with self._lock:
            return sorted(self._latest)

    def cached_frames(self) -> dict[CacheKey, list[bytes]]:
        """A copy of the cache: each slot's latest ``[topic, json]`` frames."""
        with self._lock:
            return {key: list(frames) for key, frames in self._latest.items()}

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"Broker(frontend={getattr(self, 'frontend_endpoint', '?')!r}, "
            f"backend={getattr(self, 'backend_endpoint', '?')!r})"
        )
