"""Incremental BVP/ECG extractors on synthetic signals with a known heart rate."""

from __future__ import annotations

import numpy as np
import pytest

from helo_stream.signal.features.cardiac import CARDIAC_FEATURES
from helo_stream.signal.incremental import INCREMENTAL_EXTRACTORS, make_incremental_features
from helo_stream.signal.incremental.cardiac import (
    IncrementalBvp,
    IncrementalCardiac,
    IncrementalEcg,
)

_HR = CARDIAC_FEATURES.index("hr_mean")
_ORIGIN = 100.0  # LSL clock at the first sample


def _simulated(kind: str, *, duration_s: float, heart_rate: float, srate: float) -> np.ndarray:
    import neurokit2 as nk

    if kind == "bvp":
        return nk.ppg_simulate(
            duration=duration_s, sampling_rate=srate, heart_rate=heart_rate, random_state=3
        )
    return nk.ecg_simulate(
        duration=duration_s, sampling_rate=srate, heart_rate=heart_rate, random_state=3
    )


def _stream(kind: str, srate: float, **kwargs: float) -> IncrementalCardiac:
    return (IncrementalBvp if kind == "bvp" else IncrementalEcg)(srate=srate, **kwargs)


def _fed(
    stream: IncrementalCardiac, signal: np.ndarray, times: np.ndarray, chunk: int
) -> IncrementalCardiac:
    for start in range(0, signal.size, chunk):
        stream.update(signal[start : start + chunk], times[start : start + chunk])
    return stream


_CASES = [("bvp", 64.0, 72.0), ("ecg", 250.0, 64.0)]


def test_registered_for_the_pipeline() -> None:
    assert INCREMENTAL_EXTRACTORS["bvp"] is IncrementalBvp
    assert INCREMENTAL_EXTRACTORS["ecg"] is IncrementalEcg
    assert isinstance(make_incremental_features("ecg", srate=700.0), IncrementalEcg)


@pytest.mark.parametrize(("kind", "srate", "heart_rate"), _CASES)
def test_heart_rate_of_a_simulated_signal(kind: str, srate: float, heart_rate: float) -> None:
    signal = _simulated(kind, duration_s=90.0, heart_rate=heart_rate, srate=srate)
    times = _ORIGIN + np.arange(signal.size) / srate
    stream = _fed(_stream(kind, srate), signal, times, int(srate))
    end = times[-1]
    values = stream.compute(end - 60.0, end)
    assert values[_HR] == pytest.approx(heart_rate, abs=1.5)
    assert np.isfinite(values).all()


@pytest.mark.parametrize(("kind", "srate", "heart_rate"), _CASES)
def test_chunking_and_later_samples_do_not_change_a_window(
    kind: str, srate: float, heart_rate: float
) -> None:
    signal = _simulated(kind, duration_s=80.0, heart_rate=heart_rate, srate=srate)
    times = _ORIGIN + np.arange(signal.size) / srate
    ends = _ORIGIN + np.array([35.0, 50.3, 66.0])
    whole = _fed(_stream(kind, srate), signal, times, signal.size)
    expected = np.array([whole.compute(end - 30.0, end) for end in ends])
    assert np.isfinite(expected[:, _HR]).all()
    for chunk_s in (1.0 / srate, 0.25, 1.7, 10.0):
        chunk = max(1, round(chunk_s * srate))
        stream = _stream(kind, srate)
        live = []
        pushed = 0
        for end in ends:  # queried as soon as the window has ended, as live
            upto = int(np.searchsorted(times, end, side="right"))
            _fed(stream, signal[pushed:upto], times[pushed:upto], chunk)
            pushed = upto
            live.append(stream.compute(end - 30.0, end))
        np.testing.assert_allclose(np.array(live), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("kind", "srate", "heart_rate"), _CASES)
def test_intervals_touching_nan_samples_are_rejected(
    kind: str, srate: float, heart_rate: float
) -> None:
    signal = _simulated(kind, duration_s=70.0, heart_rate=heart_rate, srate=srate)
    times = _ORIGIN + np.arange(signal.size) / srate
    window = (times[0] + 10.0, times[-1])
    clean = _fed(_stream(kind, srate), signal, times, 64).compute(*window)
    assert np.isfinite(clean).all()
    # One unusable sample every 0.4 s: shorter than any interval, so every interval touches
    # one, although the held value keeps the cleaned waveform (and the beats) nearly intact.
    gapped = signal.copy()
    gapped[int(10.0 * srate) :: int(0.4 * srate)] = np.nan
    assert np.isnan(_fed(_stream(kind, srate), gapped, times, 64).compute(*window)).all()


@pytest.mark.parametrize(("kind", "srate"), [("bvp", 64.0), ("ecg", 700.0)])
def test_flat_and_too_short_windows_give_nan(kind: str, srate: float) -> None:
    times = _ORIGIN + np.arange(int(60 * srate)) / srate
    flat = _fed(_stream(kind, srate), np.full(times.size, 812.5), times, 100)
    assert np.isnan(flat.compute(times[0], times[-1])).all()
    signal = _simulated(kind, duration_s=60.0, heart_rate=70.0, srate=srate)
    stream = _fed(_stream(kind, srate), signal, times, 100)
    assert np.isnan(stream.compute(times[-1] - 2.5, times[-1])).all()
    assert np.isfinite(stream.compute(times[-1] - 40.0, times[-1])[_HR])


def test_memory_stays_bounded_over_a_long_stream() -> None:
    srate = 64.0
    period = _simulated("bvp", duration_s=60.0, heart_rate=75.0, srate=srate)
    stream = IncrementalBvp(srate=srate, horizon_s=70.0)
    chunk = int(0.5 * srate)
    sizes = []
    for repeat in range(20):  # 20 minutes, NaN bursts included
        signal = period.copy()
        signal[100 + repeat : 120 + repeat] = np.nan
        times = _ORIGIN + repeat * 60.0 + np.arange(signal.size) / srate
        _fed(stream, signal, times, chunk)
        sizes.append(
            (
                stream._detector._history.shape[0],
                stream._unusable._flat.size,
                len(stream._beats),
            )
        )
    history, nan_indices, beats = np.max(np.array(sizes[5:]), axis=0)
    assert history < 10 * srate  # the detector's carried tail, not the stream
    assert nan_indices <= 2 * 20  # only the NaN samples within the horizon
    assert beats <= stream._beats.capacity <= 70 * 4 * 1.25 + 17  # sized by the horizon
    end = _ORIGIN + 20 * 60.0 - 1.0
    assert stream.compute(end - 60.0, end)[_HR] == pytest.approx(75.0, abs=1.5)
    assert np.isnan(stream.compute(_ORIGIN, _ORIGIN + 60.0)).all()  # beyond the horizon
