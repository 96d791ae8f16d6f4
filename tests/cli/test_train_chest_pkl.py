"""Training the RespiBAN + E4 pipeline on synchronised WESAD ``SX.pkl`` files.

The real chest data is not public outside Git LFS, so the pickles are generated here in the
readme's layout (section II.3), with NeuroKit2-simulated signals so every stage has real work.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from helo_stream.cli import main
from helo_stream.config import PIPELINES_DIR, load_pipeline
from helo_stream.models.checkpoint import load_checkpoint
from helo_stream.pipeline.features import WindowFeaturizer

pytestmark = pytest.mark.timeout(240)

#: label id and duration (s) of each run: transient, baseline, transient, stress, transient
RUNS = ((0, 5), (1, 75), (0, 5), (2, 75), (0, 5))
PANAS = (
    "1;2;3;1;1;2;1;1;1;2;2;1;2;1;3;1;2;3;1;1;1;1;3;1",  # baseline: 24 items
    "4;3;3;2;3;2;1;3;1;2;1;3;2;1;4;4;3;4;3;2;5;3;1;3;2;1",  # stress: 26 (Angry, Irritated)
)


def _quest() -> str:
    pad = ";" * 20
    return (
        "\n".join(
            [
                f"# Subj;SX{pad}",
                f"# ORDER;Base;TSST{pad}",
                f"# START;0.05;1.25{pad}",
                f"# END;1.20;2.40{pad}",
                ";" * 26,
                *[f"# PANAS;{p};;" for p in PANAS],
                ";" * 26,
            ]
        )
        + "\n"
    )


def _subject(folder: Path, subject: str, seed: int) -> None:
    import neurokit2 as nk

    rng = np.random.default_rng(seed)
    seconds = sum(d for _, d in RUNS)
    label = np.concatenate([np.full(d * 700, v) for v, d in RUNS]).astype(np.int32)
    hr = np.where(label == 2, 95, 65)[:: 700 * 5]  # per 5 s
    ecg = np.concatenate(
        [
            nk.ecg_simulate(duration=5, sampling_rate=700, heart_rate=h, random_state=seed + i)
            for i, h in enumerate(hr)
        ]
    )
    n = seconds * 700
    chest = {
        "ACC": 0.02 * rng.standard_normal((n, 3)) + np.array([0.0, 0.0, 1.0]),
        "ECG": ecg[:n, None],
        "EDA": (5 + np.cumsum(rng.normal(0, 1e-3, n)) + 0.5 * (label == 2))[:, None],
        "EMG": 0.01 * rng.standard_normal((n, 1)),
        "RESP": nk.rsp_simulate(
            duration=seconds, sampling_rate=700, respiratory_rate=14, random_state=seed
        )[:n, None],
        "Temp": (33 + 0.001 * np.arange(n) / 700)[:, None],
    }
    wrist = {
        "ACC": rng.integers(-2, 3, (seconds * 32, 3)).astype(float) + np.array([0, 0, 64]),
        "BVP": nk.ppg_simulate(
            duration=seconds, sampling_rate=64, heart_rate=70, random_state=seed
        )[: seconds * 64, None],
        "EDA": (1 + 0.2 * (label[::175] == 2))[:, None].astype(float),
        "TEMP": (32 + 0.01 * rng.standard_normal((seconds * 4, 1))),
    }
    raw = {"subject": subject, "signal": {"chest": chest, "wrist": wrist}, "label": label}
    (folder / subject).mkdir(parents=True)
    (folder / subject / f"{subject}.pkl").write_bytes(pickle.dumps(raw, protocol=2))
    (folder / subject / f"{subject}_quest.csv").write_text(_quest())


def test_chest_pipeline_trains_on_wesad_pickles(tmp_path: Path) -> None:
    data = tmp_path / "WESAD"
    for i, subject in enumerate(("S90", "S91", "S92")):
        _subject(data, subject, seed=i)
    out = tmp_path / "model"
    pipeline_file = PIPELINES_DIR / "wesad_chest_live.yaml"
    result = CliRunner().invoke(
        main,
        ["train", str(pipeline_file), "--data", str(data), "--out", str(out), "--epochs", "2"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    checkpoints = sorted(out.glob("*.pt"))
    assert checkpoints, result.output
    predictor = load_checkpoint(checkpoints[0])
    pipeline = load_pipeline(pipeline_file, check_checkpoint=False)
    assert predictor.feature_names == WindowFeaturizer.from_pipeline(pipeline).feature_names
    assert set(predictor.feature_names) >= {"ecg", "resp", "emg", "chest_eda", "bvp"}
    assert len(predictor.labels) == 24
