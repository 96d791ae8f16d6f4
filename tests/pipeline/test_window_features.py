"""The offline feature path cuts the same windows, with the same filters, as the live path."""

from __future__ import annotations

import numpy as np
import pytest

from helo_stream.config import PIPELINES_DIR, load_pipeline
from helo_stream.pipeline.features import WindowFeaturizer, featurize_streams, window_ends


@pytest.fixture(scope="module")
def featurizer() -> WindowFeaturizer:
    pipeline = load_pipeline(PIPELINES_DIR / "wesad_live.yaml", check_checkpoint=False)
    return WindowFeaturizer.from_pipeline(pipeline)


def _streams(duration_s: float, *, t0: float = 1000.0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    import neurokit2 as nk

    rng = np.random.default_rng(0)
    out = {}
    for name, rate in (("bvp", 64), ("eda", 4), ("temp", 4), ("acc", 32)):
        n = int(duration_s * rate)
        ts = t0 + np.arange(n) / rate
        if name == "bvp":
            x = nk.ppg_simulate(
                duration=duration_s, sampling_rate=rate, heart_rate=72, random_state=1
            )
            x = x[:n, None]
        elif name == "eda":
            x = (2.0 + 0.001 * np.arange(n) + 0.01 * rng.standard_normal(n))[:, None]
        elif name == "temp":
            x = (33.0 + 0.0005 * np.arange(n))[:, None]
        else:
            x = np.array([0.0, 0.0, 64.0]) + rng.standard_normal((n, 3))
        out[name] = (x, ts)
    return out


def test_window_ends_are_exact_steps() -> None:
    ends = window_ends([10.0, 10.5], [100.0, 99.0], length_s=60.0, step_s=0.25)
    assert ends[0] == 70.5
    assert ends[-1] <= 99.0 < ends[-1] + 0.25
    np.testing.assert_allclose(np.diff(ends), 0.25, atol=1e-9)
    assert len(window_ends([0.0], [30.0], length_s=60.0, step_s=1.0)) == 0


def test_featurize_matches_window_by_window(featurizer: WindowFeaturizer) -> None:
    streams = _streams(150.0)
    table = featurize_streams(featurizer, streams, step_s=10.0)
    assert len(table) == 9
    assert set(table.features) == {"bvp", "eda", "temp", "acc"}
    for name in table.features:
        assert table.features[name].shape == (9, len(featurizer.feature_names[name]))
        assert table.present[name].all()
    # The same windows cut by hand, filtering the streams chunk by chunk as the live source does.
    k = 4
    end = table.window_end[k]
    window = {}
    for name, (x, ts) in streams.items():
        filt = featurizer.stages[name].make_filter()
        chunks = np.array_split(np.arange(len(ts)), 37)
        y = np.concatenate([filt.process(x[c]) for c in chunks]) if filt is not None else x
        keep = (ts > end - featurizer.length_s) & (ts <= end)
        window[name] = (y[keep], ts[keep])
    feats, present = featurizer.features(window, dict.fromkeys(window, "ok"))
    for name in feats:
        np.testing.assert_allclose(feats[name], table.features[name][k], rtol=1e-9, atol=1e-12)
        assert present[name]
    hr = table.features["bvp"][:, featurizer.feature_names["bvp"].index("hr_mean")]
    assert np.all(np.abs(hr - 72) < 3)


def test_absent_or_sparse_modalities_are_not_present(featurizer: WindowFeaturizer) -> None:
    streams = _streams(61.0)
    end = 1060.0
    window = {
        name: (x[(ts > end - 60) & (ts <= end)], ts[(ts > end - 60) & (ts <= end)])
        for name, (x, ts) in streams.items()
    }
    x, ts = window["eda"]
    window["eda"] = (x[-10:], ts[-10:])  # 2.5 s of a 60 s window
    status = {"bvp": "ok", "eda": "ok", "temp": "ok", "acc": "missing"}
    feats, present = featurizer.features(window, status)
    assert present == {"bvp": True, "eda": False, "temp": True, "acc": False}
    assert np.isnan(feats["eda"]).all() and np.isnan(feats["acc"]).all()
    assert np.isfinite(feats["temp"]).all()
