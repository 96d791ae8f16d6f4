"""Shared helpers of the robustness tests: simulated E4 outlets, small pipelines, a live runner.

Everything is real: LSL outlets and inlets on this machine, the real pipeline runner and model,
real ZeroMQ sockets on 127.0.0.1 and free ports, real files.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pylsl
import pytest
import yaml

from helo_stream.config import load_pipeline
from helo_stream.config.loader import Pipeline
from helo_stream.receivers.zmq_subscriber import ZmqSubscriber

REPO = Path(__file__).resolve().parents[2]
BASE_PIPELINE = REPO / "pipelines" / "wesad_live.yaml"
E4_PROFILE = REPO / "devices" / "empatica_e4.yaml"
DEMO = REPO / "recordings" / "demo" / "S0"

#: (LSL name, type, channels, rate) of the E4 streams, as in devices/empatica_e4.yaml.
E4_STREAMS: dict[str, tuple[str, str, int, float]] = {
    "bvp": ("E4_BVP", "PPG", 1, 64.0),
    "eda": ("E4_EDA", "EDA", 1, 4.0),
    "temp": ("E4_TEMP", "TEMP", 1, 4.0),
    "acc": ("E4_ACC", "ACC", 3, 32.0),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_address() -> str:
    return f"tcp://127.0.0.1:{free_port()}"


def new_subject() -> str:
    return f"rb-{uuid.uuid4().hex[:10]}"


def _signal(key: str, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Plausible physiology (a pulse wave, tonic EDA, skin temperature, a moving wrist)."""
    n = t.shape[0]
    if key == "bvp":
        return (50 * np.sin(2 * np.pi * 1.2 * t) + rng.normal(0, 2, n))[:, None]
    if key == "eda":
        return (2.0 + 0.2 * np.sin(2 * np.pi * 0.05 * t) + rng.normal(0, 0.01, n))[:, None]
    if key == "temp":
        return (33.0 + 0.05 * np.sin(2 * np.pi * 0.01 * t) + rng.normal(0, 0.01, n))[:, None]
    base = np.array([0.0, 0.0, 64.0])
    return base + 5 * np.sin(2 * np.pi * 0.7 * t)[:, None] + rng.normal(0, 1, (n, 3))


class E4Simulator:
    """The four E4 streams from this process's own outlets, pushed in real time by a thread.

    One stream at a time can be destroyed (:meth:`kill`) and recreated with the same source_id
    (:meth:`revive`), as a wristband that drops out and comes back. ``tamper[key]`` may rewrite
    each chunk ``(samples, timestamps_lsl) -> (samples, timestamps_lsl)`` before it is pushed.
    """

    def __init__(
        self,
        subject: str,
        *,
        keys: tuple[str, ...] = tuple(E4_STREAMS),
        streams: dict[str, tuple[str, str, int, float]] | None = None,
    ) -> None:
        self.subject = subject
        self.streams = {k: (streams or E4_STREAMS)[k] for k in keys}
        self.tamper: dict[str, Callable[[np.ndarray, np.ndarray], tuple[Any, Any]]] = {}
        self._outlets: dict[str, pylsl.StreamOutlet | None] = {}
        self._next_i: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rng = np.random.default_rng(0)
        self.t0_lsl = pylsl.local_clock()
        for key in self.streams:
            self._outlets[key] = self._make(key)
            self._next_i[key] = 0
        self._thread = threading.Thread(target=self._run, name="e4-sim", daemon=True)

    def source_id(self, key: str) -> str:
        return f"{self.subject}-empatica_e4-{key}"

    def _make(self, key: str) -> pylsl.StreamOutlet:
        name, type_, n_ch, rate = self.streams[key]
        info = pylsl.StreamInfo(name, type_, n_ch, rate, "float32", self.source_id(key))
        return pylsl.StreamOutlet(info, chunk_size=0, max_buffered=60)

    def start(self) -> E4Simulator:
        self._thread.start()
        return self

    def kill(self, key: str) -> None:
        """Destroy the outlet: consumers see the device vanish."""
        with self._lock:
            self._outlets[key] = None

    def revive(self, key: str) -> None:
        """A new outlet with the same source_id; samples continue on the real-time schedule."""
        outlet = self._make(key)
        with self._lock:
            rate = self.streams[key][3]
            self._next_i[key] = int(np.ceil((pylsl.local_clock() - self.t0_lsl) * rate))
            self._outlets[key] = outlet

    def _run(self) -> None:
        while not self._stop.is_set():
            now = pylsl.local_clock()
            with self._lock:
                for key, outlet in self._outlets.items():
                    if outlet is None:
                        continue
                    rate = self.streams[key][3]
                    i0, i1 = self._next_i[key], int((now - self.t0_lsl) * rate) + 1
                    if i1 <= i0:
                        continue
                    ts = self.t0_lsl + np.arange(i0, i1) / rate
                    samples = _signal(key, ts, self._rng)
                    n_ch = self.streams[key][2]
                    samples = samples[:, np.arange(n_ch) % samples.shape[1]]  # as declared
                    if key in self.tamper:
                        samples, ts = self.tamper[key](samples, ts)
                    self._next_i[key] = i1
                    if len(ts):
                        outlet.push_chunk(np.ascontiguousarray(samples, dtype=np.float32), list(ts))
            time.sleep(0.02)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        with self._lock:
            self._outlets.clear()


def write_pipeline(
    tmp_path: Path,
    *,
    subject: str | None,
    address: str,
    update: Callable[[dict], None] | None = None,
    length_s: float = 3.0,
    step_s: float = 0.25,
) -> Path:
    """A copy of pipelines/wesad_live.yaml with short windows and fast health timeouts."""
    config = yaml.safe_load(BASE_PIPELINE.read_text())
    config["subject"] = subject
    config["resolve_timeout_s"] = 5
    config["window"] = {
        "length_s": length_s,
        "step_s": step_s,
        "stale_after_s": 0.5,
        "missing_after_s": 1.5,
    }
    config["model"]["checkpoint"] = str(BASE_PIPELINE.parent / config["model"]["checkpoint"])
    config["devices"]["wrist"]["profile"] = str(E4_PROFILE)
    config["publisher"]["address"] = address
    if update is not None:
        update(config)
    path = tmp_path / f"pipeline-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class LiveRunner:
    """A :class:`PipelineRunner` looping in a thread of this process, plus a SUB socket."""

    def __init__(self, pipeline: Pipeline, *, subject: str, **kwargs: Any) -> None:
        from helo_stream.pipeline.runner import PipelineRunner

        self.address = pipeline.config.publisher.address
        self.runner = PipelineRunner(pipeline, subject=subject, **kwargs)
        self.sub = ZmqSubscriber(address=self.address)
        self.messages: list[dict] = []
        self.received_wall: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> LiveRunner:
        self.runner.open()

        def loop() -> None:
            try:
                self.runner.run(stop=self._stop)
            except BaseException as err:  # surfaced by the test through .error
                self.error = err

        self._thread = threading.Thread(target=loop, name="runner", daemon=True)
        self._thread.start()
        return self

    def collect_until(self, predicate: Callable[[dict], bool], *, timeout_s: float) -> dict:
        """Receive until a message satisfies ``predicate``; that message."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.error is None, self.error
            got = self.sub.recv(timeout_s=0.1)
            if got is None:
                continue
            self.messages.append(got[1])
            self.received_wall.append(time.monotonic())
            if predicate(got[1]):
                return got[1]
        raise AssertionError(
            f"no matching message within {timeout_s} s; last: "
            f"{self.messages[-1]['modalities'] if self.messages else None}"
        )

    def collect_for(self, seconds: float) -> list[dict]:
        start = len(self.messages)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.error is None, self.error
            got = self.sub.recv(timeout_s=0.1)
            if got is not None:
                self.messages.append(got[1])
                self.received_wall.append(time.monotonic())
        return self.messages[start:]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.runner.close()
        self.sub.close()


@pytest.fixture
def subject() -> str:
    return new_subject()


@pytest.fixture
def simulator(subject: str) -> Iterator[Callable[..., E4Simulator]]:
    made: list[E4Simulator] = []

    def make(**kwargs: Any) -> E4Simulator:
        sim = E4Simulator(subject, **kwargs)
        made.append(sim)
        return sim.start()

    yield make
    for sim in made:
        sim.close()


@pytest.fixture
def live(subject: str, tmp_path: Path) -> Iterator[Callable[..., LiveRunner]]:
    made: list[LiveRunner] = []

    def make(update: Callable[[dict], None] | None = None, **kwargs: Any) -> LiveRunner:
        path = write_pipeline(tmp_path, subject=subject, address=free_address(), update=update)
        run = LiveRunner(load_pipeline(path), subject=subject, **kwargs)
        made.append(run)
        return run.start()

    yield make
    for run in made:
        run.close()


def run_cli(*args: str, timeout: float = 120, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``python -m helo_stream ARGS`` to completion, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "helo_stream", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )
