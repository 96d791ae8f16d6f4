"""FeatureNormalizer: population stats, then the subject's own (running or frozen calibration)
stats; streaming == offline."""

from __future__ import annotations

import numpy as np
import pytest

from helo_stream.models.normalization import FeatureNormalizer

POP_MEAN = {"eda": np.array([2.0, 0.5]), "temp": np.array([33.0])}
POP_STD = {"eda": np.array([1.0, 0.25]), "temp": np.array([0.5])}


def normalizer(**kwargs) -> FeatureNormalizer:
    kwargs.setdefault("mode", "frozen")
    return FeatureNormalizer(population_mean=POP_MEAN, population_std=POP_STD, **kwargs)


def session(n: int = 40, step: float = 10.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    eda = rng.normal([5.0, 1.0], [2.0, 0.5], size=(n, 2))
    temp = rng.normal(34.0, 0.3, size=(n, 1))
    eda[3, 1] = np.nan
    eda[7] = np.nan
    temp[12, 0] = np.inf
    t = 1000.0 + step * np.arange(n)
    return {"eda": eda, "temp": temp}, t


def test_population_stats_then_frozen_calibration_stats():
    norm = normalizer(calibration_s=100.0)
    features, t = session()
    outputs, calibrated = [], []
    for i in range(len(t)):
        outputs.append(norm.transform({k: v[i] for k, v in features.items()}, t=t[i]))
        calibrated.append(norm.calibrated)
    assert calibrated.index(True) == 10 and all(calibrated[10:])
    # Windows ending before t0 + 100 s: population statistics.
    first = outputs[0]["eda"]
    np.testing.assert_allclose(
        first, (features["eda"][0] - POP_MEAN["eda"]) / POP_STD["eda"], rtol=1e-6
    )
    # From the window at t0 + 100 s on: mean/std of the first 10 windows (t0 .. t0 + 90 s).
    calib = features["eda"][:10]
    mean = np.nanmean(calib, axis=0)
    std = np.nanstd(calib, axis=0)
    np.testing.assert_allclose(outputs[10]["eda"], (features["eda"][10] - mean) / std, rtol=1e-5)
    np.testing.assert_allclose(outputs[-1]["eda"], (features["eda"][-1] - mean) / std, rtol=1e-5)
    # Non-finite inputs stay NaN (the model treats them as missing); the output is float32.
    assert np.isnan(outputs[3]["eda"][1]) and np.isnan(outputs[12]["temp"][0])
    assert outputs[5]["eda"].dtype == np.float32


def test_streaming_equals_offline():
    features, t = session(n=60, step=7.5, seed=1)
    norm = normalizer(calibration_s=120.0)
    offline = norm.transform_session(features, t)
    streamed = [norm.transform({k: v[i] for k, v in features.items()}, t=t[i]) for i in range(60)]
    for name in features:
        np.testing.assert_array_equal(np.stack([row[name] for row in streamed]), offline[name])
    # transform_session neither used nor changed the streaming state.
    again = normalizer(calibration_s=120.0).transform_session(features, t)
    for name in features:
        np.testing.assert_array_equal(again[name], offline[name])


def test_session_shorter_than_calibration_uses_population_only():
    features, t = session(n=15)
    out = normalizer(calibration_s=1e6).transform_session(features, t)
    expected = (features["temp"] - POP_MEAN["temp"]) / POP_STD["temp"]
    expected[~np.isfinite(expected)] = np.nan
    np.testing.assert_allclose(out["temp"], expected.astype(np.float32), rtol=1e-6)


def test_std_floor_and_too_few_calibration_values():
    norm = normalizer(calibration_s=20.0, std_floor_ratio=0.1)
    # A constant temperature and an eda feature seen only once during calibration.
    for i, t in enumerate([0.0, 10.0]):
        norm.transform({"eda": [1.0, np.nan if i else 3.0], "temp": [36.0]}, t=t)
    out = norm.transform({"eda": [1.5, 1.0], "temp": [36.5]}, t=20.0)
    assert out["temp"][0] == pytest.approx((36.5 - 36.0) / (0.1 * 0.5))  # floored std
    # eda[1] had 1 finite calibration value (< 2): keeps the population statistics.
    assert out["eda"][1] == pytest.approx((1.0 - 0.5) / 0.25)
    # eda[0] was constant too: floored at 0.1 * population std.
    assert out["eda"][0] == pytest.approx((1.5 - 1.0) / 0.1)


def test_absent_modality_is_skipped():
    norm = normalizer(calibration_s=15.0)
    assert set(norm.transform({"eda": [2.0, 0.5]}, t=0.0)) == {"eda"}
    norm.transform({"eda": [4.0, 0.5], "temp": [30.0]}, t=10.0)
    out = norm.transform({"eda": [4.0, 0.5], "temp": [30.0]}, t=20.0)
    # temp had a single calibration window: population statistics.
    assert out["temp"][0] == pytest.approx((30.0 - 33.0) / 0.5)
    assert out["eda"][0] == pytest.approx((4.0 - 3.0) / 1.0)


def test_round_trip_with_and_without_state():
    features, t = session(n=30)
    norm = normalizer(calibration_s=100.0)
    for i in range(5):
        norm.transform({k: v[i] for k, v in features.items()}, t=t[i])
    fresh = FeatureNormalizer.from_dict(norm.to_dict())
    resumed = FeatureNormalizer.from_dict(norm.to_dict(include_state=True))
    assert fresh.to_dict() == norm.to_dict()
    for i in range(5, 30):
        window = {k: v[i] for k, v in features.items()}
        expected = norm.transform(window, t=t[i])
        got = resumed.transform(window, t=t[i])
        for name in expected:
            np.testing.assert_array_equal(got[name], expected[name])
    # The fresh copy starts calibrating anew.
    assert not fresh.calibrated
    first = fresh.transform({k: v[20] for k, v in features.items()}, t=t[20])
    np.testing.assert_allclose(first["temp"], (features["temp"][20] - 33.0) / 0.5, rtol=1e-6)


def test_fit_population_and_validation():
    rng = np.random.default_rng(0)
    eda = rng.normal(3.0, 2.0, size=(500, 2))
    eda[:, 1] = np.nan  # never finite
    eda[0, 0] = np.nan
    norm = FeatureNormalizer.fit_population({"eda": eda}, calibration_s=60.0)
    stats = norm.to_dict()
    assert stats["population_mean"]["eda"][0] == pytest.approx(np.nanmean(eda[:, 0]))
    assert stats["population_std"]["eda"][0] == pytest.approx(np.nanstd(eda[:, 0]))
    assert stats["population_mean"]["eda"][1] == 0.0 and stats["population_std"]["eda"][1] == 1.0
    assert norm.calibration_s == 60.0
    with pytest.raises(ValueError):
        FeatureNormalizer(population_mean={"eda": [0.0]}, population_std={"eda": [np.nan]})
    with pytest.raises(ValueError):
        FeatureNormalizer(population_mean={"eda": [0.0]}, population_std={"temp": [1.0]})
    with pytest.raises(KeyError):
        normalizer().transform({"acc": [1.0]}, t=0.0)
    with pytest.raises(ValueError):
        normalizer().transform({"eda": [1.0]}, t=0.0)
    with pytest.raises(ValueError):
        normalizer().transform_session(
            {"eda": np.zeros((3, 2)), "temp": np.zeros((2, 1))}, np.arange(3.0)
        )


def test_running_mode_uses_every_window_so_far():
    features, t = session(n=40, step=10.0, seed=2)
    norm = normalizer(calibration_s=100.0, mode="running")
    rows = [norm.transform({k: v[i] for k, v in features.items()}, t=t[i]) for i in range(40)]
    eda = features["eda"]
    # Calibration period: population statistics.
    np.testing.assert_allclose(rows[4]["eda"], (eda[4] - POP_MEAN["eda"]) / POP_STD["eda"], 1e-6)
    # Afterwards: mean/std of every finite value up to and including the current window.
    for i in (10, 25, 39):
        upto = eda[: i + 1]
        expected = (eda[i] - np.nanmean(upto, axis=0)) / np.nanstd(upto, axis=0)
        np.testing.assert_allclose(rows[i]["eda"], expected, rtol=1e-5)
    # Unlike the frozen rule, the statistics keep moving.
    frozen = normalizer(calibration_s=100.0, mode="frozen").transform_session(features, t)
    assert not np.allclose(frozen["eda"][39], rows[39]["eda"])
    assert np.isnan(rows[12]["temp"][0]) and rows[20]["eda"].dtype == np.float32


def test_running_mode_streaming_equals_offline_and_resumes():
    features, t = session(n=60, step=7.5, seed=3)
    norm = normalizer(calibration_s=120.0, mode="running")
    offline = norm.transform_session(features, t)
    streamed = []
    for i in range(60):
        if i == 30:  # a restarted pipeline resumes from the saved state
            norm = FeatureNormalizer.from_dict(norm.to_dict(include_state=True))
        streamed.append(norm.transform({k: v[i] for k, v in features.items()}, t=t[i]))
    for name in features:
        np.testing.assert_allclose(
            np.stack([row[name] for row in streamed]), offline[name], rtol=1e-6, atol=1e-6
        )


def test_running_mode_floors_the_std_and_legacy_dicts_are_frozen():
    t = np.arange(50) * 10.0
    flat = {"eda": np.full((50, 2), 3.0), "temp": np.full((50, 1), 33.0)}
    z = normalizer(calibration_s=20.0, mode="running", std_floor_ratio=0.5)
    out = z.transform_session(flat, t)
    np.testing.assert_allclose(out["eda"][10:], 0.0, atol=1e-6)  # no division by ~0
    legacy = normalizer(calibration_s=20.0).to_dict()
    legacy.pop("mode")
    assert FeatureNormalizer.from_dict(legacy).mode == "frozen"
    assert FeatureNormalizer.from_dict(z.to_dict()).mode == "running"
    with pytest.raises(ValueError, match="mode"):
        normalizer(mode="sliding")
