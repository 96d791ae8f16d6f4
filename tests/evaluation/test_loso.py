"""LOSO folds never let a test subject's window into training, selection or references."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import helo_stream.evaluation.loso as loso
import helo_stream.training.fitting as fitting
from helo_stream.config import Pipeline
from helo_stream.datasets.subjects import SubjectData
from helo_stream.evaluation.decoding import DECODING_METRICS
from helo_stream.evaluation.loso import (
    FOREST,
    METRICS,
    REFERENCES,
    loso_folds,
    run_loso,
    sample_windows,
)
from helo_stream.evaluation.report import write_report
from helo_stream.training.fitting import FitSettings, fit_normalizer, training_arrays
from helo_stream.training.references import population_mean

FAST = FitSettings(epochs=1, batch_size=64, train_stride=2, val_fraction=0.34, patience=None)


def test_folds_hold_out_exactly_one_subject() -> None:
    folds = loso_folds(["S2", "S3", "S10"])
    assert [f.test for f in folds] == ["S2", "S3", "S10"]
    for f in folds:
        assert f.test not in f.train
        assert sorted([*f.train, f.test]) == sorted(["S2", "S3", "S10"])
    with pytest.raises(ValueError):
        loso_folds(["S2", "S2"])


def test_training_arrays_take_only_labelled_windows_of_the_given_subjects(
    subjects: list[SubjectData], pipeline: Pipeline
) -> None:
    train = subjects[:2]
    norm = fit_normalizer(train, pipeline)
    feats, present, y, groups, conds = training_arrays(train, norm, stride=4)
    expected = sum(len(np.flatnonzero(s.session.labelled)[::4]) for s in train)
    assert len(y) == len(groups) == len(conds) == expected
    assert set(groups) == {"S1", "S2"}
    assert np.all(np.isfinite(y)) and np.allclose(y.sum(axis=1), 1.0)
    assert all(len(v) == expected for v in [*feats.values(), *present.values()])
    assert "" not in set(conds)


def test_no_test_subject_window_reaches_training(
    subjects: list[SubjectData], pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []
    real_train, real_norm = fitting.train_model, fitting.fit_normalizer

    def spy_train(model: Any, **kwargs: Any) -> Any:
        result = real_train(model, **kwargs)
        seen.append(
            {
                "groups": set(kwargs["groups"]),
                "val": set(map(str, result.val_groups)),
                "n": len(kwargs["targets"]),
            }
        )
        return result

    def spy_norm(subs: list[SubjectData], *args: Any, **kwargs: Any) -> Any:
        seen.append({"normalizer": {s.subject for s in subs}})
        return real_norm(subs, *args, **kwargs)

    monkeypatch.setattr(fitting, "train_model", spy_train)
    monkeypatch.setattr(fitting, "fit_normalizer", spy_norm)
    result = run_loso(subjects, pipeline, settings=FAST, methods=["helo", "mlp"])

    usable = ["S1", "S2", "S3", "S4"]
    assert list(result.per_subject) == usable  # S9 (failed alignment) is no fold
    assert result.methods == ["helo", "mlp", FOREST, *REFERENCES]
    fits = [s for s in seen if "groups" in s]
    norms = [s for s in seen if "normalizer" in s]
    # Tasks run fold by fold: helo (FAST.ensemble member networks, one normaliser), then mlp.
    per_fold = FAST.ensemble + 1
    assert len(norms) == len(usable) * 2 and len(fits) == len(usable) * per_fold
    for k, fit in enumerate(fits):
        test = usable[k // per_fold]
        assert test not in fit["groups"] and "S9" not in fit["groups"]
        assert fit["groups"] == set(usable) - {test}
        assert fit["val"] < fit["groups"]  # early stopping on whole *training* subjects
    for k, norm in enumerate(norms):
        assert norm["normalizer"] == set(usable) - {usable[k // 2]}
    for subject, per_method in result.per_subject.items():
        assert result.n_windows[subject] == 90
        for metrics in per_method.values():
            assert set(metrics) == set(METRICS)
            assert all(np.isfinite(v) for v in metrics.values())
    assert any("S9" in note for note in result.notes)


def test_references_come_from_the_training_subjects(
    subjects: list[SubjectData], pipeline: Pipeline
) -> None:
    result = run_loso(subjects[:3], pipeline, settings=FAST, methods=["helo"])
    sample = next(s for s in result.samples if s["subject"] == "S1")
    others = np.concatenate([s.session.targets[s.session.labelled] for s in subjects[1:3]])
    np.testing.assert_allclose(sample["pred"]["population_mean"], population_mean(others))
    cond = sample["condition"]
    rows = np.concatenate(
        [
            s.session.targets[s.session.labelled & (s.session.condition == cond)]
            for s in subjects[1:3]
        ]
    )
    np.testing.assert_allclose(sample["pred"]["condition_oracle"], population_mean(rows))


def test_random_forest_is_fitted_on_the_training_subjects_only(
    subjects: list[SubjectData], pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []
    real_forest, real_norm = loso.fit_forest_on_subjects, loso.fit_normalizer

    def spy_forest(subs: list[SubjectData], normalizer: Any, means: Any, **kwargs: Any) -> Any:
        seen.append({"forest": {s.subject for s in subs}, "means": means, **kwargs})
        return real_forest(subs, normalizer, means, **kwargs)

    def spy_norm(subs: list[SubjectData], *args: Any, **kwargs: Any) -> Any:
        seen.append({"normalizer": {s.subject for s in subs}})
        return real_norm(subs, *args, **kwargs)

    monkeypatch.setattr(loso, "fit_forest_on_subjects", spy_forest)
    monkeypatch.setattr(loso, "fit_normalizer", spy_norm)
    result = run_loso(subjects[:3], pipeline, settings=FAST, methods=["helo"])
    usable = ["S1", "S2", "S3"]
    forests = [s for s in seen if "forest" in s]
    norms = [s for s in seen if "normalizer" in s]
    assert len(forests) == len(norms) == 3
    for k, (forest, norm) in enumerate(zip(forests, norms, strict=True)):
        assert forest["forest"] == norm["normalizer"] == set(usable) - {usable[k]}
        assert forest["stride"] == FAST.train_stride and forest["seed"] == FAST.seed
    assert result.methods == ["helo", FOREST, *REFERENCES]
    assert result.multilabel_methods[:3] == ["helo", FOREST, *REFERENCES[:1]]
    assert "1/L" in result.multilabel_rules[FOREST]
    # The forest's condition means are the condition oracle's (same training subjects).
    for sample in result.samples:
        means = forests[usable.index(sample["subject"])]["means"]
        np.testing.assert_allclose(sample["pred"]["condition_oracle"], means[sample["condition"]])
        np.testing.assert_allclose(np.sum(sample["pred"][FOREST]), 1.0)
    for subject in usable:
        fold = result.fold_info[subject][FOREST]
        assert fold["n_fit_windows"] == 2 * 45 and fold["epochs_run"] is None
        assert result.timings["fit_seconds_per_fold"][FOREST][subject] > 0
        assert set(result.per_subject[subject][FOREST]) == set(METRICS)
        assert set(result.per_subject_multilabel[subject]) >= {FOREST}
    # Decoding: every distribution method, each measure as known for the references.
    for subject in usable:
        dec = result.per_subject_decoding[subject]
        assert set(dec) == set(result.methods)
        assert all(set(v) == set(DECODING_METRICS) for v in dec.values())
        assert dec["condition_oracle"]["condition_balanced_accuracy"] == 1.0
        assert dec["population_mean"]["condition_balanced_accuracy"] == pytest.approx(1 / 3)
        assert dec["population_mean"]["stress_auroc"] == 0.5
        assert dec["population_mean"]["amusement_auroc"] == 0.5
        # the synthetic conditions shift every feature: the forest recognises them above chance
        # (1/3; the running normalisation absorbs part of each shift in these short sessions)
        assert dec[FOREST]["condition_balanced_accuracy"] > 0.4
    assert result.decoding["conditions"] == ["amusement", "baseline", "stress"]


def test_report_has_forest_rows_and_decoding(
    subjects: list[SubjectData], pipeline: Pipeline, tmp_path: Path
) -> None:
    result = run_loso(subjects[:3], pipeline, settings=FAST, methods=["helo"])
    paths = write_report(result, tmp_path, name="r", title="t", command="cmd", figure=False)
    data = json.loads(paths["json"].read_text())
    assert FOREST in data["methods"] and FOREST in data["gap_closed"]
    assert "helo_vs_random_forest" in data["paired"]
    assert FOREST in data["multilabel"]["methods"]
    dec = data["decoding"]
    assert dec["methods"] == data["methods"]
    assert dec["summary"][FOREST]["condition_balanced_accuracy"]["n"] == 3
    assert set(dec["paired"]["helo_vs_random_forest"]) == set(DECODING_METRICS)
    md = paths["md"].read_text()
    title = "Random forest → condition means (classical reference)"
    # rows of: results, gap closed, HeLo against each, decoding, multi-label, per subject (3),
    # decoding per subject (3); and a column of the HeLo-against-the-forest decoding table
    assert md.count(f"| {title} |") == 12
    assert "## Decoding: do the distributions separate the protocol conditions?" in md
    assert "### HeLo against the random forest on decoding" in md
    assert "p(stressed)" in md and "p(happy)" in md
    assert f"- {title}:" in md and "s per fold" in md


def test_finished_folds_are_reused(
    subjects: list[SubjectData], pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_loso(subjects[:3], pipeline, settings=FAST, methods=["mlp"], work_dir=tmp_path)
    again = run_loso(subjects[:3], pipeline, settings=FAST, methods=["mlp"], work_dir=tmp_path)
    assert first.timings["tasks_run_this_run"] == 9  # helo always runs, the forest too: 3 x 3
    assert again.timings["tasks_run_this_run"] == 0
    assert again.per_subject == first.per_subject
    assert again.per_subject_decoding == first.per_subject_decoding
    # A work dir from before the forest (no forest files) reruns only the forests.
    (key_dir,) = tmp_path.iterdir()
    forest_files = sorted(key_dir.glob(f"*__{FOREST}-*.npz"))
    assert len(forest_files) == 3
    for path in forest_files:
        path.unlink()
    old = run_loso(subjects[:3], pipeline, settings=FAST, methods=["mlp"], work_dir=tmp_path)
    assert old.timings["tasks_run_this_run"] == 3
    assert old.per_subject == first.per_subject
    # A changed forest task (version bump) never reuses the stored forest results.
    monkeypatch.setattr(loso, "FOREST_TASK_VERSION", loso.FOREST_TASK_VERSION + 1)
    bumped = run_loso(subjects[:3], pipeline, settings=FAST, methods=["mlp"], work_dir=tmp_path)
    assert bumped.timings["tasks_run_this_run"] == 3


def test_sample_windows_pick_one_window_per_condition_run(subjects: list[SubjectData]) -> None:
    session = subjects[0].session
    picks = sample_windows(session)
    conds = session.condition[session.labelled][picks]
    assert list(conds) == ["baseline", "stress", "amusement"]
