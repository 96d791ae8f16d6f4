"""Streaming EEG differential entropy against an offline MNE computation, and chunking.

The reference is what an MNE analysis of the whole recording computes: a zero-phase IIR notch
(``mne.filter.notch_filter``) and zero-phase Butterworth band-passes (``mne.filter.filter_data``,
``method="iir"``, order 4), then ``0.5 ln(2πe var)`` per 1-s segment, averaged over the window.
The stream filters causally chunk by chunk, so the two differ by the filters' phase and by the
forward-backward pass squaring the magnitude response (a narrower effective band: on this
signal a uniform offset of about +0.065 nat). Tolerance, measured first: per feature at most
0.35 nat (measured 0.27, delta band), and on average at most 0.10 nat (measured 0.069). A
filter that is broken (no notch under mains hum, state lost at chunk boundaries, bands swapped)
exceeds both (measured 0.92-1.96 nat at most, 0.21-0.56 on average).
"""

from __future__ import annotations

import math

import mne
import numpy as np
import pytest
import scipy.signal

from helo_stream.signal.features.eeg import DE_BANDS
from helo_stream.signal.incremental import INCREMENTAL_EXTRACTORS, make_incremental_features
from helo_stream.signal.incremental.eeg import IncrementalEeg

SRATE = 300.0
N_CHANNELS = 4
DURATION_S = 60
WINDOW_S = 5.0
WINDOW_ENDS = np.arange(10.0, 58.0, 4.0)
MAX_ABS_NAT = 0.35
MEAN_ABS_NAT = 0.10
CHANNELS = tuple(f"c{i}" for i in range(N_CHANNELS))


@pytest.fixture(scope="module")
def recording() -> tuple[np.ndarray, np.ndarray]:
    """1/f-like background, a 10 Hz alpha rhythm, white noise and strong 50 Hz mains hum."""
    rng = np.random.default_rng(1)
    n = int(SRATE * DURATION_S)
    t = np.arange(n) / SRATE
    background = scipy.signal.lfilter(
        [1.0], [1.0, -0.95], rng.standard_normal((n, N_CHANNELS)), axis=0
    )
    x = 10.0 * background + 3.0 * rng.standard_normal((n, N_CHANNELS))
    x += 5.0 * np.sin(2 * np.pi * 10.0 * t)[:, None] + 20.0 * np.sin(2 * np.pi * 50.0 * t)[:, None]
    return x, t


@pytest.fixture(scope="module")
def mne_reference(recording: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    x, t = recording
    clean = mne.filter.notch_filter(
        x.T.copy(),
        SRATE,
        50.0,
        notch_widths=4.0,
        method="iir",
        iir_params={"order": 2, "ftype": "butter"},
        phase="zero",
        verbose=False,
    )
    bands = [
        mne.filter.filter_data(
            clean.copy(),
            SRATE,
            lo,
            hi,
            method="iir",
            iir_params={"order": 4, "ftype": "butter"},
            phase="zero",
            verbose=False,
        ).T
        for lo, hi in DE_BANDS.values()
    ]
    rows = []
    for end in WINDOW_ENDS:
        per_band = []
        for y in bands:
            segments = [
                y[(t > end - k - 1 + 1e-9) & (t <= end - k + 1e-9)] for k in range(int(WINDOW_S))
            ]
            de = [0.5 * np.log(2 * np.pi * math.e * seg.var(axis=0)) for seg in segments]
            per_band.append(np.mean(de, axis=0))
        rows.append(np.asarray(per_band).T.reshape(-1))  # channel-major, bands fastest
    return np.asarray(rows)


def _stream(stream: IncrementalEeg, x: np.ndarray, t: np.ndarray, chunk: int) -> np.ndarray:
    for i in range(0, len(t), chunk):
        stream.update(x[i : i + chunk], t[i : i + chunk])
    return np.asarray([stream.compute(end - WINDOW_S, end) for end in WINDOW_ENDS])


class _LosesStateAtChunks(IncrementalEeg):
    """A classic streaming bug: filters restarted at every chunk."""

    def _update(self, samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        for band in self._bands:
            band.reset()
        super()._update(samples, timestamps_lsl)


def test_registered_and_built_for_the_pipeline() -> None:
    assert INCREMENTAL_EXTRACTORS["eeg"] is IncrementalEeg
    stream = make_incremental_features("eeg", srate=SRATE, channels=CHANNELS, horizon_s=10.0)
    assert isinstance(stream, IncrementalEeg)
    assert stream.names[:5] == tuple(f"eeg_de_{band}_c0" for band in DE_BANDS)
    with pytest.raises(ValueError, match="above 98 Hz"):
        IncrementalEeg(srate=64.0, channels=CHANNELS)


def test_matches_offline_mne_differential_entropy(recording, mne_reference) -> None:
    x, t = recording
    streamed = _stream(IncrementalEeg(srate=SRATE, channels=CHANNELS, horizon_s=70.0), x, t, 37)
    error = np.abs(streamed - mne_reference)
    assert np.isfinite(streamed).all()
    assert error.max() <= MAX_ABS_NAT, error.max()
    assert error.mean() <= MEAN_ABS_NAT, error.mean()


@pytest.mark.parametrize("broken", ["no_notch", "state_lost", "bands_swapped"])
def test_a_broken_filter_fails_the_tolerance(recording, mne_reference, broken: str) -> None:
    x, t = recording
    chunk = 37
    if broken == "no_notch":
        stream = IncrementalEeg(srate=SRATE, channels=CHANNELS, horizon_s=70.0, notch_hz=None)
    elif broken == "state_lost":
        stream, chunk = _LosesStateAtChunks(srate=SRATE, channels=CHANNELS, horizon_s=70.0), 150
    else:
        stream = IncrementalEeg(srate=SRATE, channels=CHANNELS, horizon_s=70.0)
        stream._bands = stream._bands[1:] + stream._bands[:1]
    error = np.abs(_stream(stream, x, t, chunk) - mne_reference)
    assert error.max() > MAX_ABS_NAT and error.mean() > MEAN_ABS_NAT


def test_chunking_does_not_change_features(recording) -> None:
    x, t = recording
    whole = _stream(IncrementalEeg(srate=SRATE, channels=CHANNELS, horizon_s=70.0), x, t, len(t))
    rng = np.random.default_rng(3)
    stream = IncrementalEeg(srate=SRATE, channels=CHANNELS, horizon_s=70.0)
    i = 0
    while i < len(t):
        n = int(rng.integers(1, 400))
        stream.update(x[i : i + n], t[i : i + n])
        i += n
    chunked = np.asarray([stream.compute(end - WINDOW_S, end) for end in WINDOW_ENDS])
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-9)


def test_gaps_leave_out_their_segments(recording) -> None:
    x, t = recording
    holed_x = x.copy()
    holed_x[(t > 20.2) & (t <= 20.4), 1] = np.nan  # inside the segment (20, 21]
    clean = IncrementalEeg(srate=SRATE, channels=CHANNELS, horizon_s=70.0)
    holed = IncrementalEeg(srate=SRATE, channels=CHANNELS, horizon_s=70.0)
    clean.update(x, t)
    holed.update(holed_x, t)
    n_bands = len(DE_BANDS)
    five_s = holed.compute(16.0, 21.0).reshape(N_CHANNELS, n_bands)
    np.testing.assert_array_equal(five_s[0], clean.compute(16.0, 21.0).reshape(N_CHANNELS, -1)[0])
    assert np.isfinite(five_s[1]).all()  # the four clean segments still count
    one_s = holed.compute(20.0, 21.0).reshape(N_CHANNELS, n_bands)
    assert np.isnan(one_s[1]).all() and np.isfinite(one_s[0]).all()
