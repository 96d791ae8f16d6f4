"""``helo-stream process``: files, errors and Ctrl-C."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from helo_stream.cli import main
from helo_stream.cli.process import write_json_lines
from helo_stream.config import load_pipeline
from helo_stream.pipeline.offline import process_recording
from helo_stream.sinks.message import validate_message

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "pipelines" / "wesad_live.yaml"
DEMO = REPO / "recordings" / "demo" / "S0"
#: Fields that say when and how fast this run was, not what it computed.
RUN_FIELDS = ("published_unix", "latency_ms")


def _lines(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "the file ends inside a line"
    return [json.loads(line) for line in text.splitlines()]


def _what(message: dict) -> dict:
    return {k: v for k, v in message.items() if k not in RUN_FIELDS}


def test_writes_one_valid_message_per_window(tmp_path: Path) -> None:
    out = tmp_path / "s0.jsonl"
    result = CliRunner().invoke(
        main, ["process", str(DEMO), "--pipeline", str(PIPELINE), "--out", str(out), "--step", "5"]
    )
    assert result.exit_code == 0, result.output
    messages = _lines(out)
    for message in messages:
        validate_message(message)
    expected = process_recording(load_pipeline(PIPELINE), DEMO, step_s=5.0)
    assert [_what(m) for m in messages] == [_what(m) for m in expected.messages()]
    assert f"{len(messages)} window(s) of S0" in result.output and "x real time" in result.output


def test_quiet_prints_nothing_and_stdout_works(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["process", str(DEMO), "--pipeline", str(PIPELINE), "--out", "-", "--step", "20", "-q"],
    )
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(messages) == 16 and [m["seq"] for m in messages] == list(range(16))


@pytest.mark.parametrize(
    ("recording", "pipeline", "expected"),
    [
        ("missing/S9", PIPELINE, "no such file or folder"),
        (str(DEMO), REPO / "pipelines" / "missing.yaml", "file not found"),
    ],
)
def test_bad_inputs_are_one_clear_error(tmp_path: Path, recording, pipeline, expected) -> None:
    out = tmp_path / "never.jsonl"
    result = CliRunner().invoke(
        main, ["process", recording, "--pipeline", str(pipeline), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and expected in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_a_recording_without_the_pipelines_streams(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "pipelines" / "wesad_chest_live.yaml").read_text())
    config["model"]["checkpoint"] = str(REPO / "checkpoints" / "helo_wesad_e4.pt")
    pipeline = tmp_path / "chest.yaml"
    pipeline.write_text(yaml.safe_dump(config))
    out = tmp_path / "never.jsonl"
    result = CliRunner().invoke(
        main, ["process", str(DEMO), "--pipeline", str(pipeline), "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "no 'respiban." in result.output and "stream for modality" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_parquet_needs_pyarrow_or_writes_it(tmp_path: Path) -> None:
    out = tmp_path / "s0.parquet"
    result = CliRunner().invoke(
        main,
        ["process", str(DEMO), "--pipeline", str(PIPELINE), "--out", str(out), "--step", "30"],
    )
    try:
        import pyarrow.parquet as pq
    except ImportError:
        assert result.exit_code == 2 and "pyarrow" in result.output
        assert not out.exists()
    else:
        assert result.exit_code == 0, result.output
        assert pq.read_table(out).num_rows == 11


def test_an_interrupted_writer_leaves_whole_lines(make_message) -> None:
    def messages():
        for seq in range(10):
            if seq == 4:
                raise KeyboardInterrupt
            yield make_message(seq=seq)

    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt) as interrupt:
        write_json_lines(messages(), out)
    assert interrupt.value.written == 4  # type: ignore[attr-defined]
    lines = out.getvalue().splitlines(keepends=True)
    assert len(lines) == 4 and all(line.endswith("\n") for line in lines)
    assert [json.loads(line)["seq"] for line in lines] == [0, 1, 2, 3]


def test_ctrl_c_stops_at_once_and_says_how_many_windows_were_written(tmp_path: Path) -> None:
    out = tmp_path / "partial.jsonl"
    # The per-window reference engine at the live step: long enough to be interrupted.
    proc = subprocess.Popen(
        [sys.executable, "-m", "helo_stream", "process", str(DEMO), "--pipeline", str(PIPELINE),
         "--out", str(out), "--step", "0.25", "--engine", "batch"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not out.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
        assert time.monotonic() - t0 < 5.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    report = proc.stderr.read() if proc.stderr else ""
    written = [line for line in report.splitlines() if "interrupted;" in line]
    assert written, report
    n = int(written[-1].split("interrupted; ")[1].split(" ")[0])
    messages = _lines(out)
    assert len(messages) == n
    for message in messages:
        validate_message(message)
