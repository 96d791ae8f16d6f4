"""LOSO folds never let a test subject's window into training, selection or references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import helo_stream.evaluation.fitting as fitting
from helo_stream.config import Pipeline
from helo_stream.datasets.wesad import SubjectData
from helo_stream.evaluation.baselines import population_mean
from helo_stream.evaluation.fitting import FitSettings, fit_normalizer, training_arrays
from helo_stream.evaluation.loso import (
    METRICS,
    REFERENCES,
    loso_folds,
    run_loso,
    sample_windows,
)

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
    subjects: list[SubjectData],
) -> None:
    train = subjects[:2]
    norm = fit_normalizer(train, calibration_s=300.0)
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

    def spy_norm(subs: list[SubjectData], **kwargs: Any) -> Any:
        seen.append({"normalizer": {s.subject for s in subs}})
        return real_norm(subs, **kwargs)

    monkeypatch.setattr(fitting, "train_model", spy_train)
    monkeypatch.setattr(fitting, "fit_normalizer", spy_norm)
    result = run_loso(subjects, pipeline, settings=FAST, methods=["helo", "mlp"])

    usable = ["S1", "S2", "S3", "S4"]
    assert list(result.per_subject) == usable  # S9 (failed alignment) is no fold
    assert result.methods == ["helo", "mlp", *REFERENCES]
    fits = [s for s in seen if "groups" in s]
    norms = [s for s in seen if "normalizer" in s]
    assert len(fits) == len(norms) == len(usable) * 2
    # Tasks run fold by fold (helo, mlp), so the k-th pair of fits belongs to usable[k // 2].
    for k, (fit, norm) in enumerate(zip(fits, norms, strict=True)):
        test = usable[k // 2]
        assert test not in fit["groups"] and "S9" not in fit["groups"]
        assert fit["groups"] == set(usable) - {test}
        assert fit["val"] < fit["groups"]  # early stopping on whole *training* subjects
        assert norm["normalizer"] == set(usable) - {test}
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
        [s.session.targets[s.session.labelled & (s.session.condition == cond)]
         for s in subjects[1:3]]
    )
    np.testing.assert_allclose(sample["pred"]["condition_oracle"], population_mean(rows))


def test_finished_folds_are_reused(
    subjects: list[SubjectData], pipeline: Pipeline, tmp_path: Path
) -> None:
    first = run_loso(subjects[:3], pipeline, settings=FAST, methods=["mlp"], work_dir=tmp_path)
    again = run_loso(subjects[:3], pipeline, settings=FAST, methods=["mlp"], work_dir=tmp_path)
    assert first.timings["tasks_run_this_run"] == 6  # helo always runs: 3 folds x 2
    assert again.timings["tasks_run_this_run"] == 0
    assert again.per_subject == first.per_subject


def test_sample_windows_pick_one_window_per_condition_run(subjects: list[SubjectData]) -> None:
    session = subjects[0].session
    picks = sample_windows(session)
    conds = session.condition[session.labelled][picks]
    assert list(conds) == ["baseline", "stress", "amusement"]
