"""Resolving a pipeline's streams against real LSL outlets."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from helo_stream.config import DeviceProfile, Pipeline, PipelineConfig, ResolvedModality
from helo_stream.sources.resolve import (
    AmbiguousStreamsError,
    StreamMismatchError,
    StreamsNotFoundError,
    expected_streams,
    resolve_pipeline_streams,
    subject_from_source_id,
)


def _profile(uid: str, name: str = "wrist") -> DeviceProfile:
    return DeviceProfile.model_validate(
        {
            "name": name,
            "manufacturer": "test",
            "model": "test",
            "streams": {
                "bvp": {
                    "name": f"BVP_{uid}",
                    "type": "PPG",
                    "modality": "bvp",
                    "role": "physiological",
                    "nominal_srate": 64,
                    "channels": [{"label": "BVP", "unit": "a.u."}],
                },
                "acc": {
                    "name": f"ACC_{uid}",
                    "type": "ACC",
                    "modality": "acc",
                    "role": "behavioral",
                    "nominal_srate": 32,
                    "channels": [
                        {"label": "X", "unit": "g"},
                        {"label": "Y", "unit": "g"},
                        {"label": "Z", "unit": "g"},
                    ],
                },
            },
        }
    )


def _pipeline(
    uid: str, *, subject: str | None = None, acc_optional: bool = False, timeout: float = 2.0
) -> Pipeline:
    devices = {"wrist": {"profile": "wrist"}, "band": {"profile": "band"}}
    if acc_optional:
        devices["band"]["optional"] = True  # type: ignore[index]
    config = PipelineConfig.model_validate(
        {
            "name": "test",
            "subject": subject,
            "resolve_timeout_s": timeout,
            "devices": devices,
            "modalities": {
                "bvp": {"device": "wrist", "stream": "bvp"},
                "acc": {"device": "band", "stream": "acc"},
            },
            "model": {"checkpoint": "none.pt", "labels": ["calm", "stress"]},
        }
    )
    profiles = {"wrist": _profile(uid, "wrist"), "band": _profile(uid, "band")}
    modalities = {
        name: ResolvedModality(
            name,
            mod.device,
            profiles[mod.device],
            mod.stream,
            profiles[mod.device].streams[mod.stream],
            mod,
        )
        for name, mod in config.modalities.items()
    }
    return Pipeline(Path("test.yaml"), config, profiles, modalities, Path("none.pt"))


def _publish(
    make_outlet,
    uid: str,
    subject: str,
    *,
    skip: str = "",
    acc_channels: int = 3,
    bvp_rate: float = 64.0,
):
    outlets = {}
    if skip != "bvp":
        outlets["bvp"] = make_outlet(
            name=f"BVP_{uid}", type="PPG", srate=bvp_rate, source_id=f"{subject}-wrist-bvp"
        )
    if skip != "acc":
        outlets["acc"] = make_outlet(
            name=f"ACC_{uid}",
            type="ACC",
            n_channels=acc_channels,
            srate=32.0,
            source_id=f"{subject}-band-acc",
        )
    return outlets


def test_found_with_subject(uid, make_outlet) -> None:
    _publish(make_outlet, uid, "S1")
    started = time.monotonic()
    infos = resolve_pipeline_streams(_pipeline(uid, subject="S1"), timeout=5.0)
    assert time.monotonic() - started < 2.0  # returns as soon as everything is there
    assert list(infos) == ["bvp", "acc"]
    assert infos["bvp"].source_id() == "S1-wrist-bvp"
    assert infos["acc"].source_id() == "S1-band-acc"
    assert infos["acc"].channel_count() == 3


def test_waits_for_a_stream_that_appears_late(uid, make_outlet) -> None:
    _publish(make_outlet, uid, "S1", skip="acc")
    late: list = []
    timer = threading.Timer(
        0.8,
        lambda: late.append(
            make_outlet(
                name=f"ACC_{uid}", type="ACC", n_channels=3, srate=32.0, source_id="S1-band-acc"
            )
        ),
    )
    timer.start()
    try:
        infos = resolve_pipeline_streams(_pipeline(uid, subject="S1"), timeout=5.0)
    finally:
        timer.join()
    assert infos["acc"].source_id() == "S1-band-acc"


def test_not_found_names_the_missing_stream_and_what_is_visible(uid, make_outlet) -> None:
    _publish(make_outlet, uid, "S1", skip="acc")
    started = time.monotonic()
    with pytest.raises(StreamsNotFoundError) as info:
        # No explicit timeout: the pipeline's resolve_timeout_s applies.
        resolve_pipeline_streams(_pipeline(uid, subject="S1", timeout=0.8))
    assert time.monotonic() - started < 3.0
    err = info.value
    assert err.timeout == 0.8
    assert [m.modality for m in err.missing] == ["acc"]
    text = str(err)
    assert "modality 'acc'" in text
    assert f"name='ACC_{uid}'" in text and "type='ACC'" in text
    assert "source_id='S1-band-acc'" in text
    assert "visible LSL streams" in text and "S1-wrist-bvp" in text
    assert any(d.source_id == "S1-wrist-bvp" for d in err.visible)


def test_subject_filter_picks_the_right_one_of_two_subjects(uid, make_outlet) -> None:
    _publish(make_outlet, uid, "S1")
    _publish(make_outlet, uid, "S2")
    infos = resolve_pipeline_streams(_pipeline(uid, subject="S2"), timeout=5.0)
    assert infos["bvp"].source_id() == "S2-wrist-bvp"
    assert infos["acc"].source_id() == "S2-band-acc"


def test_no_subject_and_two_candidates_is_an_error_naming_them(uid, make_outlet) -> None:
    _publish(make_outlet, uid, "S1")
    _publish(make_outlet, uid, "S2")
    with pytest.raises(AmbiguousStreamsError) as info:
        resolve_pipeline_streams(_pipeline(uid), timeout=3.0)
    text = str(info.value)
    assert "S1-wrist-bvp" in text and "S2-wrist-bvp" in text
    assert "subject" in text


def test_no_subject_and_one_candidate_resolves_and_subject_is_recovered(uid, make_outlet) -> None:
    _publish(make_outlet, uid, "P07")
    pipeline = _pipeline(uid)
    infos = resolve_pipeline_streams(pipeline, timeout=5.0)
    mod = pipeline.modalities["bvp"]
    assert (
        subject_from_source_id(
            infos["bvp"].source_id(), profile=mod.profile, stream_key=mod.stream_key
        )
        == "P07"
    )


def test_no_subject_and_streams_of_different_subjects_is_an_error(uid, make_outlet) -> None:
    _publish(make_outlet, uid, "S1", skip="acc")
    _publish(make_outlet, uid, "S2", skip="bvp")
    with pytest.raises(AmbiguousStreamsError, match="different subjects"):
        resolve_pipeline_streams(_pipeline(uid), timeout=3.0)


def test_channel_count_mismatch(uid, make_outlet) -> None:
    _publish(make_outlet, uid, "S1", acc_channels=2)
    with pytest.raises(StreamMismatchError) as info:
        resolve_pipeline_streams(_pipeline(uid, subject="S1"), timeout=3.0)
    text = str(info.value)
    assert "modality 'acc'" in text and "2 channel(s)" in text and "declares 3" in text


def test_rate_mismatch(uid, make_outlet) -> None:
    _publish(make_outlet, uid, "S1", bvp_rate=128.0)
    with pytest.raises(StreamMismatchError, match=r"128 Hz.*declares 64 Hz"):
        resolve_pipeline_streams(_pipeline(uid, subject="S1"), timeout=3.0)


def test_optional_device_may_be_absent(uid, make_outlet) -> None:
    _publish(make_outlet, uid, "S1", skip="acc")
    pipeline = _pipeline(uid, subject="S1", acc_optional=True)
    assert [e.required for e in expected_streams(pipeline)] == [True, False]
    infos = resolve_pipeline_streams(pipeline, timeout=1.0)
    assert list(infos) == ["bvp"]


@pytest.mark.parametrize(
    ("template", "source_id", "expected"),
    [
        ("{subject}-{device}-{stream}", "S2-empatica_e4-bvp", "S2"),
        ("{subject}-{device}-{stream}", "sub-01-x-empatica_e4-bvp", "sub-01-x"),
        ("{device}/{stream}@{subject}", "empatica_e4/bvp@S9", "S9"),
        ("{subject}-{device}-{stream}", "S2-empatica_e4-eda", None),
        ("{subject}-{device}-{stream}", "unrelated", None),
        ("{device}-{stream}", "empatica_e4-bvp", None),
    ],
)
def test_subject_from_source_id(template: str, source_id: str, expected: str | None) -> None:
    profile = DeviceProfile.model_validate(
        {
            "name": "empatica_e4",
            "manufacturer": "m",
            "model": "m",
            "streams": {
                "bvp": {
                    "name": "E4_BVP",
                    "type": "PPG",
                    "source_id": template,
                    "modality": "bvp",
                    "role": "physiological",
                    "nominal_srate": 64,
                    "channels": [{"label": "BVP", "unit": "a.u."}],
                }
            },
        }
    )
    assert subject_from_source_id(source_id, profile=profile, stream_key="bvp") == expected
    if expected is not None:
        assert profile.source_id("bvp", subject=expected) == source_id


def test_e4_profile_round_trip() -> None:
    from helo_stream.config import load_device_profile
    from helo_stream.config.loader import DEVICES_DIR

    e4 = load_device_profile(DEVICES_DIR / "empatica_e4.yaml")
    for key in e4.streams:
        sid = e4.source_id(key, subject="S2")
        assert subject_from_source_id(sid, profile=e4, stream_key=key) == "S2"
    assert e4.source_id("bvp", subject="S2") == "S2-empatica_e4-bvp"
    assert np.isclose(e4.streams["bvp"].nominal_srate, 64)
