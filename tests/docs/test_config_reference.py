"""docs/pipeline_reference.md is exactly what scripts/make_config_reference.py generates."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from helo_stream.config.pipeline import PipelineConfig

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "make_config_reference.py"
REFERENCE = REPO / "docs" / "pipeline_reference.md"


def _generator():
    spec = importlib.util.spec_from_file_location("make_config_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_reference_matches_the_models() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == _generator().render(), (
        "docs/pipeline_reference.md is stale: run python scripts/make_config_reference.py"
    )


def test_reference_lists_every_field_of_every_model() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    for model in _generator()._models():
        assert f"## {model.__name__}" in text
        for name in model.model_fields:
            assert f"| `{name}` |" in text, f"{model.__name__}.{name}"
    assert f"## {PipelineConfig.__name__}" in text
    assert "| `length_s` | number | `60.0` | > 0 | Window length L in seconds. |" in text


def test_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "reference.md"
    stale.write_text(REFERENCE.read_text(encoding="utf-8").replace("60.0", "61.0"))
    check = [sys.executable, str(SCRIPT), "--check", "--out"]
    assert subprocess.run([*check, str(stale)], capture_output=True).returncode == 1
    assert subprocess.run([*check, str(REFERENCE)], capture_output=True).returncode == 0
