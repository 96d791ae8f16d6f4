"""IncrementalResp on simulated breathing: rate, chunking, gaps, flat input, rates and memory."""

from __future__ import annotations

import itertools

import neurokit2 as nk
import numpy as np
import pytest

from helo_stream.signal.features import make_extractor
from helo_stream.signal.incremental import make_incremental_features
from helo_stream.signal.incremental.resp import IncrementalResp

pytestmark = pytest.mark.filterwarnings("error")

T0 = 80_000.0


def _times(n: int, srate: float) -> np.ndarray:
    return T0 + np.arange(n) / srate


@pytest.fixture(scope="module")
def breathing() -> np.ndarray:
    """150 s of breathing at 15/min sampled at 700 Hz (RespiBAN chest)."""
    return nk.rsp_simulate(duration=150, sampling_rate=700, respiratory_rate=15, random_state=4)


def _named(stream: IncrementalResp, start: float, end: float) -> dict[str, float]:
    return dict(zip(stream.names, stream.compute(start, end), strict=True))


@pytest.mark.parametrize("rate_per_min", [9.0, 15.0, 24.0])
def test_rate_of_simulated_breathing(rate_per_min: float) -> None:
    srate = 100.0
    rsp = nk.rsp_simulate(
        duration=120, sampling_rate=100, respiratory_rate=rate_per_min, random_state=1
    )
    t = _times(rsp.size, srate)
    stream = IncrementalResp(srate=srate)
    stream.update(rsp, t)
    got = _named(stream, t[-1] - 60.0, t[-1])
    assert got["resp_rate_mean"] == pytest.approx(rate_per_min, abs=1.0)
    assert got["resp_amplitude_mean"] > 0.0
    assert 0.3 < got["resp_ie_ratio"] < 3.0
    m = t > t[-1] - 60.0
    window = make_extractor("resp", srate=srate).compute(rsp[m], t[m])
    assert got["resp_rate_mean"] == pytest.approx(window[0], abs=1.0)
    assert got["resp_amplitude_mean"] == pytest.approx(window[2], rel=0.2)


@pytest.mark.parametrize("max_chunk", [1, 25, 7000])
def test_features_do_not_depend_on_chunking_or_on_what_came_later(
    breathing: np.ndarray, max_chunk: int
) -> None:
    srate = 700.0
    x = breathing.copy()
    x[int(80 * srate) : int(81.5 * srate)] = np.nan
    t = _times(x.size, srate)
    whole = IncrementalResp(srate=srate, horizon_s=1000.0)
    whole.update(x, t)
    chunked = IncrementalResp(srate=srate, horizon_s=1000.0)
    rng = np.random.default_rng(max_chunk)
    # Chunks of 1 sample for a stretch would take long at 700 Hz: 1-sample chunks cover 20 s.
    sizes = rng.integers(1, max_chunk + 1, size=x.size)
    bounds = np.concatenate(([0], np.cumsum(sizes)))
    bounds = [*bounds[bounds < x.size].tolist(), x.size]
    if max_chunk == 1:
        bounds = [b for b in bounds if b < 20 * srate or b % 350 == 0] + [x.size]
        bounds = sorted(set(bounds))
    step_samples = int(5 * srate)
    checked = 0
    for a, b in itertools.pairwise(bounds):
        chunked.update(x[a:b], t[a:b])
        end = t[b - 1]
        if end - t[0] >= 60.0 and a // step_samples != b // step_samples:
            np.testing.assert_array_equal(
                chunked.compute(end - 60.0, end), whole.compute(end - 60.0, end)
            )
            checked += 1
    assert checked >= 5


def test_breaths_across_a_gap_are_not_measured(breathing: np.ndarray) -> None:
    srate = 700.0
    t = _times(breathing.size, srate)
    for damage in ("nan", "dropped"):
        x, stamps = breathing.copy(), t.copy()
        gap = slice(int(100 * srate), int(102 * srate))
        if damage == "nan":
            x[gap] = np.nan
        else:
            keep = np.ones(x.size, dtype=bool)
            keep[gap] = False
            x, stamps = x[keep], stamps[keep]
        stream = IncrementalResp(srate=srate)
        stream.update(x, stamps)
        got = _named(stream, T0 + 70.0, T0 + 130.0)
        assert got["resp_rate_mean"] == pytest.approx(15.0, abs=1.5), damage
        # No interval spans the gap: every measured peak-to-peak interval is a real breath.
        breaths, _ = stream._breaths.window(T0 + 70.0, T0 + 130.0)
        gaps = breaths[:, 7]
        assert np.unique(gaps).size == 2  # before and after the gap
        assert got["resp_rate_std"] < 3.0


def test_flat_signal_gives_nan() -> None:
    stream = IncrementalResp(srate=700.0)
    t = _times(700 * 90, 700.0)
    stream.update(np.full(t.size, 3.0), t)
    assert np.isnan(stream.compute(t[-1] - 60.0, t[-1])).all()


def test_chest_rate_is_block_averaged(breathing: np.ndarray) -> None:
    t = _times(breathing.size, 700.0)
    fast = IncrementalResp(srate=700.0)
    assert fast.working_rate == pytest.approx(25.0)
    fast.update(breathing, t)
    n = breathing.size // 28 * 28
    slow = IncrementalResp(srate=25.0)
    slow.update(breathing[:n].reshape(-1, 28).mean(axis=1), t[27:n:28])
    np.testing.assert_allclose(fast.compute(t[-1] - 60, t[-1]), slow.compute(t[-1] - 60, t[-1]))


def test_memory_stays_bounded_by_the_horizon() -> None:
    srate, horizon = 25.0, 90.0
    stream = make_incremental_features("resp", srate=srate, horizon_s=horizon)
    assert isinstance(stream, IncrementalResp)
    rsp = nk.rsp_simulate(duration=600, sampling_rate=25, respiratory_rate=14, random_state=2)
    for repeat in range(6):  # an hour in 1 s chunks
        t = _times(rsp.size, srate) + repeat * 600.0
        for a in range(0, rsp.size, 25):
            stream.update(rsp[a : a + 25], t[a : a + 25])
        assert len(stream._derived) <= stream._derived.capacity <= 1.3 * horizon * srate + 16
        assert len(stream._breaths) <= stream._breaths.capacity
        assert len(stream._swings) <= 60  # a minute of extrema, not the whole stream
    got = _named(stream, t[-1] - 60.0, t[-1])
    assert got["resp_rate_mean"] == pytest.approx(14.0, abs=1.0)
