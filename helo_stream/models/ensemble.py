"""An ensemble of HeLo networks: the published distribution is the mean of the members'.

Early stopping on a few held-out training subjects is noisy (two validation subjects, each with
one self-report per condition), so a single network lands on a different epoch, and a
different trade-off between recognising the condition and fitting individual ratings, with
every seed. The members differ in seed, hence in initial weights, batch order and the training
subjects they hold out for early stopping, so together they also train on every training
subject. Their mean distribution is the ensemble's prediction; the mean of distributions is
itself a distribution.

>>> import torch
>>> from helo_stream.models.helo import HeLoConfig, ModalitySpec
>>> member = HeLoConfig(modalities=[ModalitySpec("eda", "physiological", 2)], n_labels=3)
>>> model = HeLoEnsemble(HeLoEnsembleConfig(member=member, members=2)).eval()
>>> log_probs = model({"eda": torch.zeros(4, 2)})
>>> tuple(log_probs.shape), bool(torch.allclose(log_probs.exp().sum(1), torch.ones(4)))
((4, 3), True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from helo_stream.models.helo import HeLo, HeLoConfig, ModalitySpec

__all__ = ["HeLoEnsemble", "HeLoEnsembleConfig"]


@dataclass(frozen=True)
class HeLoEnsembleConfig:
    """``members`` HeLo networks of one architecture (``member``)."""

    member: HeLoConfig
    members: int

    def __post_init__(self) -> None:
        if not isinstance(self.member, HeLoConfig):
            object.__setattr__(self, "member", HeLoConfig.from_dict(self.member))
        if isinstance(self.members, bool) or not isinstance(self.members, int):
            raise ValueError("members must be an int")
        if self.members < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {self.members}")

    @property
    def modalities(self) -> tuple[ModalitySpec, ...]:
        return self.member.modalities

    @property
    def n_labels(self) -> int:
        return self.member.n_labels

    @property
    def input_clip(self) -> float:
        return self.member.input_clip

    def to_dict(self) -> dict[str, Any]:
        """Plain, ``torch.load(weights_only=True)``-safe representation."""
        return {"member": self.member.to_dict(), "members": self.members}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HeLoEnsembleConfig:
        return cls(member=HeLoConfig.from_dict(data["member"]), members=int(data["members"]))


class HeLoEnsemble(nn.Module):
    """``forward`` returns ``log(mean_m p_m)`` ``(B, n_labels)`` over the member networks."""

    def __init__(self, config: HeLoEnsembleConfig) -> None:
        super().__init__()
        self.config = config
        self.members = nn.ModuleList(HeLo(config.member) for _ in range(config.members))

    def forward(
        self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None
    ) -> Tensor:
        """The members' mean distribution, as log-probabilities (see :meth:`HeLo.forward`)."""
        stacked = torch.stack([member(features, present) for member in self.members])
        return torch.logsumexp(stacked, dim=0) - math.log(len(self.members))
