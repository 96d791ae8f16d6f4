"""End to end: a recording replayed through real LSL, the pipeline, a real ZeroMQ subscriber.

Each test runs the real command line (``python -m helo_stream run ... --replay ...``) as a child
process, exactly as a user would, and subscribes with a real SUB socket.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pylsl
import pytest
import yaml

from helo_stream.receivers.zmq_subscriber import ZmqSubscriber
from helo_stream.sinks.message import SCHEMA_ID, validate_message

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "pipelines" / "wesad_live.yaml"
DEMO = REPO / "recordings" / "demo" / "S0"
LENGTH_S = 60.0
STEP_S = 0.25


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveRun:
    """``helo-stream run`` in a child process and a SUB socket collecting what it publishes."""

    def __init__(self, pipeline: Path, *args: str) -> None:
        self.subject = f"e2e-{uuid.uuid4().hex[:8]}"
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.sub = ZmqSubscriber(address=self.address, topic="helo/emotion")
        cmd = [
            sys.executable,
            "-m",
            "helo_stream",
            "run",
            str(pipeline),
            "--quiet",
            "--subject",
            self.subject,
            "--address",
            self.address,
            *args,
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        self.messages: list[dict] = []
        self.received_wall: list[float] = []

    def collect(
        self, *, until_exit: bool = True, n: int | None = None, timeout_s: float = 180.0
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = self.sub.recv(timeout_s=0.2)
            if got is not None:
                self.messages.append(got[1])
                self.received_wall.append(time.monotonic())
                if n is not None and len(self.messages) >= n:
                    return
            elif until_exit and self.proc.poll() is not None:
                # the publisher is gone and nothing is left in flight
                return
        raise AssertionError(f"timed out; stderr:\n{self.stderr()}")

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read() if self.proc.stderr else ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sub.close()


def _check_messages(messages: list[dict], subject: str) -> None:
    assert messages, "no message received"
    for msg in messages:
        validate_message(msg)
        assert msg["schema"] == SCHEMA_ID
        assert msg["subject"] == subject
        assert abs(sum(msg["distribution"]) - 1.0) < 1e-9
        assert msg["top"] == msg["labels"][int(np.argmax(msg["distribution"]))]
    seqs = [m["seq"] for m in messages]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "seq has gaps"
    ends = np.array([m["window"]["end"] for m in messages])
    np.testing.assert_allclose(np.diff(ends), STEP_S, atol=1e-6)
    starts = np.array([m["window"]["start"] for m in messages])
    np.testing.assert_allclose(ends - starts, LENGTH_S, atol=1e-6)


def _expected_windows(duration_s: float) -> int:
    # All E4 streams start together; the slowest (4 Hz) ends 0.25 s before the duration.
    return int(np.floor((duration_s - 0.25 - LENGTH_S) / STEP_S + 1e-9)) + 1


def test_demo_replay_publishes_every_window() -> None:
    duration = 90.0
    run = LiveRun(
        PIPELINE,
        "--replay",
        str(DEMO),
        "--speed",
        "10",
        "--start",
        "20",
        "--duration",
        str(duration),
    )
    try:
        run.collect()
        assert run.proc.returncode == 0, run.stderr()
    finally:
        run.close()
    _check_messages(run.messages, run.subject)
    assert run.messages[0]["seq"] == 0
    assert abs(len(run.messages) - _expected_windows(duration)) <= 1
    assert all(set(m["modalities"].values()) == {"ok"} for m in run.messages)
    assert all(m["model"]["name"] == "helo" for m in run.messages)
    assert len({m["model"]["checkpoint_sha256"] for m in run.messages}) == 1


def test_message_rate_matches_the_step(tmp_path: Path) -> None:
    """At real-time speed the messages arrive once per step of wall time."""
    config = yaml.safe_load(PIPELINE.read_text())
    config["window"].update(length_s=10.0, step_s=0.5)
    config["model"]["checkpoint"] = str((PIPELINE.parent / config["model"]["checkpoint"]).resolve())
    config["devices"]["wrist"]["profile"] = str(REPO / "devices" / "empatica_e4.yaml")
    pipeline = tmp_path / "fast.yaml"
    pipeline.write_text(yaml.safe_dump(config))
    run = LiveRun(
        pipeline, "--replay", str(DEMO), "--speed", "1", "--start", "30", "--duration", "22"
    )
    try:
        run.collect()
        assert run.proc.returncode == 0, run.stderr()
    finally:
        run.close()
    assert len(run.messages) >= 20
    ends = np.array([m["window"]["end"] for m in run.messages])
    np.testing.assert_allclose(np.diff(ends), 0.5, atol=1e-6)
    wall = np.array(run.received_wall)
    rate = (len(wall) - 1) / (wall[-1] - wall[0])
    assert rate == pytest.approx(2.0, rel=0.1)


def test_ctrl_c_stops_pipeline_and_replay() -> None:
    run = LiveRun(PIPELINE, "--replay", str(DEMO), "--speed", "10", "--loop")
    try:
        run.collect(until_exit=False, n=5, timeout_s=120)
        t0 = time.monotonic()
        run.proc.send_signal(signal.SIGINT)
        run.proc.wait(timeout=5)
        assert time.monotonic() - t0 < 3.0
        assert run.proc.returncode == 0, run.stderr()
        assert "interrupted" in run.stderr()
    finally:
        run.close()
    # the replay child has gone too: its outlets are no longer visible
    time.sleep(0.5)
    left = [s for s in pylsl.resolve_streams(1.5) if s.source_id().startswith(run.subject)]
    assert left == []


def test_real_wesad_subject_at_ten_times_speed(wesad_e4: Path) -> None:
    duration = 120.0
    run = LiveRun(
        PIPELINE,
        "--replay",
        str(wesad_e4 / "S2"),
        "--speed",
        "10",
        "--start",
        "1500",
        "--duration",
        str(duration),
    )
    try:
        run.collect()
        assert run.proc.returncode == 0, run.stderr()
    finally:
        run.close()
    _check_messages(run.messages, run.subject)
    assert abs(len(run.messages) - _expected_windows(duration)) <= 1


def test_one_run_serves_several_subjects() -> None:
    """Two subjects, one process and one model: each gets every window, in order, gapless."""
    other = f"e2e-{uuid.uuid4().hex[:8]}"
    duration = 75.0
    run = LiveRun(
        PIPELINE,
        "--subject",
        other,
        "--replay",
        str(DEMO),
        "--speed",
        "5",
        "--start",
        "20",
        "--duration",
        str(duration),
    )
    try:
        run.collect()
        assert run.proc.returncode == 0, run.stderr()
    finally:
        run.close()
    by_subject = {s: [m for m in run.messages if m["subject"] == s] for s in (run.subject, other)}
    assert {m["subject"] for m in run.messages} == set(by_subject)
    for subject, messages in by_subject.items():
        _check_messages(messages, subject)
        assert messages[0]["seq"] == 0
        assert abs(len(messages) - _expected_windows(duration)) <= 1


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_stream_follows_the_person_on_a_real_stress_test(wesad_e4: Path) -> None:
    """S2 replayed live (baseline through the TSST) with the shipped checkpoint: p(stressed) is
    higher in the TSST than at baseline. S2 is a training subject of that checkpoint, so this
    guards the live path (running normalisation, condition read-out, publishing); the LOSO
    report is the evidence of what the model does on new people."""
    from helo_stream.recordings import load_recording

    recording = load_recording(wesad_e4 / "S2")
    start = 1500.0  # recording seconds: a few minutes before the baseline begins
    intervals = {c.condition: c for c in recording.conditions}
    end_of_stress = intervals["stress"].end - recording.start
    duration = end_of_stress - start
    run = LiveRun(
        PIPELINE,
        "--replay",
        str(wesad_e4 / "S2"),
        "--speed",
        "25",
        "--start",
        str(start),
        "--duration",
        f"{duration:.0f}",
    )
    try:
        run.collect(timeout_s=540.0)
        assert run.proc.returncode == 0, run.stderr()
    finally:
        run.close()
    _check_messages(run.messages, run.subject)
    # Window ends are LSL stamps; the replay keeps the recording's spacing, and the first window
    # ends one window length after the replay's start.
    ends = np.array([m["window"]["end"] for m in run.messages])
    t_rec = recording.start + start + LENGTH_S + (ends - ends[0])
    label = run.messages[0]["labels"].index("stressed")
    p_stressed = np.array([m["distribution"][label] for m in run.messages])

    def inside(name: str) -> np.ndarray:
        c = intervals[name]
        return (t_rec - LENGTH_S >= c.start + 30.0) & (t_rec <= c.end - 30.0)

    stress, baseline = p_stressed[inside("stress")], p_stressed[inside("baseline")]
    assert len(stress) > 1000 and len(baseline) > 2000
    assert stress.mean() > baseline.mean(), (stress.mean(), baseline.mean())
