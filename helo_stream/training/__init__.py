"""Model training: the seeded, resumable training loop and the label-correlation target.

:mod:`helo_stream.training.fitting` is what ``helo-stream train`` (and every LOSO fold) runs:
features from recordings, normalisation, this loop and the references of
:mod:`helo_stream.training.references`. It is not imported here, so the training loop stays
importable without the feature pipeline.
"""

from helo_stream.training.trainer import TrainConfig, TrainResult, label_correlation, train_model

__all__ = ["TrainConfig", "TrainResult", "label_correlation", "train_model"]
