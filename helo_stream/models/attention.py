"""Masked multi-head attention blocks and token-wise MLP blocks (post-norm, residual).

Tokens of an absent modality must not be attended to, and the softmax over a row whose keys are
all masked must stay finite (a softmax over ``-inf`` gives NaN). Masks are therefore additive and
finite; callers that can have such rows pass an ``update_mask`` that drops their update.

A live window runs a few hundred tiny ops, so per-call overhead matters more than arithmetic:
leaf layers are applied with :func:`linear` / :func:`layer_norm` (``nn.Module.__call__`` costs as
much as the op itself here; these models use no hooks), and dropout is an ``F.dropout`` call
made in training mode only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "MASK_VALUE",
    "AttentionBlock",
    "FeedForwardBlock",
    "key_mask",
    "layer_norm",
    "linear",
]

#: Additive logit for a forbidden key: finite, so softmax never sees a row of only ``-inf``.
MASK_VALUE = -1e9


def key_mask(valid: Tensor) -> Tensor:
    """``(B, N)`` validity -> ``(B, 1, 1, N)`` additive logit mask (0 or :data:`MASK_VALUE`)."""
    return torch.where(valid, 0.0, MASK_VALUE)[:, None, None, :]


def linear(layer: nn.Linear, x: Tensor) -> Tensor:
    """``layer(x)`` without the module-call overhead."""
    return F.linear(x, layer.weight, layer.bias)


def layer_norm(layer: nn.LayerNorm, x: Tensor) -> Tensor:
    """``layer(x)`` without the module-call overhead."""
    return F.layer_norm(x, layer.normalized_shape, layer.weight, layer.bias, layer.eps)


class AttentionBlock(nn.Module):
    """``LayerNorm(query + Dropout(MultiHeadAttention(query, key_value)))``.

    Parameters
    ----------
    d_model, n_heads
        Token width and number of heads (``d_model`` divisible by ``n_heads``).
    dropout
        Dropout on the attention weights and on the update, in training mode only.
    """

    def __init__(self, *, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model)
        self.kv_proj = nn.Linear(d_model, 2 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)

    def project_query(self, query: Tensor) -> Tensor:
        """``(B, Lq, d)`` -> per-head queries ``(B, heads, Lq, d / heads)``."""
        batch, n_q, d_model = query.shape
        q = linear(self.q_proj, query).view(batch, n_q, self.n_heads, d_model // self.n_heads)
        return q.transpose(1, 2)

    def forward(
        self,
        query: Tensor,
        key_value: Tensor,
        *,
        logit_bias: Tensor | None = None,
        update_mask: Tensor | None = None,
        projected_query: Tensor | None = None,
    ) -> Tensor:
        """Residual attention update of ``query`` ``(B, Lq, d)`` from ``key_value`` ``(B, Lk, d)``.

        Parameters
        ----------
        logit_bias
            Added to the scaled attention logits; broadcastable to ``(B, heads, Lq, Lk)``. Use
            :data:`MASK_VALUE` entries to forbid keys.
        update_mask
            ``(B, Lq)`` bool; where False the query's update is dropped, so queries whose keys
            are all masked stay unchanged (their attention output is meaningless).
        projected_query
            ``project_query(query)`` if the caller already has it (constant queries).
        """
        batch, n_q, d_model = query.shape
        n_k = key_value.shape[1]
        q = self.project_query(query) if projected_query is None else projected_query
        kv = linear(self.kv_proj, key_value).view(
            batch, n_k, 2, self.n_heads, d_model // self.n_heads
        )
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=logit_bias, dropout_p=self.dropout if self.training else 0.0
        )
        update = linear(self.out_proj, attended.transpose(1, 2).reshape(batch, n_q, d_model))
        if update_mask is not None:
            update = update * update_mask.unsqueeze(-1)
        if self.training and self.dropout > 0.0:
            update = F.dropout(update, self.dropout)
        return layer_norm(self.norm, query + update)


class FeedForwardBlock(nn.Module):
    """Post-norm residual token-wise MLP: ``LayerNorm(x + Dropout(W2 GELU(W1 x)))``."""

    def __init__(self, *, d_model: int, d_hidden: int, dropout: float) -> None:
        super().__init__()
        self.dropout = dropout
        self.fc1 = nn.Linear(d_model, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_model)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the residual MLP to each token independently."""
        update = linear(self.fc2, F.gelu(linear(self.fc1, x), approximate="tanh"))
        if self.training and self.dropout > 0.0:
            update = F.dropout(update, self.dropout)
        return layer_norm(self.norm, x + update)
