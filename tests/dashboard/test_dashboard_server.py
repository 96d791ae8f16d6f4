"""The dashboard server over its real WebSocket, fed by two real ZeroMQ publishers.

No browser here (see test_dashboard_browser.py): a Python WebSocket client checks what every
browser receives: both pipelines, throttled updates, the message rate, and a publisher that
restarts on the same address being followed again.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
from click.testing import CliRunner
from websockets.sync.client import connect

from helo_stream.cli.dashboard import dashboard_command
from helo_stream.sinks.message import build_emotion_message
from helo_stream.sinks.zmq_publisher import ZmqPublisher

pytestmark = pytest.mark.timeout(60)

LABELS = ("neutral", "amusement", "stress", "calm")
PUBLISH_HZ = 200.0


class Pipeline:
    """A publisher sending ``PUBLISH_HZ`` messages a second for one subject."""

    def __init__(self, subject: str, address: str = "tcp://127.0.0.1:*") -> None:
        self.subject = subject
        self.pub = ZmqPublisher(address=address)
        self.endpoint = self.pub.endpoint
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        rng = np.random.default_rng(1)
        next_at = time.monotonic()
        while not self.stop.is_set():
            self.pub.publish(
                build_emotion_message(
                    pipeline="fake_rate",
                    subject=self.subject,
                    seq=self.sent,
                    window_start_lsl=float(self.sent),
                    window_end_lsl=self.sent + 60.0,
                    labels=LABELS,
                    distribution=rng.dirichlet(np.ones(len(LABELS))),
                    modalities={"bvp": "ok", "eda": "stale"},
                    latency_ms={"window_to_publish": 2.0, "features": 1.0, "model": 0.5},
                    model_name="helo",
                    checkpoint_sha256=hashlib.sha256(b"x").hexdigest(),
                    published_lsl=self.sent + 60.0,
                    published_unix=time.time(),
                )
            )
            self.sent += 1
            next_at += 1.0 / PUBLISH_HZ
            self.stop.wait(max(0.0, next_at - time.monotonic()))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5.0)
        self.pub.close()


def _receive_for(ws: object, seconds: float) -> list[dict]:
    got = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            got.append(json.loads(ws.recv(timeout=left)))  # type: ignore[attr-defined]
        except TimeoutError:
            break
    return got


def test_two_pipelines_throttled_rate_and_restart(spawn: Callable) -> None:
    first, second = Pipeline("S2"), Pipeline("S3")
    try:
        dashboard = spawn(
            "dashboard",
            "--connect",
            first.endpoint,
            "--connect",
            second.endpoint,
            "--port",
            "0",
            "--max-rate",
            "10",
        )
        url = dashboard.wait_for_line(r"http://(\S+)/", timeout_s=20).group(1)
        with connect(f"ws://{url}/ws") as ws:
            snapshot = json.loads(ws.recv(timeout=5))
            assert snapshot["type"] == "snapshot"
            assert snapshot["addresses"] == [first.endpoint, second.endpoint]
            _receive_for(ws, 1.0)  # warm up: both subscriptions are established
            window_s = 3.0
            updates = _receive_for(ws, window_s)
            per_subject = Counter(s["subject"] for u in updates for s in u["subjects"])
            assert set(per_subject) == {"S2", "S3"}
            # 200 messages/s each, at most ~10 updates/s each reach the browser
            for count in per_subject.values():
                assert 0.5 * 10 * window_s <= count <= 10 * window_s + 3
            last = {s["subject"]: s for u in updates for s in u["subjects"]}
            for state in last.values():
                assert state["status"] == "live"
                assert state["rate_hz"] == pytest.approx(PUBLISH_HZ, rel=0.35)
                assert state["latest"]["distribution"] and len(state["points"]["t"]) <= 3
                assert state["health"] == {"bvp": "ok", "eda": "stale"}
            assert {s["address"] for s in last.values()} == {first.endpoint, second.endpoint}

            # the first pipeline restarts on the same address, seq from 0 again
            address = first.endpoint
            first.close()
            time.sleep(0.3)
            first = Pipeline("S2", address=address)
            restarted = None
            deadline = time.monotonic() + 10
            while restarted is None and time.monotonic() < deadline:
                for update in _receive_for(ws, 0.5):
                    for s in update["subjects"]:
                        if s["subject"] == "S2" and s.get("n_restarts", 0) >= 1 and "latest" in s:
                            restarted = s
            assert restarted is not None, "the dashboard did not follow the restarted publisher"
            assert restarted["status"] == "live"
    finally:
        first.close()
        second.close()


def test_a_taken_port_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(dashboard_command, ["--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "--port" in result.output
