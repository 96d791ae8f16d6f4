"""Point 4: bad configuration, checkpoints and recordings give one clear message, exit 2.

The command line is run in-process with click's ``CliRunner`` (same group, same error mapping
as the installed script; one case runs the real script) and the config loader and recording
readers are fuzzed with hypothesis: whatever the bytes, only ConfigError / RecordingError.
"""

from __future__ import annotations

import contextlib
import pickle
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helo_stream.cli import main
from helo_stream.config import ConfigError, load_pipeline
from helo_stream.recordings import load_recording
from helo_stream.recordings.base import RecordingError

from .conftest import BASE_PIPELINE, DEMO, E4_PROFILE, REPO, run_cli

pytestmark = pytest.mark.timeout(120)

XDF_DIR = REPO.parent / "shared" / "data" / "xdf"


def _config() -> dict:
    config = yaml.safe_load(BASE_PIPELINE.read_text())
    config["model"]["checkpoint"] = str(BASE_PIPELINE.parent / config["model"]["checkpoint"])
    config["devices"]["wrist"]["profile"] = str(E4_PROFILE)
    return config


def _write(tmp_path: Path, config: dict | str) -> Path:
    path = tmp_path / f"p-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return path


def _expect_clean_failure(args: list[str], *needles: str) -> str:
    result = CliRunner().invoke(main, args)
    output = result.output
    assert result.exit_code == 2, output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert "Traceback" not in output
    assert sum(line.startswith("error:") for line in output.splitlines()) == 1, output
    for needle in needles:
        assert needle in output, output
    return output


def _mutated(change) -> dict:
    config = _config()
    change(config)
    return config


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        (lambda c: c["window"].update(length_s="long"), ["window.length_s"]),
        (lambda c: c.update(colour="blue"), ["colour"]),
        (lambda c: c["modalities"]["eda"].update(stream="nope"), ["nope"]),
        (lambda c: c["model"].update(checkpoint="/nonexistent/model.pt"), ["model.checkpoint"]),
        (lambda c: c["model"].update(labels=["calm", "tense"]), ["model.labels"]),
        (lambda c: c["modalities"].pop("acc"), ["modalities", "acc"]),
        (lambda c: c["publisher"].update(address="tcp://0.0.0.0:5599"), ["CURVE"]),
    ],
    ids=[
        "wrong-type",
        "unknown-key",
        "unknown-stream",
        "no-checkpoint",
        "labels",
        "modalities",
        "open-without-curve",
    ],
)
def test_bad_pipeline_is_one_clear_error(tmp_path: Path, change, needles) -> None:
    path = _write(tmp_path, _mutated(change))
    _expect_clean_failure(["run", str(path), "--quiet"], *needles)


def test_malformed_yaml_through_the_real_script(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: broken\ndevices: [unclosed\n")
    result = run_cli("run", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error:") and str(path) in result.stderr


def test_corrupt_checkpoint(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    path = _write(tmp_path, _mutated(lambda c: c["model"].update(checkpoint=str(bad))))
    _expect_clean_failure(["run", str(path)], "not a readable helo-stream checkpoint")


def _truncated_e4(tmp_path: Path) -> Path:
    subject = tmp_path / "S0"
    shutil.copytree(DEMO, subject)
    eda = subject / "S0_E4_Data" / "EDA.csv"
    eda.write_bytes(eda.read_bytes()[:14])  # the start time, cut mid-line
    return subject


def _garbled_e4(tmp_path: Path) -> Path:
    subject = tmp_path / "S0"
    shutil.copytree(DEMO, subject)
    (subject / "S0_E4_Data" / "BVP.csv").write_text("1717228800\n64\nabc\n1.0\n\x00\xff\n")
    return subject


def _truncated_pkl(tmp_path: Path) -> Path:
    data = {"signal": {"wrist": {"EDA": np.zeros((10, 1))}, "chest": {}}, "label": np.zeros(3)}
    path = tmp_path / "S9" / "S9.pkl"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps(data)[:-20])
    return path


def _truncated_xdf(tmp_path: Path) -> Path:
    source = XDF_DIR / "minimal.xdf"
    if not source.is_file():
        pytest.skip(f"{source} not available")
    path = tmp_path / "cut.xdf"
    path.write_bytes(source.read_bytes()[:300])
    return path


@pytest.mark.parametrize(
    "make",
    [_truncated_e4, _garbled_e4, _truncated_pkl, _truncated_xdf],
    ids=["e4-truncated", "e4-garbled", "pkl-truncated", "xdf-truncated"],
)
def test_corrupt_recording_is_one_clear_error(tmp_path: Path, make) -> None:
    recording = make(tmp_path)
    with pytest.raises(RecordingError):
        load_recording(recording)
    _expect_clean_failure(["replay", str(recording), "--no-progress"], str(recording.name))


# -- fuzzing --------------------------------------------------------------------------------

_FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12)
)
_yaml_values = st.recursive(
    _yaml_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@_FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_config_loader_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError):
        load_pipeline(path, check_checkpoint=False)


@_FUZZ
@given(
    key=st.sampled_from(
        ["window", "devices", "modalities", "model", "publisher", "name", "training", "subject"]
    ),
    value=_yaml_values,
)
def test_fuzz_config_loader_structure(tmp_path: Path, key: str, value: object) -> None:
    """The real pipeline with one section replaced by arbitrary YAML data."""
    config = _config()
    config[key] = value
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(config))
    with contextlib.suppress(ConfigError):
        load_pipeline(path, check_checkpoint=False)


@_FUZZ
@given(data=st.binary(max_size=600), cut=st.integers(min_value=0, max_value=2000))
def test_fuzz_xdf_reader(tmp_path: Path, data: bytes, cut: int) -> None:
    source = XDF_DIR / "minimal.xdf"
    prefix = source.read_bytes()[:cut] if source.is_file() else b"XDF:"
    path = tmp_path / "fuzz.xdf"
    path.write_bytes(prefix + data)
    with contextlib.suppress(RecordingError):
        load_recording(path)


@_FUZZ
@given(data=st.binary(max_size=400))
@example(data=b"\x95\x00\x00\x00\x00\x00\x00\x00\x80")  # a huge frame: was OverflowError
def test_fuzz_pkl_reader(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "S7.pkl"
    path.write_bytes(data)
    with pytest.raises(RecordingError):
        load_recording(path)


@_FUZZ
@given(
    stream=st.sampled_from(["ACC.csv", "BVP.csv", "EDA.csv", "TEMP.csv", "../S0_quest.csv"]),
    data=st.binary(max_size=300) | st.text(alphabet="0123456789.,;-e\nnaNinf ", max_size=300),
)
def test_fuzz_wesad_e4_reader(tmp_path_factory, stream: str, data: bytes | str) -> None:
    subject = tmp_path_factory.mktemp("e4") / "S0"
    shutil.copytree(DEMO, subject)
    target = subject / "S0_E4_Data" / stream
    if isinstance(data, str):
        target.write_text(data)
    else:
        target.write_bytes(data)
    with contextlib.suppress(RecordingError):
        load_recording(subject)
