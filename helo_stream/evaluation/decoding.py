"""Decoding: does a published distribution separate the protocol conditions?

What a user of the live stream can read from the distribution, per subject, from a method's
predictions on the subject's labelled windows:

* ``condition_balanced_accuracy``: each window is assigned the condition whose training
  condition mean is nearest to its predicted distribution in Euclidean distance (ties: the
  first condition in sorted order), against the window's true protocol condition; balanced
  accuracy is the mean per-condition recall over the conditions the subject has, so a constant
  output scores ``1 / (number of conditions)`` at best, whatever the class balance.
* ``stress_auroc``: the area under the ROC curve of ``p(stressed)`` for stress windows
  (positive) against baseline windows (negative).
* ``amusement_auroc``: the same for amusement against baseline, scored by ``p(happy)``.

A measure that cannot be computed is ``None`` (n/a): a subject without one of the two classes
of an AUROC, a label set without the scoring label (other data sets), no condition means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "AUROC_TASKS",
    "DECODING_METRICS",
    "DIVERGENCE",
    "balanced_accuracy",
    "condition_auroc",
    "decoding_info",
    "decoding_scores",
    "nearest_condition",
]

#: Per-subject decoding measures, in report order (higher is better for all).
DECODING_METRICS: tuple[str, ...] = (
    "condition_balanced_accuracy",
    "stress_auroc",
    "amusement_auroc",
)
#: AUROC measures: ``(positive condition, negative condition, label whose probability scores)``.
AUROC_TASKS: dict[str, tuple[str, str, str]] = {
    "stress_auroc": ("stress", "baseline", "stressed"),
    "amusement_auroc": ("amusement", "baseline", "happy"),
}
#: How "nearest condition mean" is measured (stated in the report).
DIVERGENCE = "Euclidean distance between the predicted distribution and each condition mean"


def nearest_condition(pred: np.ndarray, means: Mapping[str, np.ndarray]) -> np.ndarray:
    """``(N,)`` str: for each distribution ``(N, L)``, the condition with the nearest mean.

    Distance is Euclidean; conditions are tried in sorted order, so a tie goes to the first.
    """
    if not means:
        raise ValueError("no condition means to compare with")
    names = sorted(means)
    centres = np.stack([np.asarray(means[c], dtype=np.float64) for c in names])
    p = np.asarray(pred, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != centres.shape[1]:
        raise ValueError(f"pred must be (N, {centres.shape[1]}), got {p.shape}")
    if not len(p):
        return np.empty(0, dtype=object)
    dist = np.linalg.norm(p[:, None, :] - centres[None, :, :], axis=2)
    return np.asarray(names, dtype=object)[np.argmin(dist, axis=1)]


def balanced_accuracy(true: Sequence[str], predicted: Sequence[str]) -> float | None:
    """Mean recall over the classes in ``true`` (None without windows).

    The same value as :func:`sklearn.metrics.balanced_accuracy_score`, without its warning when
    ``predicted`` holds a class that ``true`` lacks (such predictions are simply wrong).
    """
    t = np.asarray(true).astype(str)
    p = np.asarray(predicted).astype(str)
    if t.shape != p.shape:
        raise ValueError(f"true and predicted differ in shape: {t.shape} vs {p.shape}")
    if not len(t):
        return None
    return float(np.mean([np.mean(p[t == c] == c) for c in np.unique(t)]))


def condition_auroc(
    pred: np.ndarray,
    conditions: Sequence[str],
    labels: Sequence[str],
    *,
    positive: str,
    negative: str,
    label: str,
) -> float | None:
    """AUROC of ``p(label)`` for ``positive``-condition windows against ``negative`` ones.

    None when ``label`` is not among ``labels`` or either condition has no window. Ties are
    handled as by :func:`sklearn.metrics.roc_auc_score` (a constant score gives 0.5).
    """
    from sklearn.metrics import roc_auc_score

    if label not in labels:
        return None
    cond = np.asarray(conditions).astype(str)
    p = np.asarray(pred, dtype=np.float64)
    if p.shape != (len(cond), len(labels)):
        raise ValueError(f"pred must be ({len(cond)}, {len(labels)}), got {p.shape}")
    pos, neg = cond == positive, cond == negative
    if not pos.any() or not neg.any():
        return None
    keep = pos | neg
    return float(roc_auc_score(pos[keep], p[keep, list(labels).index(label)]))


def decoding_scores(
    pred: np.ndarray,
    conditions: Sequence[str],
    labels: Sequence[str],
    *,
    means: Mapping[str, np.ndarray] | None,
) -> dict[str, float | None]:
    """Every :data:`DECODING_METRICS` measure of one method on one subject's labelled windows.

    Parameters
    ----------
    pred
        ``(N, L)`` predicted distributions of the labelled windows.
    conditions
        ``(N,)`` true protocol condition of each window.
    labels
        The label set (names of the ``L`` columns).
    means
        ``condition -> (L,)`` training condition means (the fold's, or a checkpoint's); None
        or empty: balanced accuracy is n/a.
    """
    cond = np.asarray(conditions).astype(str)
    out: dict[str, float | None] = {"condition_balanced_accuracy": None}
    if means:
        out["condition_balanced_accuracy"] = balanced_accuracy(cond, nearest_condition(pred, means))
    for name, (positive, negative, label) in AUROC_TASKS.items():
        out[name] = condition_auroc(
            pred, cond, labels, positive=positive, negative=negative, label=label
        )
    return out


def decoding_info(labels: Sequence[str], *, conditions: Sequence[str] = ()) -> dict[str, Any]:
    """What the report states about the decoding measures (JSON-ready).

    ``conditions`` are those a window can be assigned to (the condition means' keys).
    """
    return {
        "metrics": list(DECODING_METRICS),
        "divergence": DIVERGENCE,
        "auroc": {
            name: {
                "positive": positive,
                "negative": negative,
                "label": label,
                "label_in_set": label in labels,
            }
            for name, (positive, negative, label) in AUROC_TASKS.items()
        },
        "conditions": sorted(conditions),
    }
