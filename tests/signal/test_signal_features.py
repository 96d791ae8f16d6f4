"""Per-modality feature extractors on simulated and real signals, and on bad windows."""

from __future__ import annotations

from pathlib import Path

import neurokit2 as nk
import numpy as np
import pytest

from helo_stream.signal.features import FEATURE_EXTRACTORS, ModalityFeatures, make_extractor
from helo_stream.signal.features.base import SignalWindow
from helo_stream.signal.features.cardiac import CARDIAC_FEATURES, cardiac_features

# Extractors must stay silent on bad windows (no RuntimeWarning from empty means etc.).
pytestmark = pytest.mark.filterwarnings("error")

SHARED_DATA = Path(__file__).parents[2] / ".." / "shared" / "data"
RESTING_CSV = SHARED_DATA / "neurokit" / "bio_resting_5min_100hz.csv"

KINDS = ("bvp", "ecg", "eda", "resp", "temp", "acc", "emg")
#: A typical stream rate per kind (E4 wrist for bvp/eda/temp/acc, RespiBAN chest otherwise).
SRATE = {
    "bvp": 64.0,
    "ecg": 700.0,
    "eda": 4.0,
    "resp": 700.0,
    "temp": 4.0,
    "acc": 32.0,
    "emg": 700.0,
}


def _times(n: int, srate: float, start: float = 12_345.0) -> np.ndarray:
    """LSL-clock-like timestamps: a large offset, as on a real machine."""
    return start + np.arange(n) / srate


def _compute(kind: str, samples: np.ndarray, srate: float | None = None) -> dict[str, float]:
    srate = SRATE[kind] if srate is None else srate
    extractor = make_extractor(kind, srate=srate)
    values = extractor.compute(samples, _times(samples.shape[0], srate))
    assert values.dtype == np.float64
    assert values.shape == (len(extractor.names),)
    return dict(zip(extractor.names, values.tolist(), strict=True))


@pytest.fixture(scope="module")
def windows() -> dict[str, np.ndarray]:
    """60 s simulated windows per kind, built once (the ECG simulator is the slow one)."""
    rng = np.random.default_rng(7)
    t = np.arange(int(60 * SRATE["emg"])) / SRATE["emg"]
    return {
        "bvp": nk.ppg_simulate(duration=60, sampling_rate=64, heart_rate=70, random_state=1),
        "ecg": nk.ecg_simulate(duration=60, sampling_rate=700, heart_rate=80, random_state=1),
        "eda": nk.eda_simulate(duration=60, sampling_rate=4, scr_number=5, random_state=1),
        "resp": nk.rsp_simulate(
            duration=60, sampling_rate=700, respiratory_rate=15, random_state=1
        ),
        "temp": 33.0 + 0.002 * np.arange(240) + rng.normal(0.0, 0.02, 240),
        "acc": rng.normal(0.0, 4.0, (1920, 3)) + np.array([10.0, -20.0, 58.0]),
        "emg": 0.05 * np.sin(2 * np.pi * 80 * t) + rng.normal(0.0, 0.01, t.size),
    }


# --- registry and construction ----------------------------------------------------------------


#: Kinds of DMER's devices and of replayed per-second feature streams (tested in their own files:
#: tests/signal/test_eeg_features.py, test_dmer_peripheral.py, test_lbptop.py).
DMER_KINDS = ("eeg", "gsr", "ppg", "face", "features")


def test_registry_covers_every_kind() -> None:
    assert set(FEATURE_EXTRACTORS) == set(KINDS) | set(DMER_KINDS)
    for kind in DMER_KINDS:
        assert FEATURE_EXTRACTORS[kind].modality == kind
    for kind in KINDS:
        cls = FEATURE_EXTRACTORS[kind]
        assert issubclass(cls, ModalityFeatures)
        assert cls.modality == kind
        assert len(set(cls.available)) == len(cls.available) > 0
        assert cls.n_channels == (3 if kind == "acc" else 1)


def test_unknown_kind_lists_kinds() -> None:
    with pytest.raises(ValueError, match=r"unknown modality kind 'eog'.*'acc'.*'temp'"):
        make_extractor("eog", srate=256.0)


def test_unknown_feature_lists_available() -> None:
    with pytest.raises(ValueError, match=r"unknown bvp feature\(s\) \['hrv_lf'\].*'hr_mean'"):
        make_extractor("bvp", srate=64.0, features=["hr_mean", "hrv_lf"])


@pytest.mark.parametrize(
    ("kind", "srate", "message"),
    [("bvp", 16.0, "above 16 Hz"), ("ecg", 50.0, "at least 100 Hz"), ("emg", 32.0, "above 40")],
)
def test_unusable_srate_raises(kind: str, srate: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_extractor(kind, srate=srate)
    with pytest.raises(ValueError, match="srate must be a positive"):
        make_extractor(kind, srate=-1.0)


def test_feature_subset_is_selected_in_requested_order(windows: dict[str, np.ndarray]) -> None:
    full = _compute("bvp", windows["bvp"])
    subset = make_extractor("bvp", srate=64.0, features=["hrv_rmssd", "hr_mean"])
    assert subset.names == ("hrv_rmssd", "hr_mean")
    values = subset.compute(windows["bvp"], _times(windows["bvp"].size, 64.0))
    np.testing.assert_array_equal(values, [full["hrv_rmssd"], full["hr_mean"]])


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic(kind: str, windows: dict[str, np.ndarray]) -> None:
    x = windows[kind]
    extractor = make_extractor(kind, srate=SRATE[kind])
    t = _times(x.shape[0], SRATE[kind])
    first = extractor.compute(x, t)
    again = make_extractor(kind, srate=SRATE[kind]).compute(x.copy(), t.copy())
    np.testing.assert_array_equal(first, again)
    assert np.isfinite(first).any()


@pytest.mark.parametrize("kind", ["bvp", "acc"])
def test_shape_mismatch_is_a_caller_error(kind: str) -> None:
    extractor = make_extractor(kind, srate=SRATE[kind])
    with pytest.raises(ValueError, match="samples must have shape"):
        extractor.compute(np.zeros((100, 2)), _times(100, SRATE[kind]))
    with pytest.raises(ValueError, match="timestamps must have shape"):
        extractor.compute(np.zeros((100, extractor.n_channels)), _times(99, SRATE[kind]))


# --- recovery of known quantities -------------------------------------------------------------


@pytest.mark.parametrize("heart_rate", [55, 70, 100])
def test_bvp_heart_rate(heart_rate: int) -> None:
    ppg = nk.ppg_simulate(duration=60, sampling_rate=64, heart_rate=heart_rate, random_state=3)
    got = _compute("bvp", ppg[:, np.newaxis])
    assert got["hr_mean"] == pytest.approx(heart_rate, abs=2.0)
    assert got["hrv_meannn"] == pytest.approx(60_000.0 / heart_rate, rel=0.03)
    assert got["hrv_sdnn"] > 0.0 and got["hrv_rmssd"] > 0.0
    assert 0.0 <= got["hrv_pnn50"] <= got["hrv_pnn20"] <= 100.0


def test_ecg_heart_rate(windows: dict[str, np.ndarray]) -> None:
    got = _compute("ecg", windows["ecg"])
    assert got["hr_mean"] == pytest.approx(80.0, abs=2.0)
    assert got["hrv_meannn"] == pytest.approx(750.0, rel=0.03)


def test_resp_rate(windows: dict[str, np.ndarray]) -> None:
    got = _compute("resp", windows["resp"])
    assert got["resp_rate_mean"] == pytest.approx(15.0, abs=1.5)
    assert got["resp_amplitude_mean"] > 0.0
    assert 0.3 < got["resp_ie_ratio"] < 3.0


@pytest.mark.parametrize("srate", [4, 700])
@pytest.mark.parametrize("seed", [1, 2])
def test_eda_scr_count(srate: int, seed: int) -> None:
    eda = nk.eda_simulate(duration=60, sampling_rate=srate, scr_number=5, random_state=seed)
    got = _compute("eda", eda, srate=float(srate))
    assert got["eda_scr_count"] == pytest.approx(5, abs=1)
    # Simulated SCRs are about 1 µS; the highpass phasic part is zero-mean around them.
    assert 0.3 < got["eda_scr_amplitude_mean"] < 1.5
    assert got["eda_tonic_mean"] == pytest.approx(np.mean(eda), abs=0.05)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eda_without_responses_counts_none(seed: int) -> None:
    # Recovery from an earlier response, a tonic drift of 0.002 µS/s (90th percentile of 60 s
    # windows in WESAD S2's E4 data) and E4-like noise and quantisation: nothing to count.
    # (NeuroKit's relative-threshold detectors find 20-70 "SCRs" in such windows.)
    t = np.arange(240) / 4.0
    rng = np.random.default_rng(seed)
    level = 2.0 + 0.002 * t + 0.3 * np.exp(-t / 20.0) + rng.normal(0.0, 0.001, t.size)
    eda = np.round(level / 0.00128) * 0.00128
    got = _compute("eda", eda)
    assert got["eda_scr_count"] == 0.0
    assert np.isnan(got["eda_scr_amplitude_mean"])
    assert got["eda_tonic_slope"] < 0.0  # the recovery dominates the first half


def test_temp_ramp_is_exact() -> None:
    t = np.arange(240) / 4.0
    ramp = 32.5 + 0.0125 * t
    got = _compute("temp", ramp)
    assert got["temp_slope"] == pytest.approx(0.0125, abs=1e-6)
    assert got["temp_mean"] == pytest.approx(32.5 + 0.0125 * t.mean(), abs=1e-9)
    assert got["temp_min"] == 32.5 and got["temp_max"] == ramp[-1]
    gappy = ramp.copy()
    gappy[50:90] = np.nan
    assert _compute("temp", gappy)["temp_slope"] == pytest.approx(0.0125, abs=1e-6)


def test_temp_slope_uses_timestamps() -> None:
    # Samples dropped (absent, not NaN): the slope must follow the timestamps, not the count.
    times = np.concatenate((np.arange(100), np.arange(160, 260))) / 4.0
    temp = 30.0 + 0.01 * times
    got = make_extractor("temp", srate=4.0, features=["temp_slope"]).compute(temp, times)
    assert got[0] == pytest.approx(0.01, abs=1e-9)


def test_acc_constant_vector_is_exact() -> None:
    acc = np.tile([3.0, 4.0, 12.0], (1920, 1))
    got = _compute("acc", acc)
    assert got["acc_mag_mean"] == 13.0
    assert got["acc_mag_max"] == 13.0
    assert got["acc_mag_std"] == 0.0
    assert got["acc_mag_jerk_mean"] == 0.0
    assert (got["acc_x_mean"], got["acc_y_mean"], got["acc_z_mean"]) == (3.0, 4.0, 12.0)
    assert got["acc_x_std"] == got["acc_y_std"] == got["acc_z_std"] == 0.0


def test_acc_jerk_of_known_motion() -> None:
    # x moves linearly at 2 units per sample: jerk vector norm 2 * srate everywhere.
    acc = np.zeros((320, 3))
    acc[:, 0] = 2.0 * np.arange(320)
    assert _compute("acc", acc)["acc_mag_jerk_mean"] == pytest.approx(2.0 * 32.0, rel=1e-12)


def test_emg_sine_amplitude() -> None:
    # A 100 Hz sine of amplitude 0.2 on a DC electrode offset: the offset must not count.
    srate, amplitude = 700.0, 0.2
    t = np.arange(int(60 * srate)) / srate
    got = _compute("emg", 1.5 + amplitude * np.sin(2 * np.pi * 100.0 * t))
    assert got["emg_rms"] == pytest.approx(amplitude / np.sqrt(2.0), rel=1e-2)
    assert got["emg_mav"] == pytest.approx(2.0 * amplitude / np.pi, rel=2e-2)
    assert got["emg_std"] == pytest.approx(amplitude / np.sqrt(2.0), rel=1e-2)
    assert got["emg_p90"] == pytest.approx(amplitude * np.sin(0.45 * np.pi), rel=2e-2)
    assert got["emg_zc_rate"] == pytest.approx(200.0, rel=1e-2)


# --- bad windows ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_all_nan_window_is_all_nan(kind: str) -> None:
    n = int(60 * SRATE[kind])
    samples = np.full((n, FEATURE_EXTRACTORS[kind].n_channels), np.nan)
    assert all(np.isnan(v) for v in _compute(kind, samples).values())


@pytest.mark.parametrize("kind", KINDS)
def test_empty_and_tiny_windows_do_not_raise(kind: str) -> None:
    channels = FEATURE_EXTRACTORS[kind].n_channels
    assert all(np.isnan(v) for v in _compute(kind, np.empty((0, channels))).values())
    _compute(kind, np.ones((1, channels)))
    _compute(kind, np.ones((2, channels)))


@pytest.mark.parametrize("kind", ["bvp", "ecg", "resp"])
def test_too_short_window_gives_nan_rates(kind: str, windows: dict[str, np.ndarray]) -> None:
    short = windows[kind][: int(2 * SRATE[kind])]  # 2 s: at most a couple of beats/no breath
    got = _compute(kind, short)
    rate = "resp_rate_mean" if kind == "resp" else "hr_mean"
    assert np.isnan(got[rate])


@pytest.mark.parametrize("kind", ["bvp", "ecg", "resp", "emg"])
def test_constant_window_gives_nan(kind: str) -> None:
    constant = np.full(int(60 * SRATE[kind]), 0.75)
    assert all(np.isnan(v) for v in _compute(kind, constant).values())


def test_constant_temp_and_eda_are_valid_levels() -> None:
    temp = _compute("temp", np.full(240, 31.25))
    assert (temp["temp_mean"], temp["temp_std"], temp["temp_slope"]) == (31.25, 0.0, 0.0)
    eda = _compute("eda", np.full(240, 0.4))
    assert eda["eda_tonic_mean"] == pytest.approx(0.4, abs=1e-12)
    assert eda["eda_scr_count"] == 0.0 and np.isnan(eda["eda_scr_amplitude_mean"])


@pytest.mark.parametrize("kind", ["bvp", "ecg", "resp"])
def test_nan_gap_keeps_the_rate(kind: str, windows: dict[str, np.ndarray]) -> None:
    x = windows[kind].copy()
    srate = SRATE[kind]
    x[int(20 * srate) : int(23 * srate)] = np.nan
    got = _compute(kind, x)
    if kind == "resp":
        assert got["resp_rate_mean"] == pytest.approx(15.0, abs=1.5)
    else:
        assert got["hr_mean"] == pytest.approx(70.0 if kind == "bvp" else 80.0, abs=2.0)


@pytest.mark.parametrize("kind", ["eda", "temp", "emg"])
def test_nan_gap_is_ignored_by_statistics(kind: str, windows: dict[str, np.ndarray]) -> None:
    x = windows[kind].copy()
    x[len(x) // 3 : len(x) // 2] = np.nan
    got = _compute(kind, x)
    assert all(np.isfinite(v) for name, v in got.items() if name != "eda_scr_amplitude_mean")


def test_acc_rows_with_a_missing_axis_are_ignored() -> None:
    acc = np.tile([3.0, 4.0, 12.0], (320, 1))
    acc[100:110, 1] = np.nan
    acc[200, :] = [1e6, 1e6, 1e6]
    acc[200, 2] = np.nan  # an outlier row with a missing axis must not leak in
    got = _compute("acc", acc)
    assert got["acc_mag_max"] == 13.0
    assert got["acc_mag_jerk_mean"] == 0.0


# --- inter-beat interval validation -----------------------------------------------------------


def _regular_beats(n_beats: int, srate: float = 64.0) -> tuple[np.ndarray, np.ndarray]:
    peaks = 10 + np.arange(n_beats) * int(srate)  # one beat per second
    waveform = np.zeros(peaks[-1] + 10)
    waveform[peaks] = 1.0
    return peaks, waveform


def _window(waveform: np.ndarray, times: np.ndarray, srate: float = 64.0) -> SignalWindow:
    samples = waveform[:, np.newaxis]
    return SignalWindow(samples, np.isfinite(samples), times, srate)


def test_cardiac_features_of_regular_beats() -> None:
    peaks, waveform = _regular_beats(6)
    got = cardiac_features(
        peaks, _window(waveform, np.arange(waveform.size) / 64.0), waveform=waveform
    )
    expected = dict(
        hr_mean=60.0,
        hr_std=0.0,
        hrv_meannn=1000.0,
        hrv_sdnn=0.0,
        hrv_rmssd=0.0,
        hrv_sdsd=0.0,
        hrv_pnn20=0.0,
        hrv_pnn50=0.0,
    )
    np.testing.assert_allclose(got, [expected[name] for name in CARDIAC_FEATURES], atol=1e-9)


def test_interval_spanning_dropped_samples_is_rejected() -> None:
    # Three 1 s intervals, the middle one losing 0.5 s of samples: too few remain.
    peaks, waveform = _regular_beats(4)
    times = np.arange(waveform.size) / 64.0
    assert np.isfinite(cardiac_features(peaks, _window(waveform, times), waveform=waveform)).all()
    times[peaks[1] + 5 :] += 0.5
    got = cardiac_features(peaks, _window(waveform, times), waveform=waveform)
    assert np.isnan(got).all()


def test_implausible_and_ectopic_intervals_are_rejected() -> None:
    # A spurious extra beat splits one interval into 0.25 s + 0.75 s: both must be dropped.
    peaks, waveform = _regular_beats(8)
    extra = peaks[4] + 16
    waveform[extra] = 1.0
    both = np.sort(np.append(peaks, extra))
    got = cardiac_features(
        both, _window(waveform, np.arange(waveform.size) / 64.0), waveform=waveform
    )
    assert got[CARDIAC_FEATURES.index("hr_mean")] == pytest.approx(60.0, abs=1e-9)
    assert got[CARDIAC_FEATURES.index("hrv_sdnn")] == pytest.approx(0.0, abs=1e-9)


# --- parity with NeuroKit2 --------------------------------------------------------------------


def test_cleaning_matches_neurokit(windows: dict[str, np.ndarray]) -> None:
    bvp = make_extractor("bvp", srate=64.0)
    np.testing.assert_allclose(
        bvp.clean(windows["bvp"]), nk.ppg_clean(windows["bvp"], sampling_rate=64), atol=1e-10
    )
    ecg = make_extractor("ecg", srate=700.0)
    np.testing.assert_allclose(
        ecg.clean(windows["ecg"]), nk.ecg_clean(windows["ecg"], sampling_rate=700), atol=1e-10
    )
    resp = make_extractor("resp", srate=25.0)
    rsp = windows["resp"][::28]
    np.testing.assert_allclose(resp.clean(rsp), nk.rsp_clean(rsp, sampling_rate=25), atol=1e-10)
    eda = make_extractor("eda", srate=4.0)
    tonic, phasic = eda.decompose(windows["eda"])
    reference = nk.eda_phasic(windows["eda"], sampling_rate=4, method="highpass")
    np.testing.assert_allclose(tonic, reference["EDA_Tonic"].to_numpy(), atol=1e-10)
    np.testing.assert_allclose(phasic, reference["EDA_Phasic"].to_numpy(), atol=1e-10)


# --- real recording ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resting() -> dict[str, np.ndarray]:
    if not RESTING_CSV.is_file():
        pytest.skip(f"real recording not available: {RESTING_CSV.resolve()} does not exist")
    data = np.genfromtxt(RESTING_CSV, delimiter=",", names=True)
    return {name: np.asarray(data[name], dtype=np.float64) for name in data.dtype.names}


def test_real_ecg_heart_rate_matches_neurokit(resting: dict[str, np.ndarray]) -> None:
    srate = 100.0
    ecg = resting["ECG"][: int(60 * srate)]
    got = _compute("ecg", ecg, srate=srate)["hr_mean"]
    signals, _ = nk.ecg_process(ecg, sampling_rate=100)
    assert 50.0 <= got <= 100.0
    assert got == pytest.approx(float(signals["ECG_Rate"].mean()), abs=2.0)


def test_real_ppg_agrees_with_ecg(resting: dict[str, np.ndarray]) -> None:
    srate = 100.0
    window = slice(0, int(60 * srate))
    from_ecg = _compute("ecg", resting["ECG"][window], srate=srate)["hr_mean"]
    from_ppg = _compute("bvp", resting["PPG"][window], srate=srate)["hr_mean"]
    assert from_ppg == pytest.approx(from_ecg, abs=2.0)
