"""``helo-stream train`` and ``evaluate`` with a TAILOR pipeline, on small generated E4
recordings (the same workspace as ``test_train_evaluate.py``): presence targets are read from
the questionnaires, the checkpoint is multi-label, the report scores the multi-label task."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from helo_stream.config import load_pipeline
from helo_stream.datasets.multilabel import ratings_to_multilabel
from helo_stream.datasets.subjects import load_subjects
from helo_stream.models import load_checkpoint
from helo_stream.recordings import load_recording
from helo_stream.training.fitting import multilabel_targets
from tests.cli.test_train_evaluate import SUBJECTS, _invoke, workspace  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tailor_pipeline(workspace: dict[str, Path]) -> Path:  # noqa: F811
    config = yaml.safe_load(workspace["pipeline"].read_text())
    config["model"]["name"] = "tailor"
    config["model"]["checkpoint"] = "out/tailor_test.pt"
    # A fixed threshold (not chosen on validation), so the checkpoint must keep exactly it.
    config["model"]["tailor"] = {
        "d_model": 16,
        "threshold": 0.4,
        "threshold_from_validation": False,
        "present_min_rating": 4,
    }
    path = workspace["root"] / "tailor_pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_presence_targets_come_from_the_questionnaire(
    workspace: dict[str, Path],  # noqa: F811
    tailor_pipeline: Path,
) -> None:
    pipeline = load_pipeline(tailor_pipeline, check_checkpoint=False)
    subject = load_subjects(workspace["data"] / "S1", pipeline, cache_dir=workspace["cache"])[0]
    y = multilabel_targets([subject], pipeline.labels, min_rating=4)["S1"]
    recording = load_recording(workspace["data"] / "S1")
    session = subject.session
    for interval in recording.conditions:
        if interval.ratings is None:
            continue
        want = ratings_to_multilabel(interval.ratings, pipeline.labels, min_rating=4)
        rows = session.labelled & (session.condition == interval.condition)
        rows &= np.all(
            np.isclose(
                session.targets,
                np.array([interval.ratings[k] for k in pipeline.labels])
                / sum(interval.ratings[k] for k in pipeline.labels),
            ),
            axis=1,
        )
        assert rows.any()
        assert (y[rows] == want).all()
    assert not y[~session.labelled].any()


def test_train_and_evaluate_a_tailor_checkpoint(
    workspace: dict[str, Path],  # noqa: F811
    tailor_pipeline: Path,
) -> None:
    out_dir = workspace["root"] / "out"
    code, out = _invoke(
        "train",
        str(tailor_pipeline),
        "--data",
        str(workspace["data"]),
        "--out",
        str(out_dir),
        "--cache-dir",
        str(workspace["cache"]),
        "--no-progress",
    )
    assert code == 0, out
    assert "training tailor" in out
    predictor = load_checkpoint(out_dir / "tailor_test.pt")
    assert predictor.multilabel and predictor.threshold == pytest.approx(0.4)
    meta = predictor.metadata
    assert meta["method"] == "tailor" and meta["present_min_rating"] == 4
    assert meta["train_subjects"] == list(SUBJECTS)
    assert len(meta["label_prevalence"]) == len(predictor.labels)
    assert "rated >= 4" in meta["labels_source"]

    code, out = _invoke(
        "train",
        str(tailor_pipeline),
        "--data",
        str(workspace["data"]),
        "--out",
        str(out_dir),
        "--method",
        "helo",
        "--no-progress",
        "--cache-dir",
        str(workspace["cache"]),
    )
    assert code == 2 and "does not fit the pipeline's model.name" in out

    report_dir = workspace["root"] / "tailor_report"
    code, out = _invoke(
        "evaluate",
        str(tailor_pipeline),
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
    assert data["methods"] == ["tailor", "random_forest", "population_mean", "condition_oracle"]
    ml = data["multilabel"]
    assert ml["methods"] == ["tailor", "presence_majority", "condition_presence_oracle"]
    assert list(ml["per_subject"]) == list(SUBJECTS)
    assert set(ml["per_subject"]["S1"]["tailor"]) >= {"jaccard_accuracy", "hamming_loss"}
    md = (report_dir / "eval_data.md").read_text()
    assert "## Multi-label task" in md and "presence score >= 0.4" in md
