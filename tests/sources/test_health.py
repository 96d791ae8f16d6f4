from __future__ import annotations

import numpy as np
import pytest

from helo_stream.buffers.ring_buffer import RingBuffer
from helo_stream.sources.health import HealthTracker, effective_srate


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _tracker(srate: float = 100.0, **kw: float) -> tuple[HealthTracker, FakeClock]:
    clock = FakeClock()
    return HealthTracker(nominal_srate=srate, clock_wall=clock, **kw), clock


def test_backward_jump_within_a_chunk_drops_until_time_advances() -> None:
    tracker, _ = _tracker()
    keep = tracker.accept(np.array([0.00, 0.01, 0.02, 0.015, 0.018, 0.03, 0.03]))
    np.testing.assert_array_equal(keep, [True, True, True, False, False, True, False])
    assert tracker.n_backward_jumps == 2  # 0.02 -> 0.015, and the repeated 0.03
    assert tracker.n_dropped == 3
    assert tracker.n_samples == 4
    assert tracker.last_sample_lsl == pytest.approx(0.03)


def test_backward_jump_across_chunks_and_a_run_spanning_two_chunks() -> None:
    tracker, _ = _tracker()
    tracker.accept(np.array([1.00, 1.01, 1.02]))
    keep = tracker.accept(np.array([0.5, 0.51]))
    assert not keep.any()
    keep = tracker.accept(np.array([0.52, 1.02, 1.03]))
    np.testing.assert_array_equal(keep, [False, False, True])
    # One jump: the dropped run continued into the next chunk.
    assert tracker.n_backward_jumps == 1
    assert tracker.n_dropped == 4
    assert tracker.n_samples == 4


def test_nan_timestamp_is_dropped_and_does_not_block_later_samples() -> None:
    tracker, _ = _tracker()
    keep = tracker.accept(np.array([0.0, np.nan, 0.01, 0.02]))
    np.testing.assert_array_equal(keep, [True, False, True, True])


def test_gaps_regular_stream() -> None:
    tracker, _ = _tracker(srate=100.0)  # gap: > 0.03 s
    tracker.accept(np.array([0.00, 0.01, 0.02, 0.05, 0.06]))  # 0.03: not a gap
    assert tracker.n_gaps == 0
    tracker.accept(np.array([0.10, 0.11, 0.20]))  # 0.04 across chunks, 0.09 within
    assert tracker.n_gaps == 2


def test_gaps_irregular_stream() -> None:
    tracker, _ = _tracker(srate=0.0)  # gap: > 0.5 s
    tracker.accept(np.array([0.0, 0.4, 0.8, 1.5, 1.6]))
    assert tracker.n_gaps == 1


def test_state_from_wall_clock_age() -> None:
    tracker, clock = _tracker(stale_after_s=2.0, missing_after_s=10.0)

    def look(dt: float) -> None:  # time passes, then the source pulls (and finds nothing)
        clock.now += dt
        tracker.mark_checked()

    assert tracker.state == "ok"  # just opened, no data yet
    assert tracker.last_receive_wall_age_s is None
    look(2.5)
    assert tracker.state == "stale"  # never delivered since opening
    tracker.accept(np.array([1.0]))
    assert tracker.state == "ok"
    look(1.0)
    assert tracker.last_receive_wall_age_s == pytest.approx(1.0)
    assert tracker.state == "ok"
    look(1.5)
    assert tracker.state == "stale"
    look(8.0)
    assert tracker.state == "missing"
    tracker.accept(np.array([0.5]))  # all dropped: not a delivery
    assert tracker.state == "missing"
    tracker.accept(np.array([2.0]))
    assert tracker.state == "ok"
    tracker.mark_lost()
    assert tracker.state == "missing"
    tracker.accept(np.array([3.0]))
    assert tracker.state == "ok"


def test_a_busy_pipeline_is_not_a_silent_device() -> None:
    tracker, clock = _tracker(stale_after_s=2.0, missing_after_s=10.0)
    tracker.mark_checked()
    tracker.accept(np.array([1.0]))
    clock.now += 30.0  # nobody pulled: the samples may be waiting in the inlet
    assert tracker.state == "ok"
    tracker.mark_checked()  # now we looked and there was nothing
    assert tracker.state == "missing"


def test_thresholds_validated() -> None:
    with pytest.raises(ValueError):
        HealthTracker(nominal_srate=1.0, stale_after_s=5.0, missing_after_s=1.0)


def test_effective_srate_uses_the_newest_ten_seconds() -> None:
    buf = RingBuffer(n_channels=1, capacity=10_000)
    assert effective_srate(buf) is None
    buf.push(np.zeros((1, 1)), np.array([0.0]))
    assert effective_srate(buf) is None
    # 20 s at 64 Hz, then 20 s at 50 Hz: only the last 10 s count.
    ts1 = np.arange(1, 20 * 64 + 1) / 64.0
    ts2 = ts1[-1] + np.arange(1, 20 * 50 + 1) / 50.0
    buf.push(np.zeros((len(ts1), 1)), ts1)
    assert effective_srate(buf) == pytest.approx(64.0, rel=1e-3)
    buf.push(np.zeros((len(ts2), 1)), ts2)
    assert effective_srate(buf) == pytest.approx(50.0, rel=1e-3)


def test_snapshot_collects_everything() -> None:
    tracker, clock = _tracker(srate=4.0)
    buf = RingBuffer(n_channels=1, capacity=100)
    ts = np.arange(8) / 4.0
    keep = tracker.accept(ts)
    buf.push(np.zeros((int(keep.sum()), 1)), ts[keep])
    clock.now += 0.5
    health = tracker.snapshot(buf)
    assert health.nominal_srate == 4.0
    assert health.effective_srate == pytest.approx(4.0)
    assert health.last_sample_lsl == pytest.approx(1.75)
    assert health.last_receive_wall_age_s == pytest.approx(0.5)
    assert (health.n_samples, health.n_gaps, health.n_backward_jumps, health.n_dropped) == (
        8,
        0,
        0,
        0,
    )
    assert health.state == "ok"
