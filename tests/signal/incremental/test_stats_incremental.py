"""Temperature and acceleration statistics from running sums equal the window extractors'."""

from __future__ import annotations

import numpy as np
import pytest

from helo_stream.signal.incremental import make_incremental_features
from helo_stream.signal.incremental.stats import IncrementalAcc, IncrementalTemp


def _stream(kind: str, srate: float, seconds: float, *, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = int(srate * seconds)
    channels = 3 if kind == "acc" else 1
    t = 5000.0 + np.arange(n) / srate + rng.uniform(0, 0.2 / srate, n)  # LSL jitter
    x = 30.0 + np.linspace(0.0, 3.0, n)[:, None] + rng.standard_normal((n, channels))
    x[rng.choice(n, n // 40, replace=False), rng.integers(0, channels)] = np.nan
    return x, t


def _feed(extractor, x: np.ndarray, t: np.ndarray, *, n_chunks: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, len(t)), n_chunks - 1, replace=False))
    for chunk in np.split(np.arange(len(t)), cuts):
        extractor.update(x[chunk], t[chunk])


@pytest.mark.parametrize(("kind", "srate"), [("temp", 4), ("temp", 700), ("acc", 32), ("acc", 700)])
def test_running_sums_equal_the_window_extractor(kind: str, srate: float) -> None:
    x, t = _stream(kind, srate, 150.0)
    fast = make_incremental_features(kind, srate=srate)
    reference = make_incremental_features(kind, srate=srate, engine="batch")
    assert isinstance(fast, IncrementalTemp | IncrementalAcc)
    _feed(fast, x, t, n_chunks=97)
    _feed(reference, x, t, n_chunks=5)
    for end in t[-1] - np.array([0.0, 0.13, 7.0, 45.5]):
        np.testing.assert_allclose(
            fast.compute(end - 60.0, end), reference.compute(end - 60.0, end), rtol=1e-9
        )


def test_hours_of_stream_keep_full_precision_and_bounded_memory() -> None:
    """Prefix sums grow with the session; window differences must not lose precision."""
    srate = 32.0
    fast = make_incremental_features("acc", srate=srate, horizon_s=120.0)
    reference = make_incremental_features("acc", srate=srate, engine="batch", horizon_s=120.0)
    x, t = _stream("acc", srate, 3 * 3600.0, seed=4)
    x += 64.0  # gravity in E4 units: large means, small spread
    for chunk in np.array_split(np.arange(len(t)), 400):
        fast.update(x[chunk], t[chunk])
        reference.update(x[chunk], t[chunk])
    end = t[-1]
    np.testing.assert_allclose(
        fast.compute(end - 60.0, end), reference.compute(end - 60.0, end), rtol=1e-7
    )
    assert fast._sums.capacity < 2 * 120 * srate  # the horizon, not the session


def test_empty_and_all_missing_windows_are_nan() -> None:
    fast = make_incremental_features("temp", srate=4.0)
    t = 10.0 + np.arange(400) / 4.0
    fast.update(np.full((400, 1), np.nan), t)
    assert np.isnan(fast.compute(t[-1] - 60.0, t[-1])).all()
    assert np.isnan(fast.compute(t[-1] + 1.0, t[-1] + 61.0)).all()
