from __future__ import annotations

import numpy as np
import pytest

from helo_stream.buffers.ring_buffer import RingBuffer


def _filled(
    capacity: int, n: int, n_channels: int = 2
) -> tuple[RingBuffer, np.ndarray, np.ndarray]:
    buf = RingBuffer(n_channels=n_channels, capacity=capacity)
    ts = np.arange(n, dtype=np.float64)
    data = np.stack([ts * 10 + c for c in range(n_channels)], axis=1)
    buf.push(data, ts)
    return buf, data, ts


def test_preallocated_and_empty() -> None:
    buf = RingBuffer(n_channels=3, capacity=16)
    assert len(buf) == 0
    assert buf.first_timestamp is None and buf.latest_timestamp is None
    data, ts = buf.window(-np.inf, np.inf)
    assert data.shape == (0, 3) and ts.shape == (0,)
    assert buf.span(0, 1) == (0, None, None)
    assert buf.first_at_or_after(0.0) is None


def test_window_bounds_are_exclusive_start_inclusive_end() -> None:
    buf, data, ts = _filled(32, 10)
    got, got_ts = buf.window(2.0, 5.0)
    np.testing.assert_array_equal(got_ts, [3.0, 4.0, 5.0])
    np.testing.assert_array_equal(got, data[3:6])
    # Bounds between samples.
    np.testing.assert_array_equal(buf.window(2.5, 4.5)[1], [3.0, 4.0])
    # Everything, nothing, reversed.
    np.testing.assert_array_equal(buf.window(-1.0, 100.0)[1], ts)
    assert buf.window(9.0, 20.0)[1].shape == (0,)
    assert buf.window(5.0, 2.0)[1].shape == (0,)
    assert buf.window(-5.0, -1.0)[0].shape == (0, 2)
    assert buf.first_timestamp == 0.0 and buf.latest_timestamp == 9.0


def test_wrap_around_returns_contiguous_copies() -> None:
    buf = RingBuffer(n_channels=2, capacity=8)
    ts1 = np.arange(5, dtype=float)
    ts2 = np.arange(5, 11, dtype=float)
    buf.push(np.column_stack([ts1, -ts1]), ts1)
    buf.push(np.column_stack([ts2, -ts2]), ts2)
    assert len(buf) == 8
    assert buf.first_timestamp == 3.0 and buf.latest_timestamp == 10.0
    data, ts = buf.window(2.0, 10.0)  # spans the physical wrap
    np.testing.assert_array_equal(ts, np.arange(3, 11, dtype=float))
    np.testing.assert_array_equal(data, np.column_stack([ts, -ts]))
    assert data.flags.c_contiguous and ts.flags.c_contiguous
    # Copies: writing into them or pushing more does not change what was returned or held.
    data[:] = 0
    buf.push(np.array([[11.0, -11.0]]), np.array([11.0]))
    np.testing.assert_array_equal(buf.window(3.0, 5.0)[0], [[4.0, -4.0], [5.0, -5.0]])
    assert ts[0] == 3.0
    # A window entirely in the wrapped part and one entirely before it.
    np.testing.assert_array_equal(buf.window(8.5, 11.0)[1], [9.0, 10.0, 11.0])
    np.testing.assert_array_equal(buf.window(3.5, 6.0)[1], [4.0, 5.0, 6.0])


def test_chunk_larger_than_capacity_keeps_the_newest() -> None:
    buf, data, ts = _filled(8, 20)
    assert len(buf) == 8
    got, got_ts = buf.window(-np.inf, np.inf)
    np.testing.assert_array_equal(got_ts, ts[-8:])
    np.testing.assert_array_equal(got, data[-8:])
    # ... also after the head had moved.
    buf2 = RingBuffer(n_channels=1, capacity=5)
    buf2.push(np.zeros((3, 1)), np.arange(3.0))
    buf2.push(np.arange(10.0).reshape(-1, 1), np.arange(3.0, 13.0))
    np.testing.assert_array_equal(buf2.window(-1, 100)[1], np.arange(8.0, 13.0))
    np.testing.assert_array_equal(buf2.window(-1, 100)[0][:, 0], np.arange(5.0, 10.0))


def test_matches_a_reference_over_random_pushes() -> None:
    rng = np.random.default_rng(7)
    for capacity in (1, 3, 17, 64):
        buf = RingBuffer(n_channels=2, capacity=capacity)
        all_ts: list[float] = []
        t = 0.0
        for _ in range(60):
            n = int(rng.integers(0, 2 * capacity + 2))
            ts = t + np.cumsum(rng.uniform(0.01, 1.0, n))
            t = ts[-1] if n else t
            buf.push(np.column_stack([ts, ts * 2]), ts)
            all_ts.extend(ts.tolist())
            held = np.array(all_ts[-capacity:])
            assert len(buf) == len(held)
            if len(held) == 0:
                continue
            lo, hi = np.sort(rng.uniform(held[0] - 1, held[-1] + 1, 2))
            expected = held[(held > lo) & (held <= hi)]
            data, got = buf.window(lo, hi)
            np.testing.assert_array_equal(got, expected)
            np.testing.assert_array_equal(data, np.column_stack([expected, expected * 2]))
            n, first, last = buf.span(lo, hi)
            assert n == len(expected)
            if n:
                assert (first, last) == (expected[0], expected[-1])
            probe = float(rng.uniform(held[0] - 1, held[-1] + 1))
            after = held[held >= probe]
            found = buf.first_at_or_after(probe)
            assert (found is None) == (len(after) == 0)
            if found is not None:
                assert found[1] == after[0]


@pytest.mark.parametrize(
    ("data", "ts"),
    [
        (np.zeros((3, 2)), np.array([0.0, 2.0, 1.0])),  # backwards within the chunk
        (np.zeros((2, 2)), np.array([1.0, 1.0])),  # repeated
        (np.zeros((1, 2)), np.array([9.0])),  # not after the newest held (9.0)
        (np.zeros((3, 3)), np.arange(10.0, 13.0)),  # wrong channel count
        (np.zeros((2, 2)), np.arange(10.0, 13.0)),  # length mismatch
    ],
)
def test_push_rejects_what_would_break_the_search(data: np.ndarray, ts: np.ndarray) -> None:
    buf, _, _ = _filled(32, 10)
    with pytest.raises(ValueError):
        buf.push(data, ts)
    assert len(buf) == 10 and buf.latest_timestamp == 9.0


def test_clear_and_single_channel_vector() -> None:
    buf = RingBuffer(n_channels=1, capacity=4, dtype=np.float32)
    buf.push(np.array([1.0, 2.0]), np.array([0.5, 0.6]))
    assert buf.window(0, 1)[0].dtype == np.float32
    assert buf.window(0, 1)[0].shape == (2, 1)
    buf.clear()
    assert len(buf) == 0 and buf.latest_timestamp is None
    buf.push(np.array([[3.0]]), np.array([0.1]))  # after clear, earlier times are fine again
    assert buf.first_timestamp == pytest.approx(0.1)


def test_invalid_construction() -> None:
    with pytest.raises(ValueError):
        RingBuffer(n_channels=0, capacity=4)
    with pytest.raises(ValueError):
        RingBuffer(n_channels=1, capacity=0)
