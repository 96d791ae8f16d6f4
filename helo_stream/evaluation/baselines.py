"""Reference predictors that bracket what a model can achieve from physiology alone.

* **Population mean**: the mean target distribution of the training windows, whatever the
  input (:func:`helo_stream.training.references.population_mean`, fitted with every model). It
  is the best constant predictor under KL on the training set, so a model has to beat it to show
  that it reads anything from the signals.
* **Condition oracle**: for each window, the training windows' mean distribution of that
  window's *true* protocol condition (:func:`oracle_predictions` over
  :func:`helo_stream.training.references.condition_means`). Targets are one self-report per
  condition and subject, so this is what a perfect condition recogniser would output without
  knowing the subject's own ratings; it is a reference, not a method (it reads the test labels'
  conditions).

Both are window-weighted means over the training windows, the same weighting the models are
trained with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["oracle_predictions"]


def oracle_predictions(
    means: Mapping[str, np.ndarray], conditions: Sequence[str], *, fallback: np.ndarray
) -> np.ndarray:
    """``(N, L)``: each window's condition mean; ``fallback`` for a condition never trained on."""
    fallback = np.asarray(fallback, dtype=np.float64)
    rows = [np.asarray(means.get(str(c), fallback), dtype=np.float64) for c in conditions]
    if not rows:
        return np.empty((0, fallback.size))
    return np.stack(rows)
