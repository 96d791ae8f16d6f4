"""Writers for small recordings in the WESAD layouts, so the readers are tested on files.

Helpers are handed to tests through the ``wf`` fixture (not imported), so this works with any
pytest import mode and beside the other folders' conftest modules.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
WESAD_E4 = SHARED_DATA / "wesad_e4"
XDF_DIR = SHARED_DATA / "xdf"

E4_START = 1600000000.0

#: A 24-item PANAS line and the 26-item one given after TSST.
PANAS_24 = "2;1;3;2;1;2;1;1;1;2;2;1;2;1;3;1;2;3;1;1;1;1;3;1"
PANAS_26 = "4;4;3;2;3;2;1;3;2;2;1;3;2;2;5;4;3;4;4;3;4;3;1;2;3;1"


def quest_text(
    order: tuple[str, ...] = ("Base", "TSST", "Medi 1", "Fun", "Medi 2", "sRead"),
    start: tuple[str, ...] = ("0.10", "0.40", "1.05", "1.25", "1.45", "0.35"),
    end: tuple[str, ...] = ("0.30", "0.55", "1.2", "1.4", "2", "0.38"),
    panas: tuple[str, ...] | None = None,
) -> str:
    """A ``SX_quest.csv`` in WESAD's format (PANAS per condition, 26 items after TSST)."""
    if panas is None:
        panas = tuple(PANAS_26 if n == "TSST" else PANAS_24 for n in order if "Read" not in n)
    pad = ";" * 20
    lines = [
        f"# Subj;SX{pad}",
        "# ORDER;" + ";".join(order) + pad,
        "# START;" + ";".join(start) + pad,
        "# END;" + ";".join(end) + pad,
        ";" * 26,
        *[f"# PANAS;{p};;" for p in panas],
        ";" * 26,
        "# STAI;3;2;1;4;2;3" + pad,
    ]
    return "\n".join(lines) + "\n"


def write_e4_csv(path: Path, values: np.ndarray, rate: float, start: float = E4_START) -> None:
    """An E4 export file: start and rate once per column, then the samples."""
    body = np.asarray(values).reshape(len(values), -1)
    cols = body.shape[1]
    with path.open("w") as fh:
        fh.write(", ".join([f"{start:.6f}"] * cols) + "\n")
        fh.write(", ".join([f"{rate:.6f}"] * cols) + "\n")
        np.savetxt(
            fh, body, fmt="%d" if np.issubdtype(body.dtype, np.integer) else "%.6f", delimiter=","
        )


@pytest.fixture
def make_e4_folder(tmp_path: Path) -> Callable[..., Path]:
    """``make_e4_folder(subject, seconds, quest=...)`` -> a small ``SX/`` folder."""

    def make(subject: str = "S99", seconds: int = 60, quest: str | None = None) -> Path:
        rng = np.random.default_rng(7)
        folder = tmp_path / subject
        data = folder / f"{subject}_E4_Data"
        data.mkdir(parents=True)
        acc = np.round(rng.normal(0, 1, (seconds * 32, 3)) + np.array([10, -20, 60])).astype(int)
        write_e4_csv(data / "ACC.csv", acc, 32)
        write_e4_csv(data / "BVP.csv", rng.normal(0, 30, seconds * 64), 64)
        write_e4_csv(data / "EDA.csv", 1 + rng.random(seconds * 4), 4)
        write_e4_csv(data / "TEMP.csv", 33 + rng.random(seconds * 4), 4)
        (data / "HR.csv").write_text("garbage that must be ignored\n")
        if quest is not None:
            (folder / f"{subject}_quest.csv").write_text(quest)
        return folder

    return make


def wesad_pickle_dict(
    subject: str = "S98", seconds: int = 12, labels: list[tuple[int, float]] | None = None
) -> dict:
    """The ``SX.pkl`` layout (readme II.3) with tiny arrays; ``labels`` = (id, seconds) runs."""
    rng = np.random.default_rng(3)
    n = seconds * 700
    chest = {
        "ACC": rng.normal(0, 0.1, (n, 3)),
        "ECG": rng.normal(0, 1, (n, 1)),
        "EDA": rng.random((n, 1)) + 2,
        "EMG": rng.normal(0, 0.01, (n, 1)),
        "RESP": rng.normal(0, 2, (n, 1)),
        "Temp": 33 + rng.random((n, 1)),
    }
    wrist = {
        "ACC": rng.integers(-64, 64, (seconds * 32, 3)).astype(float),
        "BVP": rng.normal(0, 30, (seconds * 64, 1)),
        "EDA": rng.random((seconds * 4, 1)),
        "TEMP": 32 + rng.random((seconds * 4, 1)),
    }
    if labels is None:
        labels = [(0, 1), (1, 3), (0, 1), (2, 2), (0, 0.5), (4, 1), (3, 1.5), (4, 1), (6, 1)]
    label = np.concatenate([np.full(int(d * 700), v) for v, d in labels]).astype(np.int32)
    label = np.concatenate([label, np.zeros(max(0, n - len(label)), np.int32)])[:n]
    return {"subject": subject, "signal": {"chest": chest, "wrist": wrist}, "label": label}


def write_pickle(path: Path, obj: object, *, python2_names: bool = True) -> Path:
    """Pickle ``obj`` like WESAD's Python-2 files (protocol 2, ``numpy.core`` module names)."""
    raw = pickle.dumps(obj, protocol=2)
    if python2_names:
        raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path.write_bytes(raw)
    return path


@pytest.fixture
def wf() -> SimpleNamespace:
    """The file writers and constants above."""
    return SimpleNamespace(
        E4_START=E4_START,
        PANAS_24=PANAS_24,
        PANAS_26=PANAS_26,
        quest_text=quest_text,
        write_e4_csv=write_e4_csv,
        wesad_pickle_dict=wesad_pickle_dict,
        write_pickle=write_pickle,
    )


@pytest.fixture(scope="session")
def wesad_root() -> Path:
    """The real WESAD E4 subjects in ``../shared/data``; skips when absent."""
    if not (WESAD_E4 / "S2" / "S2_E4_Data").is_dir():
        pytest.skip(f"real WESAD E4 data not available at {WESAD_E4}")
    return WESAD_E4


@pytest.fixture(scope="session")
def xdf_dir() -> Path:
    """The XDF example files in ``../shared/data/xdf``; skips when absent."""
    if not (XDF_DIR / "minimal.xdf").is_file():
        pytest.skip(f"XDF example files not available at {XDF_DIR}")
    return XDF_DIR


@pytest.fixture(scope="session")
def demo_folder() -> Path:
    return REPO_ROOT / "recordings" / "demo" / "S0"
