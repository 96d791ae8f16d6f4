"""The dashboard's web server: ZeroMQ in, throttled WebSocket updates out (Starlette + uvicorn).

One daemon thread per ``--connect`` address runs a :class:`ZmqSubscriber` into the shared
:class:`Hub`; ZeroMQ reconnects to a restarted pipeline by itself. An asyncio task flushes the
hub ``flush_hz`` times a second and queues the (already serialised) update for each browser;
a browser too slow to keep up gets a fresh snapshot instead of an ever-growing backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from helo_stream.dashboard.hub import Hub

__all__ = ["DashboardError", "bind_socket", "create_app", "serve"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(str(resources.files("helo_stream.dashboard") / "static"))
#: Updates queued per browser before it is considered too slow and resynchronised.
CLIENT_QUEUE = 32


class DashboardError(RuntimeError):
    """The dashboard cannot start (e.g. its port is taken)."""


class _Subscribers:
    """One subscriber thread per address, all feeding the hub."""

    def __init__(self, *, hub: Hub, addresses: list[str], topic: str) -> None:
        self.hub = hub
        self.addresses = addresses
        self.topic = topic
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for address in self.addresses:
            thread = threading.Thread(
                target=self._run, args=(address,), name=f"zmq-sub {address}", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def _run(self, address: str) -> None:
        from helo_stream.receivers.zmq_subscriber import ZmqSubscriber

        with ZmqSubscriber(address=address, topic=self.topic) as sub:
            while not self.stop.is_set():
                received = sub.recv(0.2)  # short polls: notice the stop quickly
                if received is not None:
                    self.hub.ingest(received[1], address=address)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(2.0)


class _Broadcaster:
    """Flushes the hub periodically and fans the update out to every connected browser."""

    def __init__(self, *, hub: Hub, flush_hz: float) -> None:
        self.hub = hub
        self.period_s = 1.0 / flush_hz
        self.clients: set[asyncio.Queue[str]] = set()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period_s)
            update = self.hub.flush()
            if update is None or not self.clients:
                continue
            text = json.dumps(update, allow_nan=False)
            for queue in list(self.clients):
                if queue.full():
                    _drain(queue)
                    queue.put_nowait(json.dumps(self.hub.snapshot(), allow_nan=False))
                else:
                    queue.put_nowait(text)


def _drain(queue: asyncio.Queue[str]) -> None:
    while not queue.empty():
        queue.get_nowait()


def create_app(
    *, hub: Hub, addresses: list[str], topic: str = "helo/emotion", flush_hz: float = 10.0
) -> Starlette:
    """The Starlette app: ``/`` the page, ``/static`` its files, ``/ws`` live updates.

    ``/api/snapshot`` returns the same JSON a browser gets on connecting (for scripts).
    """
    subscribers = _Subscribers(hub=hub, addresses=addresses, topic=topic)
    broadcaster = _Broadcaster(hub=hub, flush_hz=flush_hz)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        subscribers.start()
        task = asyncio.create_task(broadcaster.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            subscribers.close()

    async def index(request: Request) -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def snapshot(request: Request) -> JSONResponse:
        return JSONResponse({**hub.snapshot(), "addresses": addresses, "topic": topic})

    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=CLIENT_QUEUE)
        first = {**hub.snapshot(), "addresses": addresses, "topic": topic}
        await websocket.send_text(json.dumps(first, allow_nan=False))
        broadcaster.clients.add(queue)

        async def pump() -> None:
            while True:
                await websocket.send_text(await queue.get())

        async def until_closed() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    await websocket.receive_text()  # the page sends nothing; this sees it go

        tasks = [asyncio.create_task(pump()), asyncio.create_task(until_closed())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            broadcaster.clients.discard(queue)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                    await task

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/snapshot", snapshot),
            WebSocketRoute("/ws", live),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        lifespan=lifespan,
    )


def bind_socket(*, host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so a taken port is one clear error (and 0 works)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise DashboardError(
            f"cannot listen on {host}:{port} ({err.strerror}); is another dashboard running? "
            "Pick another --port (0 picks a free one)."
        ) from err
    sock.listen(128)
    sock.setblocking(False)
    return sock


def serve(*, app: Any, sock: socket.socket, log_level: str = "warning") -> None:
    """Run uvicorn on an already bound socket until Ctrl-C / SIGTERM."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, lifespan="on", ws="websockets-sansio")
    uvicorn.Server(config).run(sockets=[sock])
