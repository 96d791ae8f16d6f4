"""DMER end to end: train on generated DMER-layout files, then ``run dmer_live.yaml --replay``.

The real command line trains a small checkpoint into ``tmp_path`` from ``.mat`` files in the
released layout, then runs a copy of ``pipelines/dmer_live.yaml`` pointing to it with
``--replay`` of one participant's file: real LSL outlets (the replay child), the pipeline fed by
the devices' ``features_stream``s, and a real ZeroMQ subscriber checking every message.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helo_stream.models.checkpoint import load_checkpoint
from helo_stream.receivers.zmq_subscriber import ZmqSubscriber
from helo_stream.recordings.dmer import LABELS_DMER
from helo_stream.sinks.message import validate_message

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "pipelines" / "dmer_live.yaml"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "helo_stream", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def _dmer_folder(dmer_files, folder: Path, n_participants: int) -> Path:
    folder.mkdir()
    for p in range(n_participants):
        data = dmer_files.layout(rows={0: 12, 1: 12, 2: 12}, seed=p)
        data["feas"][:, 145:] = abs(data["feas"][:, 145:]) / 256.0  # histogram-like face rows
        dmer_files.save(folder, str(p + 1), **data)
    return folder


def test_train_then_run_with_replay_of_a_dmer_file(tmp_path: Path, dmer_files) -> None:
    data = _dmer_folder(dmer_files, tmp_path / "dmer", 3)
    config = yaml.safe_load(PIPELINE.read_text())
    config["model"]["checkpoint"] = str(tmp_path / "ckpt" / "helo_dmer.pt")
    config["model"]["calibration_s"] = 5
    pipeline = tmp_path / "dmer_live.yaml"
    pipeline.write_text(yaml.safe_dump(config))

    # Without a checkpoint the pipeline says how to get one.
    missing = _cli("validate", str(pipeline), timeout=60)
    assert missing.returncode != 0
    assert "checkpoint file not found" in missing.stdout + missing.stderr
    assert "helo-stream train" in missing.stdout + missing.stderr

    trained = _cli(
        "train", str(pipeline), "--data", str(data), "--out", str(tmp_path / "ckpt"),
        "--epochs", "2", "--no-cache", "--no-progress", timeout=240,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert (tmp_path / "ckpt" / "helo_dmer.pt").is_file()
    assert "training helo on 3 subject(s)" in trained.stdout
    # The checkpoint says what it was trained on: DMER's PANAS items, not WESAD's.
    metadata = load_checkpoint(tmp_path / "ckpt" / "helo_dmer.pt").metadata
    assert metadata["dataset"].startswith("DMER") and "WESAD" not in metadata["dataset"]
    assert "DMER's 10 PANAS" in metadata["labels_source"]

    address = f"tcp://127.0.0.1:{_free_port()}"
    sub = ZmqSubscriber(address=address, topic="helo/emotion")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "helo_stream", "run", str(pipeline), "--quiet",
            "--address", address, "--replay", str(data / "2.mat"), "--speed", "8",
        ],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ.copy(),
    )  # fmt: skip
    messages = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            got = sub.recv(timeout_s=0.2)
            if got is not None:
                messages.append(got[1])
        while (got := sub.recv(timeout_s=0.5)) is not None:
            messages.append(got[1])
    finally:
        if proc.poll() is None:
            proc.kill()
        _, stderr = proc.communicate(timeout=30)
        sub.close()
    assert proc.returncode == 0, stderr[-3000:]
    # 3 clips of 12 rows: one 5-s window per second once a window is full, per clip.
    assert len(messages) >= 15, stderr[-3000:]
    for message in messages:
        validate_message(message)
        assert message["pipeline"] == "dmer_live" and message["subject"] == "2"
        assert tuple(message["labels"]) == LABELS_DMER
    assert [m["seq"] for m in messages] == list(range(len(messages)))
    assert any(set(m["modalities"].values()) == {"ok"} for m in messages)
    assert set(messages[0]["modalities"]) == {"eeg", "gsr", "ppg", "face"}


@pytest.fixture(scope="module")
def trained_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of dmer_live.yaml whose checkpoint ``helo-stream train`` made from 3 files."""
    import numpy as np
    import scipy.io

    root = tmp_path_factory.mktemp("dmer_trained")
    folder = root / "dmer"
    folder.mkdir()
    for p in range(3):
        rng = np.random.default_rng(p)
        vids = np.repeat([0.0, 1.0, 2.0], 12)[:, None]
        feas = rng.normal(size=(vids.size, 913))
        feas[:, 145:] = abs(feas[:, 145:]) / 256.0
        dis_label = rng.integers(1, 6, size=(32, 10)).astype(np.float64)
        scipy.io.savemat(
            folder / f"{p + 1}.mat", {"feas": feas, "vids": vids, "dis_label": dis_label}
        )
    config = yaml.safe_load(PIPELINE.read_text())
    config["model"]["checkpoint"] = str(root / "ckpt" / "helo_dmer.pt")
    config["model"]["calibration_s"] = 5
    pipeline = root / "dmer_live.yaml"
    pipeline.write_text(yaml.safe_dump(config))
    trained = _cli(
        "train", str(pipeline), "--data", str(folder), "--out", str(root / "ckpt"),
        "--epochs", "1", "--no-cache", "--no-progress", timeout=120,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    return pipeline


def test_run_without_replay_follows_a_separate_replay_of_features(
    trained_pipeline: Path, tmp_path: Path, dmer_files
) -> None:
    """`helo-stream replay 1.mat` in one process, a runner of dmer_live.yaml (no --replay) in
    another: the runner sees only features streams for eeg/gsr/ppg and reads them, and the
    1 Hz windows inside the clip are not flagged for coverage."""
    import threading
    import uuid

    from helo_stream.config import load_pipeline
    from helo_stream.pipeline.runner import PipelineRunner
    from helo_stream.sinks.zmq_publisher import ZmqPublisher

    subject = f"d{uuid.uuid4().hex[:8]}"
    data = dmer_files.layout(rows={4: 30}, seed=5)
    data["feas"][:, 145:] = abs(data["feas"][:, 145:]) / 256.0
    path = dmer_files.save(tmp_path, subject, **data)
    pipeline = load_pipeline(trained_pipeline)
    assert pipeline.modalities["eeg"].stream_key == "eeg"  # the raw stream, as configured
    replay = subprocess.Popen(
        [
            sys.executable, "-m", "helo_stream", "replay", str(path), "--speed", "3",
            "--wait-for-consumers", "30", "--no-progress",
        ],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ.copy(),
    )  # fmt: skip
    messages: list[dict] = []
    publisher = ZmqPublisher(address=f"tcp://127.0.0.1:{_free_port()}", topic="helo/emotion")
    runner = PipelineRunner(
        pipeline, subject=subject, publisher=publisher, on_message=messages.append
    )
    try:
        runner.open(timeout=20)
        fed = {name: mod.stream_key for name, mod in runner.pipeline.modalities.items()}
        assert fed == {"eeg": "eeg_de", "gsr": "gsr_features", "ppg": "ppg_features",
                       "face": "lbptop"}  # fmt: skip
        assert runner.processor.featurizer.stages["eeg"].srate == 1.0
        stop = threading.Event()
        timer = threading.Timer(60, stop.set)
        timer.start()
        runner.run(stop=stop, until=lambda: replay.poll() is not None)
        timer.cancel()
    finally:
        runner.close()
        publisher.close()
        if replay.poll() is None:
            replay.kill()
        _, stderr = replay.communicate(timeout=30)
    assert replay.returncode == 0, stderr[-3000:]
    # 30 rows, 5-s windows every second from one window after the first row: 25 windows.
    assert len(messages) >= 20, stderr[-3000:]
    for message in messages:
        validate_message(message)
        assert message["subject"] == subject
        assert set(message["modalities"].values()) == {"ok"}
        assert not message.get("quality"), message.get("quality")
    assert runner.stats.quality_counts == {}


def test_rows_on_the_window_bounds_are_not_a_coverage_gap() -> None:
    """1 Hz rows sit on both bounds of (end - 5, end]; clock correction moves them by
    microseconds to either side: 4 or 6 rows of a gap-free stream are not a gap or a drift,
    while a missing second (3 rows on top of that jitter) still is."""
    import numpy as np

    from helo_stream.windows.quality import assess_window

    end = 1000.0
    rows = np.random.default_rng(0).normal(size=(6, 3))
    for stamps in (end - np.arange(4.0)[::-1] - 1e-5, end - np.arange(6.0)[::-1] + 2e-5):
        q = assess_window(rows[: stamps.size], stamps, srate=1.0, length_s=5.0)
        assert q.flags == () and q.usable
    gap = np.array([end - 4, end - 3, end])
    assert "low_coverage" in assess_window(rows[:3], gap, srate=1.0, length_s=5.0).flags
    high_rate = assess_window(np.ones((1340, 1)) + np.arange(1340)[:, None], np.arange(1340) / 300,
                              srate=300.0, length_s=5.0)  # fmt: skip
    assert high_rate.flags == ("low_coverage",)  # 10 % short at 300 Hz is a gap, as before
