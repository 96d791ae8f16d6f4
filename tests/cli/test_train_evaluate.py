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
from helo_stream.cli.evaluate import checkpoint_result
from helo_stream.config import load_pipeline
from helo_stream.datasets.subjects import load_subjects
from helo_stream.evaluation.decoding import DECODING_METRICS
from helo_stream.evaluation.forest import fit_forest_on_subjects
from helo_stream.evaluation.loso import per_window_metrics
from helo_stream.models import load_checkpoint
from helo_stream.pipeline.features import WindowFeaturizer
from helo_stream.pipeline.model_stage import checkpoint_problems
from helo_stream.training.fitting import FitSettings, fit_model, predict_session

REPO = Path(__file__).resolve().parents[2]
SUBJECTS = ("S1", "S2", "S3", "S4")
FOREST_TITLE = "Random forest → condition means (classical reference)"


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
        "train",
        str(workspace["pipeline"]),
        "--data",
        str(workspace["data"]),
        "--out",
        str(workspace["root"] / "out"),
        "--cache-dir",
        str(workspace["cache"]),
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
        "helo",
        subjects,
        pipeline,
        settings=FitSettings.from_pipeline(pipeline, epochs=1),
        checkpoint_dir=state,
    )
    # HeLo trains training.ensemble networks, each with its own resumable state.
    members = pipeline.config.training.ensemble
    assert members > 1
    assert all((state / f"member{k}" / "train_state.pt").is_file() for k in range(members))
    code, out = _invoke(
        "train",
        str(with_data),
        "--out",
        str(out_dir),
        "--cache-dir",
        str(workspace["cache"]),
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
        "evaluate",
        str(workspace["pipeline"]),
        "--data",
        str(workspace["data"]),
        "--out",
        str(report_dir),
        "--cache-dir",
        str(workspace["cache"]),
        "--no-progress",
    )
    assert code == 0, out
    data = json.loads((report_dir / "eval_data.json").read_text())
    assert data["methods"] == ["helo", "random_forest", "population_mean", "condition_oracle"]
    assert list(data["per_subject"]) == list(SUBJECTS)
    assert len(data["summary"]["helo"]) == 6
    assert len(data["summary"]["random_forest"]) == 6
    assert any("IN-SAMPLE" in note for note in data["notes"])
    (note,) = [n for n in data["notes"] if n.startswith("Random forest")]
    assert "S1, S2, S3, S4; 4 of 4" in note and "Not in --data" not in note
    assert data["timings"]["fit_seconds_total"]["random_forest"] > 0
    assert [a["used"] for a in data["alignment"]] == [True] * 4 + [False]
    assert (report_dir / "eval_data.png").stat().st_size > 10_000
    dec = data["decoding"]
    assert dec["methods"] == data["methods"]
    assert set(dec["per_subject"]["S1"]["random_forest"]) == set(DECODING_METRICS)
    assert "helo_vs_random_forest" in dec["paired"]
    # The condition oracle outputs the checkpoint's condition means: decoded perfectly.
    assert dec["summary"]["condition_oracle"]["condition_balanced_accuracy"]["mean"] == 1.0
    md = (report_dir / "eval_data.md").read_text()
    assert "| S3 |" in md
    assert f"| {FOREST_TITLE} |" in md.split("## Results")[1].split("## Gap closed")[0]
    assert "## Decoding: do the distributions separate the protocol conditions?" in md
    assert "### HeLo against the random forest on decoding" in md


def test_evaluate_one_subject_folder(
    workspace: dict[str, Path], trained: dict[str, object]
) -> None:
    report_dir = workspace["root"] / "one"
    code, out = _invoke(
        "evaluate",
        str(workspace["pipeline"]),
        "--checkpoint",
        str(trained["checkpoint"]),
        "--data",
        str(workspace["data"] / "S2"),
        "--out",
        str(report_dir),
        "--cache-dir",
        str(workspace["cache"]),
        "--no-progress",
    )
    assert code == 0, out
    data = json.loads((report_dir / "eval_S2.json").read_text())
    assert list(data["per_subject"]) == ["S2"]
    # Only S2 of the checkpoint's training subjects is at --data: the forest is fitted on it.
    assert "random_forest" in data["methods"]
    (note,) = [n for n in data["notes"] if n.startswith("Random forest")]
    assert "(S2; 1 of 4)" in note and "Not in --data, so not fitted on: S1, S3, S4." in note


def test_checkpoint_forest_is_fitted_as_documented(
    workspace: dict[str, Path], trained: dict[str, object]
) -> None:
    """Checkpoint normaliser, fit seed and stride, the checkpoint's condition means."""
    pipeline = load_pipeline(workspace["pipeline"])
    predictor = load_checkpoint(trained["checkpoint"])
    subjects = load_subjects(workspace["data"], pipeline, cache_dir=workspace["cache"])
    result = checkpoint_result(predictor, subjects, pipeline, checkpoint=trained["checkpoint"])
    meta = predictor.metadata
    means = {c: np.asarray(v) for c, v in meta["condition_mean_distributions"].items()}
    forest = fit_forest_on_subjects(
        [s for s in subjects if s.usable],
        predictor.new_normalizer(),
        means,
        stride=meta["fit_settings"]["train_stride"],
        seed=meta["fit_settings"]["seed"],
        modalities=list(predictor.feature_names),
    )
    for s in subjects:
        if not s.usable:
            continue
        pred = forest.predict_session(s.session, predictor.new_normalizer())
        y = s.session.targets[s.session.labelled]
        for k, v in per_window_metrics(y, pred).items():
            assert result.per_subject[s.subject]["random_forest"][k] == pytest.approx(v.mean())


def test_checkpoint_without_its_training_subjects_leaves_the_forest_out(
    workspace: dict[str, Path], trained: dict[str, object]
) -> None:
    pipeline = load_pipeline(workspace["pipeline"])
    predictor = load_checkpoint(trained["checkpoint"])
    subjects = load_subjects(workspace["data"], pipeline, cache_dir=workspace["cache"])
    predictor.metadata["train_subjects"] = ["X1", "X2"]  # trained on people not at --data
    result = checkpoint_result(predictor, subjects, pipeline, checkpoint=trained["checkpoint"])
    assert result.methods == ["helo", "population_mean", "condition_oracle"]
    assert not any("IN-SAMPLE" in n for n in result.notes)
    (note,) = [n for n in result.notes if n.startswith("Random forest")]
    assert "left out" in note and "X1, X2" in note
    assert set(result.per_subject_decoding["S1"]) == set(result.methods)
    # No condition means stored: no forest, and no nearest-condition-mean accuracy.
    del predictor.metadata["condition_mean_distributions"]
    predictor.metadata["train_subjects"] = list(SUBJECTS)
    result = checkpoint_result(predictor, subjects, pipeline, checkpoint=trained["checkpoint"])
    assert result.methods == ["helo"]
    assert any("stores no condition means" in n for n in result.notes)
    assert result.per_subject_decoding["S1"]["helo"]["condition_balanced_accuracy"] is None


def test_evaluate_loso_compares_every_method(workspace: dict[str, Path]) -> None:
    report_dir = workspace["root"] / "loso"
    code, out = _invoke(
        "evaluate",
        str(workspace["pipeline"]),
        "--data",
        str(workspace["data"]),
        "--out",
        str(report_dir),
        "--loso",
        "--methods",
        "helo,mlp",
        "--epochs",
        "1",
        "--cache-dir",
        str(workspace["cache"]),
        "--no-progress",
    )
    assert code == 0, out
    data = json.loads((report_dir / "loso_data.json").read_text())
    assert data["kind"] == "loso"
    assert data["methods"] == [
        "helo",
        "mlp",
        "random_forest",
        "population_mean",
        "condition_oracle",
    ]
    assert set(data["gap_closed"]) == {"helo", "mlp", "random_forest"}
    assert list(data["per_subject"]) == list(SUBJECTS)
    for fold in data["fold_info"].values():
        assert fold["helo"]["epochs_run"] == 1
        assert fold["random_forest"]["n_fit_windows"] > 0
    assert set(data["timings"]["fit_seconds_per_fold"]["random_forest"]) == set(SUBJECTS)
    assert data["decoding"]["methods"] == data["methods"]
    assert "random_forest" in data["multilabel"]["methods"]
    md = (report_dir / "loso_data.md").read_text()
    assert "--loso" in md and "## Decoding" in md and f"| {FOREST_TITLE} |" in md
    assert "random_forest" in out  # the forest tasks are logged like the fits


def test_evaluate_missing_checkpoint_is_one_error_line(workspace: dict[str, Path]) -> None:
    code, out = _invoke(
        "evaluate",
        str(workspace["pipeline"]),
        "--checkpoint",
        "/nonexistent/x.pt",
        "--data",
        str(workspace["data"] / "S1"),
        "--out",
        str(workspace["root"] / "x"),
        "--cache-dir",
        str(workspace["cache"]),
        "--no-progress",
    )
    assert code == 2 and out.startswith("error:") and "x.pt" in out
