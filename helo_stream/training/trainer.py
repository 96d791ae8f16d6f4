"""Training loop for the emotion-distribution models: seeded, resumable, group-aware validation.

Windows of one subject overlap in time, so a random split of windows would leak nearly identical
samples into validation; the validation set here is always whole groups (subjects).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from helo_stream.config.pipeline import TrainingConfig
from helo_stream.metrics.distribution import distribution_metrics
from helo_stream.models.helo import HeLo, helo_loss
from helo_stream.training.common import (
    Selection,
    as_tensors,
    batches,
    group_split,
    load_state,
    optimise,
    predict_batches,
    restore,
    run_fingerprint,
    save_state,
    take_rows,
    target_matrix,
    validation_fields,
)

__all__ = ["TrainConfig", "TrainResult", "label_correlation", "train_model"]

_STATE_FILE = "train_state.pt"
_STATE_VERSION = 2  # 2: condition read-out
#: TrainConfig fields that may change when a run is resumed (they do not alter past epochs).
_RESUMABLE_CHANGES = ("epochs", "patience", "eval_batch_size")
#: The pipeline's ``training`` defaults: the one source of the optimisation defaults below.
_TRAINING = TrainingConfig()
#: Fields taken from the pipeline's ``training`` section (or FitSettings) by :meth:`from_settings`.
RECIPE_FIELDS = (
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "lam",
    "seed",
    "grad_clip",
    "condition_weight",
)


@dataclass
class TrainConfig:
    """Optimisation settings.

    The optimisation fields default to the pipeline's ``training`` defaults
    (:class:`~helo_stream.config.pipeline.TrainingConfig`); validation is off unless asked for
    (it needs groups), and :meth:`from_settings` applies the pipeline's rule for it.

    Attributes
    ----------
    epochs, batch_size, lr, weight_decay
        AdamW training schedule (constant learning rate).
    lam
        Weight of HeLo's label-correlation alignment loss (ignored for other models).
    seed
        Seeds the batch order, dropout, modality dropout and the validation split.
    val_fraction
        Fraction of groups held out for validation (0: none; the last epoch is kept).
    grad_clip
        Maximum global gradient norm (None: no clipping).
    patience
        Stop after this many epochs without a validation improvement (None: never).
    eval_batch_size
        Batch size for validation forward passes.
    condition_weight
        Weight of HeLo's condition cross-entropy (models with a condition read-out only).
    """

    epochs: int = _TRAINING.epochs
    batch_size: int = _TRAINING.batch_size
    lr: float = _TRAINING.lr
    weight_decay: float = _TRAINING.weight_decay
    lam: float = _TRAINING.lam
    seed: int = _TRAINING.seed
    val_fraction: float = 0.0
    grad_clip: float | None = _TRAINING.grad_clip
    patience: int | None = None
    eval_batch_size: int = 4096
    condition_weight: float = _TRAINING.condition_weight

    @classmethod
    def from_settings(cls, settings: Any, *, validation: bool, **overrides: Any) -> TrainConfig:
        """The settings of a pipeline's training run.

        Parameters
        ----------
        settings
            A :class:`~helo_stream.config.pipeline.TrainingConfig` or a
            :class:`~helo_stream.training.fitting.FitSettings` (the same field names).
        validation
            Whether the data allow validation (enough groups): then ``settings.val_fraction``
            of the groups are held out and ``settings.patience`` applies; else neither.
        overrides
            Fields to set instead (e.g. an ensemble member's ``seed``).
        """
        values = {name: getattr(settings, name) for name in RECIPE_FIELDS}
        values.update(validation_fields(settings, validation))
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("epochs must be >= 0 and batch sizes >= 1")
        if not (self.lr > 0 and self.weight_decay >= 0 and self.lam >= 0):
            raise ValueError("lr must be > 0, weight_decay and lam >= 0")
        if not self.condition_weight >= 0:
            raise ValueError(f"condition_weight must be >= 0, got {self.condition_weight}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in [0, 1), got {self.val_fraction}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError("grad_clip must be > 0 or None")
        if self.patience is not None and self.patience < 1:
            raise ValueError("patience must be >= 1 or None")


@dataclass
class TrainResult:
    """Outcome of :func:`train_model`; the model itself holds the selected weights.

    Attributes
    ----------
    history
        One dict per epoch: ``epoch`` (1-based), ``train_loss``, ``train_kl``, ``train_align``,
        ``train_condition`` (sample-weighted means over the epoch, in training mode) and, with
        validation,
        ``val_loss`` (KL in nats) plus ``val_<measure>`` for the six distribution measures.
    best_epoch
        Epoch whose weights the model holds (lowest validation KL, else the last epoch).
    best_val_kl
        Validation KL of that epoch (None without validation).
    label_corr
        Label correlation of the training targets (the alignment target).
    train_groups, val_groups
        Group ids used for training and validation.
    resumed_from_epoch
        Last epoch found in ``checkpoint_dir`` (0 for a fresh run).
    stopped_early
        True if ``patience`` ended training before ``epochs``.
    """

    history: list[dict[str, float]]
    best_epoch: int
    best_val_kl: float | None
    label_corr: np.ndarray
    train_groups: tuple[Any, ...] = field(default_factory=tuple)
    val_groups: tuple[Any, ...] = field(default_factory=tuple)
    resumed_from_epoch: int = 0
    stopped_early: bool = False


def label_correlation(y: np.ndarray) -> np.ndarray:
    """Pearson correlation ``(L, L)`` between the label columns of ``y`` ``(N, L)``.

    A constant column (e.g. a label never present in the data) has no defined correlation; it
    gets 0 off the diagonal and 1 on it instead of NaN.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] == 0:
        raise ValueError(f"y must be (N, L) with N >= 1, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y must be finite")
    centred = y - y.mean(axis=0)
    norms = np.sqrt((centred**2).sum(axis=0))
    constant = y.std(axis=0) <= 1e-12
    norms = np.where(constant, 1.0, norms)
    corr = (centred.T @ centred) / np.outer(norms, norms)
    corr[constant, :] = 0.0
    corr[:, constant] = 0.0
    corr = np.clip(corr, -1.0, 1.0)
    np.fill_diagonal(corr, 1.0)
    return corr


def _forward_loss(
    model: nn.Module,
    features: dict[str, Tensor] | None,
    present: dict[str, Tensor] | None,
    target: Tensor,
    label_corr: Tensor,
    config: TrainConfig,
    condition_target: Tensor | None,
) -> tuple[Tensor, dict[str, float]]:
    """One batch's forward pass and loss (HeLo: :func:`helo_loss`; other models: KL)."""
    if isinstance(model, HeLo):
        log_probs, condition_logits = model.forward_with_conditions(features, present)
        return helo_loss(
            model,
            log_probs,
            target,
            label_corr,
            lam=config.lam,
            condition_logits=condition_logits,
            condition_target=condition_target,
            condition_weight=config.condition_weight,
        )
    kl = F.kl_div(model(features, present), target, reduction="batchmean")
    value = float(kl.detach())
    return kl, {"loss": value, "kl": value, "align": 0.0, "condition": 0.0}


def condition_indices(conditions: np.ndarray | None, names: tuple[str, ...], n: int) -> Tensor:
    """``(n,)`` long: each window's index in ``names``, -1 where unknown (or no conditions)."""
    if conditions is None or not names:
        return torch.full((n,), -1, dtype=torch.long)
    cond = np.asarray(conditions).astype(str)
    if cond.shape != (n,):
        raise ValueError(f"conditions must have shape ({n},), got {cond.shape}")
    lookup = {c: i for i, c in enumerate(names)}
    return torch.as_tensor([lookup.get(c, -1) for c in cond], dtype=torch.long)


def _fingerprint(
    model: nn.Module,
    features: Mapping[str, np.ndarray],
    present: Mapping[str, np.ndarray] | None,
    targets: np.ndarray,
    groups: np.ndarray | None,
    config: TrainConfig,
    conditions: Tensor,
) -> dict[str, Any]:
    """What must match for a saved run to be resumed: model, settings and data."""
    digest = hashlib.sha256()
    for name in sorted(features):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(features[name], dtype=np.float32).tobytes())
    for name in sorted(present or {}):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(present[name], dtype=bool).tobytes())
    digest.update(np.ascontiguousarray(targets, dtype=np.float64).tobytes())
    digest.update(conditions.numpy().tobytes())
    return run_fingerprint(
        model, digest=digest, groups=groups, config=config, resumable=_RESUMABLE_CHANGES
    )


def _evaluate(
    model: nn.Module,
    features: Mapping[str, Tensor],
    present: Mapping[str, Tensor] | None,
    targets: np.ndarray,
    index: Tensor,
    batch_size: int,
) -> dict[str, float]:
    """Distribution measures of the model on the samples ``index`` (eval mode)."""
    chunks = predict_batches(
        model,
        index=index,
        batch_size=batch_size,
        forward=lambda rows: (
            model(take_rows(features, rows), take_rows(present, rows)).exp().to(torch.float64)
        ),
    )
    probs = torch.cat(chunks).numpy()
    probs /= probs.sum(axis=1, keepdims=True)
    metrics = distribution_metrics(targets[index.numpy()], probs)
    return {"val_loss": metrics["kl_divergence"], **{f"val_{k}": v for k, v in metrics.items()}}


def _validated_targets(targets: np.ndarray) -> np.ndarray:
    """Targets as ``(N, L)`` float64 distributions (KL needs rows summing to 1)."""
    y = target_matrix(targets, dtype=np.float64)
    if not np.all(np.isfinite(y)) or np.any(y < 0):
        raise ValueError("targets must be finite and non-negative")
    if not np.allclose(y.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("every target row must be a distribution summing to 1")
    return y


def train_model(
    model: nn.Module,
    *,
    features: dict[str, np.ndarray],
    present: dict[str, np.ndarray] | None,
    targets: np.ndarray,
    config: TrainConfig,
    groups: np.ndarray | None = None,
    conditions: np.ndarray | None = None,
    progress: bool = True,
    checkpoint_dir: Path | None = None,
) -> TrainResult:
    """Train ``model`` in place and leave it holding the selected weights, in eval mode.

    Parameters
    ----------
    model
        A :class:`~helo_stream.models.helo.HeLo` (trained with
        :func:`~helo_stream.models.helo.helo_loss`) or any module with the same forward contract
        (trained with the KL divergence alone).
    features
        ``modality -> (N, F)`` normalised features (NaN allowed: missing features).
    present
        Optional ``modality -> (N,)`` bool, False where the modality is absent.
    targets
        ``(N, L)`` target distributions.
    config
        Optimisation settings.
    groups
        ``(N,)`` subject id per sample; validation holds out whole groups.
    conditions
        ``(N,)`` protocol condition of each sample, the target of HeLo's condition read-out
        (``model.config.conditions``); ignored by models without one.
    progress
        Show a tqdm bar (only when stderr is a terminal).
    checkpoint_dir
        If given, the full training state is saved there after every epoch, and a run that
        finds a state from an identical setup (model, settings, data) resumes after its last
        epoch; ``epochs`` may be raised to train further.

    Returns
    -------
    TrainResult
        History, the selected epoch and the split. Same seed and same initial weights give
        identical results, resumed or not.
    """
    y = _validated_targets(targets)
    n = y.shape[0]
    feats = as_tensors(features, dtype=torch.float32, n=n)
    flags = as_tensors(present, dtype=torch.bool, n=n)
    train_idx, val_idx, train_groups, val_groups = group_split(
        n, groups, val_fraction=config.val_fraction, seed=config.seed
    )
    corr = label_correlation(y[train_idx])
    corr_t = torch.as_tensor(corr, dtype=torch.float32)
    target_t = torch.as_tensor(y, dtype=torch.float32)
    train_t = torch.as_tensor(train_idx)
    val_t = torch.as_tensor(val_idx)
    has_val = len(val_idx) > 0

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    names = model.config.conditions if isinstance(model, HeLo) else ()
    cond_t = condition_indices(conditions, names, n)
    fingerprint = _fingerprint(model, features, present, y, groups, config, cond_t)
    history: list[dict[str, float]] = []
    selection = Selection()
    start = 1
    shuffle = torch.Generator()
    state_path = None if checkpoint_dir is None else Path(checkpoint_dir) / _STATE_FILE

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        shuffle.manual_seed(config.seed)
        if state_path is not None and state_path.exists():
            saved = load_state(
                state_path,
                version=_STATE_VERSION,
                fingerprint=fingerprint,
                config_name="TrainConfig",
            )
            history, selection, start = restore(
                saved, model=model, optimizer=optimizer, shuffle=shuffle
            )
        resumed_from = start - 1
        stopped_early = selection.stopped(config.patience)
        bar = tqdm(
            range(start, config.epochs + 1),
            desc="train",
            unit="epoch",
            disable=not (progress and sys.stderr.isatty()),
        )
        for epoch in bar:
            if stopped_early:
                break
            model.train()
            sums = {"loss": 0.0, "kl": 0.0, "align": 0.0, "condition": 0.0}
            for rows in batches(train_t, batch_size=config.batch_size, generator=shuffle):
                loss, parts = _forward_loss(
                    model,
                    take_rows(feats, rows),
                    take_rows(flags, rows),
                    target_t[rows],
                    corr_t,
                    config,
                    cond_t[rows],
                )
                optimise(
                    model,
                    optimizer,
                    loss,
                    loss_value=parts["loss"],
                    epoch=epoch,
                    grad_clip=config.grad_clip,
                )
                for key in sums:
                    sums[key] += parts[key] * len(rows)
            record: dict[str, float] = {"epoch": epoch}
            record.update({f"train_{k}": v / len(train_idx) for k, v in sums.items()})
            if has_val:
                record.update(_evaluate(model, feats, flags, y, val_t, config.eval_batch_size))
            selection.update(model, epoch=epoch, val_loss=record["val_loss"] if has_val else None)
            stopped_early = selection.stopped(config.patience)
            history.append(record)
            bar.set_postfix(
                loss=f"{record['train_loss']:.4f}",
                **({"val_kl": f"{record['val_loss']:.4f}"} if has_val else {}),
            )
            if state_path is not None:
                save_state(
                    state_path,
                    {
                        "version": _STATE_VERSION,
                        "fingerprint": fingerprint,
                        "epoch": epoch,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "torch_rng": torch.get_rng_state(),
                        "shuffle_rng": shuffle.get_state(),
                        "history": history,
                        **selection.state(),
                    },
                )
        bar.close()
    selection.restore_best(model, has_val=has_val)
    return TrainResult(
        history=history,
        best_epoch=selection.best_epoch,
        best_val_kl=selection.best_val_or_none,
        label_corr=corr,
        train_groups=train_groups,
        val_groups=val_groups,
        resumed_from_epoch=resumed_from,
        stopped_early=stopped_early,
    )
