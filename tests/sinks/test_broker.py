"""The XSUB/XPUB broker with its last-value cache, over real tcp sockets."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
import zmq
from click.testing import CliRunner

from helo_stream.cli import main
from helo_stream.receivers.zmq_subscriber import ZmqSubscriber
from helo_stream.sinks.broker import Broker, BrokerError
from helo_stream.sinks.message import SCHEMA_ID, validate_message
from helo_stream.sinks.zmq_publisher import ZmqPublisher

REPO = Path(__file__).resolve().parents[2]
TOPIC = "helo/emotion"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def broker() -> Iterator[Broker]:
    running = Broker(frontend="tcp://127.0.0.1:*", backend="tcp://127.0.0.1:*").start()
    yield running
    running.stop()


def _wait_for(condition: Callable[[], bool], *, timeout_s: float = 5.0, poke=None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        if poke is not None:
            poke()
        time.sleep(0.02)


def _drain(sub: ZmqSubscriber, *, quiet_s: float = 0.3) -> list[dict[str, Any]]:
    got = []
    while (item := sub.recv(quiet_s)) is not None:
        got.append(item[1])
    return got


def _publishers_joined(
    broker: Broker, publishers: dict[str, ZmqPublisher], subjects: dict[str, list[str]], make
) -> None:
    """Publish seq 0 of every subject until the broker has cached all of them.

    A connecting XPUB drops what it sends before the broker's subscribe-all reaches it.
    """
    keys = {(TOPIC.encode(), name, s) for name, subs in subjects.items() for s in subs}

    def poke() -> None:
        for name, pub in publishers.items():
            for subject in subjects[name]:
                pub.publish(make(pipeline=name, subject=subject, seq=0))

    _wait_for(lambda: keys <= set(broker.cached_keys()), poke=poke)


def test_late_subscriber_gets_the_latest_message_of_every_subject(broker, make_message) -> None:
    subjects = {"wrist": ["S1", "S2"], "chest": ["S2", "S3"]}  # S2 in both pipelines
    publishers = {
        name: ZmqPublisher(address=broker.frontend_endpoint, topic=TOPIC, bind=False)
        for name in subjects
    }
    try:
        _publishers_joined(broker, publishers, subjects, make_message)
        latest = {}
        for seq in range(1, 6):
            for name, pub in publishers.items():
                for subject in subjects[name]:
                    msg = make_message(
                        pipeline=name, subject=subject, seq=seq, window_end_lsl=1060.0 + seq
                    )
                    pub.publish(msg)
                    latest[(name, subject)] = msg
        want = {(TOPIC.encode(), n, s): json.dumps(m).encode() for (n, s), m in latest.items()}

        def cache_is_current() -> bool:
            cache = broker.cached_frames()
            return all(cache.get(key, [b"", b""])[1] == body for key, body in want.items())

        _wait_for(cache_is_current)
        # The publishers never publish again: only the broker's cache can answer the newcomer.
        t0 = time.monotonic()
        with ZmqSubscriber(address=broker.backend_endpoint, topic=TOPIC) as late:
            first = late.recv(3.0)
            waited = time.monotonic() - t0
            got = ([first[1]] if first is not None else []) + _drain(late)
    finally:
        for pub in publishers.values():
            pub.close()
    assert first is not None and waited < 1.0
    assert {(m["pipeline"], m["subject"]): m for m in got} == latest
    assert len(got) == len(latest)  # one each: nothing older, no duplicate passed the filter
    assert broker.stats.resent >= len(latest)


def test_messages_pass_through_unchanged_and_in_order(broker, make_message) -> None:
    subjects = {"a": ["S1", "S2"], "b": ["S3"]}
    publishers = {
        name: ZmqPublisher(address=broker.frontend_endpoint, topic=TOPIC, bind=False)
        for name in subjects
    }
    try:
        _publishers_joined(broker, publishers, subjects, make_message)
        with ZmqSubscriber(address=broker.backend_endpoint, topic=TOPIC) as sub:
            _drain(sub)  # the cache answering this subscription
            sent: dict[tuple[str, str], list[dict]] = {}
            for seq in range(1, 151):
                for name, pub in publishers.items():
                    for subject in subjects[name]:
                        msg = make_message(pipeline=name, subject=subject, seq=seq)
                        pub.publish(msg)
                        sent.setdefault((name, subject), []).append(msg)
            got = _drain(sub, quiet_s=1.0)
            assert sub.n_missed == 0
    finally:
        for pub in publishers.values():
            pub.close()
    by_stream: dict[tuple[str, str], list[dict]] = {}
    for msg in got:
        by_stream.setdefault((msg["pipeline"], msg["subject"]), []).append(msg)
    assert by_stream == sent  # every message, byte-identical JSON, each stream in order
    for msg in got[:5]:
        validate_message(msg)


def test_subscriptions_reach_the_publishers(broker) -> None:
    """A subscription on the backend is forwarded upstream, so publishers' caches answer too."""
    upstream = zmq.Context.instance().socket(zmq.XPUB)
    upstream.setsockopt(zmq.LINGER, 0)
    upstream.connect(broker.frontend_endpoint)
    try:
        assert upstream.poll(3000), "the broker's subscribe-all never arrived"
        assert upstream.recv() == b"\x01"  # the broker caches everything
        with ZmqSubscriber(address=broker.backend_endpoint, topic="helo/emo"):
            assert upstream.poll(3000), "the subscription was not forwarded"
            assert upstream.recv() == b"\x01helo/emo"
    finally:
        upstream.close(linger=0)


def test_stop_is_clean_and_frees_the_ports(make_message) -> None:
    frontend = f"tcp://127.0.0.1:{_free_port()}"
    backend = f"tcp://127.0.0.1:{_free_port()}"
    running = Broker(frontend=frontend, backend=backend).start()
    pub = ZmqPublisher(address=frontend, topic=TOPIC, bind=False)
    try:
        _publishers_joined(running, {"p": pub}, {"p": ["S1"]}, make_message)
        t0 = time.monotonic()
        running.stop()
        assert time.monotonic() - t0 < 1.0
        assert running.closed
        running.stop()  # twice is harmless
        # A connecting socket left behind keeps reconnecting to the freed port, and Linux may
        # give such a loopback connect the port itself as its source port (a self-connection),
        # which would hold it; a publisher goes away with its broker.
        pub.close()
        with Broker(frontend=frontend, backend=backend) as again:  # ports are free at once
            assert again.frontend_endpoint == frontend
    finally:
        pub.close()


def test_port_in_use_and_remote_addresses_are_clear_errors() -> None:
    with Broker(frontend="tcp://127.0.0.1:*", backend="tcp://127.0.0.1:*") as first:
        with pytest.raises(BrokerError, match="already in use"):
            Broker(frontend=first.frontend_endpoint, backend="tcp://127.0.0.1:*")
        with pytest.raises(BrokerError, match="already in use"):
            Broker(frontend="tcp://127.0.0.1:*", backend=first.backend_endpoint)
        result = CliRunner().invoke(
            main,
            ["broker", "--frontend", first.frontend_endpoint, "--backend", "tcp://127.0.0.1:0"],
        )
    assert result.exit_code == 2
    assert "already in use" in result.output and "Traceback" not in result.output
    with pytest.raises(BrokerError, match="other machines"):
        Broker(frontend="tcp://0.0.0.0:5559")


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_cli_broker_between_a_live_pipeline_and_a_subscriber(tmp_path: Path) -> None:
    """The real ``helo-stream broker`` and ``helo-stream run`` as child processes."""
    frontend = f"tcp://127.0.0.1:{_free_port()}"
    backend = f"tcp://127.0.0.1:{_free_port()}"
    env = os.environ.copy()
    broker_proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "helo_stream",
            "broker",
            "--frontend",
            frontend,
            "--backend",
            backend,
            "--stats-every",
            "1",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    run_proc = None
    sub = None
    try:
        assert broker_proc.stderr is not None
        banner = broker_proc.stderr.readline()
        assert frontend in banner and backend in banner, banner
        sub = ZmqSubscriber(address=backend, topic=TOPIC)
        config = yaml.safe_load((REPO / "pipelines" / "wesad_live.yaml").read_text())
        config["model"]["checkpoint"] = str(REPO / "checkpoints" / "helo_wesad_e4.pt")
        config["devices"]["wrist"]["profile"] = str(REPO / "devices" / "empatica_e4.yaml")
        config["publisher"] = {"address": frontend, "topic": TOPIC, "bind": False}
        pipeline = tmp_path / "to_broker.yaml"
        pipeline.write_text(yaml.safe_dump(config))
        subject = f"broker-{uuid.uuid4().hex[:8]}"
        run_proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "helo_stream",
                "run",
                str(pipeline),
                "--quiet",
                "--subject",
                subject,
                "--replay",
                str(REPO / "recordings" / "demo" / "S0"),
                "--speed",
                "10",
                "--start",
                "20",
                "--duration",
                "64",
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        messages = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            got = sub.recv(0.2)
            if got is not None:
                messages.append(got[1])
            elif run_proc.poll() is not None:
                break
        assert run_proc.wait(timeout=10) == 0, run_proc.stderr.read() if run_proc.stderr else ""
        assert len(messages) >= 10
        for msg in messages:
            validate_message(msg)
            assert msg["schema"] == SCHEMA_ID and msg["subject"] == subject
        seqs = [m["seq"] for m in messages]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        # The pipeline has exited: only the broker can still answer a late subscriber.
        with ZmqSubscriber(address=backend, topic=TOPIC) as late:
            cached = late.recv(3.0)
        assert cached is not None and cached[1] == messages[-1]
        t0 = time.monotonic()
        broker_proc.send_signal(signal.SIGINT)
        assert broker_proc.wait(timeout=5) == 0
        assert time.monotonic() - t0 < 3.0
        report = broker_proc.stderr.read()
        counts = re.search(r"interrupted; received (\d+), forwarded (\d+)", report)
        assert counts is not None, report
        assert int(counts[1]) >= len(messages) and int(counts[2]) >= len(messages)
    finally:
        if sub is not None:
            sub.close()
        for proc in (run_proc, broker_proc):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
