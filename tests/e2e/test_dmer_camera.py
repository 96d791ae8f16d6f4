"""A webcam is a device like any other: ``helo-stream camera VIDEO`` feeds dmer_live's face.

Real processes throughout: ``helo-stream train`` makes a checkpoint for a copy of
``pipelines/dmer_live.yaml`` from generated DMER-layout files; then ``helo-stream camera`` turns
a generated video into the face camera's LSL LBP-TOP stream, ``helo-stream replay`` publishes a
participant's EEG/GSR/PPG features (a file without video columns, so the face can only come from
the camera), and ``helo-stream run`` (no ``--replay``) reads both and publishes on ZeroMQ.
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
import pytest
import scipy.io
import yaml

from helo_stream.receivers.zmq_subscriber import ZmqSubscriber
from helo_stream.sinks.message import validate_message

cv2 = pytest.importorskip("cv2")

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "pipelines" / "dmer_live.yaml"
FPS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _helo(*args: str) -> list[str]:
    return [sys.executable, "-m", "helo_stream", *args]


def _video(path: Path, seconds: int) -> Path:
    """A moving disc on a gradient, lossless, as tests/drivers/test_camera.py."""
    width, height = 64, 48
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), FPS, (width, height))
    if not writer.isOpened():
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (width, height))
    assert writer.isOpened()
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(seconds * FPS):
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        frame[..., 0] = (2 * xx + i) % 256
        frame[..., 1] = (3 * yy) % 256
        cv2.circle(frame, (10 + i // 4, 24), 8, (40, 200, 250), -1)
        writer.write(frame)
    writer.release()
    return path


def _dmer_file(path: Path, *, rows: int, seed: int, video: bool) -> Path:
    rng = np.random.default_rng(seed)
    feas = rng.normal(size=(rows, 913 if video else 145))
    feas[:, 145:] = abs(feas[:, 145:]) / 256.0  # histogram-like face rows
    vids = np.zeros((rows, 1))
    dis_label = rng.integers(1, 6, size=(32, 10)).astype(np.float64)
    scipy.io.savemat(path, {"feas": feas, "vids": vids, "dis_label": dis_label})
    return path


def test_camera_feeds_the_face_modality_of_a_live_run(tmp_path: Path) -> None:
    data = tmp_path / "dmer"
    data.mkdir()
    for p in range(3):
        _dmer_file(data / f"{p + 1}.mat", rows=20, seed=p, video=True)
    config = yaml.safe_load(PIPELINE.read_text())
    config["model"]["checkpoint"] = str(tmp_path / "ckpt" / "helo_dmer.pt")
    config["model"]["calibration_s"] = 5
    pipeline = tmp_path / "dmer_live.yaml"
    pipeline.write_text(yaml.safe_dump(config))
    trained = subprocess.run(
        _helo("train", str(pipeline), "--data", str(data), "--out", str(tmp_path / "ckpt"),
              "--epochs", "1", "--no-cache", "--no-progress"),
        cwd=REPO, capture_output=True, text=True, timeout=90, env=os.environ.copy(),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]

    subject = f"cam{uuid.uuid4().hex[:8]}"
    physio = _dmer_file(tmp_path / f"{subject}.mat", rows=10, seed=9, video=False)
    video = _video(tmp_path / "face.avi", seconds=12)
    address = f"tcp://127.0.0.1:{_free_port()}"
    sub = ZmqSubscriber(address=address, topic="helo/emotion")
    env = os.environ.copy()
    popen = {"cwd": REPO, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True,
             "env": env}  # fmt: skip
    # The publishers wait for the run's inlets, so nothing is pushed before it listens.
    camera = subprocess.Popen(
        _helo("camera", str(video), "--subject", subject, "--wait-consumers", "40"), **popen
    )
    replay = subprocess.Popen(
        _helo("replay", str(physio), "--wait-for-consumers", "40", "--no-progress"), **popen
    )
    run = subprocess.Popen(
        _helo("run", str(pipeline), "--subject", subject, "--address", address, "--json"),
        **popen,
    )
    messages = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (camera.poll() is None or replay.poll() is None):
            assert run.poll() is None, run.communicate()[1][-3000:]
            got = sub.recv(timeout_s=0.2)
            if got is not None:
                messages.append(got[1])
        while (got := sub.recv(timeout_s=1.0)) is not None:
            messages.append(got[1])
    finally:
        for proc in (camera, replay):
            if proc.poll() is None:
                proc.kill()
        if run.poll() is None:
            run.send_signal(signal.SIGINT)
        try:
            _, run_err = run.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            run.kill()
            _, run_err = run.communicate()
        cam_err = camera.communicate()[1]
        sub.close()
    assert camera.returncode == 0, cam_err[-3000:]
    assert "published 12 LBP-TOP sample(s)" in cam_err
    assert run.returncode == 0, run_err[-3000:]
    # The face modality read the camera's stream and was usable in the windows it covered.
    assert len(messages) >= 3, run_err[-3000:]
    for message in messages:
        validate_message(message)
        assert message["subject"] == subject
    with_face = [m for m in messages if m["modalities"]["face"] == "ok"]
    assert len(with_face) >= 3, [m["modalities"] for m in messages]
    assert any(set(m["modalities"].values()) == {"ok"} for m in with_face)
    assert f"{subject}-face_camera-lbptop" in run_err  # the health report names its source
