"""Input checks and sanitising shared by every model: NaN never reaches a weight.

Features arrive already normalised, but a live window can hold NaN (a feature that could not be
computed) or a whole modality can be absent (a device dropped out). Models see instead a clean
value tensor, a per-feature "missing" mask and a per-modality "present" mask.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from helo_stream.config.pipeline import ModelConfig

__all__ = [
    "DEFAULT_INPUT_CLIP",
    "LEGACY_INPUT_CLIP",
    "InputLayout",
    "ModelInputs",
    "check_input_clip",
    "drop_modalities",
    "with_legacy_input_clip",
]

#: Normalised features are clamped to this magnitude unless a model config says otherwise: the
#: pipeline's ``model.input_clip`` default (one source). A z-score beyond it is a sensor fault
#: or an outlier the model never saw in training; clamping keeps ``value * weight`` finite.
DEFAULT_INPUT_CLIP: float = ModelConfig.model_fields["input_clip"].default
#: The clip every checkpoint was trained with before model configs stored ``input_clip`` (a
#: fact about those files, not a default: it stays 10 whatever the default becomes).
LEGACY_INPUT_CLIP = 10.0


def check_input_clip(clip: float) -> None:
    """Raise ValueError unless ``clip`` is a positive finite number."""
    if isinstance(clip, bool) or not (math.isfinite(clip) and clip > 0):
        raise ValueError(f"input_clip must be a positive finite number, got {clip!r}")


def with_legacy_input_clip(data: Mapping[str, Any]) -> dict[str, Any]:
    """A stored model config as keyword arguments; one written before ``input_clip`` was
    stored gets the clip it was trained with (:data:`LEGACY_INPUT_CLIP`)."""
    return {"input_clip": LEGACY_INPUT_CLIP, **data}


@dataclass(frozen=True)
class ModelInputs:
    """Sanitised model inputs: all modalities' features side by side, in the model's order.

    Attributes
    ----------
    values
        ``(B, F_total)`` float32; missing entries are 0, the others clamped to ``±clip``.
    missing
        ``(B, F_total)`` bool, True where the feature was NaN/inf.
    present
        ``(B, M)`` bool, False where the modality is absent for that sample (declared absent,
        or without any finite feature).
    """

    values: Tensor
    missing: Tensor
    present: Tensor


class InputLayout:
    """The modalities a model was built for, and how to check and sanitise its inputs.

    Parameters
    ----------
    names, n_features
        Modality names in model order and their feature counts.
    clip
        Finite features are clamped to ``±clip`` (the model config's ``input_clip``).
    """

    def __init__(self, *, names: Sequence[str], n_features: Sequence[int], clip: float) -> None:
        check_input_clip(clip)
        self.names = tuple(names)
        self.n_features = tuple(n_features)
        self.clip = float(clip)
        starts = [0]
        for n_feat in self.n_features:
            starts.append(starts[-1] + n_feat)
        #: ``(start, stop)`` column range of each modality in :attr:`ModelInputs.values`.
        self.spans = tuple(itertools.pairwise(starts))
        self.total = starts[-1]
        # (F_total, M) indicator: which modality each feature column belongs to.
        self._membership = torch.zeros(self.total, len(self.names))
        for m, (lo, hi) in enumerate(self.spans):
            self._membership[lo:hi, m] = 1.0

    def prepare(
        self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None
    ) -> ModelInputs:
        """Validate shapes and turn raw features into :class:`ModelInputs`.

        Parameters
        ----------
        features
            ``name -> (B, F_m)``; every modality must be given (an absent device is expressed
            through ``present``, so a misspelt name cannot pass silently).
        present
            Optional ``name -> (B,)`` bool; a modality left out counts as present.
        """
        unknown = sorted(set(features) - set(self.names))
        lacking = [name for name in self.names if name not in features]
        if unknown or lacking:
            raise KeyError(
                f"features must hold exactly the modalities {list(self.names)}; "
                f"missing {lacking}, unexpected {unknown}"
            )
        columns = [torch.as_tensor(features[name]) for name in self.names]
        batch = columns[0].shape[0] if columns[0].dim() == 2 else None
        for name, n_feat, x in zip(self.names, self.n_features, columns, strict=True):
            if x.dim() != 2 or x.shape[1] != n_feat:
                raise ValueError(
                    f"features[{name!r}] must have shape (B, {n_feat}), got {tuple(x.shape)}"
                )
            if x.shape[0] != batch:
                raise ValueError(
                    f"features[{name!r}] has {x.shape[0]} rows, {self.names[0]!r} has {batch}"
                )
        x = torch.cat(columns, dim=1).to(torch.float32)
        finite = torch.isfinite(x)
        values = torch.where(finite, x, 0.0).clamp_(-self.clip, self.clip)
        membership = self._membership.to(x.device)
        has_value = (finite.to(torch.float32) @ membership) > 0.0
        if present:
            has_value = has_value & self._declared(present, batch).to(x.device)
        return ModelInputs(values, ~finite, has_value)

    def _declared(self, present: Mapping[str, Tensor], batch: int) -> Tensor:
        unknown = sorted(set(present) - set(self.names))
        if unknown:
            raise KeyError(f"present names unknown modalities {unknown}")
        cols = []
        for name in self.names:
            if name not in present:
                cols.append(torch.ones(batch, dtype=torch.bool))
                continue
            col = torch.as_tensor(present[name], dtype=torch.bool).reshape(-1).cpu()
            if col.shape[0] != batch:
                raise ValueError(
                    f"present[{name!r}] must have shape ({batch},), got {tuple(col.shape)}"
                )
            cols.append(col)
        return torch.stack(cols, dim=1)


def drop_modalities(present: Tensor, p: float) -> Tensor:
    """Randomly mark whole modalities absent (training augmentation for dropped devices).

    Each present modality of each sample is dropped with probability ``p``; a sample that would
    lose all of its present modalities keeps one of them, chosen uniformly, so no sample is
    emptied (a sample without any present modality stays as it is).
    """
    if p <= 0.0:
        return present
    kept = present & (torch.rand(present.shape, device=present.device) >= p)
    scores = torch.where(present, torch.rand(present.shape, device=present.device), -1.0)
    one = torch.zeros_like(present).scatter_(1, scores.argmax(dim=1, keepdim=True), True)
    emptied = ~kept.any(dim=1, keepdim=True)
    return torch.where(emptied, one & present, kept)
