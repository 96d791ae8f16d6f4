"""``helo-stream train`` and ``evaluate`` end to end on small generated E4 recordings.

Recordings come from the demo generator (``scripts/make_demo_recording.py``: NeuroKit2 PPG and
EDA simulators, a double tap at the chest start) with a different seed and perturbed ratings per
subject; a fifth subject's protocol is longer than its recording, so its alignment fails and it
must be reported, not used. The test pipeline is the shipped one with 30 s windows and a 3 s
training step to stay fast.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from helo_stream.cli import main
from helo_stream.config import load_pipeline
from helo_stream.datasets.wesad import load_subjects
from helo_stream.evaluation.fitting import FitSettings, fit_model, predict_session
from helo_stream.models import load_checkpoint
from helo_stream.pipeline.features import WindowFeaturizer
from helo_stream.pipeline.model_stage import checkpoint_problems

REPO = Path(__file__).resolve().parents[2]
SUBJECTS = ("S1", "S2", "S3", "S4")


def _demo_module() -> object:
    spec = importlib.util.spec_from_file_location(
        "_helo_demo_generator", REPO / "scripts" / "make_demo_recording.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train_eval")
    data = root / "data"
    demo = _demo_module()
    panas = {k: list(v) for k, v in demo.PANAS.items()}
    for i, name in enumerate([*SUBJECTS, "S5"], start=1):
        rng = np.random.default_rng(i)
        demo.SUBJECT, demo.SEED = name, 1000 + i
        demo.PANAS = {
            k: [int(np.clip(r + rng.integers(-1, 2), 1, 5)) for r in v] for k, v in panas.items()
        }
        demo.generate(data)
    quest = data / "S5" / "S5_quest.csv"
    lines = quest.read_text().splitlines()
    lines[3] = lines[3].replace("5.4", "90.4", 1)  # last END: 5:40 -> 90:40, past the recording
    quest.write_text("\n".join(lines) + "\n")
    config = yaml.safe_load((REPO / "pipelines" / "wesad_live.yaml").read_text())
    config["window"]["length_s"] = 30
    config["training"] = {"step_s": 3.0, "epochs": 2, "batch_size": 64, "seed": 3}
    config["model"]["checkpoint"] = "out/helo_test.pt"
    pipeline = root / "test_pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(config))
    return {"root": root, "data": data, "pipeline": pipeline, "cache": root / "cache"}


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def trained(workspace: dict[str, Path]) -> dict[str, object]:
    code, out = _invoke(
        "train", str(workspace["pipeline"]), "--data", str(workspace["data"]),
        "--out", str(workspace["root"] / "out"), "--cache-dir", str(workspace["cache"]),
        "--no-progress",
    )
    assert code == 0, out
    return {"output": out, "checkpoint": workspace["root"] / "out" / "helo_test.pt"}


def test_train_writes_a_checkpoint_the_pipeline_accepts(
    workspace: dict[str, Path], trained: dict[str, object]
) -> None:
    out = trained["output"]
    assert "S5" in out and "NOT USED" in out and "alignment failed" in out
    pipeline = load_pipeline(workspace["pipeline"])  # the checkpoint now exists
    predictor = load_checkpoint(trained["checkpoint"])
    featurizer = WindowFeaturizer.from_pipeline(pipeline)
    assert checkpoint_problems(pipeline, predictor, featurizer.feature_names) == []
    assert predictor.metadata["train_subjects"] == list(SUBJECTS)
    assert "S5" in predictor.metadata["excluded_subjects"]
    assert predictor.new_normalizer().calibration_s == pipeline.config.model.calibration_s
    assert len(predictor.metadata["population_mean_distribution"]) == len(pipeline.labels)
    assert not (workspace["root"] / "out" / ".helo_test.train-state").exists()


def test_offline_predictions_equal_the_live_path(
    workspace: dict[str, Path], trained: dict[str, object]
) -> None:
    """Streaming windows through the normaliser one by one (as the runner does) = offline."""
    pipeline = load_pipeline(workspace["pipeline"])
    predictor = load_checkpoint(trained["checkpoint"])
    subject = load_subjects(workspace["data"] / "S1", pipeline, cache_dir=workspace["cache"])[0]
    offline = predict_session(predictor, subject.session, labelled_only=False)
    table = subject.session.table
    normalizer = predictor.new_normalizer()
    live = []
    for i, t in enumerate(table.window_end):
        feats = {m: table.features[m][i] for m in table.features}
        z = normalizer.transform(feats, t=float(t))
        live.append(predictor.predict(z, present={m: bool(table.present[m][i]) for m in z}))
    np.testing.assert_allclose(np.stack(live), offline, atol=1e-6)
    assert np.allclose(offline.sum(axis=1), 1.0) and np.all(offline >= 0)


def test_train_resumes_an_interrupted_run(workspace: dict[str, Path]) -> None:
    # This pipeline names its recordings in training.data, so train needs no --data.
    config = yaml.safe_load(workspace["pipeline"].read_text())
    config["training"]["data"] = "data"  # relative to the pipeline file
    with_data = workspace["root"] / "with_data.yaml"
    with_data.write_text(yaml.safe_dump(config))
    pipeline = load_pipeline(with_data, check_checkpoint=False)
    subjects = load_subjects(workspace["data"], pipeline, cache_dir=workspace["cache"])
    out_dir = workspace["root"] / "resumed"
    state = out_dir / ".helo_test.train-state"
    # An "interrupted" run: same settings, stopped after epoch 1 with its state saved.
    fit_model(
        "helo", subjects, pipeline, settings=FitSettings.from_pipeline(pipeline, epochs=1),
        checkpoint_dir=state,
    )
    assert (state / "train_state.pt").is_file()
    code, out = _invoke(
        "train", str(with_data), "--out", str(out_dir), "--cache-dir", str(workspace["cache"]),
        "--no-progress",
    )
    assert code == 0, out
    assert "resumed after epoch 1" in out
    assert (out_dir / "helo_test.pt").is_file() and not state.exists()


def test_train_without_data_is_a_usage_error(workspace: dict[str, Path]) -> None:
    code, out = _invoke("train", str(workspace["pipeline"]), "--out", str(workspace["root"]))
    assert code == 2 and "no training data" in out


def test_evaluate_checkpoint_writes_the_report(
    workspace: dict[str, Path], trained: dict[str, object]
) -> None:
    report_dir = workspace["root"] / "report"
    code, out = _invoke(
        "evaluate", str(workspace["pipeline"]), "--data", str(workspace["data"]),
        "--out", str(report_dir), "--cache-dir", str(workspace["cache"]), "--no-progress",
    )
    assert code == 0, out
    data = json.loads((report_dir / "eval_data.json").read_text())
    assert data["methods"] == ["helo", "population_mean", "condition_oracle"]
    assert list(data["per_subject"]) == list(SUBJECTS)
    assert len(data["summary"]["helo"]) == 6
    assert any("IN-SAMPLE" in note for note in data["notes"])
    assert [a["used"] for a in data["alignment"]] == [True] * 4 + [False]
    assert (report_dir / "eval_data.png").stat().st_size > 10_000
    assert "| S3 |" in (report_dir / "eval_data.md").read_text()


def test_evaluate_one_subject_folder(
    workspace: dict[str, Path], trained: dict[str, object]
) -> None:
    report_dir = workspace["root"] / "one"
    code, out = _invoke(
        "evaluate", str(workspace["pipeline"]), "--checkpoint", str(trained["checkpoint"]),
        "--data", str(workspace["data"] / "S2"), "--out", str(report_dir),
        "--cache-dir", str(workspace["cache"]), "--no-progress",
    )
    assert code == 0, out
    data = json.loads((report_dir / "eval_S2.json").read_text())
    assert list(data["per_subject"]) == ["S2"]


def test_evaluate_loso_compares_every_method(workspace: dict[str, Path]) -> None:
    report_dir = workspace["root"] / "loso"
    code, out = _invoke(
        "evaluate", str(workspace["pipeline"]), "--data", str(workspace["data"]),
        "--out", str(report_dir), "--loso", "--methods", "helo,mlp", "--epochs", "1",
        "--cache-dir", str(workspace["cache"]), "--no-progress",
    )
    assert code == 0, out
    data = json.loads((report_dir / "loso_data.json").read_text())
    assert data["kind"] == "loso"
    assert data["methods"] == ["helo", "mlp", "population_mean", "condition_oracle"]
    assert set(data["gap_closed"]) == {"helo", "mlp"}
    assert list(data["per_subject"]) == list(SUBJECTS)
    for fold in data["fold_info"].values():
        assert fold["helo"]["epochs_run"] == 1
    assert "--loso" in (report_dir / "loso_data.md").read_text()


def test_evaluate_missing_checkpoint_is_one_error_line(workspace: dict[str, Path]) -> None:
    code, out = _invoke(
        "evaluate", str(workspace["pipeline"]), "--checkpoint", "/nonexistent/x.pt",
        "--data", str(workspace["data"] / "S1"), "--out", str(workspace["root"] / "x"),
        "--cache-dir", str(workspace["cache"]), "--no-progress",
    )
    assert code == 2 and out.startswith("error:") and "x.pt" in out
