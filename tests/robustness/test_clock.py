"""Point 2: timestamps that jump back or forward, clock resets, drifting rates, gaps."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pylsl
import pytest

from helo_stream.sources.lsl_source import LSLSource
from helo_stream.windows.scheduler import WindowScheduler

from .conftest import REPO

pytestmark = pytest.mark.timeout(120)


def _check_windows(windows: list, length_s: float) -> None:
    """Every window holds strictly increasing timestamps inside (end - L, end]."""
    assert windows
    for w in windows:
        for _, ts in w.data.values():
            if ts.size:
                assert np.all(np.diff(ts) > 0), "timestamps scrambled inside a window"
                assert ts[0] > w.end_lsl - length_s - 1e-9 and ts[-1] <= w.end_lsl + 1e-9


class _Jumps:
    """Rewrites the temperature stream's clock: back 1 s at 1 s, forward 3 s at 2 s, and from
    3 s on a 3 % faster clock (a drifting effective rate)."""

    def __init__(self, t0_lsl: float) -> None:
        self.t0 = t0_lsl

    def __call__(self, samples: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rel = ts - self.t0
        out = ts.copy()
        out[(rel >= 1.0) & (rel < 2.0)] -= 1.0
        out[rel >= 2.0] += 3.0
        drift = rel >= 3.0
        out[drift] = self.t0 + 6.0 + (rel[drift] - 3.0) * 1.03
        return samples, out


def test_jumps_are_counted_and_windows_stay_ordered(simulator, live) -> None:
    sim = simulator()
    windows: list = []
    run = live()
    process = run.runner._process

    def spy(window, session=None) -> None:  # keep each window the real runner processes
        windows.append(window)
        process(window, session)

    run.runner._process = spy
    run.collect_until(lambda m: set(m["modalities"].values()) == {"ok"}, timeout_s=30)
    t_jumps = pylsl.local_clock()
    sim.tamper["temp"] = _Jumps(t_jumps)
    run.collect_until(lambda m: m["window"]["end"] > t_jumps + 5.0, timeout_s=40)
    health = run.runner.health_report()["temp"]
    assert health["n_backward_jumps"] >= 1
    assert health["n_dropped"] >= 4  # the samples stamped in the past were refused
    assert health["n_gaps"] >= 1  # the forward jump
    assert health["effective_srate"] is not None
    _check_windows(windows, run.runner.pipeline.config.window.length_s)
    assert all(abs(sum(m["distribution"]) - 1) < 1e-9 for m in run.messages)


def test_clock_resets_xdf_replay(tmp_path: Path) -> None:
    """Replay ../shared/data/xdf/clock_resets.xdf and window its EEG stream through real LSL."""
    xdf = REPO.parent / "shared" / "data" / "xdf" / "clock_resets.xdf"
    if not xdf.is_file():
        pytest.skip(f"{xdf} not available")
    subject = f"xdf-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "helo_stream",
            "replay",
            str(xdf),
            "--speed",
            "10",
            "--duration",
            "60",
            "--subject",
            subject,
            "--no-progress",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the XDF keeps its recorded source_id; the replay re-stamps the session start
        found = pylsl.resolve_bypred("name='BioSemi' and type='EEG'", 1, 30)
        assert found, "the replayed EEG stream did not appear"
        source = LSLSource(
            info=found[0], modality="eeg", buffer_s=20.0, stale_after_s=1.0, missing_after_s=3.0
        )
        source.open(timeout=10)
        scheduler = WindowScheduler(
            sources={"eeg": source}, length_s=5.0, step_s=0.5, required=["eeg"]
        )
        windows = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(windows) < 40:
            if source.pull() == 0:
                time.sleep(0.005)
            windows.extend(scheduler.poll())
        _check_windows(windows, 5.0)
        health = source.health
        assert health.n_samples > 0
        # the reader already undid the resets: what is replayed runs forward only
        assert health.n_backward_jumps == 0
        ends = np.array([w.end_lsl for w in windows])
        np.testing.assert_allclose(np.diff(ends), 0.5, atol=1e-6)
        source.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
