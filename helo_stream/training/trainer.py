"""Training loop for the emotion-distribution models: seeded, resumable, group-aware validation.

Windows of one subject overlap in time, so a random split of windows would leak nearly identical
samples into validation; the validation set here is always whole groups (subjects).
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from helo_stream.metrics.distribution import distribution_metrics
from helo_stream.models.helo import HeLo, helo_loss

__all__ = ["TrainConfig", "TrainResult", "label_correlation", "train_model"]

_STATE_FILE = "train_state.pt"
_STATE_VERSION = 1
#: TrainConfig fields that may change when a run is resumed (they do not alter past epochs).
_RESUMABLE_CHANGES = ("epochs", "patience", "eval_batch_size")


@dataclass
class TrainConfig:
    """Optimisation settings.

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
    """

    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    lam: float = 0.1
    seed: int = 0
    val_fraction: float = 0.0
    grad_clip: float | None = 1.0
    patience: int | None = None
    eval_batch_size: int = 4096

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("epochs must be >= 0 and batch sizes >= 1")
        if not (self.lr > 0 and self.weight_decay >= 0 and self.lam >= 0):
            raise ValueError("lr must be > 0, weight_decay and lam >= 0")
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
        One dict per epoch: ``epoch`` (1-based), ``train_loss``, ``train_kl``, ``train_align``
        (sample-weighted means over the epoch, in training mode) and, with validation,
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


def _split(
    n: int, groups: np.ndarray | None, config: TrainConfig
) -> tuple[np.ndarray, np.ndarray, tuple[Any, ...], tuple[Any, ...]]:
    """Train/validation sample indices, holding out whole groups."""
    everyone = np.arange(n)
    if groups is None:
        if config.val_fraction > 0:
            raise ValueError(
                "val_fraction > 0 needs groups (a subject id per sample): overlapping windows "
                "of one subject must not be split between training and validation"
            )
        return everyone, everyone[:0], (), ()
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups must have shape ({n},), got {groups.shape}")
    unique = np.unique(groups)
    if config.val_fraction == 0:
        return everyone, everyone[:0], tuple(unique.tolist()), ()
    if unique.size < 2:
        raise ValueError("validation needs at least two groups")
    n_val = min(max(1, round(config.val_fraction * unique.size)), unique.size - 1)
    shuffled = np.random.default_rng(config.seed).permutation(unique)
    val_groups = np.sort(shuffled[:n_val])
    is_val = np.isin(groups, val_groups)
    train_groups = tuple(np.setdiff1d(unique, val_groups).tolist())
    return everyone[~is_val], everyone[is_val], train_groups, tuple(val_groups.tolist())


def _loss(
    model: nn.Module, log_probs: Tensor, target: Tensor, label_corr: Tensor, lam: float
) -> tuple[Tensor, dict[str, float]]:
    if isinstance(model, HeLo):
        return helo_loss(model, log_probs, target, label_corr, lam=lam)
    kl = F.kl_div(log_probs, target, reduction="batchmean")
    value = float(kl.detach())
    return kl, {"loss": value, "kl": value, "align": 0.0}


def _fingerprint(
    model: nn.Module,
    features: Mapping[str, np.ndarray],
    present: Mapping[str, np.ndarray] | None,
    targets: np.ndarray,
    groups: np.ndarray | None,
    config: TrainConfig,
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
    if groups is not None:
        digest.update(np.asarray(groups).astype(str).tobytes())
    settings = {k: v for k, v in asdict(config).items() if k not in _RESUMABLE_CHANGES}
    model_config = getattr(model, "config", None)
    return {
        "model": type(model).__name__,
        "model_config": repr(model_config.to_dict() if model_config is not None else None),
        "settings": repr(sorted(settings.items())),
        "data_sha256": digest.hexdigest(),
    }


def _save_state(directory: Path, state: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_STATE_FILE, suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, directory / _STATE_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _evaluate(
    model: nn.Module,
    features: Mapping[str, Tensor],
    present: Mapping[str, Tensor] | None,
    targets: np.ndarray,
    index: Tensor,
    batch_size: int,
) -> dict[str, float]:
    """Distribution measures of the model on the samples ``index`` (eval mode)."""
    model.eval()
    chunks = []
    with torch.no_grad():
        for start in range(0, len(index), batch_size):
            rows = index[start : start + batch_size]
            batch = {name: x[rows] for name, x in features.items()}
            flags = None if present is None else {name: p[rows] for name, p in present.items()}
            chunks.append(model(batch, flags).exp().to(torch.float64))
    probs = torch.cat(chunks).numpy()
    probs /= probs.sum(axis=1, keepdims=True)
    metrics = distribution_metrics(targets[index.numpy()], probs)
    return {"val_loss": metrics["kl_divergence"], **{f"val_{k}": v for k, v in metrics.items()}}


def _validated_targets(targets: np.ndarray) -> np.ndarray:
    y = np.asarray(targets, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] == 0:
        raise ValueError(f"targets must be (N, L) with N >= 1, got shape {y.shape}")
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
    feats = {name: torch.as_tensor(np.asarray(x, dtype=np.float32)) for name, x in features.items()}
    flags = None
    if present is not None:
        flags = {name: torch.as_tensor(np.asarray(p, dtype=bool)) for name, p in present.items()}
    for name, x in [*feats.items(), *(flags or {}).items()]:
        if x.shape[0] != n:
            raise ValueError(f"{name!r} has {x.shape[0]} rows, targets have {n}")
    train_idx, val_idx, train_groups, val_groups = _split(n, groups, config)
    corr = label_correlation(y[train_idx])
    corr_t = torch.as_tensor(corr, dtype=torch.float32)
    target_t = torch.as_tensor(y, dtype=torch.float32)
    train_t = torch.as_tensor(train_idx)
    val_t = torch.as_tensor(val_idx)
    has_val = len(val_idx) > 0

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    fingerprint = _fingerprint(model, features, present, y, groups, config)
    history: list[dict[str, float]] = []
    best_state: dict[str, Tensor] | None = None
    best_epoch, best_val, stale, start = 0, math.inf, 0, 1
    shuffle = torch.Generator()
    state_path = None if checkpoint_dir is None else Path(checkpoint_dir) / _STATE_FILE

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        shuffle.manual_seed(config.seed)
        if state_path is not None and state_path.exists():
            saved = torch.load(state_path, weights_only=True)
            if saved.get("version") != _STATE_VERSION or saved.get("fingerprint") != fingerprint:
                raise ValueError(
                    f"{state_path} was saved by a different model, data set or TrainConfig; "
                    "use another checkpoint_dir or delete it to start over"
                )
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            torch.set_rng_state(saved["torch_rng"])
            shuffle.set_state(saved["shuffle_rng"])
            history = list(saved["history"])
            best_state, best_epoch = saved["best_state"], saved["best_epoch"]
            best_val = math.inf if saved["best_val"] is None else saved["best_val"]
            stale, start = saved["stale"], saved["epoch"] + 1
        resumed_from = start - 1
        stopped_early = config.patience is not None and stale >= config.patience
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
            sums = {"loss": 0.0, "kl": 0.0, "align": 0.0}
            order = train_t[torch.randperm(len(train_t), generator=shuffle)]
            for begin in range(0, len(order), config.batch_size):
                rows = order[begin : begin + config.batch_size]
                batch = {name: x[rows] for name, x in feats.items()}
                batch_flags = None if flags is None else {k: p[rows] for k, p in flags.items()}
                log_probs = model(batch, batch_flags)
                loss, parts = _loss(model, log_probs, target_t[rows], corr_t, config.lam)
                if not math.isfinite(parts["loss"]):
                    raise FloatingPointError(f"non-finite training loss in epoch {epoch}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                for key in sums:
                    sums[key] += parts[key] * len(rows)
            record: dict[str, float] = {"epoch": epoch}
            record.update({f"train_{k}": v / len(train_idx) for k, v in sums.items()})
            if has_val:
                record.update(_evaluate(model, feats, flags, y, val_t, config.eval_batch_size))
                if record["val_loss"] < best_val:
                    best_val, best_epoch, stale = record["val_loss"], epoch, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    stale += 1
                stopped_early = config.patience is not None and stale >= config.patience
            else:
                best_epoch = epoch
            history.append(record)
            bar.set_postfix(
                loss=f"{record['train_loss']:.4f}",
                **({"val_kl": f"{record['val_loss']:.4f}"} if has_val else {}),
            )
            if state_path is not None:
                _save_state(
                    state_path.parent,
                    {
                        "version": _STATE_VERSION,
                        "fingerprint": fingerprint,
                        "epoch": epoch,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "torch_rng": torch.get_rng_state(),
                        "shuffle_rng": shuffle.get_state(),
                        "history": history,
                        "best_state": best_state,
                        "best_epoch": best_epoch,
                        "best_val": None if math.isinf(best_val) else best_val,
                        "stale": stale,
                    },
                )
        bar.close()
    if has_val and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        history=history,
        best_epoch=best_epoch,
        best_val_kl=None if math.isinf(best_val) else best_val,
        label_corr=corr,
        train_groups=train_groups,
        val_groups=val_groups,
        resumed_from_epoch=resumed_from,
        stopped_early=stopped_early,
    )
