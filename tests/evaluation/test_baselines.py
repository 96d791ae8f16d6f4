"""The two reference predictors on a hand-made example."""

from __future__ import annotations

import numpy as np
import pytest

from helo_stream.evaluation.baselines import oracle_predictions
from helo_stream.training.references import condition_means, population_mean

# Three training windows: two of "stress", one of "baseline".
Y = np.array([[0.5, 0.5, 0.0], [0.3, 0.3, 0.4], [0.2, 0.2, 0.6]])
COND = ["stress", "stress", "baseline"]


def test_population_mean_is_the_window_mean() -> None:
    np.testing.assert_allclose(population_mean(Y), [1.0 / 3, 1.0 / 3, 1.0 / 3])


def test_condition_means_average_within_each_condition() -> None:
    means = condition_means(Y, COND)
    assert sorted(means) == ["baseline", "stress"]
    np.testing.assert_allclose(means["stress"], [0.4, 0.4, 0.2])
    np.testing.assert_allclose(means["baseline"], [0.2, 0.2, 0.6])


def test_oracle_predicts_the_mean_of_each_windows_true_condition() -> None:
    means = condition_means(Y, COND)
    fallback = population_mean(Y)
    pred = oracle_predictions(means, ["baseline", "stress", "meditation"], fallback=fallback)
    np.testing.assert_allclose(pred[0], [0.2, 0.2, 0.6])
    np.testing.assert_allclose(pred[1], [0.4, 0.4, 0.2])
    np.testing.assert_allclose(pred[2], fallback)  # never seen in training


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError):
        condition_means(Y, ["stress"])
    with pytest.raises(ValueError):
        population_mean(np.empty((0, 3)))
