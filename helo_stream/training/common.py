"""Pieces shared by the training loops (:mod:`~helo_stream.training.trainer` and
:mod:`~helo_stream.training.tailor_trainer`).

Both loops hold out whole groups for validation, select the epoch with the lowest validation loss,
stop early on the same rule and save a resumable state after every epoch; that logic lives here
once so the two loops cannot drift apart.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "Selection",
    "as_tensors",
    "batches",
    "group_split",
    "load_state",
    "optimise",
    "predict_batches",
    "restore",
    "run_fingerprint",
    "save_state",
    "take_rows",
    "target_matrix",
    "validation_fields",
]


def validation_fields(settings: Any, validation: bool) -> dict[str, Any]:
    """``val_fraction`` and ``patience`` of a pipeline's training run.

    ``settings`` (a ``TrainingConfig`` or ``FitSettings``) holds the pipeline's rule; with
    ``validation`` False (too few groups to hold any out) there is neither validation nor early
    stopping, and without validation there is no early stopping either.
    """
    val_fraction = settings.val_fraction if validation else 0.0
    return {
        "val_fraction": val_fraction,
        "patience": settings.patience if val_fraction > 0 else None,
    }


def group_split(
    n: int, groups: np.ndarray | None, *, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, tuple[Any, ...], tuple[Any, ...]]:
    """Train/validation sample indices, holding out whole groups.

    Windows of one subject overlap in time, so splitting single windows would leak nearly
    identical samples into validation.

    Returns
    -------
    tuple
        Training indices, validation indices, training group ids, validation group ids.
    """
    everyone = np.arange(n)
    if groups is None:
        if val_fraction > 0:
            raise ValueError(
                "val_fraction > 0 needs groups (a subject id per sample): overlapping windows "
                "of one subject must not be split between training and validation"
            )
        return everyone, everyone[:0], (), ()
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups must have shape ({n},), got {groups.shape}")
    unique = np.unique(groups)
    if val_fraction == 0:
        return everyone, everyone[:0], tuple(unique.tolist()), ()
    if unique.size < 2:
        raise ValueError("validation needs at least two groups")
    n_val = min(max(1, round(val_fraction * unique.size)), unique.size - 1)
    shuffled = np.random.default_rng(seed).permutation(unique)
    val_groups = np.sort(shuffled[:n_val])
    is_val = np.isin(groups, val_groups)
    train_groups = tuple(np.setdiff1d(unique, val_groups).tolist())
    return everyone[~is_val], everyone[is_val], train_groups, tuple(val_groups.tolist())


def target_matrix(targets: np.ndarray, *, dtype: type | None = None) -> np.ndarray:
    """``targets`` as an ``(N, L)`` array with ``N >= 1``; the trainers add their own value rules.

    Raises
    ------
    ValueError
        If the shape is wrong (a message both trainers share).
    """
    y = np.asarray(targets, dtype=dtype)
    if y.ndim != 2 or y.shape[0] == 0:
        raise ValueError(f"targets must be (N, L) with N >= 1, got shape {y.shape}")
    return y


def as_tensors(
    arrays: Mapping[str, np.ndarray] | None, *, dtype: torch.dtype, n: int, what: str | None = None
) -> dict[str, Tensor] | None:
    """Per-modality arrays as tensors of ``dtype``, checked to have ``n`` rows (None stays None).

    Converted once up front so every batch is a cheap index into tensors. ``what`` names the
    argument in the error message (``what['name'] has ...``; without it ``'name' has ...``).
    """
    if arrays is None:
        return None
    out = {name: torch.as_tensor(np.asarray(x), dtype=dtype) for name, x in arrays.items()}
    for name, x in out.items():
        if x.shape[0] != n:
            label = repr(name) if what is None else f"{what}[{name!r}]"
            raise ValueError(f"{label} has {x.shape[0]} rows, targets have {n}")
    return out


def take_rows(arrays: Mapping[str, Tensor] | None, rows: Tensor) -> dict[str, Tensor] | None:
    """The ``rows`` of every tensor (None stays None), to build one batch."""
    return None if arrays is None else {name: x[rows] for name, x in arrays.items()}


def run_fingerprint(
    model: nn.Module,
    *,
    digest: Any,
    groups: np.ndarray | None,
    config: Any,
    resumable: tuple[str, ...],
) -> dict[str, Any]:
    """What must match for a saved run to be resumed: model, settings and data.

    Parameters
    ----------
    digest
        A ``hashlib`` hash already fed with the trainer's inputs; the groups are added here.
    config
        The trainer's config dataclass; fields in ``resumable`` may change between runs (they do
        not alter past epochs) and are left out.
    """
    if groups is not None:
        digest.update(np.asarray(groups).astype(str).tobytes())
    settings = {k: v for k, v in asdict(config).items() if k not in resumable}
    model_config = getattr(model, "config", None)
    return {
        "model": type(model).__name__,
        "model_config": repr(model_config.to_dict() if model_config is not None else None),
        "settings": repr(sorted(settings.items())),
        "data_sha256": digest.hexdigest(),
    }


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically, so an interruption never leaves a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_state(
    path: Path, *, version: int, fingerprint: dict[str, Any], config_name: str
) -> dict[str, Any]:
    """A saved state, refused unless it comes from an identical setup (resuming would be wrong)."""
    saved = torch.load(path, weights_only=True)
    if saved.get("version") != version or saved.get("fingerprint") != fingerprint:
        raise ValueError(
            f"{path} was saved by a different model, data set or {config_name}; "
            "use another checkpoint_dir or delete it to start over"
        )
    return saved


def restore(
    saved: Mapping[str, Any],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    shuffle: torch.Generator,
) -> tuple[list[dict[str, float]], Selection, int]:
    """Put a saved run back: weights, optimiser, both random streams and the selection.

    All of them are restored so a resumed run continues exactly as an uninterrupted one would.

    Returns
    -------
    tuple
        The history so far, the selection state and the first epoch still to train.
    """
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["torch_rng"])
    shuffle.set_state(saved["shuffle_rng"])
    return list(saved["history"]), Selection.from_state(saved), saved["epoch"] + 1


def batches(index: Tensor, *, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """``index`` in a fresh random order from ``generator``, cut into batches of rows.

    The order comes from a dedicated generator so it is reproducible and can be saved.
    """
    order = index[torch.randperm(len(index), generator=generator)]
    for begin in range(0, len(order), batch_size):
        yield order[begin : begin + batch_size]


def predict_batches(
    model: nn.Module, *, index: Tensor, batch_size: int, forward: Callable[[Tensor], Tensor]
) -> list[Tensor]:
    """``forward(rows)`` over ``index`` in chunks, in eval mode without gradients.

    Chunked so validation of a large set fits in memory; ``forward`` holds what differs between
    models (inputs and which output to keep).
    """
    model.eval()
    chunks = []
    with torch.no_grad():
        for start in range(0, len(index), batch_size):
            chunks.append(forward(index[start : start + batch_size]))
    return chunks


def optimise(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: Tensor,
    *,
    loss_value: float,
    epoch: int,
    grad_clip: float | None,
) -> None:
    """One optimiser step on ``loss``, refusing a non-finite loss before it spoils the weights."""
    if not math.isfinite(loss_value):
        raise FloatingPointError(f"non-finite training loss in epoch {epoch}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()


@dataclass
class Selection:
    """Best epoch so far and the early-stopping count, saved with the resumable state.

    Attributes
    ----------
    best_state
        Weights of the best validation epoch (None before one or without validation).
    best_epoch
        Epoch to keep: the best validation epoch, else the last epoch.
    best_val
        Its validation loss (``inf`` before one).
    stale
        Epochs since the last validation improvement.
    """

    best_state: dict[str, Tensor] | None = None
    best_epoch: int = 0
    best_val: float = math.inf
    stale: int = 0

    def update(self, model: nn.Module, *, epoch: int, val_loss: float | None) -> None:
        """Record ``epoch``; ``val_loss`` None means no validation (the last epoch is kept)."""
        if val_loss is None:
            self.best_epoch = epoch
        elif val_loss < self.best_val:
            self.best_val, self.best_epoch, self.stale = val_loss, epoch, 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.stale += 1

    def stopped(self, patience: int | None) -> bool:
        """True once ``patience`` epochs passed without improvement."""
        return patience is not None and self.stale >= patience

    @property
    def best_val_or_none(self) -> float | None:
        """The best validation loss, None without one (as reported and saved)."""
        return None if math.isinf(self.best_val) else self.best_val

    def state(self) -> dict[str, Any]:
        """The fields for the saved training state."""
        return {
            "best_state": self.best_state,
            "best_epoch": self.best_epoch,
            "best_val": self.best_val_or_none,
            "stale": self.stale,
        }

    @classmethod
    def from_state(cls, saved: Mapping[str, Any]) -> Selection:
        """Restore from a saved training state."""
        best_val = math.inf if saved["best_val"] is None else saved["best_val"]
        return cls(saved["best_state"], saved["best_epoch"], best_val, saved["stale"])

    def restore_best(self, model: nn.Module, *, has_val: bool) -> None:
        """Load the best weights (with validation) and leave ``model`` in eval mode."""
        if has_val and self.best_state is not None:
            model.load_state_dict(self.best_state)
        model.eval()
