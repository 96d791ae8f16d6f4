"""The offline fast path gives, window for window, what the live runner's sequence gives."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from helo_stream.config import PIPELINES_DIR, load_pipeline
from helo_stream.pipeline.offline import OfflineResult, featurize_recording, process_recording
from helo_stream.pipeline.processor import WindowProcessor
from helo_stream.recordings import load_recording
from helo_stream.sinks.message import checked_distributions, validate_message
from helo_stream.sources.clocked import ClockedStream
from helo_stream.windows.quality import StreamQuality, assess_window

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "recordings" / "demo" / "S0"
STEP_S = 2.0  # 160 windows of the demo: fast, and 2.5 calibration periods long


@pytest.fixture(scope="module")
def pipeline():
    return load_pipeline(PIPELINES_DIR / "wesad_live.yaml")


@pytest.fixture(scope="module")
def demo_result(pipeline) -> OfflineResult:
    return process_recording(pipeline, DEMO, step_s=STEP_S)


def _live_sequence(pipeline, recording, *, step_s: float) -> list[dict]:
    """What the live runner does per window, one window at a time, in order: the windows the
    processor publishes, ``normalizer.transform(features, t=end)`` on a fresh normaliser,
    ``predictor.predict`` at batch one and the distribution guard."""
    processor = WindowProcessor.from_pipeline(pipeline)
    predictor = processor.model
    normalizer = predictor.new_normalizer()
    table = featurize_recording(recording, pipeline, step_s=step_s, processor=processor)
    out = []
    for k, end in enumerate(table.window_end):
        features = {name: table.features[name][k].copy() for name in processor.modalities}
        present = {name: bool(table.present[name][k]) for name in processor.modalities}
        assert any(present.values())
        for name, vector in features.items():  # NaN only where undefined by definition
            defined = np.isfinite(vector) | processor.featurizer.undefined_ok[name]
            assert np.all(defined) == present[name]
        normalised = normalizer.transform(features, t=float(end))
        distribution, valid = checked_distributions(predictor.predict(normalised, present=present))
        assert valid[0]
        out.append({"end": float(end), "distribution": distribution[0], "present": present})
    return out


def test_offline_messages_equal_the_live_window_sequence(pipeline, demo_result) -> None:
    recording = load_recording(DEMO)
    live = _live_sequence(pipeline, recording, step_s=STEP_S)
    messages = list(demo_result.messages())
    assert len(messages) == len(live) == 160
    # the calibration period ends inside the session: both normaliser regimes are compared
    assert messages[-1]["window"]["end"] - messages[0]["window"]["end"] > 300.0
    for seq, (message, expected) in enumerate(zip(messages, live, strict=True)):
        validate_message(message)
        assert message["seq"] == seq
        assert message["window"]["end"] == expected["end"]
        assert message["window"]["start"] == expected["end"] - 60.0
        # batched float32 inference differs from the live batch of one in the last bits
        np.testing.assert_allclose(message["distribution"], expected["distribution"], atol=1e-5)
        assert message["top"] == pipeline.labels[int(np.argmax(expected["distribution"]))]
        assert message["modalities"] == dict.fromkeys(expected["present"], "ok")
    assert demo_result.n_skipped == 0
    assert demo_result.subject == "S0" and demo_result.pipeline == "wesad_live"
    # one window per model call, as live: the same numbers bit for bit
    one_by_one = process_recording(pipeline, recording, step_s=STEP_S, model_block=1)
    np.testing.assert_array_equal(
        one_by_one.distributions, np.stack([w["distribution"] for w in live])
    )


def test_step_defaults_to_the_pipeline_step(pipeline) -> None:
    recording = load_recording(DEMO)
    first_63_s = {
        key: replace(
            stream,
            data=stream.data[stream.timestamps < stream.timestamps[0] + 63.0],
            timestamps=stream.timestamps[stream.timestamps < stream.timestamps[0] + 63.0],
        )
        for key, stream in recording.streams.items()
    }
    short = replace(recording, streams=first_63_s)
    result = process_recording(pipeline, short, subject="someone")
    ends = result.window_end
    assert len(ends) >= 9  # (63 - 0.25 - 60) / 0.25 + 1 windows of 60 s
    np.testing.assert_allclose(np.diff(ends), pipeline.config.window.step_s, atol=1e-9)
    assert next(result.messages())["subject"] == "someone"


def test_session_normalisation_is_the_sequential_one(pipeline) -> None:
    """``transform_session`` (what offline uses) equals ``transform`` window by window,
    bit for bit, on real features with absent modalities (NaN rows) in the calibration."""
    processor = WindowProcessor.from_pipeline(pipeline)
    predictor = processor.model
    table = featurize_recording(load_recording(DEMO), pipeline, step_s=5.0, processor=processor)
    features = {name: values.copy() for name, values in table.features.items()}
    features["bvp"][::3] = np.nan  # a device dropping out now and then, also while calibrating
    features["eda"][5:9] = np.nan
    batch = predictor.new_normalizer().transform_session(features, table.window_end)
    sequential = predictor.new_normalizer()
    for k, end in enumerate(table.window_end):
        row = sequential.transform({name: v[k] for name, v in features.items()}, t=float(end))
        for name in features:
            np.testing.assert_array_equal(batch[name][k], row[name])
    assert sequential.calibrated


def test_running_window_quality_equals_assess_window_for_every_window() -> None:
    rng = np.random.default_rng(3)
    srate, length = 4.0, 10.0
    ts = 100.0 + np.arange(1200) / srate
    ts = np.delete(ts, np.arange(300, 330))  # a 7.5 s gap: low coverage
    x = rng.standard_normal((len(ts), 2))
    x[500:560] = [1.0, 2.0]  # flat for 15 s
    x[700:703, 1] = np.nan  # non-finite rows
    x[800:830, 0] = 9.0  # out of range, and pinned at the bound (saturated)
    x[900:960] = [5.0, 5.0]  # flat and at the bound
    ranges = [(-9.0, 9.0), None]
    x[1000:1005, 0] = 20.0  # beyond the range
    ends = ts[0] + length + 0.25 * np.arange(int((ts[-1] - ts[0] - length) / 0.25) + 1)
    quality = StreamQuality(srate=srate, capacity=len(ts), ranges=ranges)
    quality.push(x, ts)
    seen = set()
    for k, end in enumerate(ends):
        inside = (ts > end - length) & (ts <= end)
        want = assess_window(x[inside], ts[inside], srate=srate, length_s=length, ranges=ranges)
        flags, n_usable, usable = quality.assess(
            end - length, end, lambda inside=inside: (x[inside], ts[inside])
        )
        assert flags == want.flags, k
        assert usable == want.usable, k
        assert n_usable == len(want.timestamps_lsl), k
        seen.update(want.flags)
    assert seen == {"nonfinite", "out_of_range", "saturated", "flat", "low_coverage"}


def test_clocked_stream_states_follow_the_age_of_the_newest_sample() -> None:
    ts = np.array([0.0, 1.0, 2.0, 20.0])
    ends = np.array([2.5, 4.5, 12.5, 20.0, -1.0])
    states = []
    for end in ends:  # opened 12 s before the first sample: silent for 11 s at t = -1
        stream = ClockedStream(
            ts, srate=1.0, stale_after_s=2.0, missing_after_s=10.0, opened_at=-12
        )
        stream.advance(end)
        states.append(stream.state)
    assert states == ["ok", "stale", "missing", "ok", "missing"]


def test_a_gap_in_the_recording_is_stale_absent_and_skipped_when_nothing_is_left(
    pipeline,
) -> None:
    """Live rules: a silent stream is stale and absent; a window without any usable modality
    is not published and takes no ``seq``."""
    recording = load_recording(DEMO)
    t_start = recording.start
    for stream in recording.streams.values():
        gap = (stream.timestamps > t_start + 150.0) & (stream.timestamps < t_start + 240.0)
        if stream.key == "bvp":  # bvp is silent longer than the others
            gap |= (stream.timestamps > t_start + 120.0) & (stream.timestamps < t_start + 240.0)
        stream.data, stream.timestamps = stream.data[~gap], stream.timestamps[~gap]
    result = process_recording(pipeline, recording, step_s=5.0)
    assert result.n_skipped > 0 and len(result) + result.n_skipped == result.n_windows
    bvp = result.states["bvp"]
    assert {"ok", "stale", "missing"} <= set(bvp)
    messages = list(result.messages())
    assert [m["seq"] for m in messages] == list(range(len(messages)))
    for message in messages:
        validate_message(message)
        assert "ok" in message["modalities"].values()


@pytest.mark.slow
def test_a_real_wesad_session(pipeline, wesad_e4: Path) -> None:
    step = 20.0
    result = process_recording(pipeline, wesad_e4 / "S2", step_s=step)
    recording = load_recording(wesad_e4 / "S2")
    live = _live_sequence(pipeline, recording, step_s=step)
    assert len(result) == len(live) > 300  # about two hours
    # batched float32 inference against the live batch of one: equal to ~4e-6 (measured)
    np.testing.assert_allclose(
        result.distributions, np.stack([w["distribution"] for w in live]), atol=1e-5
    )
    for message in result.messages():
        validate_message(message)
    assert result.times.total_s > 0 and result.duration_s > 7000


def test_a_multilabel_model_gets_its_presence_scores() -> None:
    """TAILOR offline: every message carries the scores, normalised scores as distribution."""
    tailor = load_pipeline(PIPELINES_DIR / "wesad_tailor.yaml")
    result = process_recording(tailor, DEMO, step_s=20.0)
    assert result.scores is not None and result.scores.shape == result.distributions.shape
    np.testing.assert_allclose(
        result.distributions, result.scores / result.scores.sum(axis=1, keepdims=True)
    )
    for message in result.messages():
        validate_message(message)
        present = [
            label
            for label, score in zip(message["labels"], message["scores"], strict=True)
            if score >= message["threshold"]
        ]
        assert message["present"] == present
