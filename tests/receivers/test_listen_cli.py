"""`helo-stream listen` with a real publisher in a background thread."""

from __future__ import annotations

import json
import threading
import time

from click.testing import CliRunner
from rich.console import Console

from helo_stream.cli.listen import listen_command, render_live
from helo_stream.sinks.message import validate_message
from helo_stream.sinks.zmq_publisher import ZmqPublisher


class Background:
    """Publishes a message every 10 ms until stopped."""

    def __init__(self, make_message) -> None:
        self.pub = ZmqPublisher(address="tcp://127.0.0.1:*")
        self.stop = threading.Event()
        self.make_message = make_message
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        seq = 0
        while not self.stop.is_set():
            self.pub.publish(self.make_message(seq=seq))
            seq += 1
            time.sleep(0.01)

    def __enter__(self) -> Background:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5.0)
        self.pub.close()


def test_listen_count_prints_valid_json_lines(make_message) -> None:
    with Background(make_message) as bg:
        result = CliRunner().invoke(
            listen_command, ["--address", bg.pub.endpoint, "--count", "3", "--timeout", "10"]
        )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3
    messages = [json.loads(line) for line in lines]
    for msg in messages:
        validate_message(msg)
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(seqs)


def test_pretty_falls_back_to_json_lines_when_not_a_tty(make_message) -> None:
    with Background(make_message) as bg:
        result = CliRunner().invoke(
            listen_command,
            ["--address", bg.pub.endpoint, "--pretty", "--count", "2", "--timeout", "10"],
        )
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["schema"] for line in result.output.splitlines()] == [
        "helo-stream/emotion/1"
    ] * 2


def test_timeout_without_messages_exits_1() -> None:
    with ZmqPublisher(address="tcp://127.0.0.1:*") as pub:
        started = time.monotonic()
        result = CliRunner().invoke(listen_command, ["--address", pub.endpoint, "--timeout", "0.3"])
    assert result.exit_code == 1
    assert "no message" in result.output
    assert time.monotonic() - started < 5.0


def test_ctrl_c_exits_cleanly(monkeypatch) -> None:
    from helo_stream.receivers import zmq_subscriber

    def interrupted(self, timeout_s=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(zmq_subscriber.ZmqSubscriber, "recv", interrupted)
    result = CliRunner().invoke(listen_command, ["--address", "tcp://127.0.0.1:1"])
    assert result.exit_code == 0
    assert result.output == ""


def test_render_live_shows_top_labels_latency_and_health(make_message) -> None:
    latest = {
        "S2": make_message(subject="S2", seq=41),
        "S3": make_message(subject="S3", seq=7, modalities={"bvp": "ok"}),
    }
    console = Console(record=True, width=100, color_system=None)
    console.print(render_live(latest, received=48))
    text = console.export_text()
    assert "S2" in text and "S3" in text
    assert "top: stress" in text
    assert "seq 41" in text and "seq 7" in text
    assert "latency 3.5 ms" in text
    assert "eda:stale" in text and "acc:missing" in text
    assert "40.0%" in text and "20.0%" in text
    # Only the top 5 of 6 labels are shown per subject.
    assert text.count("amusement") == 2 and text.count("neutral") == 2
    assert "angry" not in text
    assert "48 message(s)" in text
    empty = Console(record=True, width=80, color_system=None)
    empty.print(render_live({}))
    assert "waiting" in empty.export_text()
