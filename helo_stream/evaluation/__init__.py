"""Offline evaluation: LOSO comparison against baselines, reports and figures."""

from helo_stream.evaluation.baselines import condition_means, oracle_predictions, population_mean
from helo_stream.evaluation.fitting import METHODS, FitSettings, FittedModel, fit_model
from helo_stream.evaluation.loso import EvaluationResult, Fold, loso_folds, run_loso

__all__ = [
    "METHODS",
    "EvaluationResult",
    "FitSettings",
    "FittedModel",
    "Fold",
    "condition_means",
    "fit_model",
    "loso_folds",
    "oracle_predictions",
    "population_mean",
    "run_loso",
]
