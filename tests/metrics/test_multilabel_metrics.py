"""Multi-label measures against hand-computed values, including the zero-division rules."""

from __future__ import annotations

import numpy as np
import pytest

from helo_stream.metrics.multilabel import (
    jaccard_accuracy,
    multilabel_metrics,
    per_label_counts,
)

# Per label: 0 -> tp 1, fp 0, fn 1; 1 -> tp 1, fp 1, fn 1; 2 -> tp 0, fp 0, fn 1.
Y_TRUE = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0], [1, 1, 0]], dtype=bool)
Y_PRED = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0]], dtype=bool)


def test_hand_computed_values() -> None:
    m = multilabel_metrics(Y_TRUE, Y_PRED)
    expected = {
        "jaccard_accuracy": (1 / 3 + 1 + 1 + 0) / 4,
        "hamming_loss": 4 / 12,
        "subset_accuracy": 0.5,
        "micro_precision": 2 / 3,
        "micro_recall": 2 / 5,
        "micro_f1": 0.5,
        "macro_precision": (1 + 0.5 + 0) / 3,  # label 2: no predicted positive -> 0
        "macro_recall": (0.5 + 0.5 + 0) / 3,
        "macro_f1": (2 / 3 + 1 / 2 + 0) / 3,
    }
    assert set(m) == set(expected)
    for key, value in expected.items():
        assert m[key] == pytest.approx(value), key


def test_counts_and_per_sample_jaccard() -> None:
    counts = per_label_counts(Y_TRUE, Y_PRED)
    np.testing.assert_array_equal(counts["tp"], [1, 1, 0])
    np.testing.assert_array_equal(counts["fp"], [0, 1, 0])
    np.testing.assert_array_equal(counts["fn"], [1, 1, 1])
    np.testing.assert_allclose(jaccard_accuracy(Y_TRUE, Y_PRED), [1 / 3, 1, 1, 0])


def test_empty_label_sets() -> None:
    empty = np.zeros((3, 4), dtype=bool)
    assert jaccard_accuracy(empty, empty).tolist() == [1.0, 1.0, 1.0]
    one = empty.copy()
    one[0, 2] = True
    # One side empty, the other not: 0 for that sample only.
    assert jaccard_accuracy(one, empty).tolist() == [0.0, 1.0, 1.0]
    m = multilabel_metrics(empty, empty)
    assert m["jaccard_accuracy"] == 1.0 and m["hamming_loss"] == 0.0
    assert m["subset_accuracy"] == 1.0
    # Nothing true, nothing predicted: every ratio is 0/0 -> zero_division.
    for key in ("micro_precision", "micro_recall", "micro_f1", "macro_f1"):
        assert m[key] == 0.0
        assert multilabel_metrics(empty, empty, zero_division=1.0)[key] == 1.0


def test_zero_division_only_affects_undefined_ratios() -> None:
    m0 = multilabel_metrics(Y_TRUE, Y_PRED, zero_division=0.0)
    m1 = multilabel_metrics(Y_TRUE, Y_PRED, zero_division=1.0)
    assert m1["macro_precision"] == pytest.approx((1 + 0.5 + 1) / 3)
    for key in ("macro_recall", "macro_f1", "micro_f1", "micro_precision"):
        assert m0[key] == pytest.approx(m1[key]), key


def test_perfect_and_all_wrong() -> None:
    m = multilabel_metrics(Y_TRUE, Y_TRUE)
    assert m["micro_f1"] == 1.0 and m["hamming_loss"] == 0.0 and m["jaccard_accuracy"] == 1.0
    m = multilabel_metrics(Y_TRUE, ~Y_TRUE)
    assert m["micro_f1"] == 0.0 and m["hamming_loss"] == 1.0 and m["jaccard_accuracy"] == 0.0


def test_accepts_zero_one_ints_and_rejects_bad_input() -> None:
    a = multilabel_metrics(Y_TRUE.astype(int), Y_PRED.astype(np.int8))
    assert a == multilabel_metrics(Y_TRUE, Y_PRED)
    with pytest.raises(ValueError, match=r"same shape|\(N, L\)"):
        multilabel_metrics(Y_TRUE, Y_PRED[:, :2])
    with pytest.raises(ValueError, match="boolean"):
        multilabel_metrics(Y_TRUE, Y_PRED * 0.5)
    with pytest.raises(ValueError):
        multilabel_metrics(np.zeros((0, 3), bool), np.zeros((0, 3), bool))
