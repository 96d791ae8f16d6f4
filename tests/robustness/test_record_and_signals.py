"""Point 6: nothing lost (``--record`` survives ``kill -9``); SIGINT and SIGTERM stop it all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pylsl
import pytest

from helo_stream.receivers.zmq_subscriber import ZmqSubscriber
from helo_stream.sinks.recorder import read_messages, read_stream

from .conftest import DEMO, REPO, free_address, new_subject, write_pipeline

pytestmark = [pytest.mark.timeout(120), pytest.mark.e2e]


class CliRun:
    """``helo-stream run --replay DEMO --loop --record DIR`` as a child, with a subscriber."""

    def __init__(self, tmp_path: Path, *extra: str) -> None:
        self.subject = new_subject()
        self.address = free_address()
        pipeline = write_pipeline(
            tmp_path, subject=None, address=self.address, length_s=10.0, step_s=0.25
        )
        self.record = tmp_path / "record"
        self.sub = ZmqSubscriber(address=self.address)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "helo_stream",
                "run",
                str(pipeline),
                "--quiet",
                "--subject",
                self.subject,
                "--replay",
                str(DEMO),
                "--speed",
                "5",
                "--loop",
                "--record",
                str(self.record),
                *extra,
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.seen: list[tuple[float, dict]] = []

    def collect(self, n: int, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.seen) < n:
            assert time.monotonic() < deadline, "too few messages"
            assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else ""
            got = self.sub.recv(0.2)
            if got is not None:
                self.seen.append((time.time(), got[1]))

    def replay_streams(self) -> list[pylsl.StreamInfo]:
        return [s for s in pylsl.resolve_streams(1.0) if s.source_id().startswith(self.subject)]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sub.close()


def test_kill_9_loses_at_most_the_last_second(tmp_path: Path) -> None:
    run = CliRun(tmp_path)
    try:
        run.collect(40)
        time.sleep(1.0)
        kill_unix = time.time()
        os.kill(run.proc.pid, signal.SIGKILL)
        run.proc.wait(timeout=5)
        while (got := run.sub.recv(0.3)) is not None:  # what was already in flight
            run.seen.append((time.time(), got[1]))
    finally:
        run.close()

    recorded = read_messages(run.record)
    seqs = [m["seq"] for m in recorded]
    assert seqs == list(range(len(seqs))), "the record has holes"
    by_seq = {m["seq"]: m for m in recorded}
    seen = [m for _, m in run.seen]
    older = [m for m in seen if m["published_unix"] < kill_unix - 1.0]
    assert older, "nothing was published a second before the kill"
    for msg in older:
        assert by_seq.get(msg["seq"]) == msg, f"seq {msg['seq']} lost"
    # Raw input: every sample that fed those windows is on disk, in order, fully parsable.
    newest_end = max(m["window"]["end"] for m in older)
    for modality in ("bvp", "eda", "temp", "acc"):
        labels, samples, ts = read_stream(run.record, modality)
        assert samples.shape == (ts.shape[0], len(labels)) and ts.size
        assert np.all(np.diff(ts) > 0)
        assert ts[-1] >= newest_end - 0.3, f"{modality}: raw samples of the last second lost"
    session = json.loads((run.record / "session.json").read_text())
    assert session["subject"] == run.subject
    # The replay child died with its parent (no orphan keeps publishing fake devices).
    deadline = time.monotonic() + 10  # generous: the machine may be busy
    while run.replay_streams():
        assert time.monotonic() < deadline, "replay child survived kill -9 of the pipeline"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_everything_within_2_s(tmp_path: Path, signum: int) -> None:
    run = CliRun(tmp_path)
    try:
        run.collect(5)
        t0 = time.monotonic()
        run.proc.send_signal(signum)
        run.proc.wait(timeout=5)
        stopped_s = time.monotonic() - t0
        stderr = run.proc.stderr.read() if run.proc.stderr else ""
    finally:
        run.close()
    assert stopped_s < 2.0, f"took {stopped_s:.2f} s"
    assert run.proc.returncode == 0, stderr
    assert "interrupted" in stderr and "health bvp: " in stderr
    text = (run.record / "messages.jsonl").read_text()
    assert text.endswith("\n")  # files closed after a complete record
    assert len(read_messages(run.record)) >= 5
    assert run.replay_streams() == []
    # the publisher's port is free again: a new socket can bind it at once
    import zmq

    sock = zmq.Context.instance().socket(zmq.PUB)
    try:
        sock.bind(run.address)
    finally:
        sock.close(linger=0)


def test_readers_stop_at_the_last_complete_record(tmp_path: Path, make_message) -> None:
    from helo_stream.sinks.recorder import SessionRecorder

    with SessionRecorder(tmp_path, flush_s=0.0) as rec:
        rec.open_stream("acc", channel_labels=["x", "y", "z"])
        rec.samples("acc", np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0]))
        rec.message(make_message(seq=0))
        rec.message(make_message(seq=1))
    # a crash in the middle of a write leaves a cut last line
    with open(tmp_path / "messages.jsonl", "a") as fh:
        fh.write('{"schema": "helo-str')
    with open(tmp_path / "streams" / "acc.csv", "a") as fh:
        fh.write("3.0,1.5")
    assert [m["seq"] for m in read_messages(tmp_path)] == [0, 1]
    labels, samples, ts = read_stream(tmp_path, "acc")
    assert labels == ["x", "y", "z"] and ts.tolist() == [1.0, 2.0]
    np.testing.assert_array_equal(samples, np.arange(6.0).reshape(2, 3))
