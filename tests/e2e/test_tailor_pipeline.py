"""End to end with the multi-label model: ``helo-stream run pipelines/wesad_tailor.yaml --replay``
on the demo recording, a real ZeroMQ subscriber, every message validated with its presence
fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helo_stream.models.checkpoint import load_checkpoint
from tests.e2e.test_live_pipeline import DEMO, LiveRun, _check_messages, _expected_windows

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
TAILOR = REPO / "pipelines" / "wesad_tailor.yaml"
CHECKPOINT = REPO / "checkpoints" / "tailor_wesad_e4.pt"


def test_tailor_pipeline_publishes_scores_and_present_labels() -> None:
    duration = 80.0
    run = LiveRun(
        TAILOR,
        "--replay",
        str(DEMO),
        "--speed",
        "10",
        "--start",
        "20",
        "--duration",
        str(duration),
    )
    try:
        run.collect()
        assert run.proc.returncode == 0, run.stderr()
    finally:
        run.close()
    _check_messages(run.messages, run.subject)  # schema (scores/present included), seq, windows
    assert abs(len(run.messages) - _expected_windows(duration)) <= 1
    threshold = load_checkpoint(CHECKPOINT).threshold
    for msg in run.messages:
        assert msg["model"]["name"] == "tailor"
        scores = np.asarray(msg["scores"])
        assert scores.shape == (len(msg["labels"]),)
        assert np.all((scores > 0) & (scores < 1))
        assert msg["threshold"] == threshold
        assert msg["present"] == [
            lab for lab, s in zip(msg["labels"], scores, strict=True) if s >= threshold
        ]
        # the distribution stays valid: the scores normalised
        np.testing.assert_allclose(msg["distribution"], scores / scores.sum(), rtol=1e-9)
    changing = {tuple(np.round(m["scores"], 6)) for m in run.messages}
    assert len(changing) > 1, "the scores never changed over the replay"
