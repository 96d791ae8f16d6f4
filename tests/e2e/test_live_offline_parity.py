"""Live, ``helo-stream process`` and the training windows agree window by window.

A recording is replayed through real LSL outlets (the replay player) into the live runner (real
inlets, a real ZeroMQ publisher and subscriber); the same recording goes through
:func:`process_recording` and through the training path (:func:`featurize_recording` at the
training step). Every window's bounds, features, presence flags, stream states, quality flags and
published distribution must agree: within float tolerance, because live timestamps are on the
LSL clock (the offline ones on the recording's epoch clock) and the model runs in batches.

One recording is real (WESAD S2, skipped without ``../shared/data``); the other is made faulty
on purpose: NaN and infinity bursts, a flat stretch, and an outage of one stream long enough to
turn it ``stale`` and then ``missing``. The outage's edges sit half a step between window ends,
so the few milliseconds of live transport cannot move a state change across a window.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from helo_stream.config import load_pipeline
from helo_stream.config.loader import Pipeline
from helo_stream.pipeline.offline import featurize_recording, process_recording
from helo_stream.pipeline.processor import WindowFeatures
from helo_stream.pipeline.runner import PipelineRunner
from helo_stream.receivers.zmq_subscriber import ZmqSubscriber
from helo_stream.recordings import Recording, load_recording
from helo_stream.replay.player import RecordingPlayer
from helo_stream.sinks.message import validate_message
from helo_stream.sinks.zmq_publisher import ZmqPublisher

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "pipelines" / "wesad_live.yaml"
DEMO = REPO / "recordings" / "demo" / "S0"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _segment(recording: Recording, start_s: float, duration_s: float) -> Recording:
    """``[start + start_s, + duration_s)`` of every stream: what the player replays."""
    t0 = recording.start + start_s
    streams = {}
    for key, stream in recording.streams.items():
        keep = (stream.timestamps >= t0) & (stream.timestamps < t0 + duration_s)
        streams[key] = replace(stream, data=stream.data[keep], timestamps=stream.timestamps[keep])
    return replace(recording, streams=streams)


class _Live:
    """What the live runner cut and what a subscriber received for one replayed recording."""

    def __init__(self, pipeline: Pipeline, recording: Recording, *, speed: float) -> None:
        subject = f"parity-{uuid.uuid4().hex[:8]}"
        self.windows: list[WindowFeatures] = []
        self.messages: list[dict] = []
        publisher = ZmqPublisher(address="tcp://127.0.0.1:*", topic="parity")
        subscriber = ZmqSubscriber(address=publisher.endpoint, topic="parity")
        runner = PipelineRunner(
            pipeline,
            subject=subject,
            publisher=publisher,
            on_window=lambda _subject, window: self.windows.append(window),
        )
        done = threading.Event()

        def receive() -> None:
            quiet_since = time.monotonic()
            while not done.is_set() or time.monotonic() - quiet_since < 1.0:
                got = subscriber.recv(timeout_s=0.1)
                if got is not None:
                    self.messages.append(got[1])
                    quiet_since = time.monotonic()

        receiver = threading.Thread(target=receive, name="parity-sub", daemon=True)
        player = RecordingPlayer(recording, speed=speed, subject=subject)
        try:
            with player:
                runner.open(timeout=15)
                time.sleep(0.3)  # the subscription reaches the publisher
                receiver.start()
                player.start()
                runner.run(until=lambda: not player.is_running)
                assert player.lsl_start is not None
                #: LSL time of the recording's first replayed instant
                self.lsl0 = float(player.lsl_start)
        finally:
            done.set()
            if receiver.is_alive():
                receiver.join(timeout=10)
            runner.close()
            publisher.close()
            subscriber.close()
        self.stats = runner.stats


def _compare(pipeline: Pipeline, recording: Recording, live: _Live) -> dict[str, float]:
    """Assert live == process == training windows; the largest differences seen."""
    t0 = recording.start
    offline = process_recording(pipeline, recording)
    names = tuple(pipeline.modalities)
    live_ends = np.array([w.end_lsl for w in live.windows]) - live.lsl0
    assert offline.n_windows == len(live.windows) == live.stats.windows > 0
    usable = [w for w in live.windows if w.usable]
    assert len(offline) == len(usable) == live.stats.published == len(live.messages)
    np.testing.assert_allclose(
        offline.window_end - t0, live_ends[[w.usable for w in live.windows]], atol=1e-4
    )

    training = featurize_recording(recording, pipeline, step_s=pipeline.config.training.step_s)
    by_end = {round(float(e), 3): k for k, e in enumerate(training.window_end - t0)}
    worst = {"feature_rel": 0.0, "distribution": 0.0}
    matched = 0
    for seq, (window, message) in enumerate(zip(usable, live.messages, strict=True)):
        validate_message(message)
        assert message["seq"] == seq
        assert message["modalities"] == window.status
        assert message["modalities"] == {n: str(offline.states[n][seq]) for n in names}
        assert message.get("quality", {}) == {
            n: list(offline.quality[n][seq]) for n in names if offline.quality[n][seq]
        }
        got = np.asarray(message["distribution"])
        np.testing.assert_allclose(got, offline.distributions[seq], atol=1e-5)
        worst["distribution"] = max(
            worst["distribution"], float(np.abs(got - offline.distributions[seq]).max())
        )
        k = by_end.get(round(window.end_lsl - live.lsl0, 3))
        if k is None:
            continue
        matched += 1
        for name in names:
            assert bool(training.present[name][k]) == window.present[name], (seq, name)
            assert str(training.states[name][k]) == window.status[name]
            a, b = training.features[name][k], window.features[name]
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg=f"{seq} {name}")
            if window.present[name]:
                rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-3)
                worst["feature_rel"] = max(worst["feature_rel"], float(rel.max()))
    assert matched >= len(training) - 1 > 0  # every training window is a live window
    return worst


def test_a_real_session_agrees_window_by_window(wesad_e4: Path) -> None:
    """Ten minutes of S2 (through the calibration period of the normaliser) at 20x."""
    pipeline = load_pipeline(PIPELINE)
    recording = _segment(load_recording(wesad_e4 / "S2"), 1200.0, 420.0)
    live = _Live(pipeline, recording, speed=20.0)
    worst = _compare(pipeline, recording, live)
    assert all(set(w.status.values()) == {"ok"} for w in live.windows)
    print("S2 parity, largest differences:", worst)


def _short_window_pipeline(tmp_path: Path) -> Pipeline:
    config = yaml.safe_load(PIPELINE.read_text())
    config["window"] = {
        "length_s": 10.0,
        "step_s": 0.25,
        "stale_after_s": 2.0,
        "missing_after_s": 6.0,
    }
    config["model"]["checkpoint"] = str(PIPELINE.parent / config["model"]["checkpoint"])
    config["devices"]["wrist"]["profile"] = str(REPO / "devices" / "empatica_e4.yaml")
    path = tmp_path / "parity.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_pipeline(path)


def _faulty_demo() -> tuple[Recording, float]:
    """60 s of the demo with faults; returns it and the first window end (recording clock)."""
    recording = _segment(load_recording(DEMO), 0.0, 60.0)
    first_end = max(s.timestamps[0] for s in recording.streams.values() if s.n_samples) + 10.0
    streams = dict(recording.streams)

    def edit(key: str, change) -> None:
        (full,) = [k for k in streams if k.endswith(f".{key}")]
        stream = streams[full]
        data, ts = np.array(stream.data, dtype=np.float64), stream.timestamps
        data, ts = change(data, ts - first_end)
        streams[full] = replace(stream, data=data, timestamps=ts + first_end)

    def nan_bursts(x, rel):
        x[(rel >= 3.0) & (rel < 4.0)] = np.nan
        x[(rel >= 20.0) & (rel < 20.5)] = np.nan
        return x, rel

    def inf_burst(x, rel):
        x[(rel >= 12.0) & (rel < 12.5), 1] = np.inf
        return x, rel

    def flat(x, rel):
        x[(rel >= 8.0) & (rel < 30.0)] = x[rel >= 8.0][0]
        return x, rel

    def outage(x, rel):
        # last sample at 14.125 (+2: stale at 16.125, +6: missing at 20.125), back at 30.125:
        # every edge half a step (0.125 s) from the nearest window end
        keep = (rel <= 14.125 + 1e-9) | (rel >= 30.125 - 1e-9)
        return x[keep], rel[keep]

    edit("eda", nan_bursts)
    edit("acc", inf_burst)
    edit("temp", flat)
    edit("bvp", outage)
    return replace(recording, streams=streams), first_end


def test_a_faulty_recording_agrees_window_by_window(tmp_path: Path) -> None:
    """NaN/inf bursts, a flat stretch and an outage of bvp, replayed at speed 1."""
    pipeline = _short_window_pipeline(tmp_path)
    recording, _ = _faulty_demo()
    live = _Live(pipeline, recording, speed=1.0)
    _compare(pipeline, recording, live)
    bvp = [w.status["bvp"] for w in live.windows]
    assert {"ok", "stale", "missing"} <= set(bvp)
    flags = {n: set() for n in pipeline.modalities}
    for w in live.windows:
        for name, found in w.quality.items():
            flags[name].update(found)
    assert "nonfinite" in flags["eda"] and "nonfinite" in flags["acc"]
    assert "flat" in flags["temp"]
    assert any(not w.present["temp"] and w.status["temp"] == "ok" for w in live.windows)
    assert any(not w.present["bvp"] for w in live.windows)
