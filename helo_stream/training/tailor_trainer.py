"""Training loop for TAILOR: AdamW with linear warmup and decay, the adversarial schedule,
early stopping on whole held-out groups, seeded and resumable; optionally the decision threshold
is then chosen on the same held-out groups.

Kept apart from :mod:`helo_stream.training.trainer` because the objective (multi-label BCE plus
auxiliary terms), the model outputs and the selection measure all differ; the group-wise
validation rule is the same: windows of one subject overlap in time, so validation always holds
out whole groups.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helo_stream.config.pipeline import TailorSettings, TrainingConfig
from helo_stream.metrics.multilabel import multilabel_metrics
from helo_stream.models.tailor import Tailor, tailor_loss
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
    take_rows,
    target_matrix,
    validation_fields,
)

# Imported under the old private name: the resume test wraps it to snapshot a mid-run state.
from helo_stream.training.common import save_state as _save_state

__all__ = [
    "THRESHOLD_GRID",
    "TailorTrainConfig",
    "TailorTrainResult",
    "choose_threshold",
    "grl_coefficient",
    "predict_proba",
    "tailor_epochs",
    "train_tailor",
]

#: Candidate decision thresholds (0.05, 0.10, ..., 0.95), fixed before any result was seen.
THRESHOLD_GRID: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))

_STATE_FILE = "tailor_train_state.pt"
_STATE_VERSION = 1
#: Settings that may change when a run is resumed (they do not alter past epochs).
_RESUMABLE_CHANGES = ("patience", "eval_batch_size", "threshold_grid")
_LOGGED = ("loss", "bce", "adv_private", "adv_common", "diff", "common_bce")
#: The pipeline's ``training`` and ``model.tailor`` defaults: the one source of the
#: optimisation defaults below.
_TRAINING = TrainingConfig()
_TAILOR = TailorSettings()
#: Fields taken from the pipeline's ``training`` section (or FitSettings) by ``from_settings``.
RECIPE_FIELDS = ("batch_size", "lr", "weight_decay", "seed", "grad_clip")
#: Fields taken from the pipeline's ``model.tailor`` section by ``from_settings``.
TAILOR_FIELDS = ("warmup_fraction", "grl_schedule", "grl_gamma")


def tailor_epochs(epochs: int, tailor: TailorSettings) -> int:
    """Epochs of a TAILOR run: ``training.epochs``, at most ``model.tailor.max_epochs``."""
    return epochs if tailor.max_epochs is None else min(epochs, tailor.max_epochs)


@dataclass
class TailorTrainConfig:
    """Optimisation settings.

    The optimisation fields default to the pipeline's defaults (``training`` and
    ``model.tailor``: :class:`~helo_stream.config.pipeline.TrainingConfig`,
    :class:`~helo_stream.config.pipeline.TailorSettings`); validation and the threshold choice
    are off unless asked for (they need groups), and :meth:`from_settings` applies the
    pipeline's rule for them.

    Attributes
    ----------
    epochs, batch_size, lr, weight_decay
        AdamW schedule; the learning rate rises linearly over ``warmup_fraction`` of all steps,
        then decays linearly to 0 at the last step (the authors' ``warmup_linear``).
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
    grl_schedule, grl_gamma
        ``"dann"`` ramps the gradient-reversal strength from 0 to 1 as
        ``2 / (1 + exp(-gamma p)) - 1`` over training progress ``p``, so the untrained
        discriminator does not scramble the encoders early on; ``"constant"`` keeps it at 1
        (the authors' setting).
    threshold_grid
        Candidate decision thresholds (e.g. :data:`THRESHOLD_GRID`). After training, with
        validation groups, the model's ``config.threshold`` becomes the candidate with the best
        micro-F1 on the validation windows (:func:`choose_threshold`, selected epoch's weights).
        None, or no validation groups: the model keeps its configured threshold.
    """

    epochs: int = tailor_epochs(_TRAINING.epochs, _TAILOR)
    batch_size: int = _TRAINING.batch_size
    lr: float = _TRAINING.lr
    weight_decay: float = _TRAINING.weight_decay
    warmup_fraction: float = _TAILOR.warmup_fraction
    seed: int = _TRAINING.seed
    val_fraction: float = 0.0
    grad_clip: float | None = _TRAINING.grad_clip
    patience: int | None = None
    eval_batch_size: int = 1024
    grl_schedule: Literal["dann", "constant"] = _TAILOR.grl_schedule
    grl_gamma: float = _TAILOR.grl_gamma
    threshold_grid: tuple[float, ...] | None = None

    @classmethod
    def from_settings(
        cls, settings: Any, tailor: TailorSettings, *, validation: bool, **overrides: Any
    ) -> TailorTrainConfig:
        """The settings of a pipeline's TAILOR training run.

        Parameters
        ----------
        settings
            A :class:`~helo_stream.config.pipeline.TrainingConfig` or a
            :class:`~helo_stream.training.fitting.FitSettings` (the same field names).
        tailor
            The pipeline's ``model.tailor`` settings: the warmup, the gradient-reversal
            schedule, ``max_epochs`` and ``threshold_from_validation`` (:data:`THRESHOLD_GRID`).
        validation
            Whether the data allow validation (enough groups): then ``settings.val_fraction``
            of the groups are held out and ``settings.patience`` applies; else neither.
        overrides
            Fields to set instead.
        """
        values: dict[str, Any] = {name: getattr(settings, name) for name in RECIPE_FIELDS}
        values.update({name: getattr(tailor, name) for name in TAILOR_FIELDS})
        values["epochs"] = tailor_epochs(settings.epochs, tailor)
        values.update(validation_fields(settings, validation))
        # Chosen on the held-out training subjects only (the configured one kept without any).
        values["threshold_grid"] = THRESHOLD_GRID if tailor.threshold_from_validation else None
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        if self.threshold_grid is not None:
            grid = tuple(float(t) for t in self.threshold_grid)
            if not grid or not all(0.0 < t < 1.0 for t in grid):
                raise ValueError("threshold_grid must be non-empty, every value in (0, 1)")
            self.threshold_grid = grid
        if self.epochs < 0 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("epochs must be >= 0 and batch sizes >= 1")
        if not (self.lr > 0 and self.weight_decay >= 0):
            raise ValueError("lr must be > 0 and weight_decay >= 0")
        if not 0.0 <= self.warmup_fraction < 1.0 or not 0.0 <= self.val_fraction < 1.0:
            raise ValueError("warmup_fraction and val_fraction must lie in [0, 1)")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError("grad_clip must be > 0 or None")
        if self.patience is not None and self.patience < 1:
            raise ValueError("patience must be >= 1 or None")
        if self.grl_schedule not in ("dann", "constant") or self.grl_gamma <= 0:
            raise ValueError("grl_schedule must be 'dann' or 'constant' and grl_gamma > 0")


@dataclass
class TailorTrainResult:
    """Outcome of :func:`train_tailor`; the model itself holds the selected weights.

    Attributes
    ----------
    history
        One dict per epoch: ``epoch``, ``lr`` and ``grl`` (at the epoch's end), ``train_<part>``
        for each loss part (sample-weighted means in training mode) and, with validation,
        ``val_loss`` (BCE of the label decoder) plus ``val_<measure>`` of
        :func:`~helo_stream.metrics.multilabel.multilabel_metrics` at the model's threshold.
    best_epoch
        Epoch whose weights the model holds (lowest validation BCE, else the last epoch).
    best_val_bce
        Validation BCE of that epoch (None without validation).
    train_groups, val_groups
        Group ids used for training and validation.
    resumed_from_epoch
        Last epoch found in ``checkpoint_dir`` (0 for a fresh run).
    stopped_early
        True if ``patience`` ended training before ``epochs``.
    threshold
        The model's decision threshold after training (``model.config.threshold``).
    threshold_source
        ``"validation"`` if it was chosen on the validation windows, ``"configured"`` if the
        model kept the threshold it was built with (no grid, no validation groups, or no
        validation window with a present label).
    threshold_scores
        Candidate threshold -> validation micro-F1 at the selected epoch (empty unless chosen
        on validation).
    """

    history: list[dict[str, float]]
    best_epoch: int
    best_val_bce: float | None
    train_groups: tuple[Any, ...] = field(default_factory=tuple)
    val_groups: tuple[Any, ...] = field(default_factory=tuple)
    resumed_from_epoch: int = 0
    stopped_early: bool = False
    threshold: float = 0.5
    threshold_source: Literal["validation", "configured"] = "configured"
    threshold_scores: dict[float, float] = field(default_factory=dict)


def grl_coefficient(progress: float, *, schedule: str = "dann", gamma: float = 10.0) -> float:
    """Gradient-reversal strength at training ``progress`` in ``[0, 1]``."""
    if schedule == "constant":
        return 1.0
    p = min(max(progress, 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def choose_threshold(
    probs: np.ndarray,
    targets: np.ndarray,
    grid: Sequence[float],
    *,
    default: float,
) -> tuple[float, dict[float, float]]:
    """The threshold of ``grid`` with the best micro-F1 of ``probs >= t`` against ``targets``.

    Micro-F1 (counts pooled over every window and label) rather than the per-window Jaccard
    accuracy: it changes smoothly with the threshold and does not hinge on the "both sets
    empty scores 1" convention, which would reward predicting nothing on label-free windows.
    One threshold shared by all labels: two or three validation subjects cannot support a
    threshold per label. Ties go to the candidate closest to ``default`` (then the lower one).
    Without any present label in ``targets`` every F1 is 0 and ``default`` is kept.

    Returns
    -------
    tuple
        The chosen threshold and ``candidate -> micro-F1``.
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(targets, dtype=bool)
    if p.shape != y.shape or p.ndim != 2:
        raise ValueError(f"probs and targets must both be (N, L), got {p.shape} and {y.shape}")
    scores: dict[float, float] = {}
    for t in grid:
        predicted = p >= t
        tp = int((predicted & y).sum())
        wrong = int((predicted != y).sum())  # false positives + false negatives
        scores[float(t)] = 2 * tp / (2 * tp + wrong) if tp or wrong else 0.0
    if not y.any() or not scores:
        return default, scores
    best = max(scores.values())
    chosen = min((t for t, f1 in scores.items() if f1 == best), key=lambda t: (abs(t - default), t))
    return chosen, scores


def _validated_targets(targets: np.ndarray) -> np.ndarray:
    """Targets as ``(N, L)`` bool label indicators (the BCE objective needs 0/1 labels)."""
    y = target_matrix(targets)
    if y.dtype != bool and not np.isin(y, (0, 1)).all():
        raise ValueError("targets must be boolean (or 0/1) label indicators")
    return y.astype(bool)


def _fingerprint(
    model: nn.Module,
    tensors: list[tuple[str, dict[str, Tensor] | None]],
    targets: np.ndarray,
    groups: np.ndarray | None,
    config: TailorTrainConfig,
) -> dict[str, Any]:
    """What must match for a saved run to be resumed: model, settings and data."""
    digest = hashlib.sha256()
    for what, arrays in tensors:
        for name in sorted(arrays or {}):
            digest.update(f"{what}:{name}".encode())
            digest.update(arrays[name].numpy().tobytes())
    digest.update(np.ascontiguousarray(targets).tobytes())
    return run_fingerprint(
        model, digest=digest, groups=groups, config=config, resumable=_RESUMABLE_CHANGES
    )


def predict_proba(
    model: Tailor,
    *,
    features: Mapping[str, np.ndarray],
    present: Mapping[str, np.ndarray] | None = None,
    padding: Mapping[str, np.ndarray] | None = None,
    batch_size: int = 1024,
) -> np.ndarray:
    """``(N, L)`` per-label probabilities in eval mode (the model is left in eval mode)."""
    n = len(next(iter(features.values())))
    feats = as_tensors(features, dtype=torch.float32, n=n, what="features")
    flags = as_tensors(present, dtype=torch.bool, n=n, what="present")
    pads = as_tensors(padding, dtype=torch.bool, n=n, what="padding")
    return _predict(model, feats, flags, pads, torch.arange(n), batch_size).numpy()


def _predict(
    model: Tailor,
    feats: dict[str, Tensor],
    flags: dict[str, Tensor] | None,
    pads: dict[str, Tensor] | None,
    index: Tensor,
    batch_size: int,
) -> Tensor:
    """Per-label probabilities for the samples ``index``, in eval mode."""
    chunks = predict_batches(
        model,
        index=index,
        batch_size=batch_size,
        forward=lambda rows: (
            model(
                take_rows(feats, rows), take_rows(flags, rows), padding=take_rows(pads, rows)
            ).logits
        ),
    )
    return torch.sigmoid(torch.cat(chunks)) if chunks else torch.zeros(0)


def _evaluate(
    model: Tailor,
    feats: dict[str, Tensor],
    flags: dict[str, Tensor] | None,
    pads: dict[str, Tensor] | None,
    y: np.ndarray,
    index: Tensor,
    batch_size: int,
) -> dict[str, float]:
    probs = _predict(model, feats, flags, pads, index, batch_size).to(torch.float64)
    target = torch.as_tensor(y[index.numpy()], dtype=torch.float64)
    bce = F.binary_cross_entropy(probs.clamp(1e-12, 1 - 1e-12), target)
    predicted = (probs >= model.config.threshold).numpy()
    metrics = multilabel_metrics(y[index.numpy()], predicted)
    return {"val_loss": float(bce), **{f"val_{k}": v for k, v in metrics.items()}}


def train_tailor(
    model: Tailor,
    *,
    features: Mapping[str, np.ndarray],
    targets: np.ndarray,
    config: TailorTrainConfig,
    present: Mapping[str, np.ndarray] | None = None,
    padding: Mapping[str, np.ndarray] | None = None,
    groups: np.ndarray | None = None,
    checkpoint_dir: Path | None = None,
) -> TailorTrainResult:
    """Train ``model`` in place; it ends holding the selected weights, in eval mode.

    Parameters
    ----------
    model
        A :class:`~helo_stream.models.tailor.Tailor`.
    features
        ``modality -> (N, F)`` window features or ``(N, T, D)`` sequences (NaN allowed).
    targets
        ``(N, L)`` bool label indicators.
    config
        Optimisation settings.
    present
        Optional ``modality -> (N,)`` bool, False where the modality is absent.
    padding
        Optional ``modality -> (N, T)`` bool, True at padded steps (sequence inputs).
    groups
        ``(N,)`` subject id per sample; validation holds out whole groups.
    checkpoint_dir
        If given, the full training state is saved there after every epoch, and a run that
        finds a state from an identical setup (model, settings, data) resumes after its last
        epoch. Same seed and same initial weights give identical results, resumed or not.
    """
    y = _validated_targets(targets)
    n = y.shape[0]
    if y.shape[1] != model.config.n_labels:
        raise ValueError(f"targets have {y.shape[1]} labels, the model {model.config.n_labels}")
    feats = as_tensors(features, dtype=torch.float32, n=n, what="features")
    flags = as_tensors(present, dtype=torch.bool, n=n, what="present")
    pads = as_tensors(padding, dtype=torch.bool, n=n, what="padding")
    train_idx, val_idx, train_groups, val_groups = group_split(
        n, groups, val_fraction=config.val_fraction, seed=config.seed
    )
    if len(train_idx) == 0:
        raise ValueError("no training samples")
    target_t = torch.as_tensor(y, dtype=torch.float32)
    train_t = torch.as_tensor(train_idx)
    val_t = torch.as_tensor(val_idx)
    has_val = len(val_idx) > 0

    steps_per_epoch = math.ceil(len(train_idx) / config.batch_size)
    total_steps = max(1, steps_per_epoch * config.epochs)
    warmup = max(1, round(config.warmup_fraction * total_steps))

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    # No weight decay on biases and LayerNorm gains (pulling them to 0 is not regularisation);
    # foreach: one vectorised update for the many small tensors instead of a Python loop.
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim > 1]},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
        ],
        lr=config.lr,
        weight_decay=config.weight_decay,
        foreach=True,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    fingerprint = _fingerprint(
        model, [("features", feats), ("present", flags), ("padding", pads)], y, groups, config
    )
    history: list[dict[str, float]] = []
    selection = Selection()
    start, step = 1, 0
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
                config_name="TailorTrainConfig",
            )
            history, selection, start = restore(
                saved, model=model, optimizer=optimizer, shuffle=shuffle
            )
            scheduler.load_state_dict(saved["scheduler"])
            step = saved["step"]
        resumed_from = start - 1
        stopped_early = selection.stopped(config.patience)
        grl = grl_coefficient(
            step / total_steps, schedule=config.grl_schedule, gamma=config.grl_gamma
        )
        for epoch in range(start, config.epochs + 1):
            if stopped_early:
                break
            model.train()
            sums = dict.fromkeys(_LOGGED, 0.0)
            for rows in batches(train_t, batch_size=config.batch_size, generator=shuffle):
                grl = grl_coefficient(
                    step / total_steps, schedule=config.grl_schedule, gamma=config.grl_gamma
                )
                output = model(
                    take_rows(feats, rows),
                    take_rows(flags, rows),
                    padding=take_rows(pads, rows),
                    grl_scale=grl,
                )
                loss, parts = tailor_loss(output, target_t[rows], config=model.config)
                optimise(
                    model,
                    optimizer,
                    loss,
                    loss_value=parts["loss"],
                    epoch=epoch,
                    grad_clip=config.grad_clip,
                )
                scheduler.step()
                step += 1
                for key in sums:
                    sums[key] += parts[key] * len(rows)
            record: dict[str, float] = {
                "epoch": epoch,
                "lr": optimizer.param_groups[0]["lr"],
                "grl": grl,
            }
            record.update({f"train_{k}": v / len(train_idx) for k, v in sums.items()})
            if has_val:
                record.update(
                    _evaluate(model, feats, flags, pads, y, val_t, config.eval_batch_size)
                )
            selection.update(model, epoch=epoch, val_loss=record["val_loss"] if has_val else None)
            stopped_early = selection.stopped(config.patience)
            history.append(record)
            if state_path is not None:
                _save_state(
                    state_path,
                    {
                        "version": _STATE_VERSION,
                        "fingerprint": fingerprint,
                        "epoch": epoch,
                        "step": step,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "torch_rng": torch.get_rng_state(),
                        "shuffle_rng": shuffle.get_state(),
                        "history": history,
                        **selection.state(),
                    },
                )
    selection.restore_best(model, has_val=has_val)
    source: Literal["validation", "configured"] = "configured"
    scores: dict[float, float] = {}
    if has_val and config.threshold_grid is not None and y[val_idx].any():
        # The selected epoch's scores of the validation windows, and nothing else.
        probs = _predict(model, feats, flags, pads, val_t, config.eval_batch_size).numpy()
        chosen, scores = choose_threshold(
            probs, y[val_idx], config.threshold_grid, default=model.config.threshold
        )
        source = "validation"
        model.set_threshold(chosen)
    return TailorTrainResult(
        history=history,
        best_epoch=selection.best_epoch,
        best_val_bce=selection.best_val_or_none,
        train_groups=train_groups,
        val_groups=val_groups,
        resumed_from_epoch=resumed_from,
        stopped_early=stopped_early,
        threshold=float(model.config.threshold),
        threshold_source=source,
        threshold_scores=scores,
    )
