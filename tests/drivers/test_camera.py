"""``helo-stream camera``: a generated video becomes an LSL LBP-TOP stream, read back live."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

cv2 = pytest.importorskip("cv2")
pylsl = pytest.importorskip("pylsl")

from helo_stream.cli.camera import camera_command  # noqa: E402
from helo_stream.drivers.camera import (  # noqa: E402
    CameraError,
    CameraLbpTopSource,
    FaceCropper,
    to_gray,
)
from helo_stream.signal.lbptop import lbp_top  # noqa: E402

FPS = 30


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s at 30 fps of a moving disc and a sliding bar on a gradient (lossless codec)."""
    path = tmp_path_factory.mktemp("video") / "shapes.avi"
    width, height = 64, 48
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), FPS, (width, height))
    if not writer.isOpened():
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (width, height))
    assert writer.isOpened()
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(3 * FPS):
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        frame[..., 0] = (2 * xx + i) % 256
        frame[..., 1] = (3 * yy) % 256
        cv2.circle(frame, (10 + i // 2, 24), 8, (40, 200, 250), -1)
        cv2.rectangle(frame, (0, (i % 40)), (63, (i % 40) + 4), (255, 255, 255), -1)
        writer.write(frame)
    writer.release()
    return path


def _offline(path: Path) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))  # as the DMER authors
    capture.release()
    clips = np.stack(frames).reshape(-1, FPS, *frames[0].shape)
    return np.stack([lbp_top(c).reshape(-1) for c in clips])


def _read(
    source_id: str, n: int, timeout: float = 20.0
) -> tuple[pylsl.StreamInfo, np.ndarray, np.ndarray]:
    infos = pylsl.resolve_byprop("source_id", source_id, minimum=1, timeout=timeout)
    assert infos, f"stream {source_id} not found"
    inlet = pylsl.StreamInlet(infos[0])
    info = inlet.info(timeout=5.0)
    rows: list[list[float]] = []
    stamps: list[float] = []
    deadline = time.monotonic() + timeout
    while len(rows) < n and time.monotonic() < deadline:
        chunk, ts = inlet.pull_chunk(timeout=0.5)
        rows.extend(chunk)
        stamps.extend(ts)
    inlet.close_stream()
    return info, np.asarray(rows), np.asarray(stamps)


def _run_in_thread(target, *args, **kwargs) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True)
    thread.start()
    return thread


def test_video_file_published_as_profile_stream(video: Path) -> None:
    subject = f"cam{uuid.uuid4().hex[:8]}"
    source = CameraLbpTopSource(video, subject=subject, realtime=False)
    thread = _run_in_thread(source.run, wait_for_consumers_s=15.0)
    info, rows, stamps = _read(f"{subject}-face_camera-lbptop", 3)
    thread.join(10.0)
    assert not thread.is_alive() and source.clips_published == 3
    assert (info.name(), info.type(), info.channel_count()) == (
        "HeLo_FaceLBPTOP",
        "FaceFeatures",
        768,
    )
    assert info.nominal_srate() == 1.0
    first = info.desc().child("channels").child("channel")
    assert first.child_value("label") == "lbptop_xy_0"
    assert rows.shape == (3, 768)
    np.testing.assert_allclose(rows, _offline(video), rtol=0, atol=1e-7)  # float32 on the wire
    np.testing.assert_allclose(rows.reshape(3, 3, 256).sum(axis=2), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.diff(stamps), 1.0, atol=1e-6)  # 30 frames at 30 fps


def test_cli_paces_a_file_like_a_camera(video: Path) -> None:
    subject = f"cli{uuid.uuid4().hex[:8]}"
    result: dict[str, object] = {}

    def invoke() -> None:
        args = [str(video), "--subject", subject, "--max-clips", "2", "--wait-consumers", "15"]
        result["r"] = CliRunner().invoke(camera_command, args)

    thread = _run_in_thread(invoke)
    _, rows, stamps = _read(f"{subject}-face_camera-lbptop", 2)
    arrival = pylsl.local_clock()
    thread.join(10.0)
    run = result["r"]
    assert run.exit_code == 0, run.output  # type: ignore[attr-defined]
    assert "published 2" in run.output  # type: ignore[attr-defined]
    assert rows.shape == (2, 768)
    assert np.diff(stamps)[0] == pytest.approx(1.0, abs=1e-6)
    # Paced: a sample is pushed when its 30 frames would have been filmed, so it never
    # arrives before its own timestamp (unpaced, both would arrive ~1-2 s early).
    assert arrival >= stamps[1] - 0.05


def test_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="no such video file"):
        CameraLbpTopSource(tmp_path / "absent.mp4", subject="x")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(CameraError, match=r"cannot open|no frame"):
        next(CameraLbpTopSource(junk, subject="x").clips())
    run = CliRunner().invoke(camera_command, [str(tmp_path / "absent.mp4")])
    assert run.exit_code == 1 and "no such video file" in run.output


def test_gray_conversion_and_face_crop() -> None:
    frame = np.zeros((4, 4, 3), dtype=np.uint8)
    frame[..., 0] = 200  # blue in OpenCV's BGR order
    assert to_gray(frame, dmer=False)[0, 0] == round(0.114 * 200)
    assert to_gray(frame)[0, 0] == round(0.299 * 200)  # DMER's RGB2GRAY on BGR frames
    cropper = FaceCropper(size=(32, 32))
    clip = np.random.default_rng(0).integers(0, 256, (30, 48, 64), dtype=np.uint8)
    assert cropper.detect(clip[0]) is None  # noise has no face: whole frame, resized
    assert cropper.crop(clip).shape == (30, 32, 32)
