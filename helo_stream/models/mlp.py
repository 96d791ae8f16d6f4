"""Late-fusion MLP baseline with the same forward contract as HeLo."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helo_stream.models.helo import ModalitySpec
from helo_stream.models.inputs import (
    DEFAULT_INPUT_CLIP,
    InputLayout,
    check_input_clip,
    drop_modalities,
    with_legacy_input_clip,
)

__all__ = ["LateFusionMLP", "MLPConfig"]


@dataclass(frozen=True)
class MLPConfig:
    """Architecture of :class:`LateFusionMLP`.

    Attributes
    ----------
    modalities
        Input modalities (roles are ignored by this baseline, kept for a shared config format).
    n_labels
        Number of emotion labels.
    hidden
        Width of each per-modality embedding and of the fusion MLP.
    dropout
        Dropout probability (training only).
    modality_dropout
        Training-time probability of dropping a whole modality of a sample (never all of them).
    input_clip
        Normalised features are clamped to ``±input_clip`` (the pipeline's
        ``model.input_clip``); a stored config without it was trained with 10.
    """

    modalities: tuple[ModalitySpec, ...]
    n_labels: int
    hidden: int = 64
    dropout: float = 0.1
    modality_dropout: float = 0.1
    input_clip: float = DEFAULT_INPUT_CLIP

    def __post_init__(self) -> None:
        check_input_clip(self.input_clip)
        mods = tuple(
            m if isinstance(m, ModalitySpec) else ModalitySpec(**m) for m in self.modalities
        )
        object.__setattr__(self, "modalities", mods)
        names = [m.name for m in mods]
        if not mods or len(set(names)) != len(names):
            raise ValueError(f"modalities must be non-empty with unique names, got {names}")
        if self.n_labels < 2 or self.hidden < 1:
            raise ValueError("n_labels must be >= 2 and hidden >= 1")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.modality_dropout < 1.0:
            raise ValueError("dropout and modality_dropout must lie in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON- and ``torch.load(weights_only=True)``-safe representation."""
        out = asdict(self)
        out["modalities"] = [asdict(m) for m in self.modalities]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MLPConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**with_legacy_input_clip(data))


class LateFusionMLP(nn.Module):
    """Per-modality MLP embeddings, concatenated, then an MLP to label log-probabilities.

    Each modality's input is its clean feature values and their missing flags; an absent
    modality is replaced by a learned "absent" embedding, so the baseline handles dropped
    devices and NaN features like HeLo does.
    """

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.layout = InputLayout(
            names=[m.name for m in config.modalities],
            n_features=[m.n_features for m in config.modalities],
            clip=config.input_clip,
        )
        self.encoders = nn.ModuleList(
            nn.Sequential(
                nn.Linear(2 * m.n_features, h), nn.GELU(approximate="tanh"), nn.Linear(h, h)
            )
            for m in config.modalities
        )
        self.absent = nn.Parameter(torch.zeros(len(config.modalities), h))
        self.fusion = nn.Sequential(
            nn.GELU(approximate="tanh"),
            nn.Dropout(config.dropout),
            nn.Linear(len(config.modalities) * h, h),
            nn.GELU(approximate="tanh"),
            nn.Dropout(config.dropout),
            nn.Linear(h, config.n_labels),
        )

    def forward(
        self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None
    ) -> Tensor:
        """Log-probabilities ``(B, n_labels)``; same arguments as :meth:`HeLo.forward`."""
        inputs = self.layout.prepare(features, present)
        mask = inputs.present
        if self.training:
            mask = drop_modalities(mask, self.config.modality_dropout)
        missing = inputs.missing.to(inputs.values.dtype)
        embeddings = []
        for m, ((lo, hi), encoder) in enumerate(zip(self.layout.spans, self.encoders, strict=True)):
            x = torch.cat([inputs.values[:, lo:hi], missing[:, lo:hi]], dim=1)
            embeddings.append(torch.where(mask[:, m, None], encoder(x), self.absent[m]))
        return F.log_softmax(self.fusion(torch.cat(embeddings, dim=1)), dim=-1)
