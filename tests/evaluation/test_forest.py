"""The classical reference: random forest → protocol condition → condition-mean distribution."""

from __future__ import annotations

import numpy as np
import pytest

from helo_stream.config import Pipeline
from helo_stream.datasets.subjects import SubjectData
from helo_stream.evaluation.decoding import decoding_scores
from helo_stream.evaluation.forest import (
    FOREST_PARAMS,
    fit_forest,
    fit_forest_on_subjects,
    stack_features,
)
from helo_stream.training.fitting import fit_normalizer, training_arrays
from helo_stream.training.references import condition_means

CONDS = ("baseline", "stress", "amusement")
MEANS = {
    "baseline": np.array([0.6, 0.3, 0.1]),
    "stress": np.array([0.1, 0.2, 0.7]),
    "amusement": np.array([0.2, 0.6, 0.2]),
}


def _separable(n: int = 100, *, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Two modalities whose every feature puts the three conditions 10 noise-sds apart."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(CONDS), n)
    level = np.repeat(np.arange(len(CONDS)) * 10.0, n)[:, None]
    feats = {
        "a": level + rng.normal(0, 1, (len(y), 3)),
        "b": -level + rng.normal(0, 1, (len(y), 2)),
    }
    return feats, y


def test_stack_features_follows_the_given_modality_order() -> None:
    feats = {"a": np.ones((2, 1)), "b": np.zeros((2, 2))}
    np.testing.assert_array_equal(stack_features(feats, ["b", "a"]), [[0, 0, 1], [0, 0, 1]])
    with pytest.raises(KeyError):
        stack_features(feats, ["c"])


def test_separable_conditions_give_the_condition_means() -> None:
    feats, y = _separable()
    forest = fit_forest(feats, y, MEANS, seed=3)
    assert forest.classifier.n_estimators == FOREST_PARAMS["n_estimators"] == 200
    assert forest.classifier.min_samples_leaf == 20 and forest.classifier.random_state == 3
    assert forest.n_train_windows == len(y) and set(forest.conditions) == set(CONDS)
    test_feats, test_y = _separable(seed=1)
    proba = forest.predict_proba(test_feats)
    assert np.mean(np.array(forest.conditions)[proba.argmax(axis=1)] == test_y) > 0.99
    pred = forest.predict(test_feats)
    want = np.stack([MEANS[c] for c in test_y])
    np.testing.assert_allclose(pred, want, atol=1e-6)
    np.testing.assert_allclose(pred.sum(axis=1), 1.0)


def test_probabilities_are_mixed_over_the_means() -> None:
    rng = np.random.default_rng(0)
    feats = {"a": rng.normal(size=(300, 4))}  # no signal: probabilities stay mixed
    y = rng.choice(np.array(CONDS), 300)
    forest = fit_forest(feats, y, MEANS, seed=0)
    proba = forest.predict_proba(feats)
    centres = np.stack([MEANS[c] for c in forest.conditions])
    np.testing.assert_allclose(forest.predict(feats), proba @ centres)
    assert forest.predict({"a": np.empty((0, 4))}).shape == (0, 3)


def test_missing_values_are_accepted() -> None:
    feats, y = _separable()
    rng = np.random.default_rng(5)
    holes = {m: np.where(rng.random(v.shape) < 0.2, np.nan, v) for m, v in feats.items()}
    holes["b"][:50] = np.nan  # a modality absent from whole windows
    forest = fit_forest(holes, y, MEANS, seed=0)
    test_feats, test_y = _separable(seed=2)
    test_feats["a"][::7] = np.nan
    pred = forest.predict(test_feats)
    assert np.all(np.isfinite(pred))
    np.testing.assert_allclose(pred.sum(axis=1), 1.0)
    recognised = np.array(forest.conditions)[forest.predict_proba(test_feats).argmax(axis=1)]
    complete = np.all(np.isfinite(test_feats["a"]), axis=1)
    assert np.mean(recognised[complete] == test_y[complete]) > 0.99
    assert np.mean(recognised == test_y) > 0.9  # windows without modality "a" lose some


def test_same_seed_same_forest() -> None:
    rng = np.random.default_rng(0)
    feats = {"a": rng.normal(size=(200, 3))}
    y = rng.choice(np.array(CONDS), 200)
    one = fit_forest(feats, y, MEANS, seed=7).predict(feats)
    two = fit_forest(feats, y, MEANS, seed=7).predict(feats)
    np.testing.assert_array_equal(one, two)


def test_bad_inputs_are_rejected() -> None:
    feats, y = _separable(n=30)
    with pytest.raises(ValueError, match="no condition mean"):
        fit_forest(feats, y, {"baseline": MEANS["baseline"]}, seed=0)
    with pytest.raises(ValueError):
        fit_forest(feats, y[:-1], MEANS, seed=0)


def test_subject_forest_uses_the_training_windows_and_live_normalisation(
    subjects: list[SubjectData], pipeline: Pipeline
) -> None:
    train, test = subjects[:3], subjects[3]
    norm = fit_normalizer(train, pipeline)
    _, _, targets, _, conds = training_arrays(train, norm, stride=1)
    means = condition_means(targets, conds)
    forest = fit_forest_on_subjects(train, norm, means, stride=2, seed=0)
    assert forest.n_train_windows == sum(
        len(np.flatnonzero(s.session.labelled)[::2]) for s in train
    )
    pred = forest.predict_session(test.session, norm)
    assert pred.shape == (test.session.n_labelled, len(pipeline.labels))
    np.testing.assert_allclose(pred.sum(axis=1), 1.0)
    # The synthetic conditions shift every feature: the forest recognises them on a new subject
    # far above chance (1/4), though the running normalisation absorbs part of each shift.
    cond = test.session.condition[test.session.labelled]
    scores = decoding_scores(pred, cond, pipeline.labels, means=means)
    assert scores["condition_balanced_accuracy"] > 0.7
    # The test subject is z-scored exactly as the neural models' inputs are.
    z = test.session.normalized_features(norm)
    rows = np.flatnonzero(test.session.labelled)
    np.testing.assert_allclose(pred, forest.predict({m: v[rows] for m, v in z.items()}))
