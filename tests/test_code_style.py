"""The code base stays ruff-clean and ruff-formatted (the rules live in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: What ruff checks and formats: every Python file of the project.
PATHS = ["helo_stream", "tests", "benchmarks", "scripts", "setup.py"]


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    return subprocess.run([ruff, *args, *PATHS], cwd=REPO, capture_output=True, text=True)


def test_ruff_check_is_clean() -> None:
    result = _ruff("check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_applied() -> None:
    result = _ruff("format", "--check")
    assert result.returncode == 0, (
        "files need `ruff format` (run it on the files you changed):\n"
        + result.stdout
        + result.stderr
    )
