"""Pipeline and device-profile validation: every problem reported with file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helo_stream.config import (
    DEVICES_DIR,
    PIPELINES_DIR,
    ConfigError,
    load_device_profile,
    load_pipeline,
)


def _write(tmp_path: Path, data: object, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def _base(tmp_path: Path) -> dict:
    (tmp_path / "model.pt").write_bytes(b"x")
    return {
        "name": "t",
        "devices": {"wrist": {"profile": "empatica_e4"}},
        "modalities": {
            "bvp": {"device": "wrist", "stream": "bvp"},
            "acc": {"device": "wrist", "stream": "acc"},
        },
        "model": {"checkpoint": "model.pt", "labels": ["a", "b"]},
    }


@pytest.mark.parametrize("name", ["empatica_e4", "respiban"])
def test_shipped_profiles_load(name: str) -> None:
    profile = load_device_profile(DEVICES_DIR / f"{name}.yaml")
    assert profile.name == name
    roles = {s.role for s in profile.streams.values()}
    assert roles == {"physiological", "behavioral"}
    assert profile.streams["acc"].role == "behavioral"


def test_e4_profile_matches_wesad_readme() -> None:
    e4 = load_device_profile(DEVICES_DIR / "empatica_e4.yaml")
    rates = {k: s.nominal_srate for k, s in e4.streams.items()}
    assert rates == {"bvp": 64, "eda": 4, "temp": 4, "acc": 32}
    assert e4.streams["eda"].units == ("uS",)
    assert e4.streams["temp"].units == ("degC",)
    assert e4.streams["acc"].units == ("1/64 g",) * 3
    assert e4.source_id("bvp", subject="S2") == "S2-empatica_e4-bvp"


def test_respiban_profile_is_700hz() -> None:
    chest = load_device_profile(DEVICES_DIR / "respiban.yaml")
    assert set(chest.streams) == {"ecg", "eda", "emg", "resp", "temp", "acc"}
    assert {s.nominal_srate for s in chest.streams.values()} == {700}


@pytest.mark.parametrize("name", ["wesad_live", "wesad_chest_live"])
def test_shipped_pipelines_validate(name: str) -> None:
    pipeline = load_pipeline(PIPELINES_DIR / f"{name}.yaml", check_checkpoint=False)
    assert pipeline.name == name
    assert len(pipeline.labels) == 24
    assert any(m.role == "behavioral" for m in pipeline.modalities.values())


def test_valid_minimal_pipeline(tmp_path: Path) -> None:
    pipeline = load_pipeline(_write(tmp_path, _base(tmp_path)))
    assert pipeline.modalities["bvp"].stream.nominal_srate == 64
    assert pipeline.checkpoint_path == (tmp_path / "model.pt").resolve()
    assert pipeline.config.window.buffer_seconds == 120


def test_every_problem_is_listed_with_its_field(tmp_path: Path) -> None:
    data = _base(tmp_path)
    data["surprise"] = 1
    data["window"] = {"length_s": -1, "step_s": "fast"}
    data["modalities"]["bvp"]["filtre"] = {}
    data["publisher"] = {"address": "localhost:5556"}
    with pytest.raises(ConfigError) as info:
        load_pipeline(_write(tmp_path, data))
    fields = {p.field for p in info.value.problems}
    assert {"surprise", "window.length_s", "window.step_s", "modalities.bvp.filtre"} <= fields
    assert "publisher.address" in fields
    assert all(p.file.name == "p.yaml" for p in info.value.problems)
    text = str(info.value)
    assert "unknown key" in text and "p.yaml" in text


def test_cross_references_are_checked(tmp_path: Path) -> None:
    data = _base(tmp_path)
    data["modalities"]["bvp"]["stream"] = "ppg"
    data["modalities"]["bvp"]["features"] = ["hr_mean"]
    data["modalities"]["acc"]["filter"] = {"kind": "lowpass", "high_hz": 20.0}
    data["model"]["checkpoint"] = "nowhere.pt"
    with pytest.raises(ConfigError) as info:
        load_pipeline(_write(tmp_path, data))
    by_field = {p.field: p.message for p in info.value.problems}
    assert "has no stream 'ppg'" in by_field["modalities.bvp.stream"]
    assert "Nyquist" in by_field["modalities.acc.filter.high_hz"]
    assert "not found" in by_field["model.checkpoint"]


def test_unknown_feature_names(tmp_path: Path) -> None:
    data = _base(tmp_path)
    data["modalities"]["acc"]["features"] = ["acc_mag_mean", "heart_of_gold"]
    with pytest.raises(ConfigError) as info:
        load_pipeline(_write(tmp_path, data))
    (problem,) = info.value.problems
    assert problem.field == "modalities.acc.features"
    assert "heart_of_gold" in problem.message and "acc_mag_mean" in problem.message


def test_filter_needs_its_cutoffs(tmp_path: Path) -> None:
    data = _base(tmp_path)
    data["modalities"]["bvp"]["filter"] = {"kind": "bandpass", "low_hz": 8.0}
    with pytest.raises(ConfigError) as info:
        load_pipeline(_write(tmp_path, data))
    assert "needs high_hz" in str(info.value)


def test_unknown_device_and_profile(tmp_path: Path) -> None:
    data = _base(tmp_path)
    data["devices"]["wrist"]["profile"] = "fitbit"
    data["modalities"]["acc"]["device"] = "ankle"
    with pytest.raises(ConfigError) as info:
        load_pipeline(_write(tmp_path, data))
    assert "ankle" in str(info.value)


def test_missing_profile_file(tmp_path: Path) -> None:
    data = _base(tmp_path)
    data["devices"]["wrist"]["profile"] = "fitbit"
    with pytest.raises(ConfigError) as info:
        load_pipeline(_write(tmp_path, data))
    (problem,) = info.value.problems
    assert problem.field == "devices.wrist.profile" and "fitbit" in problem.message


def test_needs_a_physiological_modality(tmp_path: Path) -> None:
    data = _base(tmp_path)
    del data["modalities"]["bvp"]
    with pytest.raises(ConfigError, match="physiological"):
        load_pipeline(_write(tmp_path, data))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [unclosed\n", "malformed YAML at line"),
        ("", "empty file"),
        ("- a\n- b\n", "expected a mapping"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_pipeline(_write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_pipeline(tmp_path / "absent.yaml")


def test_window_consistency(tmp_path: Path) -> None:
    data = _base(tmp_path)
    data["window"] = {"length_s": 10, "step_s": 20}
    with pytest.raises(ConfigError, match="must not exceed"):
        load_pipeline(_write(tmp_path, data))


def test_bad_source_id_template(tmp_path: Path) -> None:
    profile = yaml.safe_load((DEVICES_DIR / "empatica_e4.yaml").read_text())
    profile["streams"]["bvp"]["source_id"] = "{serial}"
    with pytest.raises(ConfigError, match=r"streams\.bvp\.source_id"):
        load_device_profile(_write(tmp_path, profile, "dev.yaml"))
