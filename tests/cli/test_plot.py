"""``helo-stream plot`` on a session recorded by ``helo-stream listen --markers --out``.

Everything is real: ``listen`` runs as a child process, then ``helo-stream run --replay`` plays
60 s of the demo recording (110-170 s: the end of baseline, then the start of stress) at 5x
through a pipeline with 10 s windows. The file gets the messages and the protocol markers.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import matplotlib.image
import pytest
import yaml

from helo_stream.plots.timeline import conditions_from_markers, read_session

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "pipelines" / "wesad_live.yaml"
DEMO = REPO / "recordings" / "demo" / "S0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "helo_stream", *args]


@pytest.fixture(scope="module")
def session_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("plot")
    config = yaml.safe_load(PIPELINE.read_text())
    config["window"].update(length_s=10.0, step_s=0.25)
    config["model"]["checkpoint"] = str((PIPELINE.parent / config["model"]["checkpoint"]).resolve())
    config["devices"]["wrist"]["profile"] = str(REPO / "devices" / "empatica_e4.yaml")
    pipeline = tmp / "fast.yaml"
    pipeline.write_text(yaml.safe_dump(config))
    subject = f"plot-{uuid.uuid4().hex[:8]}"
    address = f"tcp://127.0.0.1:{_free_port()}"
    out = tmp / "session.jsonl"
    listen = subprocess.Popen(
        _cli("listen", "--address", address, "--markers", "--out", str(out)),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run = subprocess.run(
            _cli(
                "run",
                str(pipeline),
                "--replay",
                str(DEMO),
                "--speed",
                "5",
                "--start",
                "110",
                "--duration",
                "60",
                "--subject",
                subject,
                "--address",
                address,
                "--quiet",
            ),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=100,
            env=os.environ.copy(),
        )
        assert run.returncode == 0, run.stderr
        time.sleep(0.5)  # the last message and marker reach the listener
    finally:
        listen.send_signal(signal.SIGINT)
        try:
            listen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            listen.kill()
            listen.wait()
    assert listen.returncode == 0, listen.stderr.read() if listen.stderr else ""
    return out, subject


def test_listen_records_messages_and_markers_on_one_clock(session_file: tuple[Path, str]) -> None:
    path, subject = session_file
    records = [json.loads(line) for line in path.read_text().splitlines()]
    session = read_session(path, progress=False)
    assert session.n_skipped == 0 and len(session.messages) + len(session.markers) == len(records)
    assert len(session.messages) > 150  # (60 - 10) s of windows every 0.25 s
    assert {m["subject"] for m in session.messages} == {subject}
    # the replay clips baseline at 110 s (ends 130 s) and stress at 170 s (starts 155 s)
    assert [m["marker"] for m in session.markers] == [
        "baseline",
        "end:baseline",
        "stress",
        "end:stress",
    ]
    assert {m["subject"] for m in session.markers} == {subject}
    lsl = [m["lsl"] for m in session.markers]
    gaps = [b - a for a, b in itertools.pairwise(lsl)]
    assert gaps == pytest.approx([20.0, 25.0, 15.0], abs=0.05)
    first_end = session.messages[0]["window"]["end"]
    last_end = session.messages[-1]["window"]["end"]
    # same LSL clock: the first window ends 10 s (one window) after playback starts
    assert first_end - lsl[0] == pytest.approx(10.0, abs=0.3)
    assert last_end == pytest.approx(lsl[-1], abs=0.5)
    conditions = conditions_from_markers(session.markers)
    assert [(c.name, round(c.end - c.start)) for c in conditions] == [
        ("baseline", 20),
        ("stress", 15),
    ]


def test_plot_draws_the_session(session_file: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = session_file
    png = tmp_path / "timeline.png"
    result = subprocess.run(
        _cli("plot", str(path), "--out", str(png)),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "conditions: baseline, stress" in result.stderr
    image = matplotlib.image.imread(png)
    assert image.shape[0] > 300 and image.shape[1] > 1000
    assert image[..., :3].std() > 0.1  # drawn, not blank
    # the stress strip is drawn in its colour (#d62728 at alpha 0.85 on white)
    red = (abs(image[..., 0] - 0.86) < 0.05) & (abs(image[..., 1] - 0.29) < 0.06)
    assert red.sum() > 2000


def test_plot_without_messages_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text('{"marker": "stress", "lsl": 1.0, "subject": "S2"}\nnot json\n')
    result = subprocess.run(
        _cli("plot", str(path)), cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "no emotion messages" in result.stderr


def test_marker_recorder_survives_a_stream_that_goes_away() -> None:
    """Replays come and go (other subjects' too): a lost marker stream must not stop recording."""
    import pylsl

    from helo_stream.receivers.markers_inlet import MarkerRecorder

    got: list[dict] = []
    tag = uuid.uuid4().hex[:8]

    def outlet(subject: str) -> pylsl.StreamOutlet:
        info = pylsl.StreamInfo(
            "HeLo_Protocol", "Markers", 1, pylsl.IRREGULAR_RATE, "string", f"{subject}-protocol"
        )
        return pylsl.StreamOutlet(info)

    def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            assert time.monotonic() < deadline, f"timed out; got {got}"
            time.sleep(0.05)

    def mine() -> list[dict]:
        return [g for g in got if g["subject"].endswith(tag)]  # not other tests' replays

    recorder = MarkerRecorder(on_marker=got.append).start()
    try:
        first = outlet(f"gone-{tag}")
        wait_for(first.have_consumers)
        first.push_sample(["baseline"])
        wait_for(lambda: len(mine()) == 1)
        del first  # the replay ends: its stream is lost
        time.sleep(1.0)
        second = outlet(f"kept-{tag}")
        wait_for(second.have_consumers)
        t = pylsl.local_clock()
        second.push_sample(["stress"], t)
        second.push_sample(["end:stress"], t + 5.0)
        wait_for(lambda: len(mine()) == 3)
    finally:
        recorder.close()
    assert [(g["subject"], g["marker"]) for g in mine()] == [
        (f"gone-{tag}", "baseline"),
        (f"kept-{tag}", "stress"),
        (f"kept-{tag}", "end:stress"),
    ]
    assert mine()[2]["lsl"] - mine()[1]["lsl"] == pytest.approx(5.0, abs=1e-3)


def test_plot_tells_appended_runs_apart(session_file: tuple[Path, str], tmp_path: Path) -> None:
    """``listen --out`` appends: two runs in one file are split at the seq restart."""
    from helo_stream.plots.timeline import split_runs

    path, subject = session_file
    doubled = tmp_path / "twice.jsonl"
    doubled.write_text(path.read_text() * 2)
    runs = split_runs(read_session(doubled, progress=False))
    assert len(runs) == 2 and all(r.subject == subject for r in runs)
    single = read_session(path, progress=False)
    for run in runs:
        assert run.messages == single.messages
        assert [m["marker"] for m in run.markers] == [
            "baseline",
            "end:baseline",
            "stress",
            "end:stress",
        ]
    result = subprocess.run(
        _cli("plot", str(doubled), "--run", "0", "--out", str(tmp_path / "first.png")),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "has 2 runs" in result.stderr and "drew run 0" in result.stderr
    assert f"{len(single.messages)} message(s) of 1 subject(s)" in result.stderr
