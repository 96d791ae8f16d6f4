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


@pytest.mark.parametrize("engine", ["incremental", "batch"])
def test_featurize_matches_live_chunked_ingest(engine: str) -> None:
    """Offline windows equal what a live tracker computes from odd-sized filtered chunks."""
    pipeline = load_pipeline(PIPELINES_DIR / "wesad_live.yaml", check_checkpoint=False)
    featurizer = WindowFeaturizer.from_pipeline(pipeline, engine=engine)  # type: ignore[arg-type]
    streams = _streams(150.0)
    table = featurize_streams(featurizer, streams, step_s=10.0)
    assert len(table) == 9
    assert set(table.features) == {"bvp", "eda", "temp", "acc"}
    for name in table.features:
        assert table.features[name].shape == (9, len(featurizer.feature_names[name]))
        assert table.present[name].all()
    # The live path: each stream filtered and ingested chunk by chunk, windows computed as soon
    # as every stream has reached their end (so later samples are already in for some).
    tracker = featurizer.new_tracker()
    filters = {name: featurizer.stages[name].make_filter() for name in streams}
    rng = np.random.default_rng(3)
    chunks = {
        name: np.array_split(np.arange(len(ts)), np.sort(rng.choice(len(ts), 37, replace=False)))
        for name, (_, ts) in streams.items()
    }
    for k, end in enumerate(table.window_end):
        for name, (x, ts) in streams.items():
            while chunks[name] and ts[chunks[name][0]].size and ts[chunks[name][0][0]] <= end:
                c = chunks[name].pop(0)
                y = filters[name].process(x[c]) if filters[name] is not None else x[c]
                tracker.ingest(name, y, ts[c])
        counts = {
            name: int(np.count_nonzero((ts > end - featurizer.length_s) & (ts <= end)))
            for name, (_, ts) in streams.items()
        }
        feats, present = tracker.features(
            start_lsl=end - featurizer.length_s,
            end_lsl=end,
            n_samples=counts,
            status=dict.fromkeys(streams, "ok"),
        )
        for name in feats:
            np.testing.assert_allclose(feats[name], table.features[name][k], rtol=1e-9, atol=1e-12)
            assert present[name]
    hr = table.features["bvp"][:, featurizer.feature_names["bvp"].index("hr_mean")]
    assert np.all(np.abs(hr - 72) < 3)


def test_engines_agree_on_simulated_streams() -> None:
    """The incremental engine reproduces the window extractors on clean signals."""
    pipeline = load_pipeline(PIPELINES_DIR / "wesad_live.yaml", check_checkpoint=False)
    streams = _streams(150.0)
    tables = {
        engine: featurize_streams(
            WindowFeaturizer.from_pipeline(pipeline, engine=engine),  # type: ignore[arg-type]
            streams,
            step_s=10.0,
        )
        for engine in ("incremental", "batch")
    }
    for name in ("temp", "acc"):  # running sums vs direct statistics: round-off apart
        np.testing.assert_allclose(
            tables["incremental"].features[name], tables["batch"].features[name], rtol=1e-8
        )
    names = WindowFeaturizer.from_pipeline(pipeline).feature_names["bvp"]
    hr = names.index("hr_mean")
    np.testing.assert_allclose(
        tables["incremental"].features["bvp"][:, hr],
        tables["batch"].features["bvp"][:, hr],
        atol=1.0,
    )


def test_absent_or_sparse_modalities_are_not_present(featurizer: WindowFeaturizer) -> None:
    streams = _streams(61.0)
    end = 1060.0
    tracker = featurizer.new_tracker()
    counts = {}
    for name, (x, ts) in streams.items():
        keep = ts <= end
        tracker.ingest(name, x[keep], ts[keep])
        counts[name] = int(np.count_nonzero(keep & (ts > end - 60)))
    counts["eda"] = 10  # 2.5 s of a 60 s window
    status = {"bvp": "ok", "eda": "ok", "temp": "ok", "acc": "missing"}
    feats, present = tracker.features(
        start_lsl=end - 60, end_lsl=end, n_samples=counts, status=status
    )
    assert present == {"bvp": True, "eda": False, "temp": True, "acc": False}
    assert np.isnan(feats["eda"]).all() and np.isnan(feats["acc"]).all()
    assert np.isfinite(feats["temp"]).all()


def test_out_of_range_values_never_reach_the_extractors(featurizer: WindowFeaturizer) -> None:
    """A profile's plausible range turns impossible values into missing samples."""
    streams = _streams(61.0)
    end = 1060.0
    x, ts = streams["temp"]
    spoiled = x.copy()
    spoiled[::7] = 1e6  # far outside any skin temperature
    clean, dirty = featurizer.new_tracker(), featurizer.new_tracker()
    clean.ingest("temp", np.where(np.arange(len(x))[:, None] % 7 == 0, np.nan, x), ts)
    dirty.ingest("temp", spoiled, ts)
    args = {
        "start_lsl": end - 60,
        "end_lsl": end,
        "n_samples": {"temp": 240},
        "status": {"temp": "ok"},
    }
    np.testing.assert_array_equal(
        clean.features(**args)[0]["temp"], dirty.features(**args)[0]["temp"]
    )
