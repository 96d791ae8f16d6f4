"""EEG differential entropy: DMER's spectral estimate, MNE parity, closed forms, the registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal

from helo_stream.signal.features.eeg import (
    DE_BANDS,
    DMER_EEG_CHANNELS,
    EegFeatures,
    ringing_samples,
)

FS = 300.0
BANDS = list(DE_BANDS.values())


def _dmer_reference(raw: np.ndarray, fs: int) -> np.ndarray:
    """A loop port of ``extract_de_feature`` from the DMER authors' ``fea4eeg.py``.

    ``raw`` is (channels, samples); returns (windows, bands, channels).
    """
    n_channels, n_samples = raw.shape
    per_window = int(fs)
    out = np.zeros((n_samples // per_window, len(BANDS), n_channels))
    for w in range(n_samples // per_window):
        data = raw[:, w * per_window : (w + 1) * per_window] * scipy.signal.windows.hann(per_window)
        energy = np.abs(np.fft.fft(data, n=256)[:, :128])
        for b, (lo, hi) in enumerate(BANDS):
            start, end = int(np.floor(lo / fs * 256)), int(np.floor(hi / fs * 256))
            psd = np.mean(energy[:, start : end + 1] ** 2, axis=1)
            out[w, b] = 0.5 * np.log(psd) + 0.5 * np.log(2 * np.pi * np.e / round(fs / 256))
    return out


def _eeg_like(seconds: float, n_channels: int, seed: int) -> np.ndarray:
    """Sines in every band with channel-specific amplitudes, plus 1/f-ish noise: (n, ch)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    x = np.zeros((t.size, n_channels))
    for f in (2.5, 6.0, 10.0, 20.0, 40.0):
        amp = rng.uniform(2.0, 20.0, n_channels) / math.sqrt(f)
        phase = rng.uniform(0, 2 * np.pi, n_channels)
        x += amp * np.sin(2 * np.pi * f * t[:, None] + phase)
    noise = rng.normal(size=x.shape)
    x += scipy.signal.lfilter([1.0], [1.0, -0.9], noise, axis=0)
    return x


def test_names_follow_dmer_column_order() -> None:
    ext = EegFeatures(srate=300)  # as make_extractor("eeg", srate=300) will build it
    assert len(ext.names) == 90
    assert ext.names[:6] == (
        "eeg_de_delta_P3", "eeg_de_theta_P3", "eeg_de_alpha_P3",
        "eeg_de_beta_P3", "eeg_de_gamma_P3", "eeg_de_delta_C3",
    )  # fmt: skip
    assert ext.names[-1] == "eeg_de_gamma_T4"
    assert len(DMER_EEG_CHANNELS) == 18
    assert EegFeatures.modality == "eeg" and EegFeatures.available == ext.names


def test_dmer_method_is_the_authors_computation() -> None:
    x = _eeg_like(6.0, 18, seed=1)
    reference = _dmer_reference(x.T, 300)  # (6, 5, 18)
    ext = EegFeatures(srate=FS)
    np.testing.assert_allclose(ext.segment_de(x), reference, rtol=0, atol=1e-10)
    # A 1-s window gives a DMER row, flattened channel-major (MATLAB reshape of (5, 18)).
    t = np.arange(x.shape[0]) / FS
    row = ext.compute(x[-300:], t[-300:])
    np.testing.assert_allclose(row, reference[-1].T.reshape(-1), atol=1e-10)
    # A longer window averages the DE of its whole seconds, aligned to the newest sample.
    window = ext.compute(x[-950:], t[-950:])
    np.testing.assert_allclose(window, reference[-3:].mean(axis=0).T.reshape(-1), atol=1e-10)


def test_variance_method_matches_mne_filter_data() -> None:
    """Fidelity: the same DE computed offline with MNE (IIR Butterworth, zero phase)."""
    mne = pytest.importorskip("mne")
    x = _eeg_like(10.0, 18, seed=2)
    ext = EegFeatures(srate=FS, method="variance")
    ours = ext.segment_de(x)  # (10, 5, 18)
    for b, (lo, hi) in enumerate(BANDS):
        filtered = mne.filter.filter_data(
            x.T.copy(), FS, lo, hi, method="iir",
            iir_params={"order": 4, "ftype": "butter", "output": "sos"}, verbose=False,
        ).T  # fmt: skip
        var = filtered.reshape(10, 300, 18).var(axis=1)
        expected = 0.5 * np.log(2 * np.pi * np.e * var)
        # Measured difference: ~5e-16 (same filter, same padding); 1e-9 leaves room for BLAS.
        np.testing.assert_allclose(ours[:, b], expected, rtol=0, atol=1e-9)
    t = np.arange(x.shape[0]) / FS
    features = ext.compute(x, t)
    np.testing.assert_allclose(features, ours.mean(axis=0).T.reshape(-1), atol=1e-12)
    sos = scipy.signal.butter(4, BANDS[0], btype="bandpass", output="sos", fs=FS)
    assert ringing_samples(sos) == mne.filter.estimate_ringing_samples(sos)


def test_white_noise_matches_closed_form() -> None:
    """DE of band-passed Gaussian noise of variance s2: 0.5 log(2 pi e s2 g), g the power gain."""
    rng = np.random.default_rng(3)
    sigma2 = 4.0
    x = rng.normal(scale=math.sqrt(sigma2), size=(int(300 * FS), 16))
    variance = EegFeatures(srate=FS, method="variance", channels=16).segment_de(x)
    dmer = EegFeatures(srate=FS, channels=16).segment_de(x)
    freqs = np.linspace(0, FS / 2, 1 << 16)
    taper = scipy.signal.windows.hann(300)[:256]  # numpy's FFT keeps the first 256 samples
    for b, band in enumerate(BANDS):
        sos = scipy.signal.butter(4, band, btype="bandpass", output="sos", fs=FS)
        _, h = scipy.signal.sosfreqz(sos, worN=freqs, fs=FS)
        gain = np.trapezoid(np.abs(h) ** 4, freqs) / (FS / 2)  # zero phase: |H|^2 twice
        # DE of the mean segment variance (Jensen's bias of averaging logs avoided). Over 300 s
        # x 16 channels the deviation measured at most 0.01 (several seeds) in both methods.
        mean_var = np.mean(np.exp(2 * variance[:, b]) / (2 * np.pi * np.e))
        assert 0.5 * math.log(mean_var) == pytest.approx(0.5 * math.log(sigma2 * gain), abs=0.025)
        # Spectral estimate: E|X_k|^2 = s2 * sum(w^2) for every bin of white noise.
        mean_power = np.mean(np.exp(2 * (dmer[:, b] - 0.5 * math.log(2 * np.pi * np.e))))
        assert math.log(mean_power) == pytest.approx(math.log(sigma2 * np.sum(taper**2)), abs=0.04)


def test_known_band_power_of_a_sine() -> None:
    t = np.arange(int(8 * FS)) / FS
    amp = 12.0
    x = np.zeros((t.size, 3))
    x[:, 1] = amp * np.sin(2 * np.pi * 10.0 * t)  # alpha, in channel 1 only
    x += np.random.default_rng(4).normal(scale=0.05, size=x.shape)
    ext = EegFeatures(srate=FS, method="variance", channels=("a", "b", "c"))
    values = dict(zip(ext.names, ext.compute(x, t), strict=True))
    # A sine of amplitude A has variance A^2 / 2; the 8-14 Hz pass band keeps it whole.
    expected = 0.5 * math.log(2 * math.pi * math.e * amp**2 / 2)
    assert values["eeg_de_alpha_b"] == pytest.approx(expected, abs=0.02)
    assert values["eeg_de_alpha_b"] > values["eeg_de_alpha_a"] + 3.0
    assert values["eeg_de_alpha_b"] > values["eeg_de_delta_b"] + 1.0


def test_notch_removes_mains_before_the_gamma_band() -> None:
    t = np.arange(int(4 * FS)) / FS
    rng = np.random.default_rng(5)
    x = rng.normal(size=(t.size, 2)) + 50.0 * np.sin(2 * np.pi * 50.0 * t)[:, None]
    plain = EegFeatures(srate=FS, method="variance", channels=2)
    notched = EegFeatures(srate=FS, method="variance", channels=2, notch_hz=50.0)
    g = plain.names.index("eeg_de_gamma_ch0")
    assert notched.compute(x, t)[g] < plain.compute(x, t)[g] - 1.0


def test_missing_samples_drop_only_their_segments() -> None:
    x = _eeg_like(3.0, 18, seed=6)
    t = np.arange(x.shape[0]) / FS
    ext = EegFeatures(srate=FS)
    per_second = ext.segment_de(x)
    gappy = x.copy()
    gappy[310:320, 2] = np.nan  # second 1 of channel F3
    gappy[:, 5] = np.nan  # C4 entirely
    values = ext.compute(gappy, t).reshape(18, 5)
    expected_f3 = per_second[[0, 2], :, 2].mean(axis=0)
    np.testing.assert_allclose(values[2], expected_f3, atol=1e-10)
    assert np.isnan(values[5]).all()
    np.testing.assert_allclose(values[0], per_second[:, :, 0].mean(axis=0), atol=1e-10)
    # Shorter than one second: nothing to compute.
    assert np.isnan(ext.compute(x[:299], t[:299])).all()


def test_channel_count_and_bad_arguments() -> None:
    ext = EegFeatures(srate=FS, channels=4, features=["eeg_de_beta_ch3"])
    assert ext.n_channels == 4 and ext.names == ("eeg_de_beta_ch3",)
    assert EegFeatures.n_channels == 18  # the class default is untouched
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        ext.compute(np.zeros((300, 18)), np.arange(300) / FS)
    with pytest.raises(ValueError, match="srate above 98"):
        EegFeatures(srate=64)
    with pytest.raises(ValueError, match="unknown eeg feature"):
        EegFeatures(srate=FS, features=["eeg_de_alpha_Oz"])
    with pytest.raises(ValueError, match="unique"):
        EegFeatures(srate=FS, channels=("Cz", "Cz"))
    with pytest.raises(ValueError, match="method"):
        EegFeatures(srate=FS, method="welch")  # type: ignore[arg-type]
