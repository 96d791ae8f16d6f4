"""Receive ``helo-stream`` messages from a ZeroMQ PUB socket (for ``listen``, tests, dashboards)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zmq
import zmq.auth

__all__ = ["ZmqSubscriber"]

log = logging.getLogger(__name__)


class ZmqSubscriber:
    """A ZeroMQ SUB socket that decodes ``[topic, json]`` messages.

    Parameters
    ----------
    address : str
        Publisher endpoint.
    topic : str
        Topic prefix to subscribe to (ZeroMQ matches prefixes: ``helo`` gets ``helo/emotion``).
    connect : bool
        Connect to ``address`` (default) or bind it (when publishers connect).
    context : zmq.Context | None
        Shared context; the global instance by default.
    rcv_hwm : int
        Messages queued here before ZeroMQ drops newer ones for this subscriber.
    curve_secret_key : path | None
        This client's certificate with its secret key (``helo-stream keys``); enables CURVE.
    curve_server_key : path | None
        The publisher's public certificate; required with ``curve_secret_key``.

    Notes
    -----
    Frames that are not ``[topic, JSON object]`` are skipped and counted in
    :attr:`n_malformed`. :attr:`n_missed` counts messages lost between publisher and here,
    from gaps in ``seq`` per (pipeline, subject). A message repeating the last ``seq`` of its
    (pipeline, subject) is the publisher's last-value cache answering another subscriber: it is
    skipped and counted in :attr:`n_duplicates`.
    """

    def __init__(
        self,
        *,
        address: str = "tcp://127.0.0.1:5556",
        topic: str = "helo/emotion",
        connect: bool = True,
        context: zmq.Context | None = None,
        rcv_hwm: int = 1000,
        curve_secret_key: str | Path | None = None,
        curve_server_key: str | Path | None = None,
    ) -> None:
        self.address = address
        self.topic = topic
        self._context = context if context is not None else zmq.Context.instance()
        self._socket: zmq.Socket | None = self._context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.RCVHWM, rcv_hwm)
        if (curve_secret_key is None) != (curve_server_key is None):
            self._socket.close(linger=0)
            raise ValueError("CURVE needs both the client secret key and the server public key")
        if curve_secret_key is not None:
            public, secret = zmq.auth.load_certificate(curve_secret_key)
            server_public, _ = zmq.auth.load_certificate(curve_server_key)
            if secret is None:
                self._socket.close(linger=0)
                raise ValueError(f"{curve_secret_key} holds no secret key (*.key_secret)")
            self._socket.curve_secretkey = secret
            self._socket.curve_publickey = public
            self._socket.curve_serverkey = server_public
        self._socket.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))
        if connect:
            self._socket.connect(address)
        else:
            self._socket.bind(address)
        self._poller = zmq.Poller()
        self._poller.register(self._socket, zmq.POLLIN)
        self.n_received = 0
        self.n_malformed = 0
        self.n_missed = 0
        self.n_duplicates = 0
        self._last_seq: dict[tuple[str, str], int] = {}

    def recv(self, timeout_s: float | None = None) -> tuple[str, dict[str, Any]] | None:
        """The next message as ``(topic, message)``, or None after ``timeout_s`` seconds.

        ``timeout_s=None`` waits indefinitely.
        """
        if self._socket is None:
            raise RuntimeError("subscriber is closed")
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            wait_ms = None
            if deadline is not None:
                wait_ms = max(0, round((deadline - time.monotonic()) * 1000))
            if not self._poller.poll(wait_ms):
                return None
            frames = self._socket.recv_multipart(flags=zmq.NOBLOCK)
            decoded = self._decode(frames)
            if decoded is not None:
                return decoded

    def _decode(self, frames: list[bytes]) -> tuple[str, dict[str, Any]] | None:
        try:
            if len(frames) != 2:
                raise ValueError(f"expected 2 frames, got {len(frames)}")
            topic = frames[0].decode("utf-8")
            message = json.loads(frames[1])
            if not isinstance(message, dict):
                raise ValueError("payload is not a JSON object")
        except (ValueError, UnicodeDecodeError) as err:
            self.n_malformed += 1
            log.warning("skipping malformed message on %s: %s", self.address, err)
            return None
        if not self._track_seq(message):
            self.n_duplicates += 1
            return None
        self.n_received += 1
        return topic, message

    def _track_seq(self, message: dict[str, Any]) -> bool:
        """Update the gap counter; False for a repeat of the last message (a cache re-send)."""
        seq = message.get("seq")
        if not isinstance(seq, int):
            return True
        key = (str(message.get("pipeline")), str(message.get("subject")))
        last = self._last_seq.get(key)
        if last is not None and seq == last:
            return False
        if last is not None and seq > last + 1:
            self.n_missed += seq - last - 1
        self._last_seq[key] = seq  # a smaller seq means the publisher restarted
        return True

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Messages as they arrive, indefinitely."""
        while True:
            received = self.recv(None)
            if received is not None:
                yield received

    def close(self) -> None:
        if self._socket is not None:
            self._poller.unregister(self._socket)
            self._socket.close(linger=0)
            self._socket = None

    def __enter__(self) -> ZmqSubscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ZmqSubscriber(address={self.address!r}, topic={self.topic!r})"
