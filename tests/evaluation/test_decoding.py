"""Decoding measures on hand-made predictions whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from helo_stream.evaluation.decoding import (
    DECODING_METRICS,
    balanced_accuracy,
    condition_auroc,
    decoding_info,
    decoding_scores,
    nearest_condition,
)

LABELS = ["stressed", "happy", "sad"]
MEANS = {
    "baseline": np.array([0.2, 0.3, 0.5]),
    "stress": np.array([0.6, 0.1, 0.3]),
    "amusement": np.array([0.1, 0.7, 0.2]),
}
#: 10 baseline, 6 stress, 4 amusement windows (imbalanced on purpose).
COND = np.array(["baseline"] * 10 + ["stress"] * 6 + ["amusement"] * 4)


def test_nearest_condition_is_euclidean_with_ties_to_the_first_name() -> None:
    pred = np.array([[0.55, 0.15, 0.3], [0.15, 0.65, 0.2], [0.2, 0.3, 0.5]])
    assert nearest_condition(pred, MEANS).tolist() == ["stress", "amusement", "baseline"]
    tie = {"b": np.array([0.0, 1.0]), "a": np.array([1.0, 0.0])}
    assert nearest_condition(np.array([[0.5, 0.5]]), tie).tolist() == ["a"]
    assert nearest_condition(np.empty((0, 3)), MEANS).shape == (0,)
    with pytest.raises(ValueError):
        nearest_condition(np.ones((2, 4)), MEANS)


def test_perfect_predictor_scores_one() -> None:
    pred = np.stack([MEANS[c] for c in COND])
    scores = decoding_scores(pred, COND, LABELS, means=MEANS)
    assert scores == {
        "condition_balanced_accuracy": 1.0,
        "stress_auroc": 1.0,
        "amusement_auroc": 1.0,
    }
    assert list(scores) == list(DECODING_METRICS)


def test_constant_predictor_is_at_chance() -> None:
    pred = np.tile(MEANS["baseline"], (len(COND), 1))
    scores = decoding_scores(pred, COND, LABELS, means=MEANS)
    # every window is called baseline: recall 1, 0, 0 over the three conditions
    assert scores["condition_balanced_accuracy"] == pytest.approx(1 / 3)
    assert scores["stress_auroc"] == 0.5 and scores["amusement_auroc"] == 0.5


def test_reversed_score_gives_zero_and_ties_count_half() -> None:
    pred = np.stack([MEANS[c] for c in COND])
    pred[:, 0] = np.where(COND == "stress", 0.0, 1.0)  # stressed lowest exactly for stress
    assert (
        condition_auroc(
            pred, COND, LABELS, positive="stress", negative="baseline", label="stressed"
        )
        == 0.0
    )
    # one stress window tied with every baseline window: 5 of 6 positives rank above them all
    pred[:, 0] = np.where(COND == "stress", 1.0, 0.0)
    pred[10, 0] = 0.0
    got = condition_auroc(
        pred, COND, LABELS, positive="stress", negative="baseline", label="stressed"
    )
    assert got == pytest.approx((5 + 0.5) / 6)


def test_balanced_accuracy_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    true = rng.choice(
        ["baseline", "stress", "amusement", "meditation"], 200, p=[0.5, 0.2, 0.2, 0.1]
    )
    guess = rng.choice(["baseline", "stress", "amusement", "meditation"], 200)
    assert balanced_accuracy(true, guess) == pytest.approx(balanced_accuracy_score(true, guess))
    assert balanced_accuracy([], []) is None


def test_not_computable_measures_are_none() -> None:
    pred = np.stack([MEANS[c] for c in COND])
    # a label set without "happy": that AUROC is n/a, the others are not affected
    scores = decoding_scores(pred, COND, ["stressed", "joy", "sad"], means=MEANS)
    assert scores["amusement_auroc"] is None and scores["stress_auroc"] == 1.0
    # a subject without amusement windows
    keep = COND != "amusement"
    scores = decoding_scores(pred[keep], COND[keep], LABELS, means=MEANS)
    assert scores["amusement_auroc"] is None
    assert scores["condition_balanced_accuracy"] == 1.0
    # no condition means (a checkpoint that stores none)
    assert decoding_scores(pred, COND, LABELS, means=None)["condition_balanced_accuracy"] is None
    info = decoding_info(["stressed", "sad"], conditions=["stress", "baseline"])
    assert info["auroc"]["stress_auroc"]["label_in_set"]
    assert not info["auroc"]["amusement_auroc"]["label_in_set"]
    assert info["conditions"] == ["baseline", "stress"]
