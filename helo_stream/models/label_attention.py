"""Emotion-token pooling, learnable label embeddings and the label-correlation-driven decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helo_stream.models.attention import AttentionBlock, key_mask, linear

__all__ = ["EmotionTokenPooling", "LabelCorrelationDecoder"]


class EmotionTokenPooling(nn.Module):
    """Fuse a set of valid tokens into one emotion token per label.

    Emotion token ``l`` is a convex combination of the valid tokens with learned per-label
    weights (a softmax over learned logits restricted to valid tokens), so absent modalities
    drop out of the mixture instead of contributing zeros. Samples without any valid token get
    zero emotion tokens.
    """

    def __init__(self, *, n_tokens: int, n_labels: int) -> None:
        super().__init__()
        # Random, not zero: identical initial emotion tokens would never be told apart.
        self.logits = nn.Parameter(torch.randn(n_labels, n_tokens))

    def forward(self, tokens: Tensor, valid: Tensor | None) -> Tensor:
        """``(B, N, d)`` tokens with ``(B, N)`` validity (None: all valid) -> ``(B, L, d)``."""
        if valid is None:
            return torch.softmax(self.logits, dim=-1) @ tokens
        weights = torch.softmax(self.logits + key_mask(valid)[:, 0], dim=-1)
        return (weights @ tokens) * valid.any(dim=1)[:, None, None]


class LabelCorrelationDecoder(nn.Module):
    """Label embeddings query the emotion tokens; the labels' learned correlation biases attention.

    The embeddings are a persistent ``nn.Parameter`` (one vector per label), trained both by the
    prediction loss and by the correlation alignment loss of
    :func:`helo_stream.models.helo.helo_loss`. Their cosine-similarity matrix is the learned label
    correlation; with ``use_label_correlation`` it is added to the attention logits, so that
    correlated labels attend to the emotion tokens alike. A classifier MLP on the decoded label
    tokens gives the logits.

    In inference (eval mode, gradients off) the query side depends on weights only; it is
    computed once and reused until a weight changes (tracked by tensor version counters).

    Parameters
    ----------
    n_labels, d_model, n_heads, dropout
        Number of labels, token width, attention heads, dropout (training only).
    use_label_correlation
        Add the learned correlation to the attention logits.
    """

    def __init__(
        self,
        *,
        n_labels: int,
        d_model: int,
        n_heads: int,
        dropout: float,
        use_label_correlation: bool,
    ) -> None:
        super().__init__()
        self.use_label_correlation = use_label_correlation
        self.label_embeddings = nn.Parameter(torch.randn(n_labels, d_model))
        self.cross = AttentionBlock(d_model=d_model, n_heads=n_heads, dropout=dropout)
        self.head_hidden = nn.Linear(n_labels * d_model, d_model)
        self.head_out = nn.Linear(d_model, n_labels)
        self._cache: tuple[tuple[tuple[int, int], ...], tuple[Tensor, Tensor | None]] | None = None

    def learned_correlation(self) -> Tensor:
        """``(L, L)`` cosine similarity of the label embeddings."""
        unit = F.normalize(self.label_embeddings, dim=-1)
        return unit @ unit.T

    def _query_side(self) -> tuple[Tensor, Tensor | None]:
        """Projected label queries ``(1, heads, L, d/heads)`` and the logit bias ``(L, L)``."""
        if self.training or torch.is_grad_enabled():
            self._cache = None
            return self._compute_query_side()
        sources = (self.label_embeddings, self.cross.q_proj.weight, self.cross.q_proj.bias)
        key = tuple((t._version, t.data_ptr()) for t in sources)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._compute_query_side())
        return self._cache[1]

    def _compute_query_side(self) -> tuple[Tensor, Tensor | None]:
        queries = self.cross.project_query(self.label_embeddings.unsqueeze(0))
        bias = self.learned_correlation() if self.use_label_correlation else None
        return queries, bias

    def decode(self, emotion_tokens: Tensor) -> Tensor:
        """``(B, L, d)`` emotion tokens -> ``(B, L * d)`` decoded label tokens, flattened."""
        batch = emotion_tokens.shape[0]
        projected, bias = self._query_side()
        queries = self.label_embeddings.unsqueeze(0).expand(batch, -1, -1)
        decoded = self.cross(
            queries,
            emotion_tokens,
            logit_bias=bias,
            projected_query=projected.expand(batch, -1, -1, -1),
        )
        return decoded.flatten(1)

    def classify(self, decoded: Tensor) -> Tensor:
        """``(B, L * d)`` decoded label tokens -> ``(B, L)`` unnormalised label logits."""
        hidden = F.gelu(linear(self.head_hidden, decoded), approximate="tanh")
        return linear(self.head_out, hidden)

    def forward(self, emotion_tokens: Tensor) -> Tensor:
        """``(B, L, d)`` emotion tokens -> ``(B, L)`` unnormalised label logits."""
        return self.classify(self.decode(emotion_tokens))
