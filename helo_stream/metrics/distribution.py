"""The six label-distribution measures of Geng (TKDE 2016), per sample.

For a true distribution ``p`` and a prediction ``q`` over ``L`` labels:

- Chebyshev ``max_j |p_j - q_j|`` (lower is better)
- Clark ``sqrt(sum_j (p_j - q_j)^2 / (p_j + q_j)^2)`` (lower)
- Canberra ``sum_j |p_j - q_j| / (p_j + q_j)`` (lower)
- Kullback-Leibler ``sum_j p_j ln(p_j / q_j)`` (lower)
- Cosine ``sum_j p_j q_j / (||p|| ||q||)`` (higher)
- Intersection ``sum_j min(p_j, q_j)`` (higher)

Zeros need a convention, fixed here by :data:`EPS`: the Clark and Canberra denominators are
``p_j + q_j + EPS`` (a label where both are 0 contributes 0), KL uses ``0 ln 0 = 0`` and
``ln max(q_j, EPS)`` (a prediction of exactly 0 where ``p_j > 0`` costs ``p_j ln(p_j / EPS)``
instead of infinity), and cosine divides by ``max(||p|| ||q||, EPS)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import xlogy

__all__ = [
    "EPS",
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "canberra",
    "chebyshev",
    "clark",
    "cosine",
    "distribution_metrics",
    "intersection",
    "kl_divergence",
]

#: Guard against 0/0 and log(0); small enough not to change any realistic score.
EPS = 1e-12

LOWER_IS_BETTER: tuple[str, ...] = ("chebyshev", "clark", "canberra", "kl_divergence")
HIGHER_IS_BETTER: tuple[str, ...] = ("cosine", "intersection")


def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(y_true, dtype=np.float64)
    q = np.asarray(y_pred, dtype=np.float64)
    if p.ndim != 2 or p.shape != q.shape:
        raise ValueError(
            f"y_true and y_pred must both be (N, L) with the same shape, got {p.shape}, {q.shape}"
        )
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
        raise ValueError("y_true and y_pred must be finite")
    return p, q


def chebyshev(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-sample Chebyshev distance ``(N,)`` (lower is better)."""
    p, q = _pair(y_true, y_pred)
    return np.abs(p - q).max(axis=1)


def clark(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-sample Clark distance ``(N,)`` (lower is better)."""
    p, q = _pair(y_true, y_pred)
    return np.sqrt(((p - q) ** 2 / (p + q + EPS) ** 2).sum(axis=1))


def canberra(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-sample Canberra distance ``(N,)`` (lower is better)."""
    p, q = _pair(y_true, y_pred)
    return (np.abs(p - q) / (p + q + EPS)).sum(axis=1)


def kl_divergence(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-sample ``KL(y_true || y_pred)`` in nats ``(N,)`` (lower is better)."""
    p, q = _pair(y_true, y_pred)
    return (xlogy(p, p) - xlogy(p, np.maximum(q, EPS))).sum(axis=1)


def cosine(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-sample cosine similarity ``(N,)`` (higher is better)."""
    p, q = _pair(y_true, y_pred)
    norms = np.linalg.norm(p, axis=1) * np.linalg.norm(q, axis=1)
    return (p * q).sum(axis=1) / np.maximum(norms, EPS)


def intersection(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-sample intersection similarity ``(N,)`` (higher is better)."""
    p, q = _pair(y_true, y_pred)
    return np.minimum(p, q).sum(axis=1)


#: The six measures by name, each per sample ``(N,)``.
MEASURES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "chebyshev": chebyshev,
    "clark": clark,
    "canberra": canberra,
    "kl_divergence": kl_divergence,
    "cosine": cosine,
    "intersection": intersection,
}


def distribution_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Mean of each of the six measures over the samples, keyed by measure name."""
    return {name: float(np.mean(fn(y_true, y_pred))) for name, fn in MEASURES.items()}
