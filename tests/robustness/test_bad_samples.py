"""Point 3: NaN, infinities, flat lines, out-of-range values, wrong channel count or rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pylsl
import pytest
import yaml
from click.testing import CliRunner

from helo_stream.cli import main
from helo_stream.sinks.message import validate_message
from helo_stream.windows.quality import assess_window

from .conftest import E4_PROFILE, E4_STREAMS, free_address, write_pipeline

pytestmark = pytest.mark.timeout(120)


class _Faults:
    """From ``t1`` on: 1 s of NaN (eda), 0.5 s of +inf on one axis (acc), 1 s above the
    plausible range (bvp), and a temperature that freezes (flat line)."""

    def __init__(self, key: str, t1_lsl: float) -> None:
        self.key, self.t1 = key, t1_lsl

    def __call__(self, samples: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rel = ts - self.t1
        samples = samples.copy()
        if self.key == "eda":
            samples[(rel >= 0) & (rel < 1.0)] = np.nan
        elif self.key == "acc":
            samples[(rel >= 0) & (rel < 0.5), 1] = np.inf
        elif self.key == "bvp":
            samples[(rel >= 0) & (rel < 1.0)] = 5000.0
        elif self.key == "temp":
            samples[rel >= 0] = 33.0
        return samples, ts


def _profile_with_ranges(tmp_path: Path) -> Path:
    profile = yaml.safe_load(E4_PROFILE.read_text())
    profile["streams"]["bvp"]["valid_range"] = [-1000.0, 1000.0]
    profile["streams"]["temp"]["channels"][0]["valid_range"] = [20.0, 45.0]
    path = tmp_path / "e4_ranges.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path


def test_transient_faults_are_flagged_and_never_published(simulator, live, tmp_path) -> None:
    sim = simulator()
    profile = _profile_with_ranges(tmp_path)
    run = live(update=lambda c: c["devices"]["wrist"].update(profile=str(profile)))
    run.collect_until(lambda m: set(m["modalities"].values()) == {"ok"}, timeout_s=30)
    t1 = pylsl.local_clock() + 0.2
    for key in ("eda", "acc", "bvp", "temp"):
        sim.tamper[key] = _Faults(key, t1)
    run.collect_until(lambda m: m["window"]["end"] > t1 + 5.0, timeout_s=40)

    flags: dict[str, set[str]] = {}
    for msg in run.messages:
        validate_message(msg)
        p = np.asarray(msg["distribution"])
        assert np.all(np.isfinite(p)) and abs(p.sum() - 1.0) < 1e-9
        for modality, found in msg.get("quality", {}).items():
            flags.setdefault(modality, set()).update(found)
    assert "nonfinite" in flags["eda"]
    assert "nonfinite" in flags["acc"]
    assert "out_of_range" in flags["bvp"]
    assert "flat" in flags["temp"]
    # The NaN burst did not poison the causal filter: once it left the window, eda is clean.
    last = run.messages[-1]
    assert "eda" not in last.get("quality", {})
    assert "acc" not in last.get("quality", {})
    samples, _ = run.runner.sources["eda"].buffer.window(t1 + 1.5, t1 + 5.0)
    assert samples.size and np.all(np.isfinite(samples))
    health = run.runner.health_report()
    assert health["eda"]["n_nonfinite"] >= 4 and health["acc"]["n_nonfinite"] >= 8
    assert health["temp"]["quality_windows"]["flat"] >= 1


def test_assess_window_flags() -> None:
    ts = np.arange(40) / 4.0
    clean = assess_window(np.random.default_rng(0).normal(size=(40, 1)), ts, srate=4, length_s=10)
    assert clean.flags == () and clean.usable
    flat = assess_window(np.full((40, 1), 3.0), ts, srate=4, length_s=10)
    assert flat.flags == ("flat",) and not flat.usable
    x = np.linspace(0, 1, 40)[:, None].copy()
    x[:4] = np.nan
    x[4:8] = 1.0  # pinned at the upper bound
    x[8] = 7.0
    q = assess_window(x, ts, srate=4, length_s=10, ranges=[(0.0, 1.0)])
    assert q.flags == ("nonfinite", "out_of_range", "saturated")
    assert q.usable and q.samples.shape == (35, 1) and np.all(np.isfinite(q.samples))
    sparse = assess_window(
        np.random.default_rng(1).normal(size=(10, 1)), ts[:10], srate=4, length_s=10
    )
    assert "low_coverage" in sparse.flags
    dense = assess_window(
        np.random.default_rng(1).normal(size=(60, 1)), np.arange(60) / 6.0, srate=4, length_s=10
    )
    assert "excess_samples" in dense.flags


def test_wrong_channel_count_and_rate_rejected_by_cli(simulator, tmp_path, subject) -> None:
    streams = dict(E4_STREAMS)
    streams["eda"] = ("E4_EDA", "EDA", 2, 4.0)  # one channel too many
    streams["temp"] = ("E4_TEMP", "TEMP", 1, 8.0)  # twice the declared rate
    simulator(streams=streams)
    path = write_pipeline(tmp_path, subject=subject, address=free_address())
    result = CliRunner().invoke(main, ["run", str(path), "--quiet"])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # mapped to one line, no traceback
    assert "has 2 channel(s)" in result.output and "declares 1" in result.output
    assert "nominal rate of 8 Hz" in result.output
