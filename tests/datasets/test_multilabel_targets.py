"""Multi-label targets from self-reports and from HeLo's label distributions."""

from __future__ import annotations

import numpy as np
import pytest

from helo_stream.datasets.multilabel import distribution_to_multilabel, ratings_to_multilabel

LABELS = ("amusement", "stress", "calm", "anger")


def test_ratings_threshold_default_somewhat() -> None:
    ratings = {"amusement": 3, "stress": 2, "calm": 5, "anger": 1}
    out = ratings_to_multilabel(ratings, LABELS)
    assert out.dtype == bool
    assert out.tolist() == [True, False, True, False]
    assert ratings_to_multilabel(ratings, LABELS, min_rating=4).tolist() == [
        False,
        False,
        True,
        False,
    ]
    # Order follows ``labels``, not the dict.
    assert ratings_to_multilabel(ratings, ("calm", "stress")).tolist() == [True, False]


def test_ratings_errors() -> None:
    with pytest.raises(KeyError, match="anger"):
        ratings_to_multilabel({"amusement": 3, "stress": 2, "calm": 5}, LABELS)
    with pytest.raises(ValueError, match="number"):
        ratings_to_multilabel({"amusement": "3", "stress": 2, "calm": 5, "anger": 1}, LABELS)
    with pytest.raises(ValueError, match="finite"):
        ratings_to_multilabel(
            {"amusement": float("nan"), "stress": 2, "calm": 5, "anger": 1}, LABELS
        )
    with pytest.raises(ValueError, match="unique"):
        ratings_to_multilabel({"calm": 3}, ("calm", "calm"))


def test_distribution_default_is_above_uniform() -> None:
    dist = np.array([[0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25], [0.9, 0.05, 0.05, 0.0]])
    out = distribution_to_multilabel(dist)
    assert out.tolist() == [
        [True, True, False, False],
        [True, True, True, True],
        [True, False, False, False],
    ]
    single = distribution_to_multilabel(dist[0], threshold=0.35)
    assert single.shape == (4,) and single.tolist() == [True, False, False, False]


def test_distribution_top_k_breaks_ties_by_label_order() -> None:
    dist = np.array([[0.1, 0.3, 0.3, 0.3], [0.7, 0.1, 0.1, 0.1]])
    out = distribution_to_multilabel(dist, top_k=2)
    assert out.tolist() == [[False, True, True, False], [True, True, False, False]]
    assert out.sum(axis=1).tolist() == [2, 2]


def test_distribution_errors() -> None:
    dist = np.full((2, 4), 0.25)
    with pytest.raises(ValueError, match="not both"):
        distribution_to_multilabel(dist, threshold=0.3, top_k=1)
    with pytest.raises(ValueError, match="top_k"):
        distribution_to_multilabel(dist, top_k=5)
    with pytest.raises(ValueError, match="threshold"):
        distribution_to_multilabel(dist, threshold=0.0)
    with pytest.raises(ValueError, match="finite"):
        distribution_to_multilabel(np.array([[0.5, np.nan]]))
