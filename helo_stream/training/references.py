"""The trivial references fitted with every model: the training targets' mean distributions.

* **Population mean**: the mean target distribution of the training windows, whatever the
  input. It is the best constant predictor under KL on the training set, so a model has to beat
  it to show that it reads anything from the signals.
* **Condition means**: the same mean within each protocol condition; the HeLo network mixes
  them by its condition head, and evaluation's condition oracle
  (:func:`helo_stream.evaluation.baselines.oracle_predictions`) looks them up by each window's
  true condition.

Both are window-weighted means over the training windows, the same weighting the models are
trained with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["condition_means", "population_mean"]


def _targets(targets: np.ndarray) -> np.ndarray:
    y = np.asarray(targets, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] == 0 or not np.all(np.isfinite(y)):
        raise ValueError(f"targets must be finite (N, L) with N >= 1, got shape {y.shape}")
    return y


def population_mean(targets: np.ndarray) -> np.ndarray:
    """Mean distribution ``(L,)`` of the training targets ``(N, L)``, renormalised to sum 1."""
    mean = _targets(targets).mean(axis=0)
    return mean / mean.sum()


def condition_means(targets: np.ndarray, conditions: Sequence[str]) -> dict[str, np.ndarray]:
    """Mean distribution of the training targets of each protocol condition."""
    y = _targets(targets)
    cond = np.asarray(conditions, dtype=object)
    if cond.shape != (y.shape[0],):
        raise ValueError(f"conditions must have shape ({y.shape[0]},), got {cond.shape}")
    return {str(c): population_mean(y[cond == c]) for c in sorted(set(cond.tolist()))}
