"""Multi-label targets: which emotions are present in a window, from self-reports or from HeLo.

Self-reports rate each emotion on a 1-5 scale (1 "not at all", 3 "somewhat", 5 "extremely"); an
emotion counts as present when rated at least "somewhat". HeLo predicts a distribution over the
same labels; :func:`distribution_to_multilabel` turns it into a label set so that both models
can be scored with :mod:`helo_stream.metrics.multilabel`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "distribution_to_multilabel",
    "ratings_to_multilabel",
    "session_multilabel_targets",
    "subject_multilabel_targets",
]


def ratings_to_multilabel(
    ratings: Mapping[str, int], labels: Sequence[str], *, min_rating: int = 3
) -> np.ndarray:
    """``(L,)`` bool in ``labels`` order: True where the emotion is rated ``>= min_rating``.

    Every label must be rated (a missing rating is an error, not "absent": silently reading it
    as absent would bias the targets toward no emotion). Ratings must be finite numbers.
    """
    if not labels or len(set(labels)) != len(labels):
        raise ValueError(f"labels must be non-empty and unique, got {list(labels)}")
    lacking = [name for name in labels if name not in ratings]
    if lacking:
        raise KeyError(f"no rating for labels {lacking}")
    out = np.zeros(len(labels), dtype=bool)
    for i, name in enumerate(labels):
        value = ratings[name]
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise ValueError(f"rating of {name!r} must be a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise ValueError(f"rating of {name!r} must be finite, got {value!r}")
        out[i] = value >= min_rating
    return out


def distribution_to_multilabel(
    dist: np.ndarray, *, threshold: float | None = None, top_k: int | None = None
) -> np.ndarray:
    """Label sets from label distributions ``(N, L)`` (or one ``(L,)`` row).

    Choice: by default a label is present when its probability is at least ``1 / L``, i.e. at
    least as likely as under a uniform distribution; a distribution model spreads mass over all
    labels, so a fixed 0.5 would almost never fire on more than one label. Pass ``threshold``
    for another cut-off, or ``top_k`` to take the ``k`` most probable labels (ties broken by
    label order). At most one of the two may be given.
    """
    p = np.asarray(dist, dtype=np.float64)
    single = p.ndim == 1
    if single:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] == 0:
        raise ValueError(f"dist must be (N, L) or (L,), got shape {np.shape(dist)}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("dist must be finite and non-negative")
    if threshold is not None and top_k is not None:
        raise ValueError("give threshold or top_k, not both")
    n_labels = p.shape[1]
    if top_k is not None:
        if isinstance(top_k, bool) or not 1 <= top_k <= n_labels:
            raise ValueError(f"top_k must lie in [1, {n_labels}], got {top_k}")
        order = np.argsort(-p, axis=1, kind="stable")[:, :top_k]
        out = np.zeros(p.shape, dtype=bool)
        np.put_along_axis(out, order, True, axis=1)
    else:
        cut = 1.0 / n_labels if threshold is None else float(threshold)
        if not 0.0 < cut <= 1.0:
            raise ValueError(f"threshold must lie in (0, 1], got {threshold}")
        out = p >= cut
    return out[0] if single else out


def session_multilabel_targets(
    session: Any,
    conditions: Iterable[Any],
    labels: Sequence[str],
    *,
    min_rating: int = 3,
) -> np.ndarray:
    """``(N, L)`` bool presence targets for every window of a session (False where unlabelled).

    A session stores each labelled window's ratings only normalised to a distribution, which
    loses the rating scale (ratings 1, 1 and 5, 5 give the same distribution), so "rated at
    least ``min_rating``" cannot be read back from it. The ratings come instead from the
    recording's rated ``conditions`` (objects with ``condition`` and ``ratings``, e.g.
    :class:`~helo_stream.recordings.base.ConditionInterval`): each labelled window is matched to
    the rated condition of the same name whose normalised ratings equal its target.

    Raises
    ------
    ValueError
        A labelled window matches no rated condition, or two matching conditions disagree on
        which labels are present (the window's ratings would be ambiguous).
    """
    labels = list(labels)
    rated = []
    for interval in conditions:
        if interval.ratings is None:
            continue
        values = np.array([float(interval.ratings[name]) for name in labels])
        rated.append(
            (
                str(interval.condition),
                values / values.sum(),
                ratings_to_multilabel(interval.ratings, labels, min_rating=min_rating),
            )
        )
    targets = np.asarray(session.targets, dtype=np.float64)
    out = np.zeros((len(targets), len(labels)), dtype=bool)
    for i in np.flatnonzero(session.labelled):
        sets = {
            tuple(present)
            for name, dist, present in rated
            if name == str(session.condition[i]) and np.allclose(dist, targets[i], atol=1e-9)
        }
        if len(sets) != 1:
            problem = "matches no" if not sets else "matches disagreeing"
            raise ValueError(
                f"{session.subject}: labelled window {i} ({session.condition[i]}) {problem} "
                "rated condition of the recording"
            )
        out[i] = next(iter(sets))
    return out


def subject_multilabel_targets(
    subject: Any, labels: Sequence[str], *, min_rating: int = 3
) -> np.ndarray:
    """:func:`session_multilabel_targets` of a loaded subject, its ratings read from its recording.

    Reading the recording again costs about a second per WESAD subject; call it once per
    subject and pass the result around.
    """
    import warnings

    from helo_stream.recordings import load_recording

    with warnings.catch_warnings():
        # The reader's warnings were already collected when the subject was first loaded.
        warnings.simplefilter("ignore")
        recording = load_recording(subject.path)
    return session_multilabel_targets(
        subject.session, recording.conditions, labels, min_rating=min_rating
    )
