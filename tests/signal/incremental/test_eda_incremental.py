"""IncrementalEda on simulated skin conductance: SCR counts, chunking, gaps, rates and memory."""

from __future__ import annotations

import itertools

import neurokit2 as nk
import numpy as np
import pytest

from helo_stream.signal.features import make_extractor
from helo_stream.signal.incremental import make_incremental_features
from helo_stream.signal.incremental.eda import IncrementalEda

pytestmark = pytest.mark.filterwarnings("error")

T0 = 50_000.0  # LSL-like clock offset


def _times(n: int, srate: float) -> np.ndarray:
    return T0 + np.arange(n) / srate


def _feed(stream: IncrementalEda, x: np.ndarray, t: np.ndarray, *, sizes: np.ndarray) -> None:
    bounds = np.concatenate(([0], np.cumsum(sizes)))
    for a, b in itertools.pairwise(bounds):
        stream.update(x[a:b], t[a:b])


def _scr_train(n: int, srate: float, onsets_s: list[float], *, level: float = 2.0) -> np.ndarray:
    """A flat level with clean SCR-shaped responses (0.5 µS, 2 s rise, slow recovery)."""
    t = np.arange(n) / srate
    x = np.full(n, level)
    for onset in onsets_s:
        u = np.clip(t - onset, 0.0, None)
        x += 0.5 * (1.0 - np.exp(-u / 1.0)) * np.exp(-u / 6.0) * 1.8
    return x


def test_scr_count_and_level_on_simulated_eda() -> None:
    srate = 4.0
    eda = nk.eda_simulate(duration=90, sampling_rate=4, scr_number=6, random_state=3)
    t = _times(eda.size, srate)
    stream = IncrementalEda(srate=srate)
    stream.update(eda, t)
    got = dict(zip(stream.names, stream.compute(t[0] - 1.0, t[-1]), strict=True))
    window = make_extractor("eda", srate=srate).compute(eda, t)
    assert got["eda_scr_count"] == pytest.approx(6, abs=1)
    assert got["eda_scr_count"] == pytest.approx(window[5], abs=1)
    assert got["eda_tonic_mean"] == pytest.approx(np.mean(eda), abs=0.02)
    assert 0.2 < got["eda_scr_amplitude_mean"] < 1.5


def test_known_responses_are_counted_with_their_rise() -> None:
    srate = 8.0
    x = _scr_train(int(120 * srate), srate, [20.0, 50.0, 80.0])
    t = _times(x.size, srate)
    stream = IncrementalEda(srate=srate)
    stream.update(x, t)
    values = dict(zip(stream.names, stream.compute(T0 + 10.0, T0 + 110.0), strict=True))
    assert values["eda_scr_count"] == 3.0
    # Each response's rise: the summed exponentials peak near 0.5 µS above the level.
    assert values["eda_scr_amplitude_mean"] == pytest.approx(0.5, abs=0.1)
    # A window starting mid-rise counts the response from its first sample (edge convention).
    mid_rise = dict(zip(stream.names, stream.compute(T0 + 20.5, T0 + 45.0), strict=True))
    assert mid_rise["eda_scr_count"] == 1.0
    assert mid_rise["eda_scr_amplitude_mean"] < values["eda_scr_amplitude_mean"]


@pytest.mark.parametrize(("srate", "max_chunk"), [(4.0, 1), (4.0, 40), (700.0, 7000)])
def test_features_do_not_depend_on_chunking_or_on_what_came_later(
    srate: float, max_chunk: int
) -> None:
    duration = 150 if srate < 100 else 100
    eda = nk.eda_simulate(duration=duration, sampling_rate=int(srate), scr_number=8, random_state=5)
    eda[int(70 * srate) : int(72 * srate)] = np.nan  # a gap inside the stream
    t = _times(eda.size, srate)
    whole = IncrementalEda(srate=srate, horizon_s=1000.0)
    whole.update(eda, t)

    chunked = IncrementalEda(srate=srate, horizon_s=1000.0)
    rng = np.random.default_rng(int(srate) + max_chunk)
    sizes = rng.integers(1, max_chunk + 1, size=eda.size)
    bounds = np.concatenate(([0], np.cumsum(sizes)))
    bounds = [*bounds[bounds < eda.size].tolist(), eda.size]
    checked = 0
    for a, b in itertools.pairwise(bounds):
        chunked.update(eda[a:b], t[a:b])
        end = t[b - 1]
        if end - t[0] >= 60.0 and (b // max(1, int(srate * 5))) != (a // max(1, int(srate * 5))):
            now = chunked.compute(end - 60.0, end)
            later = whole.compute(end - 60.0, end)
            np.testing.assert_array_equal(now, later)
            checked += 1
    assert checked >= 5
    assert np.isfinite(whole.compute(t[-1] - 60.0, t[-1])[:6]).all()


def test_rise_interrupted_by_missing_or_dropped_samples_is_not_a_response() -> None:
    srate = 4.0
    x = _scr_train(int(60 * srate), srate, [25.0])
    t = _times(x.size, srate)
    rise = slice(int(25.5 * srate), int(26.0 * srate))
    for damage in ("nan", "dropped"):
        samples, stamps = x.copy(), t.copy()
        if damage == "nan":
            samples[rise] = np.nan
        else:
            keep = np.ones(x.size, dtype=bool)
            keep[rise] = False
            samples, stamps = samples[keep], stamps[keep]
        stream = IncrementalEda(srate=srate)
        _feed(stream, samples, stamps, sizes=np.full(samples.size, 3))
        got = dict(zip(stream.names, stream.compute(T0, T0 + 60.0), strict=True))
        assert got["eda_scr_count"] == 0.0, damage
        assert np.isnan(got["eda_scr_amplitude_mean"])
        assert got["eda_tonic_mean"] == pytest.approx(np.nanmean(samples), abs=0.01)
        # The gap is only a gap: windows after it see the next response normally.
    intact = IncrementalEda(srate=srate)
    intact.update(x, t)
    assert intact.compute(T0, T0 + 60.0)[5] == 1.0


def test_flat_signal_is_a_level_without_responses() -> None:
    stream = IncrementalEda(srate=4.0)
    t = _times(480, 4.0)
    stream.update(np.full(480, 0.4), t)
    got = dict(zip(stream.names, stream.compute(t[0] - 1.0, t[-1]), strict=True))
    assert got["eda_tonic_mean"] == pytest.approx(0.4, abs=1e-12)
    assert got["eda_tonic_slope"] == pytest.approx(0.0, abs=1e-12)
    assert got["eda_scr_count"] == 0.0 and np.isnan(got["eda_scr_amplitude_mean"])
    assert np.isnan(stream.compute(t[-1] + 1.0, t[-1] + 61.0)).all()  # nothing there yet


def test_chest_rate_is_block_averaged_to_the_same_features() -> None:
    eda_700 = nk.eda_simulate(duration=80, sampling_rate=700, scr_number=5, random_state=2)
    t_700 = _times(eda_700.size, 700.0)
    fast = IncrementalEda(srate=700.0)
    assert fast.working_rate == pytest.approx(700.0 / 87)
    fast.update(eda_700, t_700)
    slow_x = eda_700[: eda_700.size // 87 * 87].reshape(-1, 87).mean(axis=1)
    slow = IncrementalEda(srate=700.0 / 87)
    slow.update(slow_x, t_700[86 : eda_700.size // 87 * 87 : 87])
    end = t_700[-1]
    np.testing.assert_allclose(fast.compute(end - 60, end), slow.compute(end - 60, end))


def test_memory_stays_bounded_by_the_horizon() -> None:
    srate, horizon = 4.0, 90.0
    stream = make_incremental_features("eda", srate=srate, horizon_s=horizon)
    assert isinstance(stream, IncrementalEda)
    eda = nk.eda_simulate(duration=600, sampling_rate=4, scr_number=60, random_state=9)
    for repeat in range(6):  # an hour in 2 s chunks
        t = _times(eda.size, srate) + repeat * 600.0
        _feed(stream, eda, t, sizes=np.full(eda.size // 8, 8))
        assert len(stream._derived) <= stream._derived.capacity <= 1.3 * horizon * srate + 16
        assert len(stream._scrs) <= stream._scrs.capacity
    end = t[-1]
    assert np.isfinite(stream.compute(end - 60.0, end)[:6]).all()
    assert stream._blocks._carry_x.size == 0  # factor 1: nothing waits
