"""Publish messages on a ZeroMQ XPUB socket without ever blocking the pipeline.

Each message is two frames, ``[topic, json]``. The XPUB socket behaves like PUB (it queues up to
``send_hwm`` messages per subscriber and drops further messages *for that subscriber only* while
it is behind; the pipeline thread never waits for a slow or dead consumer; consumers see drops
as gaps in ``seq``, :attr:`~helo_stream.receivers.zmq_subscriber.ZmqSubscriber.n_missed`), and it
also reports new subscriptions: the publisher keeps the latest message of every subject (a
last-value cache) and re-sends them when someone subscribes, so a dashboard that connects late
shows the current state at once instead of waiting for the next window. Subscribers already
connected receive that re-sent message again (same ``seq``;
:class:`~helo_stream.receivers.zmq_subscriber.ZmqSubscriber` drops such duplicates).

With ``curve_secret_key`` the socket is a CURVE server: traffic is encrypted and a ZAP
authenticator (its own ZeroMQ context and thread) admits only the listed client public keys.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zmq
import zmq.auth

if TYPE_CHECKING:
    from helo_stream.config.pipeline import PublisherConfig

__all__ = ["PublisherError", "ZmqPublisher", "load_public_keys"]


class PublisherError(RuntimeError):
    """The publisher socket could not be set up (address in use, malformed address)."""


def load_public_keys(locations: Iterable[str | Path]) -> list[bytes]:
    """Z85 public keys from certificate files and directories of them (``*.key``).

    Raises
    ------
    PublisherError
        A location does not exist, holds no key, or a file is not a ZeroMQ certificate.
    """
    keys: list[bytes] = []
    for location in locations:
        path = Path(location)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".key", ".key_secret"))
            if not files:
                raise PublisherError(f"no ZeroMQ certificate (*.key) in {path}")
        elif path.is_file():
            files = [path]
        else:
            raise PublisherError(f"allowed client key {path} does not exist")
        for file in files:
            try:
                public, _ = zmq.auth.load_certificate(file)
            except (OSError, ValueError) as err:
                raise PublisherError(f"{file} is not a ZeroMQ certificate: {err}") from err
            keys.append(public)
    return sorted(set(keys))


class _AllowedKeys:
    """ZAP credentials provider: admit exactly the listed client public keys."""

    def __init__(self, keys: Iterable[bytes]) -> None:
        self._keys = frozenset(keys)

    def callback(self, domain: str, key: bytes) -> bool:
        return key in self._keys


class ZmqPublisher:
    """A ZeroMQ XPUB socket sending JSON messages under one topic, with a last-value cache.

    Parameters
    ----------
    address : str
        ZeroMQ endpoint; ``tcp://host:*`` binds a free port (see :attr:`endpoint`).
    topic : str
        First frame of every message; subscribers filter on its prefix.
    bind : bool
        Bind ``address`` (default) or connect to it (e.g. an XSUB/XPUB broker).
    send_hwm : int
        Messages queued per subscriber before ZeroMQ drops for that subscriber.
    context : zmq.Context | None
        Shared context; the global instance by default (a private one with CURVE, because the
        ZAP authenticator serves a whole context).
    curve_secret_key : path | None
        Server certificate with its secret key (``helo-stream keys``); enables CURVE.
    curve_allowed_clients : iterable of paths | None
        Client public-key files or directories of them; required with ``curve_secret_key``.
    socket_options : mapping | None
        Extra ``zmq`` socket options set before binding (e.g. ``{zmq.SNDBUF: 4096}``).

    Raises
    ------
    PublisherError
        If the address is in use or cannot be bound/connected, or a key cannot be read.
    """

    @classmethod
    def from_config(cls, config: PublisherConfig, *, relative_to: Path) -> ZmqPublisher:
        """The publisher a pipeline's ``publisher`` section describes (key paths relative to
        the pipeline file's folder ``relative_to``)."""
        return cls(
            address=config.address,
            topic=config.topic,
            bind=config.bind,
            send_hwm=config.send_hwm,
            curve_secret_key=(
                None if config.curve_secret_key is None else relative_to / config.curve_secret_key
            ),
            curve_allowed_clients=(
                None
                if config.curve_allowed_clients is None
                else [relative_to / p for p in config.curve_allowed_clients]
            ),
        )

    def __init__(
        self,
        *,
        address: str = "tcp://127.0.0.1:5556",
        topic: str = "helo/emotion",
        bind: bool = True,
        send_hwm: int = 1000,
        context: zmq.Context | None = None,
        curve_secret_key: str | Path | None = None,
        curve_allowed_clients: Iterable[str | Path] | None = None,
        socket_options: Mapping[int, int] | None = None,
    ) -> None:
        if send_hwm < 1:
            raise ValueError(f"send_hwm must be at least 1, got {send_hwm}")
        self.address = address
        self.topic = topic
        self.bind = bind
        self.send_hwm = int(send_hwm)
        self._topic_frame = topic.encode("utf-8")
        self._auth: Any = None
        self._own_context = False
        self.curve = curve_secret_key is not None
        if self.curve:
            if not curve_allowed_clients:
                raise PublisherError("CURVE needs the allowed clients' public keys")
            try:
                public, secret = zmq.auth.load_certificate(curve_secret_key)
            except (OSError, ValueError) as err:
                raise PublisherError(
                    f"cannot read the server secret key {curve_secret_key}: {err}"
                ) from err
            if secret is None:
                raise PublisherError(f"{curve_secret_key} holds no secret key (*.key_secret)")
            allowed = load_public_keys(curve_allowed_clients)
            from zmq.auth.thread import ThreadAuthenticator

            context = zmq.Context()
            self._own_context = True
            self._auth = ThreadAuthenticator(context)
            self._auth.start()
            self._auth.configure_curve_callback(
                domain="*", credentials_provider=_AllowedKeys(allowed)
            )
        self._context = context if context is not None else zmq.Context.instance()
        self._socket: zmq.Socket | None = self._context.socket(zmq.XPUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.SNDHWM, self.send_hwm)
        # Report every subscription, also repeated ones, so each newcomer gets the cache.
        self._socket.setsockopt(zmq.XPUB_VERBOSE, 1)
        for option, value in (socket_options or {}).items():
            self._socket.setsockopt(option, value)
        if self.curve:
            self._socket.curve_secretkey = secret
            self._socket.curve_publickey = public
            self._socket.curve_server = True
        #: subject -> frames of its latest message (the last-value cache).
        self._latest: dict[str, list[bytes]] = {}
        self.n_resent = 0
        try:
            if bind:
                self._socket.bind(address)
            else:
                self._socket.connect(address)
        except zmq.ZMQError as err:
            self._socket.close(linger=0)
            self._socket = None
            self._stop_auth()
            if err.errno == errno.EADDRINUSE:
                raise PublisherError(
                    f"cannot publish on {address}: the address is already in use (another "
                    "helo-stream run?); stop it or choose another publisher.address"
                ) from err
            verb = "bind" if bind else "connect"
            raise PublisherError(f"cannot {verb} publisher to {address}: {err}") from err
        self.n_sent = 0
        #: Messages ZeroMQ refused at once (it would have had to block); PUB sockets normally
        #: drop per subscriber instead, which is not visible here.
        self.n_dropped = 0

    @property
    def endpoint(self) -> str:
        """The address actually bound (resolves a ``*`` port), or ``address`` when connecting."""
        if self._socket is None or not self.bind:
            return self.address
        return self._socket.getsockopt_string(zmq.LAST_ENDPOINT)

    @property
    def closed(self) -> bool:
        return self._socket is None

    def publish(self, message: Mapping[str, Any]) -> None:
        """Send ``message`` as ``[topic, json]`` without blocking.

        Raises
        ------
        RuntimeError
            If the publisher is closed.
        ValueError
            If the message is not JSON serialisable (NaN and infinities included).
        """
        if self._socket is None:
            raise RuntimeError("publisher is closed")
        payload = json.dumps(message, allow_nan=False).encode("utf-8")
        self.serve_subscriptions()
        frames = [self._topic_frame, payload]
        self._latest[str(message.get("subject", ""))] = frames
        if self._send(frames):
            self.n_sent += 1

    def _send(self, frames: list[bytes]) -> bool:
        assert self._socket is not None
        try:
            self._socket.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.Again:
            self.n_dropped += 1
            return False
        return True

    def serve_subscriptions(self) -> int:
        """Answer new subscriptions with the cached latest messages; never blocks.

        Called by :meth:`publish` and, between windows, by the pipeline loop (so a late
        subscriber is served within a loop turn, not at the next window). Returns the number of
        new subscriptions seen.
        """
        if self._socket is None:
            return 0
        n_new = 0
        while True:
            try:
                event = self._socket.recv(flags=zmq.NOBLOCK)
            except zmq.Again:
                break
            if event[:1] != b"\x01":  # 0x00 = unsubscribe
                continue
            prefix = event[1:]
            if not self._topic_frame.startswith(prefix):
                continue
            n_new += 1
            for frames in self._latest.values():
                if self._send(frames):
                    self.n_resent += 1
        return n_new

    def close(self) -> None:
        """Close the socket at once (linger 0: queued messages are discarded)."""
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
        self._stop_auth()

    def _stop_auth(self) -> None:
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._own_context:
            self._context.term()
            self._own_context = False

    def __enter__(self) -> ZmqPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ZmqPublisher(address={self.address!r}, topic={self.topic!r}, bind={self.bind})"
