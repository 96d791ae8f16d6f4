"""CausalSosFilter: chunked streaming equals one-shot filtering, response, state, validation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from helo_stream.signal.filters import CausalSosFilter, sosfilt_chunk

pytestmark = pytest.mark.filterwarnings("error")

KIND_EDGES = {
    "bandpass": {"low_hz": 0.5, "high_hz": 8.0},
    "bandstop": {"low_hz": 45.0, "high_hz": 55.0},
    "highpass": {"low_hz": 0.5},
    "lowpass": {"high_hz": 8.0},
}


def _signal(n: int, n_channels: int, *, seed: int = 0) -> np.ndarray:
    """Noise plus a large, channel-specific DC offset, like raw sensor counts."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_channels)) + np.arange(1, n_channels + 1) * 500.0


def _chunks(x: np.ndarray, *, seed: int) -> list[np.ndarray]:
    """Irregular chunks, including empty and single-sample ones, as LSL pulls deliver them."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.integers(0, x.shape[0], size=40))
    cuts = np.concatenate((cuts, [cuts[3], cuts[3] + 1]))  # an empty and a 1-sample chunk
    return np.split(x, np.sort(cuts))


@pytest.mark.parametrize("kind", sorted(KIND_EDGES))
def test_chunked_equals_whole(kind: str) -> None:
    x = _signal(5000, 3)
    whole = CausalSosFilter(kind=kind, srate=250.0, n_channels=3, **KIND_EDGES[kind])
    streamed = CausalSosFilter(kind=kind, srate=250.0, n_channels=3, **KIND_EDGES[kind])
    expected = whole.process(x)
    got = np.concatenate([streamed.process(chunk) for chunk in _chunks(x, seed=1)])
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_whole_is_sosfilt_from_steady_state_of_first_sample() -> None:
    x = _signal(2000, 2)
    filt = CausalSosFilter(kind="bandpass", srate=64.0, low_hz=0.5, high_hz=8.0, n_channels=2)
    zi = scipy.signal.sosfilt_zi(filt.sos)[:, :, np.newaxis] * x[0]
    expected, _ = scipy.signal.sosfilt(filt.sos, x, axis=0, zi=zi)
    np.testing.assert_allclose(filt.process(x), expected, rtol=1e-12, atol=1e-12)


def test_dc_offset_gives_no_start_transient() -> None:
    offset = np.full((500, 1), 1234.5)
    band = CausalSosFilter(kind="bandpass", srate=64.0, low_hz=0.5, high_hz=8.0)
    low = CausalSosFilter(kind="lowpass", srate=64.0, high_hz=8.0)
    np.testing.assert_allclose(band.process(offset), 0.0, atol=1e-8)
    np.testing.assert_allclose(low.process(offset), offset, rtol=1e-12)


def _gain_db(filt: CausalSosFilter, freq_hz: float, srate: float) -> float:
    t = np.arange(int(40 * srate)) / srate
    y = filt.process(np.sin(2 * np.pi * freq_hz * t)[:, np.newaxis])[:, 0]
    settled = y[int(20 * srate) :]  # well past the start transient
    amplitude = np.sqrt(2.0) * np.sqrt(np.mean(settled**2))
    return float(20.0 * np.log10(amplitude))


@pytest.mark.parametrize("design", ["scipy", "mne"])
def test_bandpass_frequency_response(design: str) -> None:
    srate = 64.0

    def make() -> CausalSosFilter:
        return CausalSosFilter(
            kind="bandpass", srate=srate, low_hz=0.5, high_hz=8.0, order=4, design=design
        )

    assert _gain_db(make(), 1.0, srate) > -1.0
    assert _gain_db(make(), 30.0, srate) <= -20.0


@pytest.mark.parametrize("kind", sorted(KIND_EDGES))
def test_mne_design_matches_scipy(kind: str) -> None:
    scipy_sos = CausalSosFilter(kind=kind, srate=250.0, order=3, **KIND_EDGES[kind]).sos
    mne_sos = CausalSosFilter(kind=kind, srate=250.0, order=3, design="mne", **KIND_EDGES[kind])
    np.testing.assert_allclose(mne_sos.sos, scipy_sos, rtol=1e-9, atol=1e-12)


def test_nan_gap_is_kept_and_does_not_poison_state() -> None:
    x = _signal(3000, 2)
    x[1000:1010, 0] = np.nan
    x[0, 1] = np.nan  # channel 1 starts with a gap: state starts at its first finite sample
    whole = CausalSosFilter(kind="highpass", srate=100.0, low_hz=1.0, n_channels=2)
    y = whole.process(x)
    assert np.array_equal(np.isnan(y), np.isnan(x))
    streamed = CausalSosFilter(kind="highpass", srate=100.0, low_hz=1.0, n_channels=2)
    got = np.concatenate([streamed.process(chunk) for chunk in _chunks(x, seed=2)])
    np.testing.assert_allclose(got, y, rtol=1e-12, atol=1e-12)
    # After the gap, channel 0 continues from the state before it (the gap is skipped).
    ref = CausalSosFilter(kind="highpass", srate=100.0, low_hz=1.0)
    skipped = np.delete(x[:, 0], np.s_[1000:1010])
    np.testing.assert_allclose(y[1010:, 0], ref.process(skipped)[1000:], rtol=1e-12, atol=1e-12)


def test_reset_restarts_from_scratch() -> None:
    x = _signal(800, 1)
    filt = CausalSosFilter(kind="bandpass", srate=64.0, low_hz=0.5, high_hz=8.0)
    first = filt.process(x)
    filt.process(x[::-1] * 3.0)  # leave some other state behind
    filt.reset()
    np.testing.assert_array_equal(filt.process(x), first)


def test_one_dimensional_chunk_for_single_channel() -> None:
    x = _signal(300, 1)
    filt = CausalSosFilter(kind="lowpass", srate=64.0, high_hz=8.0)
    out = filt.process(x[:, 0])
    assert out.shape == (300,)
    ref = CausalSosFilter(kind="lowpass", srate=64.0, high_hz=8.0).process(x)
    np.testing.assert_array_equal(out, ref[:, 0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "bandpass", "low_hz": 0.5, "high_hz": 32.0}, "below the Nyquist"),
        ({"kind": "lowpass", "high_hz": 40.0}, "below the Nyquist"),
        ({"kind": "bandpass", "low_hz": 8.0, "high_hz": 0.5}, "must be below high_hz"),
        ({"kind": "bandstop", "low_hz": 5.0, "high_hz": 5.0}, "must be below high_hz"),
        ({"kind": "highpass", "low_hz": -1.0}, "positive"),
        ({"kind": "highpass", "low_hz": 0.0}, "positive"),
        ({"kind": "lowpass", "high_hz": float("nan")}, "positive"),
        ({"kind": "highpass"}, "needs low_hz; low_hz is None"),
        ({"kind": "bandpass", "low_hz": 1.0}, "needs low_hz and high_hz; high_hz is None"),
        ({"kind": "highpass", "low_hz": 1.0, "high_hz": 5.0}, "takes only low_hz"),
        ({"kind": "notch", "low_hz": 1.0}, "kind must be one of"),
        ({"kind": "lowpass", "high_hz": 5.0, "design": "matlab"}, "design must be one of"),
        ({"kind": "lowpass", "high_hz": 5.0, "srate": 0.0}, "srate must be a positive"),
        ({"kind": "lowpass", "high_hz": 5.0, "order": 0}, "order must be a positive integer"),
        ({"kind": "lowpass", "high_hz": 5.0, "order": 2.5}, "order must be a positive integer"),
        ({"kind": "lowpass", "high_hz": 5.0, "n_channels": 0}, "n_channels must be a positive"),
    ],
)
def test_invalid_parameters_raise(kwargs: dict, message: str) -> None:
    kwargs = {"srate": 64.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        CausalSosFilter(**kwargs)


def test_wrong_chunk_shape_raises() -> None:
    filt = CausalSosFilter(kind="lowpass", srate=64.0, high_hz=8.0, n_channels=3)
    with pytest.raises(ValueError, match=r"shape \(n_samples, 3\)"):
        filt.process(np.zeros((10, 2)))
    with pytest.raises(ValueError, match=r"shape \(n_samples, 3\)"):
        filt.process(np.zeros(10))


def test_sosfilt_chunk_matches_scipy_sosfilt() -> None:
    """The unchecked fast path gives scipy's output and state, chunk after chunk."""
    rng = np.random.default_rng(3)
    sos = scipy.signal.butter(3, [0.5, 8.0], btype="bandpass", fs=64.0, output="sos")
    x = rng.standard_normal((300, 3))
    zi_ref = np.zeros((sos.shape[0], 2, 3))
    zi_fast = zi_ref.copy()
    for chunk in np.array_split(x, [1, 17, 18, 150]):
        y_ref, zi_ref = scipy.signal.sosfilt(sos, chunk, axis=0, zi=zi_ref)
        y_fast, zi_fast = sosfilt_chunk(np.ascontiguousarray(sos), chunk, zi_fast)
        np.testing.assert_allclose(y_fast, y_ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(zi_fast, zi_ref, rtol=0, atol=1e-12)
