"""The classical reference: a random forest on window features, read out through condition means.

A :class:`sklearn.ensemble.RandomForestClassifier` (200 trees, at least 20 windows per leaf,
one thread, seeded with the fit seed) learns the *protocol condition* (baseline, stress,
amusement, meditation) of a window from its z-scored features, every modality's features
concatenated in pipeline order, exactly the inputs the neural methods see: the same
population/calibration normalisation and the same ``train_stride`` labelled windows of the same
training subjects (:func:`~helo_stream.training.fitting.training_arrays`). Its distribution
for a window is the class-probability-weighted mixture of the training subjects' mean target
distribution of each condition,

    ``pred = predict_proba(x) @ [condition_means[c] for c in classes]``,

so with a perfect condition recogniser it equals the condition oracle, and a model that reads
more than the condition from the signals has to beat it.

Missing values (NaN: a modality absent from a window, a feature that could not be computed)
are passed to the forest as they are: scikit-learn >= 1.4 random forests learn at each split
which side missing values go to, so nothing is imputed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "FOREST_PARAMS",
    "ForestReference",
    "fit_forest",
    "fit_forest_on_subjects",
    "stack_features",
]

#: Hyper-parameters of the forest, fixed before any test-subject result was seen.
FOREST_PARAMS: dict[str, Any] = {"n_estimators": 200, "min_samples_leaf": 20, "n_jobs": 1}


def stack_features(features: Mapping[str, np.ndarray], modalities: Sequence[str]) -> np.ndarray:
    """``(N, F)`` float32: the modalities' ``(N, F_m)`` feature blocks side by side, in order."""
    missing = [m for m in modalities if m not in features]
    if missing:
        raise KeyError(f"features lack the modalities {missing}")
    blocks = [np.asarray(features[m], dtype=np.float32) for m in modalities]
    if not blocks:
        raise ValueError("no modalities to stack")
    return np.concatenate(blocks, axis=1)


@dataclass
class ForestReference:
    """A fitted forest and the condition means its probabilities are mixed with.

    Attributes
    ----------
    classifier
        The fitted :class:`~sklearn.ensemble.RandomForestClassifier`.
    modalities
        Modality order of the stacked features.
    conditions
        The forest's classes (``classifier.classes_``) as strings.
    means
        ``(C, L)``: the condition mean distribution of each class, in ``conditions`` order.
    n_train_windows
        Windows the forest was fitted on.
    seconds
        Wall time of the forest fit alone.
    """

    classifier: Any
    modalities: tuple[str, ...]
    conditions: tuple[str, ...]
    means: np.ndarray
    n_train_windows: int
    seconds: float

    def predict_proba(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """``(N, C)`` condition probabilities of the windows ``modality -> (N, F_m)``."""
        x = stack_features(features, self.modalities)
        if not len(x):
            return np.empty((0, len(self.conditions)))
        return np.asarray(self.classifier.predict_proba(x), dtype=np.float64)

    def predict(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """``(N, L)`` distributions: the condition probabilities mixed over the means."""
        return self.predict_proba(features) @ self.means

    def predict_session(self, session: Any, normalizer: Any) -> np.ndarray:
        """``(N, L)`` for a session's labelled windows, z-scored as the live pipeline would.

        ``normalizer`` (population statistics) is streamed fresh through the whole session,
        calibrating on its first ``calibration_s`` seconds, exactly as
        :func:`~helo_stream.training.fitting.predict_session` does for the neural models.
        """
        z = session.normalized_features(normalizer)
        rows = np.flatnonzero(session.labelled)
        return self.predict({name: arr[rows] for name, arr in z.items()})


def fit_forest(
    features: Mapping[str, np.ndarray],
    conditions: Sequence[str],
    condition_means: Mapping[str, np.ndarray],
    *,
    seed: int,
    modalities: Sequence[str] | None = None,
) -> ForestReference:
    """Fit the forest on labelled windows and their protocol conditions.

    Parameters
    ----------
    features
        ``modality -> (N, F_m)`` z-scored features (NaN allowed).
    conditions
        ``(N,)`` protocol condition of each window.
    condition_means
        ``condition -> (L,)`` mean target distribution of the training windows of each
        condition; every condition in ``conditions`` needs one.
    seed
        ``random_state`` of the forest (the fit seed of the compared models).
    modalities
        Order in which the feature blocks are concatenated (default: ``features``' order).

    Raises
    ------
    ValueError
        No windows, mismatched lengths, or a condition without a mean.
    """
    from sklearn.ensemble import RandomForestClassifier

    order = tuple(features) if modalities is None else tuple(modalities)
    x = stack_features(features, order)
    y = np.asarray(conditions).astype(str)
    if y.shape != (x.shape[0],):
        raise ValueError(f"conditions must have shape ({x.shape[0]},), got {y.shape}")
    if not len(y):
        raise ValueError("no training windows for the random forest")
    lacking = sorted(set(y.tolist()) - set(condition_means))
    if lacking:
        raise ValueError(f"no condition mean for the training conditions {lacking}")
    start = time.perf_counter()
    forest = RandomForestClassifier(**FOREST_PARAMS, random_state=seed).fit(x, y)
    seconds = time.perf_counter() - start
    classes = tuple(str(c) for c in forest.classes_)
    means = np.stack([np.asarray(condition_means[c], dtype=np.float64) for c in classes])
    return ForestReference(
        classifier=forest,
        modalities=order,
        conditions=classes,
        means=means,
        n_train_windows=len(y),
        seconds=seconds,
    )


def fit_forest_on_subjects(
    subjects: Sequence[Any],
    normalizer: Any,
    condition_means: Mapping[str, np.ndarray],
    *,
    stride: int,
    seed: int,
    modalities: Sequence[str] | None = None,
) -> ForestReference:
    """The forest on the labelled windows of ``subjects`` (every ``stride``-th), as the models.

    Features come from :func:`~helo_stream.training.fitting.training_arrays` with the given
    ``normalizer`` (the fold's, or a checkpoint's population statistics), so each session is
    z-scored whole and in time order before its labelled windows are picked.
    """
    from helo_stream.training.fitting import training_arrays

    usable = [s for s in subjects if s.usable]
    if not usable:
        raise ValueError("no training subject has labelled windows")
    feats, _, _, _, conds = training_arrays(usable, normalizer, stride=stride)
    return fit_forest(feats, conds, condition_means, seed=seed, modalities=modalities)
