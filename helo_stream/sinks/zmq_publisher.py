"""Publish messages on a ZeroMQ PUB socket without ever blocking the pipeline.

Each message is two frames, ``[topic, json]``. ZeroMQ's PUB socket queues up to ``send_hwm``
messages per subscriber and drops further messages *for that subscriber only* while it is
behind; the pipeline thread never waits for a slow or dead consumer. ZeroMQ does not report
those per-subscriber drops: consumers see them as gaps in ``seq``
(:attr:`~helo_stream.sinks.zmq_subscriber.ZmqSubscriber.n_missed`).
"""

from __future__ import annotations

import errno
import json
from collections.abc import Mapping
from typing import Any

import zmq

__all__ = ["PublisherError", "ZmqPublisher"]


class PublisherError(RuntimeError):
    """The publisher socket could not be set up (address in use, malformed address)."""


class ZmqPublisher:
    """A ZeroMQ PUB socket sending JSON messages under one topic.

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
        Shared context; the global instance by default.

    Raises
    ------
    PublisherError
        If the address is in use or cannot be bound/connected.
    """

    def __init__(
        self,
        *,
        address: str = "tcp://127.0.0.1:5556",
        topic: str = "helo/emotion",
        bind: bool = True,
        send_hwm: int = 1000,
        context: zmq.Context | None = None,
    ) -> None:
        if send_hwm < 1:
            raise ValueError(f"send_hwm must be at least 1, got {send_hwm}")
        self.address = address
        self.topic = topic
        self.bind = bind
        self.send_hwm = int(send_hwm)
        self._topic_frame = topic.encode("utf-8")
        self._context = context if context is not None else zmq.Context.instance()
        self._socket: zmq.Socket | None = self._context.socket(zmq.PUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.SNDHWM, self.send_hwm)
        try:
            if bind:
                self._socket.bind(address)
            else:
                self._socket.connect(address)
        except zmq.ZMQError as err:
            self._socket.close(linger=0)
            self._socket = None
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
        try:
            self._socket.send_multipart([self._topic_frame, payload], flags=zmq.NOBLOCK)
        except zmq.Again:
            self.n_dropped += 1
            return
        self.n_sent += 1

    def close(self) -> None:
        """Close the socket at once (linger 0: queued messages are discarded)."""
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def __enter__(self) -> ZmqPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ZmqPublisher(address={self.address!r}, topic={self.topic!r}, bind={self.bind})"
