"""Emotion-distribution models (HeLo and a late-fusion MLP baseline), checkpoints, normalisation."""

from helo_stream.models.checkpoint import (
    CheckpointError,
    Predictor,
    load_checkpoint,
    save_checkpoint,
)
from helo_stream.models.ensemble import HeLoEnsemble, HeLoEnsembleConfig
from helo_stream.models.helo import HeLo, HeLoConfig, ModalitySpec, alignment_loss, helo_loss
from helo_stream.models.mlp import LateFusionMLP, MLPConfig
from helo_stream.models.normalization import FeatureNormalizer

__all__ = [
    "CheckpointError",
    "FeatureNormalizer",
    "HeLo",
    "HeLoConfig",
    "HeLoEnsemble",
    "HeLoEnsembleConfig",
    "LateFusionMLP",
    "MLPConfig",
    "ModalitySpec",
    "Predictor",
    "alignment_loss",
    "helo_loss",
    "load_checkpoint",
    "save_checkpoint",
]
