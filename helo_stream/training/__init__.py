"""Model training: the seeded, resumable training loop and the label-correlation target."""

from helo_stream.training.trainer import TrainConfig, TrainResult, label_correlation, train_model

__all__ = ["TrainConfig", "TrainResult", "label_correlation", "train_model"]
