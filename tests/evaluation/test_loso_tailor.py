"""TAILOR in the LOSO comparison: same folds, both tasks scored, both in the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helo_stream.evaluation.loso import (
    FOREST,
    MULTILABEL_METRICS,
    REFERENCES,
    majority_sets,
    run_loso,
)
from helo_stream.evaluation.report import write_report
from helo_stream.metrics.multilabel import multilabel_metrics
from helo_stream.training.fitting import FitSettings
from tests.evaluation.conftest import synthetic_presence

FAST = FitSettings(
    epochs=2, batch_size=64, train_stride=2, val_fraction=0.34, patience=None, ensemble=1
)


def test_majority_sets() -> None:
    y = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 1], [1, 0, 0]], dtype=bool)
    assert majority_sets(y).tolist() == [True, False, True]


@pytest.mark.slow
def test_tailor_rows_on_both_tasks(subjects, pipeline, tmp_path) -> None:
    subjects = subjects[:3]
    presence = synthetic_presence(subjects, pipeline.labels)
    result = run_loso(
        subjects, pipeline, settings=FAST, methods=["helo", "tailor"], multilabel=presence
    )
    usable = ["S1", "S2", "S3"]
    assert result.methods == ["helo", "tailor", FOREST, *REFERENCES]
    assert list(result.per_subject) == usable
    # TAILOR's normalised scores are scored with the distribution measures beside HeLo.
    assert set(result.per_subject["S1"]["tailor"]) == set(result.per_subject["S1"]["helo"])
    assert result.multilabel_methods == [
        "helo",
        "tailor",
        FOREST,
        *REFERENCES,
        "presence_majority",
        "condition_presence_oracle",
    ]
    assert "1/L" in result.multilabel_rules["helo"]
    assert "threshold" in result.multilabel_rules["tailor"]
    for subject in usable:
        for m in result.multilabel_methods:
            scores = result.per_subject_multilabel[subject][m]
            assert set(scores) == set(MULTILABEL_METRICS)
            assert all(0.0 <= v <= 1.0 for v in scores.values())
    # The trivial multi-label reference is recomputed here from the other subjects only.
    s1 = next(s for s in subjects if s.subject == "S1")
    others = np.concatenate([presence[s.subject][s.session.labelled] for s in subjects[1:3]])
    y = presence["S1"][s1.session.labelled]
    want = multilabel_metrics(y, np.tile(majority_sets(others), (len(y), 1)))
    got = result.per_subject_multilabel["S1"]["presence_majority"]
    assert got["jaccard_accuracy"] == pytest.approx(want["jaccard_accuracy"])
    # two training subjects per fold: no early-stopping split, every epoch runs
    assert result.fold_info["S1"]["tailor"]["epochs_run"] == FAST.epochs

    paths = write_report(result, tmp_path, name="r", title="t", command="cmd", figure=False)
    data = json.loads(paths["json"].read_text())
    ml = data["multilabel"]
    assert ml["methods"] == result.multilabel_methods
    assert set(ml["tailor_vs_helo"]) >= {"kl_divergence", "jaccard_accuracy", "hamming_loss"}
    md = paths["md"].read_text()
    assert "## Multi-label task: which emotions are present" in md
    assert "| TAILOR (multi-label) |" in md and "Majority label set (trivial)" in md
    assert "## TAILOR against HeLo on both tasks" in md
