"""``helo-stream replay``: clear errors, a finished replay, and clean stops on SIGINT/SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pylsl
import pytest
from click.testing import CliRunner

from helo_stream.cli.replay import replay_command

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO = REPO_ROOT / "recordings" / "demo" / "S0"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["/nonexistent/recording"], "no such file or folder"),
        (["{tmp}/notes.txt"], "unrecognised recording"),
        (["{tmp}/S1.pkl"], "not a readable WESAD pickle"),
        ([str(DEMO), "--start", "100000"], "past the end of the recording"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], match: str) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "S1.pkl").write_bytes(b"\x80\x02garbage")
    args = [a.format(tmp=tmp_path) for a in args]
    result = CliRunner().invoke(replay_command, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0]
    assert "Traceback" not in result.output


def test_replays_a_window_of_the_demo() -> None:
    subject = f"cli{os.getpid()}{time.monotonic_ns() % 10**6}"
    t = time.monotonic()
    result = CliRunner().invoke(
        replay_command,
        [str(DEMO), "--start", "45", "--duration", "10", "--speed", "20", "--subject", subject],
    )
    assert result.exit_code == 0, result.output
    assert 0.45 <= time.monotonic() - t < 5
    assert f"source_id={subject}-empatica_e4-bvp" in result.output
    assert f"source_id={subject}-protocol" in result.output
    assert "alignment ok (tap)" in result.output
    assert "replay finished" in result.output


def _start_child(subject: str) -> subprocess.Popen[str]:
    code = "from helo_stream.cli.replay import replay_command; replay_command()"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", code, str(DEMO), "--loop", "--subject", subject],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly(sig: signal.Signals) -> None:
    subject = f"sig{sig.value}x{os.getpid()}"
    child = _start_child(subject)
    try:
        found = pylsl.resolve_byprop("source_id", f"{subject}-empatica_e4-bvp", timeout=15)
        assert found, "the replay child never published its streams"
        child.send_signal(sig)
        output, _ = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, output
    assert f"stopped ({sig.name}); outlets closed" in output
    assert "Traceback" not in output
    gone = pylsl.resolve_byprop("source_id", f"{subject}-empatica_e4-bvp", timeout=1.0)
    assert gone == []
