"""The checkpoint format the live pipeline loads, and the predictor built from it.

A checkpoint is one ``torch.save`` of a plain dict: tensors, strings, numbers, lists and dicts
only, so ``torch.load(weights_only=True)`` reads it without unpickling any class (a checkpoint
is data, never code). It holds everything needed to reproduce predictions: model kind and
config, weights, label names, feature names per modality (in input order) and the population
statistics of the feature normaliser.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from helo_stream.models.ensemble import HeLoEnsemble, HeLoEnsembleConfig
from helo_stream.models.helo import HeLo, HeLoConfig
from helo_stream.models.mlp import LateFusionMLP, MLPConfig
from helo_stream.models.normalization import FeatureNormalizer
from helo_stream.models.tailor import Tailor, TailorConfig

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "MULTILABEL_MODELS",
    "CheckpointError",
    "Predictor",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "helo-stream-checkpoint"
CHECKPOINT_VERSION = 1
_MODELS: dict[str, tuple[Any, type[nn.Module]]] = {
    "helo": (HeLoConfig, HeLo),
    "mlp": (MLPConfig, LateFusionMLP),
    "tailor": (TailorConfig, Tailor),
}
#: Models that score every label independently (sigmoid) instead of predicting a distribution.
MULTILABEL_MODELS = frozenset({"tailor"})
_KEYS = (
    "format",
    "format_version",
    "model_name",
    "model_config",
    "state_dict",
    "labels",
    "feature_names",
    "normalizer",
    "metadata",
)


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or not a valid helo-stream checkpoint."""


def _build(model_name: str, model_config: Mapping[str, Any]) -> nn.Module:
    if model_name not in _MODELS:
        raise CheckpointError(f"unknown model_name {model_name!r}; expected one of {list(_MODELS)}")
    config_cls, model_cls = _MODELS[model_name]
    if model_name == "helo" and "members" in model_config:  # an ensemble of HeLo networks
        config_cls, model_cls = HeLoEnsembleConfig, HeLoEnsemble
    try:
        config = config_cls.from_dict(model_config)
    except (TypeError, ValueError, KeyError) as err:
        raise CheckpointError(f"invalid {model_name} model_config: {err}") from err
    return model_cls(config)


def _check_consistency(
    model: nn.Module,
    labels: Sequence[str],
    feature_names: Mapping[str, Sequence[str]],
    normalizer: FeatureNormalizer,
) -> None:
    config = model.config
    if len(labels) != config.n_labels or len(set(labels)) != len(labels):
        raise CheckpointError(f"labels must be {config.n_labels} unique names, got {list(labels)}")
    if not all(isinstance(label, str) for label in labels):
        raise CheckpointError("labels must be strings")
    expected = {m.name: m.n_features for m in config.modalities}
    if set(feature_names) != set(expected):
        raise CheckpointError(
            f"feature_names must name the modalities {sorted(expected)}, "
            f"got {sorted(feature_names)}"
        )
    for name, n_feat in expected.items():
        names = list(feature_names[name])
        if len(names) != n_feat or not all(isinstance(n, str) for n in names):
            raise CheckpointError(f"feature_names[{name!r}] must be {n_feat} strings, got {names}")
    if set(normalizer.modalities) != set(expected):
        raise CheckpointError(
            f"the normalizer covers {sorted(normalizer.modalities)}, the model {sorted(expected)}"
        )
    sizes = {name: len(mean) for name, mean in normalizer.to_dict()["population_mean"].items()}
    if sizes != expected:
        raise CheckpointError(f"normalizer feature counts {sizes} differ from the model {expected}")


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    model: nn.Module,
    model_name: Literal["helo", "mlp", "tailor"],
    model_config: dict[str, Any],
    labels: Sequence[str],
    feature_names: dict[str, list[str]],
    normalizer: FeatureNormalizer,
    metadata: dict[str, Any],
) -> str:
    """Write a checkpoint atomically and return the SHA-256 (hex) of the file.

    Parameters
    ----------
    model
        A :class:`HeLo` (or :class:`~helo_stream.models.ensemble.HeLoEnsemble`, also
        ``"helo"``), :class:`LateFusionMLP` or :class:`Tailor` built from ``model_config``.
    model_name
        ``"helo"``, ``"mlp"`` or ``"tailor"``.
    model_config
        ``config.to_dict()`` of the model (checked against ``model.config``).
    labels
        Emotion label names, in output order.
    feature_names
        ``modality -> feature names`` in input order (the live pipeline checks its own
        extractors against these).
    normalizer
        Population statistics to z-score with; only its configuration is stored, never a
        subject's calibration state.
    metadata
        JSON-compatible provenance (dataset, split, metrics, git revision, ...).

    Raises
    ------
    CheckpointError
        Inconsistent arguments (labels/features vs model config, non-plain metadata, ...).
    """
    reference = _build(model_name, model_config)
    if type(model) is not type(reference) or model.config != reference.config:
        raise CheckpointError(
            f"model is a {type(model).__name__} whose config differs from model_config"
        )
    _check_consistency(model, labels, feature_names, normalizer)
    try:
        metadata_copy = json.loads(json.dumps(metadata))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"metadata must be JSON-compatible: {err}") from err
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "model_name": model_name,
        "model_config": reference.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "labels": list(labels),
        "feature_names": {name: list(names) for name, names in feature_names.items()},
        "normalizer": normalizer.to_dict(),
        "metadata": metadata_copy,
        "torch_version": str(torch.__version__),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    try:  # fail here, not when the pipeline loads it
        torch.load(io.BytesIO(data), weights_only=True)
    except Exception as err:
        raise CheckpointError(f"checkpoint would not load with weights_only=True: {err}") from err
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()


class Predictor:
    """A loaded checkpoint: an eval-mode model plus everything needed to feed it.

    Attributes
    ----------
    labels
        Output label names.
    feature_names
        ``modality -> feature names`` in input order.
    model_name, checkpoint_sha256, metadata
        Model kind, SHA-256 of the checkpoint file, and the stored metadata.
    model
        The underlying module, in eval mode (for offline evaluation).
    multilabel
        True for a multi-label model (TAILOR): it scores each label's presence independently;
        :meth:`predict` then returns those scores normalised to a distribution (so consumers
        of distributions keep working) and :meth:`predict_scores` the scores themselves.
    threshold
        Decision threshold on a presence score (from the checkpoint's model config; None for
        distribution models).
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        model_name: str,
        labels: Sequence[str],
        feature_names: Mapping[str, Sequence[str]],
        normalizer: Mapping[str, Any],
        metadata: Mapping[str, Any],
        checkpoint_sha256: str,
    ) -> None:
        self.model = model.eval()
        self.model_name = model_name
        self.labels = tuple(labels)
        self.feature_names = {name: tuple(names) for name, names in feature_names.items()}
        self.metadata = copy.deepcopy(dict(metadata))
        self.checkpoint_sha256 = checkpoint_sha256
        self._normalizer = copy.deepcopy(dict(normalizer))
        self.multilabel = model_name in MULTILABEL_MODELS
        self.threshold: float | None = float(model.config.threshold) if self.multilabel else None

    def new_normalizer(self) -> FeatureNormalizer:
        """A fresh normaliser (population statistics, calibration not started) for one subject."""
        return FeatureNormalizer.from_dict(self._normalizer)

    def _inputs(
        self,
        features: Mapping[str, np.ndarray],
        present: Mapping[str, Any] | None,
        *,
        batched: bool,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Model inputs; modalities left out of ``features`` become absent NaN rows."""
        unknown = sorted(set(features) - set(self.feature_names))
        if present is not None:
            unknown += sorted(set(present) - set(self.feature_names))
        if unknown:
            raise KeyError(f"unknown modalities {unknown}; expected {list(self.feature_names)}")
        tensors = {}
        for name, value in features.items():
            arr = np.array(value, dtype=np.float32)  # a copy: the caller's array stays theirs
            tensors[name] = torch.from_numpy(arr if batched or arr.ndim != 1 else arr[None])
        if tensors:
            n = next(iter(tensors.values())).shape[0]
        elif not batched:
            n = 1
        else:
            raise ValueError("predict_batch needs at least one modality's features")
        flags: dict[str, torch.Tensor] = {}
        for name, names in self.feature_names.items():
            if name not in tensors:
                # An absent device: the model masks it, the values only need the right shape.
                tensors[name] = torch.full((n, len(names)), float("nan"))
                flags[name] = torch.zeros(n, dtype=torch.bool)
            elif present is not None and name in present:
                flags[name] = torch.from_numpy(np.asarray(present[name], dtype=bool).reshape(-1))
        return tensors, flags

    def _scores(
        self, tensors: dict[str, torch.Tensor], flags: dict[str, torch.Tensor]
    ) -> np.ndarray:
        """Per-label presence probabilities ``(N, L)`` of a multi-label model."""
        if not self.multilabel:
            raise ValueError(
                f"a {self.model_name!r} model predicts a distribution, not per-label scores"
            )
        with torch.inference_mode():
            logits = self.model(tensors, flags or None).logits
        return torch.sigmoid(logits.to(torch.float64)).numpy()

    def _run(self, tensors: dict[str, torch.Tensor], flags: dict[str, torch.Tensor]) -> np.ndarray:
        # The model's own output as a distribution: TAILOR's independent sigmoid scores
        # normalised, a distribution model's float32 softmax renormalised in float64. Not a
        # check: what may be published is decided downstream by the one guard,
        # helo_stream.sinks.message.checked_distributions (a NaN row stays NaN here).
        if self.multilabel:
            probs = self._scores(tensors, flags)
        else:
            with torch.inference_mode():
                log_probs = self.model(tensors, flags or None)
            probs = np.exp(log_probs.to(torch.float64).numpy())
        probs /= probs.sum(axis=1, keepdims=True)
        return probs

    def predict_scores(
        self, features: Mapping[str, np.ndarray], *, present: Mapping[str, bool] | None = None
    ) -> np.ndarray:
        """Per-label presence probabilities ``(L,)`` float64 for one window (multi-label only).

        Raises
        ------
        ValueError
            The model predicts a distribution (HeLo, MLP): it has no per-label scores.
        """
        tensors, flags = self._inputs(features, present, batched=False)
        return self._scores(tensors, flags)[0]

    def predict_scores_batch(
        self,
        features: Mapping[str, np.ndarray],
        present: Mapping[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Per-label presence probabilities ``(N, L)`` for ``(N, F)`` windows (multi-label only)."""
        tensors, flags = self._inputs(features, present, batched=True)
        return self._scores(tensors, flags)

    def predict(
        self, features: Mapping[str, np.ndarray], *, present: Mapping[str, bool] | None = None
    ) -> np.ndarray:
        """Label distribution ``(L,)`` float64 for one normalised window.

        Parameters
        ----------
        features
            ``modality -> (F,)`` z-scored features (NaN for features that could not be
            computed). A modality left out is treated as absent.
        present
            Optional ``modality -> bool``; False marks the modality absent (device dropped).
        """
        tensors, flags = self._inputs(features, present, batched=False)
        return self._run(tensors, flags)[0]

    def predict_batch(
        self,
        features: Mapping[str, np.ndarray],
        present: Mapping[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Label distributions ``(N, L)`` float64 for ``modality -> (N, F)`` normalised windows."""
        tensors, flags = self._inputs(features, present, batched=True)
        return self._run(tensors, flags)


def load_checkpoint(path: str | os.PathLike[str]) -> Predictor:
    """Load and validate a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    CheckpointError
        The file is missing, unreadable, not a helo-stream checkpoint, or inconsistent.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    data = path.read_bytes()
    try:
        payload = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as err:  # torch raises many types for a corrupt or foreign file
        raise CheckpointError(
            f"{path} is not a readable helo-stream checkpoint (torch.load failed: "
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a helo-stream checkpoint (no format marker)")
    missing = [key for key in _KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{path} lacks the checkpoint keys {missing}")
    if payload["format_version"] != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {payload['format_version']!r}; "
            f"this code reads version {CHECKPOINT_VERSION}"
        )
    model = _build(payload["model_name"], payload["model_config"])
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{path}: weights do not fit the model config: {err}") from err
    try:
        normalizer = FeatureNormalizer.from_dict(payload["normalizer"])
    except (TypeError, ValueError, KeyError) as err:
        raise CheckpointError(f"{path}: invalid normalizer: {err}") from err
    _check_consistency(model, payload["labels"], payload["feature_names"], normalizer)
    if not isinstance(payload["metadata"], dict):
        raise CheckpointError(f"{path}: metadata must be a dict")
    return Predictor(
        model=model,
        model_name=payload["model_name"],
        labels=payload["labels"],
        feature_names=payload["feature_names"],
        normalizer=normalizer.to_dict(),
        metadata=payload["metadata"],
        checkpoint_sha256=hashlib.sha256(data).hexdigest(),
    )
