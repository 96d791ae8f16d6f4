"""The six Geng (2016) measures against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helo_stream.metrics.distribution import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    canberra,
    chebyshev,
    clark,
    cosine,
    distribution_metrics,
    intersection,
    kl_divergence,
)

# Sample 0: p = (0.5, 0.3, 0.2), q = (0.4, 0.4, 0.2).
# Sample 1 (zeros): p = (1, 0, 0), q = (0.5, 0.5, 0); the third label is 0 in both.
Y_TRUE = np.array([[0.5, 0.3, 0.2], [1.0, 0.0, 0.0]])
Y_PRED = np.array([[0.4, 0.4, 0.2], [0.5, 0.5, 0.0]])

EXPECTED = {
    # max |p - q|
    "chebyshev": [0.1, 0.5],
    # sqrt(sum (p-q)^2 / (p+q)^2); the 0/0 term counts as 0
    "clark": [
        math.sqrt(0.1**2 / 0.9**2 + 0.1**2 / 0.7**2 + 0.0),
        math.sqrt(0.5**2 / 1.5**2 + 0.5**2 / 0.5**2 + 0.0),
    ],
    # sum |p-q| / (p+q)
    "canberra": [0.1 / 0.9 + 0.1 / 0.7 + 0.0, 0.5 / 1.5 + 0.5 / 0.5 + 0.0],
    # sum p ln(p/q), with 0 ln 0 = 0
    "kl_divergence": [
        0.5 * math.log(0.5 / 0.4) + 0.3 * math.log(0.3 / 0.4) + 0.2 * math.log(1.0),
        1.0 * math.log(1.0 / 0.5),
    ],
    # p.q / (|p| |q|)
    "cosine": [
        (0.5 * 0.4 + 0.3 * 0.4 + 0.2 * 0.2)
        / (math.sqrt(0.25 + 0.09 + 0.04) * math.sqrt(0.16 + 0.16 + 0.04)),
        (1.0 * 0.5) / (1.0 * math.sqrt(0.25 + 0.25)),
    ],
    # sum min(p, q)
    "intersection": [0.4 + 0.3 + 0.2, 0.5 + 0.0 + 0.0],
}
FUNCTIONS = {
    "chebyshev": chebyshev,
    "clark": clark,
    "canberra": canberra,
    "kl_divergence": kl_divergence,
    "cosine": cosine,
    "intersection": intersection,
}


def test_hand_computed_values():
    # The arithmetic above, evaluated: a few as plain numbers to make slips visible.
    assert EXPECTED["clark"][0] == pytest.approx(0.180980, abs=1e-6)
    assert EXPECTED["kl_divergence"][0] == pytest.approx(0.0252672, abs=1e-7)
    assert EXPECTED["cosine"][0] == pytest.approx(0.973329, abs=1e-6)
    for name, fn in FUNCTIONS.items():
        values = fn(Y_TRUE, Y_PRED)
        assert values.shape == (2,)
        np.testing.assert_allclose(values, EXPECTED[name], rtol=1e-9, atol=1e-9, err_msg=name)


def test_means_and_name_tuples():
    means = distribution_metrics(Y_TRUE, Y_PRED)
    assert set(means) == set(LOWER_IS_BETTER) | set(HIGHER_IS_BETTER)
    assert not set(LOWER_IS_BETTER) & set(HIGHER_IS_BETTER)
    for name, expected in EXPECTED.items():
        assert means[name] == pytest.approx(np.mean(expected), rel=1e-9)
        assert isinstance(means[name], float)


def test_perfect_prediction_and_zero_prediction():
    means = distribution_metrics(Y_TRUE, Y_TRUE)
    for name in LOWER_IS_BETTER:
        assert means[name] == pytest.approx(0.0, abs=1e-9)
    for name in HIGHER_IS_BETTER:
        assert means[name] == pytest.approx(1.0, abs=1e-9)
    # A zero prediction where the truth has mass is finite thanks to EPS, and large.
    kl = kl_divergence(np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]]))
    assert np.isfinite(kl).all() and kl[0] > 10


def test_shape_validation():
    with pytest.raises(ValueError):
        chebyshev(Y_TRUE, Y_PRED[:, :2])
    with pytest.raises(ValueError):
        distribution_metrics(Y_TRUE[0], Y_PRED[0])
    with pytest.raises(ValueError):
        cosine(Y_TRUE, np.full_like(Y_PRED, np.nan))
