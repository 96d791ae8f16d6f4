"""The offline feature path cuts the same windows, with the same filters, as the live path."""

from __future__ import annotations

import numpy as np
import pytest

from helo_stream.config import PIPELINES_DIR, load_pipeline
from helo_stream.pipeline.features import WindowFeaturizer
from helo_stream.pipeline.offline import featurize_streams
from helo_stream.pipeline.processor import WINDOW_EDGE_S, WindowProcessor


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


def _processor(engine: str = "incremental") -> WindowProcessor:
    pipeline = load_pipeline(PIPELINES_DIR / "wesad_live.yaml", check_checkpoint=False)
    return WindowProcessor.from_pipeline(pipeline, engine=engine, with_model=False)  # type: ignore[arg-type]


def test_window_ends_are_the_live_schedulers_exact_steps() -> None:
    """First end: the latest first sample plus L; then exact steps. A stream that ends first is
    waited for until it is stale, then the others go on without it (as live)."""
    streams = _streams(90.0, t0=10.0)
    x, ts = streams["eda"]
    streams["eda"] = (x[ts <= 99.0], ts[ts <= 99.0])  # eda stops 1 s before the others
    x, ts = streams["temp"]
    streams["temp"] = (x[ts >= 10.5], ts[ts >= 10.5])  # temp starts 0.5 s after them
    table = featurize_streams(_processor(), streams, step_s=0.25)
    ends = table.window_end
    assert ends[0] == 70.5
    np.testing.assert_allclose(np.diff(ends), 0.25, atol=1e-9)
    last = max(ts[-1] for _, ts in streams.values())
    assert ends[-1] <= last < ends[-1] + 0.25
    after = ends > 99.0 + 1.0 / 8  # past eda's last sample and its half-period margin
    assert after.any() and set(table.states["eda"][after]) == {"stale"}
    assert not table.present["eda"][after].any() and table.present["bvp"][after].all()
    assert set(table.states["eda"][~after]) == {"ok"}
    short = {name: (x[ts < 40.0], ts[ts < 40.0]) for name, (x, ts) in streams.items()}
    assert len(featurize_streams(_processor(), short, step_s=1.0)) == 0


@pytest.mark.parametrize("engine", ["incremental", "batch"])
def test_featurize_matches_live_chunked_ingest(engine: str) -> None:
    """Offline windows equal what a live tracker computes from odd-sized filtered chunks."""
    processor = _processor(engine)
    featurizer = processor.featurizer
    streams = _streams(150.0)
    table = featurize_streams(processor, streams, step_s=10.0)
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
    for k, nominal_end in enumerate(table.window_end):
        end = nominal_end + WINDOW_EDGE_S  # the data bounds trail the nominal ones
        for name, (x, ts) in streams.items():
            while chunks[name] and ts[chunks[name][0]].size and ts[chunks[name][0][0]] <= end:
                c = chunks[name].pop(0)
                sent = x[c].astype(np.float32).astype(np.float64)  # the E4 sends float32
                y = filters[name].process(sent) if filters[name] is not None else sent
                tracker.ingest(name, y, ts[c])
        counts = {
            name: int(np.count_nonzero((ts > end - featurizer.length_s) & (ts <= end)))
            for name, (_, ts) in streams.items()
        }
        feats, present = tracker.features(
            start_lsl=end - featurizer.length_s,
            end_lsl=end,
            n_samples=counts,
            usable=dict.fromkeys(streams, True),
        )
        for name in feats:
            # running sums of other chunkings: a std of a 33 C signal is ~1e-9 apart
            np.testing.assert_allclose(feats[name], table.features[name][k], rtol=1e-8, atol=1e-12)
            assert present[name]
    hr = table.features["bvp"][:, featurizer.feature_names["bvp"].index("hr_mean")]
    assert np.all(np.abs(hr - 72) < 3)


def test_engines_agree_on_simulated_streams() -> None:
    """The incremental engine reproduces the window extractors on clean signals."""
    pipeline = load_pipeline(PIPELINES_DIR / "wesad_live.yaml", check_checkpoint=False)
    streams = _streams(150.0)
    tables = {
        engine: featurize_streams(_processor(engine), streams, step_s=10.0)
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
    usable = {"bvp": True, "eda": True, "temp": True, "acc": False}
    feats, present = tracker.features(
        start_lsl=end - 60, end_lsl=end, n_samples=counts, usable=usable
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
        "usable": {"temp": True},
    }
    np.testing.assert_array_equal(
        clean.features(**args)[0]["temp"], dirty.features(**args)[0]["temp"]
    )
