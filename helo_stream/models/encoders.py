"""Feature tokenizer: every hand-crafted feature of every modality becomes one token."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helo_stream.models.attention import layer_norm
from helo_stream.models.attention import linear as apply_linear

__all__ = ["FeatureTokenizer"]


class FeatureTokenizer(nn.Module):
    """Turn ``F`` scalar features into ``F`` tokens of width ``d_model``, each with its own weights.

    Token ``f`` is ``LayerNorm(value_f * w_f + e_f + W_out GELU(value_f * a_f + c_f))``: a learned
    direction scaled by the value plus a learned feature-identity embedding (the linear part),
    refined by a small per-feature MLP (the scalar-to-hidden layer is per feature, the projection
    back to ``d_model`` is shared). A NaN value uses learned "missing" vectors instead of
    ``value_f * w_f`` and ``value_f * a_f + c_f``, so an unavailable feature is distinguishable
    from a feature at the population mean. Because every weight of the first layer is
    per feature, one vectorised call encodes all modalities, yet each modality (each feature) has
    its own encoder parameters; this keeps a live window within its latency budget.

    Parameters
    ----------
    n_features
        Total number of features (tokens) across modalities.
    d_model, d_hidden
        Token width and hidden width of the per-feature MLP.
    dropout
        Dropout on the MLP output (training only).
    """

    def __init__(self, *, n_features: int, d_model: int, d_hidden: int, dropout: float) -> None:
        super().__init__()
        self.value_weight = nn.Parameter(torch.randn(n_features, d_model))
        self.feature_embedding = nn.Parameter(torch.randn(n_features, d_model))
        self.missing_embedding = nn.Parameter(torch.randn(n_features, d_model))
        self.hidden_weight = nn.Parameter(torch.randn(n_features, d_hidden))
        self.hidden_bias = nn.Parameter(torch.randn(n_features, d_hidden) * 0.1)
        self.missing_hidden = nn.Parameter(torch.randn(n_features, d_hidden))
        self.out_proj = nn.Linear(d_hidden, d_model)
        self.dropout = dropout
        self.norm = nn.LayerNorm(d_model)

    def forward(self, values: Tensor, missing: Tensor) -> Tensor:
        """``(B, F)`` clean values and ``(B, F)`` missing flags -> ``(B, F, d_model)`` tokens."""
        v = values.unsqueeze(-1)
        m = missing.unsqueeze(-1)
        base = torch.where(m, self.missing_embedding, v * self.value_weight)
        hidden = torch.addcmul(self.hidden_bias, v, self.hidden_weight)
        hidden = F.gelu(torch.where(m, self.missing_hidden, hidden), approximate="tanh")
        update = apply_linear(self.out_proj, hidden)
        if self.training and self.dropout > 0.0:
            update = F.dropout(update, self.dropout)
        return layer_norm(self.norm, base + self.feature_embedding + update)
