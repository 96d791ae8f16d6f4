"""Shipped resources by name: pipelines, device profiles, the demo recording, checkpoints.

In the checkout they are the top-level folders; the wheel test (tests/packaging) checks the
same names against an installed wheel.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helo_stream.config import (
    CHECKPOINTS_DIR,
    DEVICES_DIR,
    PIPELINES_DIR,
    RECORDINGS_DIR,
    ConfigError,
    find_pipeline,
    find_recording,
    load_pipeline,
    resource_dir,
)

REPO = Path(__file__).resolve().parents[2]


def test_checkout_resources_are_the_top_level_folders() -> None:
    # an editable install or PYTHONPATH: the repository's folders, no second copy
    assert DEVICES_DIR == REPO / "devices" == resource_dir("devices")
    assert PIPELINES_DIR == REPO / "pipelines"
    assert RECORDINGS_DIR == REPO / "recordings"
    assert CHECKPOINTS_DIR == REPO / "checkpoints"
    assert not (REPO / "helo_stream" / "_resources").exists()
    with pytest.raises(ValueError, match="unknown resource kind"):
        resource_dir("models")


def test_a_bare_name_is_a_shipped_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_pipeline("wesad_live") == PIPELINES_DIR / "wesad_live.yaml"
    pipeline = load_pipeline("wesad_live")  # the relative checkpoint leads to the shipped one
    assert pipeline.path == PIPELINES_DIR / "wesad_live.yaml"
    assert pipeline.checkpoint_path == CHECKPOINTS_DIR / "helo_wesad_e4.pt"
    # a path is a path, shipped name or not
    assert find_pipeline("./wesad_live") == Path("./wesad_live")
    assert find_pipeline("wesad_live.yaml") == Path("wesad_live.yaml")


def test_a_file_here_wins_over_a_shipped_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wesad_live").write_text("name: local\n")
    assert find_pipeline("wesad_live") == Path("wesad_live")


def test_an_unknown_name_lists_the_shipped_pipelines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"file not found.*no shipped pipeline.*wesad_live"):
        load_pipeline("no_such_pipeline")


def test_a_pipeline_elsewhere_finds_profiles_by_name(tmp_path: Path) -> None:
    config = yaml.safe_load((PIPELINES_DIR / "wesad_live.yaml").read_text())
    config["model"]["checkpoint"] = "../model.pt"  # relative to the pipeline file
    (tmp_path / "model.pt").write_bytes(b"x")
    path = tmp_path / "elsewhere" / "p.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(config))
    pipeline = load_pipeline(path)
    assert pipeline.profiles["wrist"].name == "empatica_e4"  # devices/empatica_e4.yaml
    assert pipeline.checkpoint_path == (tmp_path / "model.pt").resolve()


def test_demo_is_the_shipped_recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    demo = find_recording("demo")
    assert demo == RECORDINGS_DIR / "demo" / "S0"
    assert (demo / "S0_E4_Data" / "BVP.csv").is_file()
    assert find_recording("some/where") == Path("some/where")
    (tmp_path / "demo").mkdir()  # a recording folder here keeps its name
    assert find_recording("demo") == Path("demo")
