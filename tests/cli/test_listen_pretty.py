"""``helo-stream listen --pretty`` in a real pseudo-terminal, and JSON lines without one.

The listener is the real command line in a child process; a real ZeroMQ publisher in this
process sends valid messages with the 24 labels of ``pipelines/wesad_live.yaml``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from helo_stream.sinks.message import build_emotion_message, validate_message
from helo_stream.sinks.zmq_publisher import ZmqPublisher

REPO = Path(__file__).resolve().parents[2]
PIPELINE = yaml.safe_load((REPO / "pipelines" / "wesad_live.yaml").read_text())
LABELS = tuple(PIPELINE["model"]["labels"])
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")

pytestmark = pytest.mark.timeout(60)


class Publisher:
    """Publishes a changing distribution for two subjects every 20 ms until stopped."""

    def __init__(self) -> None:
        self.pub = ZmqPublisher(address="tcp://127.0.0.1:*")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = np.random.default_rng(0)
        seq = 0
        while not self.stop.is_set():
            for subject in ("S2", "S3"):
                now = time.time()
                self.pub.publish(
                    build_emotion_message(
                        pipeline="wesad_live",
                        subject=subject,
                        seq=seq,
                        window_start_lsl=100.0 + seq * 0.25,
                        window_end_lsl=160.0 + seq * 0.25,
                        labels=LABELS,
                        distribution=rng.dirichlet(np.ones(len(LABELS))),
                        modalities={"bvp": "ok", "eda": "stale", "acc": "ok", "temp": "missing"},
                        latency_ms={"window_to_publish": 4.2, "features": 3.0, "model": 1.0},
                        model_name="helo",
                        checkpoint_sha256=hashlib.sha256(b"ckpt").hexdigest(),
                        published_lsl=160.0 + seq * 0.25,
                        published_unix=now,
                    )
                )
            seq += 1
            time.sleep(0.02)

    def __enter__(self) -> Publisher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5.0)
        self.pub.close()


def _listen(*args: str) -> list[str]:
    return [sys.executable, "-m", "helo_stream", "listen", *args]


def _bars_drawn(text: str) -> bool:
    """Every label with its bar and percentage ("label ███▍ 4.2%"), and both subjects."""
    return (
        all(re.search(rf"{label} [█▏▎▍▌▋▊▉ ]+\s+\d+\.\d%", text) for label in LABELS)
        and "S3" in text
        and "msg/s" in text
    )


def test_pretty_draws_bars_for_every_label_in_a_terminal() -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 80, 140, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "80"}
    with Publisher() as bg:
        proc = subprocess.Popen(
            _listen("--address", bg.pub.endpoint, "--pretty"),
            cwd=REPO,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        screen = ""
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.2)
                if ready:
                    try:
                        screen += os.read(master, 65536).decode("utf-8", "replace")
                    except OSError:
                        break
                if _bars_drawn(ANSI.sub("", screen)):  # a frame may arrive in several reads
                    break
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(master)
    text = ANSI.sub("", screen)
    assert "\x1b[" in screen, "no terminal control codes: not drawn as a live view"
    assert not any(line.startswith("{") for line in text.splitlines()), "JSON in a terminal"
    for label in LABELS:
        assert re.search(rf"{label} [█▏▎▍▌▋▊▉ ]+\s+\d+\.\d%", text), label
    assert "S2" in text and "S3" in text and "top:" in text
    assert "eda:stale" in text and "temp:missing" in text and "latency 4.2 ms" in text


def test_pretty_prints_json_lines_when_not_a_terminal(tmp_path: Path) -> None:
    out = tmp_path / "messages.jsonl"
    with Publisher() as bg:
        result = subprocess.run(
            _listen(
                "--address",
                bg.pub.endpoint,
                "--pretty",
                "--count",
                "5",
                "--timeout",
                "10",
                "--out",
                str(out),
            ),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    for line in lines:
        validate_message(json.loads(line))
    assert out.read_text().splitlines() == lines  # --out gets the same lines
