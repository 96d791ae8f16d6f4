"""Label-distribution evaluation measures."""

from helo_stream.metrics.distribution import (
    EPS,
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    MEASURES,
    canberra,
    chebyshev,
    clark,
    cosine,
    distribution_metrics,
    intersection,
    kl_divergence,
)

__all__ = [
    "EPS",
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "MEASURES",
    "canberra",
    "chebyshev",
    "clark",
    "cosine",
    "distribution_metrics",
    "intersection",
    "kl_divergence",
]
