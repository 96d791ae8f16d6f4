"""Offline evaluation: LOSO comparison against baselines, reports and figures.

Every fold fits its models with :func:`helo_stream.training.fitting.fit_model`, the code path
``helo-stream train`` runs.
"""

from helo_stream.evaluation.baselines import oracle_predictions
from helo_stream.evaluation.loso import EvaluationResult, Fold, loso_folds, run_loso

__all__ = [
    "EvaluationResult",
    "Fold",
    "loso_folds",
    "oracle_predictions",
    "run_loso",
]
