"""TAILOR: adversarial multi-modal refinement and label-guided decoding for multi-label emotions.

After Zhang et al., "Tailor Versatile Multi-modal Learning for Multi-label Emotion Recognition"
(AAAI 2022, arXiv 2201.05834). Per window (or utterance) it scores, independently for every
emotion, the probability that the emotion is present. Shapes for a batch of ``B`` samples,
``M`` modalities with ``T_m`` tokens each, width ``d`` and ``L`` labels::

    ModalityEncoder (one class, one instance   window: every feature -> a token   (B, F_m, d)
      per modality)                            sequence: Linear + learned positions (B, T_m, d)
                                               then self-attention layers (padding masked)
    private / common split                     P_m = tanh(W_m h), C_m = tanh(W_c h) (B, T_m, d)
    modality discriminator (shared)            on P_m, and on GRL(C_m)             (B, T_m, M)
    granularity descent                        see below                  (B, sum T_m, d)
    private-common fusion                      [descent ; C_1 ... C_M]   (B, 2 sum T_m, d)
    label decoder                              L queries: self-attn, cross-attn     (B, L, d)
    classifier (shared over labels)            one logit per label                  (B, L)

Granularity descent with ``M >= 2`` modalities in fusion order ``o_1 ... o_M`` (default: the
declaration order; put the most informative modality first, e.g. text for CMU-MOSEI): stage 1
fuses the two *last* modalities ``[o_{M-1} ; o_M]``; stage ``k`` fuses ``[o_{M-k} ; fused]``
until ``o_1`` is added; the final stage fuses ``[fused ; C]`` with the common sequence. Every
stage is its own transformer over the concatenated sequence with two token types (the newly
added part vs. the part fused so far). For ``(text, visual, audio)`` this is the authors'
visual+audio, then text, then common; for ``M = 2`` it is one pairwise stage and the common
stage; for more modalities the pair fusion descends one modality at a time.

The common sequence is the concatenation of the per-modality common sequences (the authors add
them position by position, which needs equal lengths; wearable modalities have different
feature counts, so they are concatenated here and the padding/absence masks carry over).

Deliberate differences from the authors' release: one encoder class instead of four copies,
logits without dropout (the loss is ``BCEWithLogits``), padding and absent modalities masked in
every attention and every auxiliary loss, no CTC/unaligned path (sequences of any length are
simply concatenated; :class:`torch.nn.CTCLoss` would be the tool if a pseudo-alignment is added),
and eval mode is deterministic (dropout and modality dropout only in training).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helo_stream.config.pipeline import TailorSettings
from helo_stream.models.attention import (
    AttentionBlock,
    FeedForwardBlock,
    key_mask,
    layer_norm,
    linear,
)
from helo_stream.models.encoders import FeatureTokenizer
from helo_stream.models.helo import ModalitySpec
from helo_stream.models.inputs import (
    DEFAULT_INPUT_CLIP,
    check_input_clip,
    drop_modalities,
    with_legacy_input_clip,
)

__all__ = [
    "ModalityEncoder",
    "Tailor",
    "TailorConfig",
    "TailorOutput",
    "grad_reverse",
    "orthogonality_loss",
    "tailor_loss",
]

InputKind = Literal["window", "sequence"]

#: The pipeline's ``model.tailor`` defaults: the one source of TAILOR's architecture defaults.
_SETTINGS = TailorSettings()
#: The fields of :class:`TailorConfig` that come from ``model.tailor``.
SETTINGS_FIELDS = (
    "d_model",
    "n_heads",
    "n_layers",
    "cross_layers",
    "decoder_layers",
    "dropout",
    "modality_dropout",
    "adv_weight",
    "diff_weight",
    "common_weight",
    "threshold",
)


@dataclass(frozen=True)
class TailorConfig:
    """Architecture and loss weights of :class:`Tailor`.

    The fields the pipeline's ``model.tailor`` section sets
    (:class:`~helo_stream.config.pipeline.TailorSettings`, see :meth:`from_settings`) default to
    its defaults, and ``input_clip`` to ``model.input_clip``'s, so a model built here and one
    built by ``helo-stream train`` cannot differ by a default.

    Attributes
    ----------
    modalities
        Input modalities (``role`` is not used by TAILOR, kept for one shared config format);
        ``n_features`` is the feature count of a window (``inputs="window"``) or the feature
        width ``D_m`` of one time step (``inputs="sequence"``). At least two.
    n_labels
        Number of emotion labels.
    inputs
        ``"window"``: each modality is a feature vector ``(B, F_m)``, one token per feature.
        ``"sequence"``: each modality is a sequence ``(B, T_m, D_m)`` with optional padding.
    d_model, n_heads, dropout
        Token width, attention heads, dropout probability (training only).
    n_layers, cross_layers, decoder_layers
        Transformer layers per modality encoder, per fusion stage and in the label decoder.
    max_len
        Longest sequence the learned positions cover (``inputs="sequence"`` only).
    fusion_order
        Modality names in granularity-descent order (default: declaration order).
    modality_dropout
        Training-time probability of dropping a whole modality of a sample (never all).
    adv_weight, diff_weight, common_weight
        Weights of the adversarial (private + common), difference (orthogonality) and
        common-classifier losses; the authors' values are the defaults.
    threshold
        Decision threshold on the per-label probability.
    input_clip
        Finite window features are clamped to ``±input_clip`` (sequences are not: they feed
        an input LayerNorm); a stored config without it was trained with 10.
    """

    modalities: tuple[ModalitySpec, ...]
    n_labels: int
    inputs: InputKind = "window"
    d_model: int = _SETTINGS.d_model
    n_heads: int = _SETTINGS.n_heads
    n_layers: int = _SETTINGS.n_layers
    cross_layers: int = _SETTINGS.cross_layers
    decoder_layers: int = _SETTINGS.decoder_layers
    dropout: float = _SETTINGS.dropout
    max_len: int = 512
    fusion_order: tuple[str, ...] | None = None
    modality_dropout: float = _SETTINGS.modality_dropout
    adv_weight: float = _SETTINGS.adv_weight
    diff_weight: float = _SETTINGS.diff_weight
    common_weight: float = _SETTINGS.common_weight
    threshold: float = _SETTINGS.threshold
    input_clip: float = DEFAULT_INPUT_CLIP

    @classmethod
    def from_settings(
        cls,
        settings: TailorSettings,
        *,
        modalities: tuple[ModalitySpec, ...],
        n_labels: int,
        input_clip: float = DEFAULT_INPUT_CLIP,
        **structure: Any,
    ) -> TailorConfig:
        """The config of the pipeline's ``model.tailor`` section for these inputs and labels.

        ``input_clip`` is the pipeline's ``model.input_clip``; ``structure`` the fields no
        pipeline sets (``inputs``, ``max_len``, ``fusion_order``).
        """
        chosen = {name: getattr(settings, name) for name in SETTINGS_FIELDS}
        return cls(
            modalities=modalities,
            n_labels=n_labels,
            input_clip=input_clip,
            **chosen,
            **structure,
        )

    def __post_init__(self) -> None:
        check_input_clip(self.input_clip)
        mods = tuple(
            m if isinstance(m, ModalitySpec) else ModalitySpec(**m) for m in self.modalities
        )
        object.__setattr__(self, "modalities", mods)
        names = [m.name for m in mods]
        if len(mods) < 2 or len(set(names)) != len(names):
            raise ValueError(f"TAILOR needs >= 2 modalities with unique names, got {names}")
        if self.fusion_order is not None:
            order = tuple(self.fusion_order)
            object.__setattr__(self, "fusion_order", order)
            if sorted(order) != sorted(names):
                raise ValueError(f"fusion_order {list(order)} must list each of {names} once")
        if self.inputs not in ("window", "sequence"):
            raise ValueError(f"inputs must be 'window' or 'sequence', got {self.inputs!r}")
        if self.n_labels < 1:
            raise ValueError(f"n_labels must be >= 1, got {self.n_labels}")
        if self.d_model < 2 or self.n_heads < 1 or self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be a multiple >= 2 of n_heads ({self.n_heads})"
            )
        if min(self.n_layers, self.cross_layers, self.decoder_layers) < 1 or self.max_len < 1:
            raise ValueError("n_layers, cross_layers, decoder_layers and max_len must be >= 1")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.modality_dropout < 1.0:
            raise ValueError("dropout and modality_dropout must lie in [0, 1)")
        if min(self.adv_weight, self.diff_weight, self.common_weight) < 0:
            raise ValueError("loss weights must be >= 0")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), got {self.threshold}")

    @property
    def order(self) -> tuple[str, ...]:
        """Granularity-descent order actually used."""
        return self.fusion_order or tuple(m.name for m in self.modalities)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON- and ``torch.load(weights_only=True)``-safe representation."""
        out = asdict(self)
        out["modalities"] = [asdict(m) for m in self.modalities]
        out["fusion_order"] = None if self.fusion_order is None else list(self.fusion_order)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TailorConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**with_legacy_input_clip(data))


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad.neg() * ctx.scale, None


def grad_reverse(x: Tensor, scale: float = 1.0) -> Tensor:
    """Identity forward, gradient times ``-scale`` backward (Ganin & Lempitsky's GRL).

    The discriminator behind it learns to recognise the modality while everything before it
    learns to hide the modality: one backward pass trains both sides of the min-max game.
    """
    return _GradReverse.apply(x, scale)


class _TransformerStack(nn.Module):
    """Post-norm self-attention + MLP layers; invalid tokens are masked keys and never updated."""

    def __init__(self, *, d_model: int, n_heads: int, n_layers: int, dropout: float) -> None:
        super().__init__()
        self.attention = nn.ModuleList(
            AttentionBlock(d_model=d_model, n_heads=n_heads, dropout=dropout)
            for _ in range(n_layers)
        )
        self.ffn = nn.ModuleList(
            FeedForwardBlock(d_model=d_model, d_hidden=2 * d_model, dropout=dropout)
            for _ in range(n_layers)
        )

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        """``(B, N, d)`` tokens, ``(B, N)`` validity -> ``(B, N, d)``."""
        bias = key_mask(valid)
        for attention, ffn in zip(self.attention, self.ffn, strict=True):
            x = ffn(attention(x, x, logit_bias=bias, update_mask=valid))
        return x


class ModalityEncoder(nn.Module):
    """Tokenise one modality and encode it with self-attention; one class for every modality.

    Parameters
    ----------
    kind
        ``"window"``: ``(B, F)`` features, each a token (:class:`FeatureTokenizer`, whose
        per-feature identity embedding plays the role of the learned position).
        ``"sequence"``: ``(B, T, D)`` steps, input LayerNorm (as the authors), a linear
        projection and learned positions.
    n_inputs
        ``F`` or ``D``.
    d_model, n_heads, n_layers, dropout, max_len
        Token width, heads, layers, dropout, longest sequence.
    """

    def __init__(
        self,
        *,
        kind: InputKind,
        n_inputs: int,
        d_model: int,
        n_heads: int,
        n_layers: int,
        dropout: float,
        max_len: int,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.dropout = dropout
        if kind == "window":
            self.tokenizer = FeatureTokenizer(
                n_features=n_inputs, d_model=d_model, d_hidden=2 * d_model, dropout=dropout
            )
        else:
            # A one-wide step has no spread to normalise: LayerNorm would zero it.
            self.input_norm = nn.LayerNorm(n_inputs) if n_inputs > 1 else None
            self.proj = nn.Linear(n_inputs, d_model)
            self.positions = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
            self.embed_norm = nn.LayerNorm(d_model)
        self.layers = _TransformerStack(
            d_model=d_model, n_heads=n_heads, n_layers=n_layers, dropout=dropout
        )

    def forward(self, values: Tensor, missing: Tensor | None, valid: Tensor) -> Tensor:
        """Encode clean ``values`` (``(B, F)`` or ``(B, T, D)``) -> ``(B, N, d)`` tokens.

        ``missing`` flags NaN features (window kind); ``valid`` ``(B, N)`` marks real tokens.
        """
        if self.kind == "window":
            tokens = self.tokenizer(values, missing)
        else:
            x = values if self.input_norm is None else layer_norm(self.input_norm, values)
            tokens = linear(self.proj, x) + self.positions[: values.shape[1]]
            tokens = layer_norm(self.embed_norm, tokens)
            if self.training and self.dropout > 0.0:
                tokens = F.dropout(tokens, self.dropout)
        return self.layers(tokens, valid)


class _FusionStage(nn.Module):
    """One granularity-descent stage: a transformer over ``[first ; second]`` with token types."""

    def __init__(self, *, d_model: int, n_heads: int, n_layers: int, dropout: float) -> None:
        super().__init__()
        self.token_types = nn.Parameter(torch.randn(2, d_model) * 0.02)
        self.norm = nn.LayerNorm(d_model)
        self.layers = _TransformerStack(
            d_model=d_model, n_heads=n_heads, n_layers=n_layers, dropout=dropout
        )

    def forward(
        self, first: Tensor, first_valid: Tensor, second: Tensor, second_valid: Tensor
    ) -> tuple[Tensor, Tensor]:
        x = torch.cat([first + self.token_types[0], second + self.token_types[1]], dim=1)
        valid = torch.cat([first_valid, second_valid], dim=1)
        return self.layers(layer_norm(self.norm, x), valid), valid


class _LabelDecoder(nn.Module):
    """One learned query per label: self-attention among labels, cross-attention to the fusion."""

    def __init__(
        self, *, n_labels: int, d_model: int, n_heads: int, n_layers: int, dropout: float
    ) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(n_labels, d_model))
        self.query_norm = nn.LayerNorm(d_model)
        self.self_attention = nn.ModuleList(
            AttentionBlock(d_model=d_model, n_heads=n_heads, dropout=dropout)
            for _ in range(n_layers)
        )
        self.cross_attention = nn.ModuleList(
            AttentionBlock(d_model=d_model, n_heads=n_heads, dropout=dropout)
            for _ in range(n_layers)
        )
        self.ffn = nn.ModuleList(
            FeedForwardBlock(d_model=d_model, d_hidden=2 * d_model, dropout=dropout)
            for _ in range(n_layers)
        )
        # Shared over labels (as the authors): each label's identity lives in its query.
        self.classifier = nn.Linear(d_model, 1)

    def forward(self, memory: Tensor, valid: Tensor) -> Tensor:
        """``(B, N, d)`` fused tokens with ``(B, N)`` validity -> ``(B, L)`` logits."""
        batch = memory.shape[0]
        q = layer_norm(self.query_norm, self.queries).expand(batch, -1, -1)
        bias = key_mask(valid)
        # A sample without any valid token keeps its label queries: a constant, finite prior.
        has_memory = valid.any(dim=1, keepdim=True).expand(batch, q.shape[1])
        for self_att, cross_att, ffn in zip(
            self.self_attention, self.cross_attention, self.ffn, strict=True
        ):
            q = self_att(q, q)
            q = cross_att(q, memory, logit_bias=bias, update_mask=has_memory)
            q = ffn(q)
        return linear(self.classifier, q).squeeze(-1)


@dataclass
class TailorOutput:
    """Everything :func:`tailor_loss` needs; per-modality tuples follow the config order.

    Attributes
    ----------
    logits
        ``(B, L)`` per-label logits of the label decoder (the prediction).
    common_logits
        ``(B, L)`` logits of the auxiliary classifier on the pooled common representation.
    private, common
        ``(B, T_m, d)`` private and common token sequences (before gradient reversal).
    valid
        ``(B, T_m)`` bool, real tokens (not padding, modality present).
    private_modality_logits, common_modality_logits
        ``(B, T_m, M)`` discriminator logits; the common ones went through gradient reversal.
    present
        ``(B, M)`` bool, modalities that took part for each sample.
    """

    logits: Tensor
    common_logits: Tensor
    private: tuple[Tensor, ...]
    common: tuple[Tensor, ...]
    valid: tuple[Tensor, ...]
    private_modality_logits: tuple[Tensor, ...]
    common_modality_logits: tuple[Tensor, ...]
    present: Tensor

    def probabilities(self) -> Tensor:
        """``(B, L)`` probability that each label is present."""
        return torch.sigmoid(self.logits)


class Tailor(nn.Module):
    """TAILOR multi-label emotion model (see the module docstring for the stages and shapes)."""

    def __init__(self, config: TailorConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.names = tuple(m.name for m in c.modalities)
        self.n_inputs = tuple(m.n_features for m in c.modalities)
        self._order = tuple(self.names.index(name) for name in c.order)
        d = c.d_model
        self.encoders = nn.ModuleList(
            ModalityEncoder(
                kind=c.inputs,
                n_inputs=m.n_features,
                d_model=d,
                n_heads=c.n_heads,
                n_layers=c.n_layers,
                dropout=c.dropout,
                max_len=c.max_len,
            )
            for m in c.modalities
        )
        self.private_extractors = nn.ModuleList(nn.Linear(d, d) for _ in c.modalities)
        self.common_extractor = nn.Linear(d, d)
        n_mod = len(c.modalities)
        self.discriminator = nn.Sequential(
            nn.Linear(d, d // 2), nn.ReLU(), nn.Dropout(c.dropout), nn.Linear(d // 2, n_mod)
        )
        self.common_classifier = nn.Linear(d, c.n_labels)

        def stage() -> _FusionStage:
            return _FusionStage(
                d_model=d, n_heads=c.n_heads, n_layers=c.cross_layers, dropout=c.dropout
            )

        self.private_stages = nn.ModuleList(stage() for _ in range(n_mod - 1))
        self.common_stage = stage()
        self.decoder = _LabelDecoder(
            n_labels=c.n_labels,
            d_model=d,
            n_heads=c.n_heads,
            n_layers=c.decoder_layers,
            dropout=c.dropout,
        )

    # ------------------------------------------------------------------ inputs
    def _prepare(
        self,
        features: Mapping[str, Tensor],
        present: Mapping[str, Tensor] | None,
        padding: Mapping[str, Tensor] | None,
        lengths: Mapping[str, Tensor] | None,
    ) -> tuple[list[Tensor], list[Tensor | None], list[Tensor], Tensor]:
        """Clean values, missing flags, token validity per modality and ``(B, M)`` presence."""
        unknown = sorted(set(features) - set(self.names))
        lacking = [n for n in self.names if n not in features]
        if unknown or lacking:
            raise KeyError(
                f"features must hold exactly the modalities {list(self.names)}; "
                f"missing {lacking}, unexpected {unknown}"
            )
        for extra, label in ((present, "present"), (padding, "padding"), (lengths, "lengths")):
            bad = sorted(set(extra or {}) - set(self.names))
            if bad:
                raise KeyError(f"{label} names unknown modalities {bad}")
        window = self.config.inputs == "window"
        if window and (padding or lengths):
            raise ValueError("padding/lengths apply to inputs='sequence' only")
        values, missing, valid, flags = [], [], [], []
        clip = self.config.input_clip
        batch = None
        for name, n_in in zip(self.names, self.n_inputs, strict=True):
            x = torch.as_tensor(features[name]).to(torch.float32)
            want = f"(B, {n_in})" if window else f"(B, T, {n_in})"
            if x.dim() != (2 if window else 3) or x.shape[-1] != n_in:
                raise ValueError(f"features[{name!r}] must have shape {want}, got {tuple(x.shape)}")
            if batch is None:
                batch = x.shape[0]
            if x.shape[0] != batch:
                raise ValueError(f"features[{name!r}] has {x.shape[0]} rows, expected {batch}")
            finite = torch.isfinite(x)
            if window:
                values.append(torch.where(finite, x, 0.0).clamp(-clip, clip))
                missing.append(~finite)
                ok = finite.any(dim=1)
                tok_valid = ok[:, None].expand(batch, n_in)
            else:
                n_steps = x.shape[1]
                if n_steps > self.config.max_len:
                    raise ValueError(
                        f"features[{name!r}] has {n_steps} steps, max_len is {self.config.max_len}"
                    )
                # Sequences feed an input LayerNorm, so no clamp; a step without any finite
                # value carries no information and is treated as padding.
                values.append(torch.where(finite, x, 0.0))
                missing.append(None)
                tok_valid = finite.any(dim=2)
                if padding is not None and name in padding:
                    pad = torch.as_tensor(padding[name], dtype=torch.bool, device=x.device)
                    if pad.shape != (batch, n_steps):
                        raise ValueError(
                            f"padding[{name!r}] must have shape ({batch}, {n_steps}), "
                            f"got {tuple(pad.shape)}"
                        )
                    tok_valid = tok_valid & ~pad
                if lengths is not None and name in lengths:
                    n = torch.as_tensor(lengths[name], device=x.device).reshape(-1)
                    if n.shape != (batch,):
                        raise ValueError(f"lengths[{name!r}] must have shape ({batch},)")
                    steps = torch.arange(n_steps, device=x.device)
                    tok_valid = tok_valid & (steps[None, :] < n[:, None])
                ok = tok_valid.any(dim=1)
            if present is not None and name in present:
                declared = torch.as_tensor(present[name], dtype=torch.bool, device=x.device)
                if declared.reshape(-1).shape != (batch,):
                    raise ValueError(f"present[{name!r}] must have shape ({batch},)")
                ok = ok & declared.reshape(-1)
            valid.append(tok_valid)
            flags.append(ok)
        present_mask = torch.stack(flags, dim=1)
        if self.training:
            present_mask = drop_modalities(present_mask, self.config.modality_dropout)
        valid = [v & present_mask[:, m, None] for m, v in enumerate(valid)]
        return values, missing, valid, present_mask

    # ----------------------------------------------------------------- forward
    def forward(
        self,
        features: Mapping[str, Tensor],
        present: Mapping[str, Tensor] | None = None,
        *,
        padding: Mapping[str, Tensor] | None = None,
        lengths: Mapping[str, Tensor] | None = None,
        grl_scale: float = 1.0,
    ) -> TailorOutput:
        """Score every label for every sample.

        Parameters
        ----------
        features
            Every configured modality: ``(B, F_m)`` (window inputs; NaN = missing feature) or
            ``(B, T_m, D_m)`` (sequence inputs; a step without finite values = padding).
        present
            Optional ``name -> (B,)`` bool; False marks the modality absent for a sample.
        padding
            Optional ``name -> (B, T_m)`` bool, True at padded steps (sequence inputs).
        lengths
            Optional ``name -> (B,)`` valid lengths of right-padded sequences.
        grl_scale
            Gradient-reversal strength on the common path (the trainer ramps it up).
        """
        values, missing, valid, present_mask = self._prepare(features, present, padding, lengths)
        private, common, private_disc, common_disc = [], [], [], []
        for m, encoder in enumerate(self.encoders):
            h = encoder(values[m], missing[m], valid[m])
            p = self._extract(self.private_extractors[m], h)
            c = self._extract(self.common_extractor, h)
            private.append(p)
            common.append(c)
            private_disc.append(self.discriminator(p))
            common_disc.append(self.discriminator(grad_reverse(c, grl_scale)))

        # Granularity descent: the last two modalities of the order first, then one at a time.
        last = self._order[-1]
        fused, fused_valid = private[last], valid[last]
        for stage, m in zip(self.private_stages, reversed(self._order[:-1]), strict=True):
            fused, fused_valid = stage(private[m], valid[m], fused, fused_valid)
        common_seq = torch.cat(common, dim=1)
        common_valid = torch.cat(valid, dim=1)
        fused, fused_valid = self.common_stage(fused, fused_valid, common_seq, common_valid)
        logits = self.decoder(fused, fused_valid)

        weights = common_valid.to(common_seq.dtype).unsqueeze(-1)
        pooled = (common_seq * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
        common_logits = linear(self.common_classifier, pooled)
        return TailorOutput(
            logits=logits,
            common_logits=common_logits,
            private=tuple(private),
            common=tuple(common),
            valid=tuple(valid),
            private_modality_logits=tuple(private_disc),
            common_modality_logits=tuple(common_disc),
            present=present_mask,
        )

    def _extract(self, layer: nn.Linear, h: Tensor) -> Tensor:
        out = linear(layer, h)
        if self.training and self.config.dropout > 0.0:
            out = F.dropout(out, self.config.dropout)
        return torch.tanh(out)

    def set_threshold(self, threshold: float) -> None:
        """Replace the decision threshold (the config is frozen: a validated copy is stored)."""
        self.config = replace(self.config, threshold=float(threshold))

    def predict_proba(
        self,
        features: Mapping[str, Tensor],
        present: Mapping[str, Tensor] | None = None,
        **kwargs: Any,
    ) -> Tensor:
        """``(B, L)`` per-label probabilities (no gradients; the module's current mode)."""
        with torch.no_grad():
            return self(features, present, **kwargs).probabilities()


def orthogonality_loss(
    first: Tensor,
    second: Tensor,
    first_valid: Tensor | None = None,
    second_valid: Tensor | None = None,
) -> Tensor:
    """Batch mean of ``||A B^T||_F^2`` for ``(B, N_a, d)`` and ``(B, N_b, d)`` token sets.

    Zero exactly when every token of ``first`` is orthogonal to every token of ``second``;
    invalid (padded or absent) tokens are zeroed first so they cannot contribute.
    """
    if first_valid is not None:
        first = first * first_valid.unsqueeze(-1).to(first.dtype)
    if second_valid is not None:
        second = second * second_valid.unsqueeze(-1).to(second.dtype)
    return torch.bmm(first, second.transpose(1, 2)).square().sum(dim=(1, 2)).mean()


def _modality_cross_entropy(logits: tuple[Tensor, ...], valid: tuple[Tensor, ...]) -> Tensor:
    """Sum over modalities of the mean cross-entropy of "this token is modality m"."""
    total = logits[0].new_zeros(())
    for m, (lg, ok) in enumerate(zip(logits, valid, strict=True)):
        if bool(ok.any()):
            chosen = lg[ok]
            target = torch.full((chosen.shape[0],), m, dtype=torch.long, device=lg.device)
            total = total + F.cross_entropy(chosen, target)
    return total


def tailor_loss(
    output: TailorOutput, targets: Tensor, *, config: TailorConfig
) -> tuple[Tensor, dict[str, float]]:
    """TAILOR objective: ``BCE + adv_w (adv_private + adv_common) + diff_w diff + common_w BCE_c``.

    ``adv_private`` trains private features to be identifiable by the discriminator;
    ``adv_common`` trains the discriminator on common features, whose encoders receive the
    reversed gradient (modality invariance); ``diff`` is the orthogonality between every pair of
    private streams and between each modality's common and private streams.

    Returns
    -------
    tuple
        The differentiable total and ``{"loss", "bce", "adv_private", "adv_common", "diff",
        "common_bce"}`` as floats for logging.
    """
    logits = output.logits
    y = torch.as_tensor(targets, device=logits.device).to(logits.dtype)
    if y.shape != logits.shape:
        raise ValueError(f"targets must have shape {tuple(logits.shape)}, got {tuple(y.shape)}")
    bce = F.binary_cross_entropy_with_logits(logits, y)
    common_bce = F.binary_cross_entropy_with_logits(output.common_logits, y)
    adv_private = _modality_cross_entropy(output.private_modality_logits, output.valid)
    adv_common = _modality_cross_entropy(output.common_modality_logits, output.valid)
    diff = logits.new_zeros(())
    for i, j in itertools.combinations(range(len(output.private)), 2):
        diff = diff + orthogonality_loss(
            output.private[i], output.private[j], output.valid[i], output.valid[j]
        )
    for p, c, ok in zip(output.private, output.common, output.valid, strict=True):
        diff = diff + orthogonality_loss(c, p, ok, ok)
    total = (
        bce
        + config.adv_weight * (adv_private + adv_common)
        + config.diff_weight * diff
        + config.common_weight * common_bce
    )
    logged = {
        "loss": total,
        "bce": bce,
        "adv_private": adv_private,
        "adv_common": adv_common,
        "diff": diff,
        "common_bce": common_bce,
    }
    return total, {k: float(v.detach()) for k, v in logged.items()}
