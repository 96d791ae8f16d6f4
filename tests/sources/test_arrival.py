"""ArrivalModel: when a sample stamped t will reach us, learnt from receipts."""

from __future__ import annotations

import numpy as np
import pytest

from helo_stream.sources.arrival import ArrivalModel


def test_real_time_stream_with_clock_offset_and_pull_delays() -> None:
    """A device 1000 s ahead of our clock, received 5-30 ms late: arrival = stamp - 1000 + 5 ms."""
    model = ArrivalModel()
    rng = np.random.default_rng(0)
    for k in range(80):
        stamp = 1000.0 + 0.25 * k
        model.observe(stamp - 1000.0 + rng.uniform(0.005, 0.03), stamp)
    assert model.pace == 1.0
    predicted = model.predict_local(1000.0 + 0.25 * 85)
    assert predicted == pytest.approx(0.25 * 85 + 0.005, abs=0.002)


def test_replay_at_four_times_speed() -> None:
    model = ArrivalModel()
    for k in range(64):
        local = 0.05 * k
        model.observe(local + 0.001, 500.0 + 4.0 * local)  # stamps advance 4 s per second
    assert model.pace == pytest.approx(4.0)
    assert model.predict_local(500.0 + 4.0 * 4.0) == pytest.approx(4.0 + 0.001, abs=1e-6)


def test_nothing_known_before_the_first_receipt() -> None:
    model = ArrivalModel()
    assert model.predict_local(10.0) is None
    model.observe(2.0, 10.0)
    assert model.pace == 1.0  # one receipt spans no time: real time assumed
    assert model.predict_local(10.5) == pytest.approx(2.5)


def test_history_must_hold_two_receipts() -> None:
    with pytest.raises(ValueError, match="history"):
        ArrivalModel(history=1)
