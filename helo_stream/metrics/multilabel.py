"""Multi-label classification measures (TAILOR's evaluation), from boolean ``(N, L)`` arrays.

For true label sets ``Y_i`` and predicted sets ``P_i`` of ``N`` samples over ``L`` labels:

- Jaccard accuracy ``mean_i |Y_i ∩ P_i| / |Y_i ∪ P_i|``; a sample with both sets empty scores 1
  (the prediction "no emotion" is exactly right), one empty and one not scores 0.
- Hamming loss: the fraction of wrong (sample, label) entries.
- Micro precision, recall, F1: from the true/false positive and false negative counts pooled
  over all labels; macro: the unweighted mean of the per-label values.
- Subset accuracy: fraction of samples whose label set is predicted exactly.

Zero division: a precision, recall or F1 whose denominator is 0 (no predicted positives, no true
positives, or neither for F1, which is ``2 TP / (2 TP + FP + FN)``) is ``zero_division``, 0 by
default as in scikit-learn. A label that never occurs and is never predicted therefore lowers the
macro averages; pass ``zero_division=1.0`` to count such agreement as perfect instead.
"""

from __future__ import annotations

import numpy as np

__all__ = ["jaccard_accuracy", "multilabel_metrics", "per_label_counts"]


def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.ndim != 2 or t.shape != p.shape or t.shape[0] == 0:
        raise ValueError(
            f"y_true and y_pred must both be (N, L) with N >= 1, got {t.shape} and {p.shape}"
        )
    for name, a in (("y_true", t), ("y_pred", p)):
        if a.dtype != bool and not np.isin(a, (0, 1)).all():
            raise ValueError(f"{name} must be boolean (or 0/1)")
    return t.astype(bool), p.astype(bool)


def _ratio(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), zero_division)


def per_label_counts(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, np.ndarray]:
    """True positives, false positives and false negatives per label, each ``(L,)`` int."""
    t, p = _pair(y_true, y_pred)
    return {
        "tp": (t & p).sum(axis=0),
        "fp": (~t & p).sum(axis=0),
        "fn": (t & ~p).sum(axis=0),
    }


def jaccard_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-sample Jaccard index ``(N,)``; 1 where both label sets are empty."""
    t, p = _pair(y_true, y_pred)
    inter = (t & p).sum(axis=1)
    union = (t | p).sum(axis=1)
    return _ratio(inter, union, 1.0)


def multilabel_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, *, zero_division: float = 0.0
) -> dict[str, float]:
    """All measures of the module docstring, keyed by name.

    Parameters
    ----------
    y_true, y_pred
        ``(N, L)`` boolean (or 0/1) label indicators.
    zero_division
        Value of a precision/recall/F1 whose denominator is 0.
    """
    t, p = _pair(y_true, y_pred)
    counts = per_label_counts(t, p)
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    precision = _ratio(tp, tp + fp, zero_division)
    recall = _ratio(tp, tp + fn, zero_division)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn, zero_division)
    stp, sfp, sfn = tp.sum(), fp.sum(), fn.sum()
    return {
        "jaccard_accuracy": float(jaccard_accuracy(t, p).mean()),
        "hamming_loss": float((t != p).mean()),
        "subset_accuracy": float((t == p).all(axis=1).mean()),
        "micro_precision": float(_ratio(stp, stp + sfp, zero_division)),
        "micro_recall": float(_ratio(stp, stp + sfn, zero_division)),
        "micro_f1": float(_ratio(2 * stp, 2 * stp + sfp + sfn, zero_division)),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
    }
