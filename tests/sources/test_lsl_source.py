"""Real LSL outlets -> LSLSource: values, timestamps, filtering, health, loss."""

from __future__ import annotations

import time

import numpy as np
import pylsl
import pytest

from helo_stream.sources.lsl_source import LSLSource, open_sources, processing_flags_mask


class CumSumFilter:
    """A stateful 'filter' whose output reveals chunking errors: running sum per channel."""

    def __init__(self, n_channels: int) -> None:
        self.state = np.zeros(n_channels)
        self.calls: list[int] = []

    def process(self, chunk: np.ndarray) -> np.ndarray:
        assert chunk.dtype == np.float64 and chunk.ndim == 2
        self.calls.append(chunk.shape[0])
        out = np.cumsum(chunk, axis=0) + self.state
        self.state = out[-1].copy()
        return out


def _source(resolve_one, source_id: str, **kw) -> LSLSource:
    kw.setdefault("buffer_s", 60.0)
    kw.setdefault("processing_flags", ())
    src = LSLSource(info=resolve_one(source_id), modality="test", **kw)
    src.open(timeout=5.0)
    return src


def _chunk(rng: np.random.Generator, n: int, n_channels: int, t0: float, srate: float):
    data = rng.standard_normal((n, n_channels)).astype(np.float32)
    ts = t0 + np.arange(n) / srate
    return data, ts


def test_round_trip_values_and_timestamps_over_several_pulls(
    uid, make_outlet, resolve_one, pull_until
) -> None:
    srate = 100.0
    outlet = make_outlet(name=f"rt-{uid}", n_channels=3, srate=srate, source_id=f"rt-{uid}")
    src = _source(resolve_one, f"rt-{uid}")
    assert outlet.wait_for_consumers(5.0)
    rng = np.random.default_rng(0)
    t0 = pylsl.local_clock() - 10.0
    sent_data, sent_ts, pulls = [], [], 0
    for size in (1, 37, 250, 3, 120):
        data, ts = _chunk(rng, size, 3, t0 + sum(len(t) for t in sent_ts) / srate, srate)
        outlet.push_chunk(data, ts.tolist())
        sent_data.append(data)
        sent_ts.append(ts)
        pulls += pull_until(src, sum(len(t) for t in sent_ts))
    all_data = np.concatenate(sent_data)
    all_ts = np.concatenate(sent_ts)
    got, got_ts = src.buffer.window(-np.inf, np.inf)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, all_data.astype(np.float64))
    np.testing.assert_allclose(got_ts, all_ts, rtol=0, atol=1e-9)
    health = src.health
    assert health.n_samples == len(all_ts) == 411
    assert (health.n_gaps, health.n_backward_jumps, health.n_dropped) == (0, 0, 0)
    assert health.state == "ok"
    assert health.effective_srate == pytest.approx(srate, rel=1e-6)
    assert src.srate == srate and src.n_channels == 3 and src.source_id == f"rt-{uid}"
    src.close()


def test_clocksync_default_keeps_local_timestamps(uid, make_outlet, resolve_one, pull_until):
    outlet = make_outlet(name=f"cs-{uid}", srate=50.0, source_id=f"cs-{uid}")
    src = LSLSource(info=resolve_one(f"cs-{uid}"), modality="test", buffer_s=10.0)
    src.open(timeout=5.0)
    assert outlet.wait_for_consumers(5.0)
    ts = pylsl.local_clock() - 1.0 + np.arange(20) / 50.0
    outlet.push_chunk(np.arange(20, dtype=np.float32).reshape(-1, 1), ts.tolist())
    pull_until(src, 20)
    _, got_ts = src.buffer.window(-np.inf, np.inf)
    # Same machine: the clock offset is (close to) zero.
    np.testing.assert_allclose(got_ts, ts, rtol=0, atol=1e-3)


def test_filter_applied_once_per_chunk_with_state_carried(
    uid, make_outlet, resolve_one, pull_until
) -> None:
    outlet = make_outlet(name=f"f-{uid}", n_channels=2, srate=100.0, source_id=f"f-{uid}")
    filt = CumSumFilter(2)
    src = _source(resolve_one, f"f-{uid}", filter=filt)
    assert outlet.wait_for_consumers(5.0)
    rng = np.random.default_rng(1)
    t0 = pylsl.local_clock() - 60.0
    chunks = []
    for size in (40, 25, 60):
        data, ts = _chunk(rng, size, 2, t0 + sum(len(c) for c in chunks) / 100.0, 100.0)
        chunks.append(data)
        outlet.push_chunk(data, ts.tolist())
        # Wait until the whole chunk is queued in the inlet, then take it in one pull.
        deadline = time.monotonic() + 5.0
        while src.pull() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        pull_until(src, sum(len(c) for c in chunks))
    sent = np.concatenate(chunks).astype(np.float64)
    got, _ = src.buffer.window(-np.inf, np.inf)
    np.testing.assert_allclose(got, np.cumsum(sent, axis=0), rtol=1e-12)
    assert sum(filt.calls) == len(sent)  # every sample filtered exactly once
    assert len(filt.calls) < len(sent) / 5  # per chunk, not per sample
    assert max(filt.calls) > 1


def test_backlog_is_taken_in_steps_of_at_most_one_chunk(uid, make_outlet, resolve_one) -> None:
    srate = 200.0
    outlet = make_outlet(name=f"bl-{uid}", srate=srate, source_id=f"bl-{uid}")
    filt = CumSumFilter(1)
    src = _source(resolve_one, f"bl-{uid}", filter=filt, buffer_s=60.0)
    assert outlet.wait_for_consumers(5.0)
    n = 5000  # 25 s of samples; the source takes at most 10 s (2000) per inlet call
    ts = pylsl.local_clock() - 30.0 + np.arange(n) / srate
    data = np.ones((n, 1), np.float32)
    outlet.push_chunk(data, ts.tolist())
    time.sleep(0.3)  # let all of it reach the inlet
    # A pipeline catching up takes its backlog in steps, so its ring buffer never overwrites
    # samples that pending windows still need.
    assert [src.pull(), src.pull(), src.pull(), src.pull()] == [2000, 2000, 1000, 0]
    assert filt.calls == [2000, 2000, 1000]
    got, got_ts = src.buffer.window(-np.inf, np.inf)
    np.testing.assert_array_equal(got[:, 0], np.arange(1, n + 1))
    assert len(got_ts) == n


def test_ring_buffer_capacity_follows_buffer_s(uid, make_outlet, resolve_one, pull_until):
    outlet = make_outlet(name=f"cap-{uid}", srate=100.0, source_id=f"cap-{uid}")
    src = _source(resolve_one, f"cap-{uid}", buffer_s=2.0)
    assert src.buffer.capacity == 200
    assert outlet.wait_for_consumers(5.0)
    ts = pylsl.local_clock() - 10.0 + np.arange(500) / 100.0
    outlet.push_chunk(np.arange(500, dtype=np.float32).reshape(-1, 1), ts.tolist())
    pull_until(src, 500)
    got, _ = src.buffer.window(-np.inf, np.inf)
    np.testing.assert_array_equal(got[:, 0], np.arange(300, 500))
    assert src.health.n_samples == 500


def test_backward_timestamps_are_dropped_and_counted(uid, make_outlet, resolve_one, pull_until):
    outlet = make_outlet(name=f"bw-{uid}", srate=10.0, source_id=f"bw-{uid}")
    src = _source(resolve_one, f"bw-{uid}")
    assert outlet.wait_for_consumers(5.0)
    base = pylsl.local_clock() - 5.0
    ts = base + np.array([0.0, 0.1, 0.2, 0.3, 0.15, 0.25, 0.3, 0.4, 0.5])
    outlet.push_chunk(np.arange(9, dtype=np.float32).reshape(-1, 1), ts.tolist())
    pull_until(src, 9)
    got, got_ts = src.buffer.window(-np.inf, np.inf)
    np.testing.assert_array_equal(got[:, 0], [0, 1, 2, 3, 7, 8])
    assert np.all(np.diff(got_ts) > 0)
    health = src.health
    assert (health.n_samples, health.n_dropped, health.n_backward_jumps) == (6, 3, 1)


def test_receive_times_for_latency(uid, make_outlet, resolve_one, pull_until):
    outlet = make_outlet(name=f"rx-{uid}", srate=10.0, source_id=f"rx-{uid}")
    src = _source(resolve_one, f"rx-{uid}")
    assert src.last_receive_local is None
    assert outlet.wait_for_consumers(5.0)
    base = pylsl.local_clock() - 5.0
    outlet.push_chunk(np.zeros((10, 1), np.float32), (base + np.arange(10) / 10).tolist())
    before = pylsl.local_clock()
    pull_until(src, 10)
    first_receipt = src.last_receive_local
    assert first_receipt is not None and before <= first_receipt <= pylsl.local_clock()
    time.sleep(0.05)
    outlet.push_chunk(np.zeros((10, 1), np.float32), (base + 1 + np.arange(10) / 10).tolist())
    pull_until(src, 20)
    second_receipt = src.last_receive_local
    assert second_receipt is not None and second_receipt > first_receipt
    assert src.receive_time_local(base + 0.5) == first_receipt
    assert src.receive_time_local(base + 0.9) == first_receipt
    assert src.receive_time_local(base + 0.95) == second_receipt
    assert src.receive_time_local(base + 5.0) is None


def test_silent_stream_goes_stale_then_missing_and_recovers(
    uid, make_outlet, resolve_one, pull_until
) -> None:
    outlet = make_outlet(name=f"st-{uid}", srate=10.0, source_id=f"st-{uid}")
    src = _source(resolve_one, f"st-{uid}", stale_after_s=0.2, missing_after_s=0.5)
    assert outlet.wait_for_consumers(5.0)
    base = pylsl.local_clock()
    outlet.push_chunk(np.zeros((3, 1), np.float32), (base + np.arange(3) / 10).tolist())
    pull_until(src, 3)
    assert src.health.state == "ok"
    time.sleep(0.3)
    src.pull()
    assert src.health.state == "stale" and src.state == "stale"
    time.sleep(0.3)
    src.pull()
    assert src.health.state == "missing" and src.state == "missing"
    outlet.push_chunk(np.zeros((3, 1), np.float32), (base + 1 + np.arange(3) / 10).tolist())
    pull_until(src, 6)
    assert src.health.state == "ok"


def test_lost_outlet_never_raises_and_recovers_with_same_source_id(
    uid, resolve_one, pull_until
) -> None:
    info = pylsl.StreamInfo(f"lo-{uid}", "TEST", 1, 10.0, "float32", f"lo-{uid}")
    outlet = pylsl.StreamOutlet(info)
    src = _source(resolve_one, f"lo-{uid}", stale_after_s=0.2, missing_after_s=0.4)
    assert outlet.wait_for_consumers(5.0)
    outlet.push_chunk(np.zeros((2, 1), np.float32), pylsl.local_clock())
    pull_until(src, 2)
    del outlet
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        src.pull()  # must not raise while the outlet is gone
        time.sleep(0.02)
    assert src.health.state == "missing"
    outlet = pylsl.StreamOutlet(info)  # same source_id: liblsl reconnects the inlet
    deadline = time.monotonic() + 10.0
    while src.health.n_samples < 3 and time.monotonic() < deadline:
        outlet.push_sample([1.0])
        src.pull()
        time.sleep(0.05)
    assert src.health.n_samples >= 3
    assert src.health.state == "ok"


def test_rejects_string_streams_and_unknown_flags(uid, make_outlet, resolve_one) -> None:
    make_outlet(name=f"str-{uid}", srate=0.0, fmt="string", source_id=f"str-{uid}")
    with pytest.raises(ValueError, match="non-numeric"):
        LSLSource(info=resolve_one(f"str-{uid}"), modality="m", buffer_s=1.0)
    make_outlet(name=f"num-{uid}", source_id=f"num-{uid}")
    info = resolve_one(f"num-{uid}")
    with pytest.raises(ValueError, match="unknown processing flag"):
        LSLSource(info=info, modality="m", buffer_s=1.0, processing_flags=("clocksink",))
    with pytest.raises(TypeError):
        LSLSource(info=info, modality="m", buffer_s=1.0, filter=object())  # type: ignore[arg-type]


def test_processing_flags_mask() -> None:
    assert processing_flags_mask(()) == pylsl.proc_none
    assert processing_flags_mask(("clocksync", "dejitter")) == (
        pylsl.proc_clocksync | pylsl.proc_dejitter
    )


def test_irregular_stream_and_close(uid, make_outlet, resolve_one, pull_until) -> None:
    outlet = make_outlet(name=f"irr-{uid}", srate=0.0, fmt="int16", source_id=f"irr-{uid}")
    src = _source(resolve_one, f"irr-{uid}", buffer_s=3.0)
    assert src.buffer.capacity == 300  # irregular: sized as 100 samples per second
    assert outlet.wait_for_consumers(5.0)
    base = pylsl.local_clock()
    outlet.push_chunk(np.array([[5], [-7]], np.int16), [base, base + 0.7])
    pull_until(src, 2)
    got, _ = src.buffer.window(-np.inf, np.inf)
    np.testing.assert_array_equal(got[:, 0], [5.0, -7.0])
    assert src.health.n_gaps == 1
    src.close()
    src.close()
    assert not src.is_open and src.pull() == 0


def test_open_sources_pays_the_clock_sync_wait_once(uid, make_outlet, resolve_one) -> None:
    outlets = [
        make_outlet(name=f"os{k}-{uid}", srate=10.0, source_id=f"os{k}-{uid}") for k in range(3)
    ]
    sources = [
        LSLSource(info=resolve_one(f"os{k}-{uid}"), modality=f"m{k}", buffer_s=5.0)
        for k in range(3)
    ]
    started = time.monotonic()
    open_sources(sources, timeout=5.0)
    elapsed = time.monotonic() - started
    # Sequentially this takes ~3 x 0.65 s on liblsl 1.18 (first time-correction estimate).
    assert elapsed < 1.5
    for outlet in outlets:
        assert outlet.wait_for_consumers(5.0)
    stamp = pylsl.local_clock()
    for outlet in outlets:
        outlet.push_sample([1.0], stamp)
    deadline = time.monotonic() + 5.0
    while any(s.health.n_samples == 0 for s in sources):
        assert time.monotonic() < deadline
        for s in sources:
            s.pull()
        time.sleep(0.01)
