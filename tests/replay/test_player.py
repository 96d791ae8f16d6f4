"""The replay engine over real LSL on loopback: metadata, samples, timestamps, pacing, loop."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pylsl
import pytest

from helo_stream.config import DEVICES_DIR, load_device_profile
from helo_stream.recordings import Recording, load_recording
from helo_stream.replay import PROTOCOL_STREAM, RecordingPlayer

FORMATS = {
    "float32": pylsl.cf_float32,
    "double64": pylsl.cf_double64,
    "string": pylsl.cf_string,
    "int16": pylsl.cf_int16,
}


def _desc_channels(info: pylsl.StreamInfo) -> list[dict[str, str]]:
    root = ET.fromstring(info.as_xml())
    return [{c.tag: c.text or "" for c in ch} for ch in root.iter("channel")]


def test_metadata_matches_the_profiles(
    subject: str, make_recording: Callable[..., Recording], resolve_many: Callable
) -> None:
    rec = make_recording("S1", 2.0)
    with RecordingPlayer(rec, subject=subject) as player:
        assert player.source_ids == {
            "empatica_e4.bvp": f"{subject}-empatica_e4-bvp",
            "empatica_e4.acc": f"{subject}-empatica_e4-acc",
            "empatica_e4.eda": f"{subject}-empatica_e4-eda",
            "respiban.ecg": f"{subject}-respiban-ecg",
            "protocol": f"{subject}-protocol",
        }
        infos = resolve_many(list(player.source_ids.values()))
        for key in ("empatica_e4.bvp", "empatica_e4.acc", "respiban.ecg"):
            device, stream_key = key.split(".")
            profile = load_device_profile(DEVICES_DIR / f"{device}.yaml")
            spec = profile.streams[stream_key]
            info = infos[profile.source_id(stream_key, subject=subject)]
            full = pylsl.StreamInlet(info).info(timeout=5.0)  # with the desc element
            assert (full.name(), full.type(), full.channel_count()) == (
                spec.name,
                spec.type,
                spec.n_channels,
            )
            assert full.nominal_srate() == spec.nominal_srate
            assert full.channel_format() == FORMATS[spec.channel_format]
            channels = _desc_channels(full)
            assert [c["label"] for c in channels] == list(spec.channel_labels)
            assert [c["unit"] for c in channels] == list(spec.units)
            assert all(c["type"] for c in channels)
            desc = ET.fromstring(full.as_xml()).find("desc")
            assert desc.findtext("manufacturer") == profile.manufacturer
            assert desc.findtext("model") == profile.model
        marker = pylsl.StreamInlet(infos[f"{subject}-protocol"]).info(timeout=5.0)
        assert (marker.name(), marker.type(), marker.channel_count()) == (
            PROTOCOL_STREAM,
            "Markers",
            1,
        )
        assert marker.nominal_srate() == pylsl.IRREGULAR_RATE
        assert marker.channel_format() == pylsl.cf_string


def test_samples_timestamps_and_markers_arrive_as_recorded(
    subject: str, make_recording: Callable[..., Recording], open_inlets: Callable, pull: Callable
) -> None:
    rec = make_recording("S1", 4.0, conditions=[("baseline", 0.5, 2.0), ("stress", 2.5, 6.0)])
    with RecordingPlayer(rec, subject=subject, speed=10) as player:
        inlets = open_inlets(player.source_ids)
        player.start()
        assert player.wait(timeout=10)
        expected = {key: s.n_samples for key, s in rec.streams.items()} | {"protocol": 4}
        received = {key: pull(inlet, expected[key]) for key, inlet in inlets.items()}
    lsl0 = player.lsl_start
    for key, stream in rec.streams.items():
        samples, stamps = received[key]
        assert len(samples) == stream.n_samples, key
        np.testing.assert_array_equal(
            np.asarray(samples, np.float32), stream.data.astype(np.float32)
        )
        # timestamps are the recording's relative times, whatever the speed
        np.testing.assert_allclose(stamps - lsl0, stream.timestamps - rec.start, atol=1e-6)
    markers, stamps = received["protocol"]
    assert [m[0] for m in markers] == ["baseline", "end:baseline", "stress", "end:stress"]
    # the stress condition runs past the recording's end: its end is announced at the end
    np.testing.assert_allclose(stamps - lsl0, [0.5, 2.0, 2.5, 4.0], atol=1e-6)


def test_start_and_duration_select_a_window(
    subject: str, make_recording: Callable[..., Recording], open_inlets: Callable, pull: Callable
) -> None:
    rec = make_recording("S1", 5.0, conditions=[("amusement", 1.0, 4.0)])
    with RecordingPlayer(rec, subject=subject, speed=20, start_s=2.0, duration_s=1.5) as player:
        assert player.duration_s == pytest.approx(1.5)
        ids = player.source_ids
        inlets = open_inlets({k: ids[k] for k in ("empatica_e4.bvp", "protocol")})
        player.start()
        player.wait(timeout=10)
        samples, stamps = pull(inlets["empatica_e4.bvp"], 96)
        markers, mstamps = pull(inlets["protocol"], 2)
    source = rec.stream("empatica_e4", "bvp")
    np.testing.assert_array_equal(
        np.asarray(samples)[:, 0], source.data[128:224, 0].astype(np.float32)
    )
    np.testing.assert_allclose(stamps - player.lsl_start, np.arange(96) / 64, atol=1e-6)
    # joining mid-condition announces it at once, and its end at the window's end
    assert [m[0] for m in markers] == ["amusement", "end:amusement"]
    np.testing.assert_allclose(mstamps - player.lsl_start, [0.0, 1.5], atol=1e-6)


def test_pacing_at_speed_10_does_not_drift(
    subject: str, make_recording: Callable[..., Recording], open_inlets: Callable
) -> None:
    speed, seconds = 10.0, 30.0
    rec = make_recording(
        "S1", seconds, streams=(("empatica_e4", "bvp", 64, 1), ("respiban", "ecg", 700, 1))
    )
    arrivals: list[tuple[float, float]] = []  # (local clock at receipt, newest timestamp)
    with RecordingPlayer(rec, subject=subject, speed=speed) as player:
        inlet = open_inlets({"ecg": player.source_ids["respiban.ecg"]})["ecg"]
        done = threading.Event()

        def consume() -> None:
            while not done.is_set():
                _, ts = inlet.pull_chunk(timeout=0.05, max_samples=50_000)
                if ts:
                    arrivals.append((pylsl.local_clock(), ts[-1]))

        consumer = threading.Thread(target=consume)
        consumer.start()
        t = time.monotonic()
        player.run()
        wall = time.monotonic() - t
        time.sleep(0.2)
        done.set()
        consumer.join()
    assert wall == pytest.approx(seconds / speed, rel=0.05)
    received = np.array(arrivals)
    lsl0 = player.lsl_start
    # a sample stamped lsl0 + x was due at local time lsl0 + x / speed
    lag = received[:, 0] - (lsl0 + (received[:, 1] - lsl0) / speed)
    assert received[-1, 1] - lsl0 == pytest.approx(seconds - 1 / 700, abs=1e-6)
    assert lag.min() > -0.01  # never early
    assert np.median(lag) < 0.1 and lag.max() < 0.3
    quarter = len(lag) // 4
    assert np.median(lag[-quarter:]) - np.median(lag[:quarter]) < 0.03  # no drift


def test_loop_continues_timestamps(
    subject: str, make_recording: Callable[..., Recording], open_inlets: Callable, pull: Callable
) -> None:
    rec = make_recording(
        "S1", 1.0, streams=(("empatica_e4", "bvp", 64, 1),), conditions=[("meditation", 0.25, 0.75)]
    )
    player = RecordingPlayer(rec, subject=subject, speed=10, loop=True)
    with player:
        inlets = open_inlets({k: player.source_ids[k] for k in ("empatica_e4.bvp", "protocol")})
        player.start()
        samples, stamps = pull(inlets["empatica_e4.bvp"], 4 * 64, extra_s=0)  # four passes
        markers, mstamps = pull(inlets["protocol"], 8, extra_s=0)
        assert player.is_running  # a loop never ends by itself
        player.close()
        assert not player.is_running
    passes = len(samples) // 64
    assert passes >= 4
    # strictly increasing, every step exactly one sample period, across pass boundaries too
    np.testing.assert_allclose(np.diff(stamps), 1 / 64, atol=1e-6)
    np.testing.assert_allclose(stamps - player.lsl_start, np.arange(len(stamps)) / 64, atol=1e-6)
    values = np.asarray(samples)[:, 0]
    source = rec.stream("empatica_e4", "bvp").data[:, 0].astype(np.float32)
    np.testing.assert_array_equal(values[: passes * 64], np.tile(source, passes))
    assert [m[0] for m in markers[:4]] == ["meditation", "end:meditation"] * 2
    np.testing.assert_allclose(mstamps[:4] - player.lsl_start, [0.25, 0.75, 1.25, 1.75], atol=1e-6)


def test_lead_pushes_the_first_seconds_at_once_stamped_in_the_past(
    subject: str, make_recording: Callable[..., Recording], open_inlets: Callable, pull: Callable
) -> None:
    rec = make_recording("S1", 10.0, streams=(("empatica_e4", "bvp", 64, 1),))
    with RecordingPlayer(rec, subject=subject, lead_s=3.0) as player:
        inlet = open_inlets({"bvp": player.source_ids["empatica_e4.bvp"]})["bvp"]
        player.start()
        t = time.monotonic()
        samples, stamps = pull(inlet, 3 * 64, timeout=2.0, extra_s=0)
        waited = time.monotonic() - t
        now = pylsl.local_clock()
        player.close()
    assert len(samples) >= 3 * 64 and waited < 1.0  # three seconds in well under one
    # every sample keeps its recorded spacing; the lead's samples are stamped in the past
    np.testing.assert_allclose(stamps - player.lsl_start, np.arange(len(stamps)) / 64, atol=1e-6)
    assert now - stamps[0] == pytest.approx(3.0 + waited, abs=0.5)


def test_push_log_records_every_push(
    subject: str, make_recording: Callable[..., Recording], open_inlets: Callable, pull: Callable
) -> None:
    rec = make_recording("S1", 2.0, streams=(("empatica_e4", "bvp", 64, 1),))
    with RecordingPlayer(rec, subject=subject, speed=10, log_pushes=True) as player:
        inlet = open_inlets({"bvp": player.source_ids["empatica_e4.bvp"]})["bvp"]
        before = pylsl.local_clock()
        player.run()
        after = pylsl.local_clock()
        _, stamps = pull(inlet, 128)
    log = player.push_log["empatica_e4.bvp"].as_array()
    assert log.shape[1] == 3 and len(log) > 1
    assert np.all(np.diff(log[:, 0]) >= 0) and before <= log[0, 0] and log[-1, 0] <= after
    # the pushes tile the stream: first/last stamps are the received ones, in order
    assert log[0, 1] == pytest.approx(stamps[0]) and log[-1, 2] == pytest.approx(stamps[-1])
    np.testing.assert_allclose(log[1:, 1] - log[:-1, 2], 1 / 64, atol=1e-6)
    # a sample is never pushed before its stamp's due time (speed 10: lsl0 + rel / 10)
    due = player.lsl_start + (log[:, 2] - player.lsl_start) / 10
    assert np.all(log[:, 0] >= due - 1e-3)
    assert player.push_log["protocol"].as_array().shape == (0, 3)
    assert RecordingPlayer(rec).push_log == {}


def test_stop_event_and_close_remove_the_streams(
    subject: str, make_recording: Callable[..., Recording], resolve: Callable
) -> None:
    rec = make_recording("S1", 60.0, streams=(("empatica_e4", "eda", 4, 1),))
    player = RecordingPlayer(rec, subject=subject)
    stop = threading.Event()
    runner = threading.Thread(target=player.run, kwargs={"stop": stop})
    runner.start()
    resolve(f"{subject}-empatica_e4-eda")
    t = time.monotonic()
    stop.set()
    runner.join(timeout=2)
    assert not runner.is_alive() and time.monotonic() - t < 0.5
    assert player.is_open  # run() leaves the outlets to close()
    player.close()
    assert not player.is_open
    gone = pylsl.resolve_byprop("source_id", f"{subject}-empatica_e4-eda", timeout=1.0)
    assert gone == []


def test_xdf_streams_keep_their_recorded_metadata(
    subject: str, open_inlets: Callable, pull: Callable
) -> None:
    path = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "xdf" / "minimal.xdf"
    if not path.is_file():
        pytest.skip(f"XDF example files not available at {path.parent}")
    rec = load_recording(path)
    with RecordingPlayer(rec, subject=subject, speed=5) as player:
        assert player.source_ids["SendDataC"] == f"{subject}-SendDataC"  # none was recorded
        inlets = open_inlets({k: player.source_ids[k] for k in ("SendDataC", "SendDataString")})
        inlet, strings = inlets["SendDataC"], inlets["SendDataString"]
        info = inlet.info(timeout=5.0)
        assert (info.name(), info.type(), info.channel_count(), info.nominal_srate()) == (
            "SendDataC",
            "EEG",
            3,
            10.0,
        )
        assert info.channel_format() == pylsl.cf_int16
        assert strings.info(timeout=5.0).channel_format() == pylsl.cf_string
        player.start()
        player.wait(timeout=10)
        samples, stamps = pull(inlet, 9)
        texts, _ = pull(strings, 9)
    assert samples[:2] == [[192, 255, 238], [12, 22, 32]]
    eeg = rec.streams["SendDataC"]
    np.testing.assert_allclose(stamps - player.lsl_start, eeg.timestamps - rec.start, atol=1e-6)
    assert [t[0] for t in texts[1:5]] == ["Hello", "World", "from", "LSL"]


def test_invalid_arguments(make_recording: Callable[..., Recording]) -> None:
    rec = make_recording("S1", 2.0, streams=(("empatica_e4", "eda", 4, 1),))
    for kwargs in (
        {"speed": 0},
        {"chunk_s": 0},
        {"start_s": -1},
        {"duration_s": 0},
        {"start_s": 2.0},
    ):
        with pytest.raises(ValueError):
            RecordingPlayer(rec, **kwargs)
