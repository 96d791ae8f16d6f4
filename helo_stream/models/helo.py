"""HeLo: heterogeneity- and label-correlation-aware emotion-distribution model.

After Zheng et al., HeLo (ACM MM 2025, arXiv 2507.06821), adapted to a live setting: any set
of modalities given as hand-crafted window features, modalities that drop out per sample, and a
deterministic eval mode. Token shapes per stage for a batch of ``B`` windows, with ``F_m``
features per modality, anchor ``a``, ``O`` other physiological modalities and ``L`` labels::

    FeatureTokenizer        every feature -> a token             (B, F_m, d) per modality
    physiological fusion    anchor tokens cross-attend to each   P: (B, Np, d), Np = F_a * O
                            other physiological modality,        (Np = F_a if O = 0: P is the
                            one block of F_a tokens per pair      anchor's tokens)
    behavioural set         concatenated behavioural tokens      Bh: (B, Nb, d), Nb = sum F_m
    OT interaction          P += proj(T / a @ Bh) (if use_ot)    (B, Np, d)
    shared transformer      self-attention within P and within   (B, Np + Nb, d)
                            Bh (block mask), then a token MLP
    emotion pooling         one convex mix of tokens per label   (B, L, d)
    label decoder           label embeddings attend (bias: their (B, L, d) decoded label tokens
                            cosine-similarity matrix)
    condition read-out      (with ``conditions``) a linear head  (B, L) log-probabilities
                            on the decoded label tokens gives
                            p(condition); the distribution is
                            softmax(log(p(c) @ condition means)
                            + MLP(decoded)); else softmax(MLP)

Why the condition read-out: emotion targets are one self-report per person and condition, so
they differ between conditions by a few hundredths per label and mostly reflect who rated, not
what the signals show. Trained on those targets alone (a KL loss), the network learns the
population mean and little else. With the read-out, the decoded label tokens are also trained
to recognise the protocol condition (a cross-entropy with strong gradients), the distribution
is the mixture of the training conditions' mean distributions under that recognition, and the
label decoder's own logits add what the mixture misses. Without conditions (a dataset with no
protocol), the model is the plain HeLo head.

Deliberate differences from the authors' code: the label embeddings are a persistent parameter
(the reference re-draws them every forward pass, so its alignment loss trains nothing), eval mode
has no random masking (the reference keeps DropKey on), and masked attention lets any modality be
absent per sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helo_stream.config.device import Role
from helo_stream.models.attention import MASK_VALUE, AttentionBlock, FeedForwardBlock, key_mask
from helo_stream.models.encoders import FeatureTokenizer
from helo_stream.models.inputs import (
    DEFAULT_INPUT_CLIP,
    InputLayout,
    check_input_clip,
    drop_modalities,
    with_legacy_input_clip,
)
from helo_stream.models.label_attention import EmotionTokenPooling, LabelCorrelationDecoder
from helo_stream.models.ot_alignment import OTInteraction

__all__ = ["HeLo", "HeLoConfig", "ModalitySpec", "alignment_loss", "helo_loss"]

#: Smallest mixture probability before the logarithm (keeps log finite for a zero mean entry).
_MIX_FLOOR = 1e-8


@dataclass(frozen=True)
class ModalitySpec:
    """One input modality: its name, its role in HeLo, and its feature count."""

    name: str
    role: Role
    n_features: int

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"modality name must be a non-empty string, got {self.name!r}")
        if self.role not in get_args(Role):
            raise ValueError(
                f"modality {self.name!r}: role must be one of {get_args(Role)}, got {self.role!r}"
            )
        if isinstance(self.n_features, bool) or not isinstance(self.n_features, int):
            raise ValueError(f"modality {self.name!r}: n_features must be an int")
        if self.n_features < 1:
            raise ValueError(f"modality {self.name!r}: n_features must be >= 1")


def _modalities_from(raw: Any) -> tuple[ModalitySpec, ...]:
    return tuple(m if isinstance(m, ModalitySpec) else ModalitySpec(**m) for m in raw)


def _check_modalities(modalities: tuple[ModalitySpec, ...]) -> None:
    names = [m.name for m in modalities]
    if len(set(names)) != len(names):
        raise ValueError(f"modality names must be unique, got {names}")
    if not any(m.role == "physiological" for m in modalities):
        raise ValueError("at least one physiological modality is required")


@dataclass(frozen=True)
class HeLoConfig:
    """Architecture of :class:`HeLo`; the ablations are flags.

    Attributes
    ----------
    modalities
        Input modalities, in a fixed order (the order of the feature tokens).
    n_labels
        Number of emotion labels.
    d_model, n_heads, dropout
        Token width, attention heads, dropout probability (training only).
    anchor
        Physiological modality whose tokens query the other physiological modalities;
        default the first physiological one.
    ot_method, ot_reg, ot_iters
        OT solver (entropic Sinkhorn on the cross-set cosine cost, or entropic Gromov-Wasserstein
        on intra-set cosine costs), its entropic regularisation and maximum Sinkhorn iterations.
    ot_tol
        Sinkhorn stops early once the row-marginal L1 error is below this (0: always ``ot_iters``).
    gw_outer_iters
        Outer linearisation steps of Gromov-Wasserstein.
    use_ot
        Ablation: without OT, the behavioural tokens are simply concatenated.
    use_label_correlation
        Ablation: without it, no alignment loss and no correlation bias in the label attention.
    modality_dropout
        Training-time probability of dropping a whole modality of a sample (never all of them).
    conditions
        Protocol conditions recognised by the condition read-out (module docstring); empty: no
        read-out. Their mean target distributions are set after training data are known
        (:meth:`HeLo.set_condition_means`) and saved with the weights.
    condition_residual
        With ``conditions``: add the label decoder's logits to the log of the mixture (False:
        the distribution is the mixture alone).
    input_clip
        Normalised features are clamped to ``±input_clip`` (the pipeline's
        ``model.input_clip``); a stored config without it was trained with 10.
    """

    modalities: tuple[ModalitySpec, ...]
    n_labels: int
    d_model: int = 32
    n_heads: int = 4
    dropout: float = 0.1
    anchor: str | None = None
    ot_method: Literal["sinkhorn", "gromov"] = "sinkhorn"
    ot_reg: float = 0.1
    ot_iters: int = 50
    use_ot: bool = True
    use_label_correlation: bool = True
    modality_dropout: float = 0.1
    ot_tol: float = 1e-3
    gw_outer_iters: int = 5
    conditions: tuple[str, ...] = ()
    condition_residual: bool = True
    input_clip: float = DEFAULT_INPUT_CLIP

    def __post_init__(self) -> None:
        check_input_clip(self.input_clip)
        object.__setattr__(self, "modalities", _modalities_from(self.modalities))
        object.__setattr__(self, "conditions", tuple(str(c) for c in self.conditions))
        if len(set(self.conditions)) != len(self.conditions) or len(self.conditions) == 1:
            raise ValueError(
                f"conditions must be empty or at least two unique names, got {self.conditions}"
            )
        _check_modalities(self.modalities)
        if self.n_labels < 2:
            raise ValueError(f"n_labels must be >= 2, got {self.n_labels}")
        if self.d_model < 1 or self.n_heads < 1 or self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be a positive multiple of n_heads ({self.n_heads})"
            )
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.modality_dropout < 1.0:
            raise ValueError("dropout and modality_dropout must lie in [0, 1)")
        phys = [m.name for m in self.modalities if m.role == "physiological"]
        if self.anchor is not None and self.anchor not in phys:
            raise ValueError(f"anchor {self.anchor!r} is not a physiological modality {phys}")
        if self.ot_method not in ("sinkhorn", "gromov"):
            raise ValueError(f"ot_method must be 'sinkhorn' or 'gromov', got {self.ot_method!r}")
        if self.ot_reg <= 0 or self.ot_iters < 1 or self.ot_tol < 0 or self.gw_outer_iters < 1:
            raise ValueError("ot_reg must be > 0, ot_iters and gw_outer_iters >= 1, ot_tol >= 0")

    @property
    def anchor_name(self) -> str:
        """The anchor modality actually used."""
        if self.anchor is not None:
            return self.anchor
        return next(m.name for m in self.modalities if m.role == "physiological")

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON- and ``torch.load(weights_only=True)``-safe representation."""
        out = asdict(self)
        out["modalities"] = [asdict(m) for m in self.modalities]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HeLoConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**with_legacy_input_clip(data))


class HeLo(nn.Module):
    """HeLo emotion-distribution model (see the module docstring for the stages).

    ``forward`` returns log-probabilities ``(B, n_labels)``. Absent modalities (``present``
    False, or all features non-finite) are masked out of every attention and of the transport;
    if the anchor is absent, learned placeholder queries take its place. In training mode whole
    modalities are also dropped at random (``modality_dropout``); eval mode is deterministic.
    """

    def __init__(self, config: HeLoConfig) -> None:
        super().__init__()
        self.config = config
        mods = config.modalities
        d = config.d_model
        anchor = next(m for m in mods if m.name == config.anchor_name)
        others = [m for m in mods if m.role == "physiological" and m is not anchor]
        behavioral = [m for m in mods if m.role == "behavioral"]
        # Internal order anchor | other physiological | behavioural: each group's feature
        # columns (and tokens) are then one contiguous slice, cheaper than gathering them.
        ordered = [anchor, *others, *behavioral]
        self.layout = InputLayout(
            names=[m.name for m in ordered],
            n_features=[m.n_features for m in ordered],
            clip=config.input_clip,
        )
        n_anchor = anchor.n_features
        n_keys = sum(m.n_features for m in others)
        self._n_anchor = n_anchor
        self._n_phys_features = n_anchor + n_keys
        self._n_others = len(others)
        self._has_behavioral = bool(behavioral)

        def sources(first: int, sizes: list[int]) -> list[int]:
            """Internal modality index of each token, for modalities ``first, first + 1, ...``
            contributing ``sizes`` tokens each."""
            return [first + i for i, n in enumerate(sizes) for _ in range(n)]

        self.tokenizer = FeatureTokenizer(
            n_features=self.layout.total, d_model=d, d_hidden=2 * d, dropout=config.dropout
        )
        if others:
            # One cross-attention, shared by every (anchor, other) pair as in the reference
            # model; the anchor tokens are repeated once per other modality and a block mask
            # lets copy o attend to modality o only, so all pairs run as a single attention.
            self.anchor_fallback = nn.Parameter(torch.randn(n_anchor, d))
            self.phys_fusion = AttentionBlock(
                d_model=d, n_heads=config.n_heads, dropout=config.dropout
            )
            phys_src = sources(1, [n_anchor] * len(others))
            key_src = sources(1, [m.n_features for m in others])
            pair = torch.tensor(phys_src)[:, None] == torch.tensor(key_src)[None, :]
            self.register_buffer("_pair_mask", torch.where(pair, 0.0, MASK_VALUE), False)
            self.register_buffer("_key_src", torch.tensor(key_src), False)
        else:
            self.anchor_fallback = None
            self.phys_fusion = None
            phys_src = [0] * n_anchor
        first_beh = 1 + len(others)
        beh_src = sources(first_beh, [m.n_features for m in behavioral])
        self.register_buffer("_phys_src", torch.tensor(phys_src), False)
        self.register_buffer("_beh_src", torch.tensor(beh_src, dtype=torch.long), False)
        # The shared layer sees both sets side by side but attends within each set only.
        group = torch.tensor([0] * len(phys_src) + [1] * len(beh_src))
        same = group[:, None] == group[None, :]
        self.register_buffer("_set_mask", torch.where(same, 0.0, MASK_VALUE), False)

        self.ot = (
            OTInteraction(
                d_model=d,
                method=config.ot_method,
                reg=config.ot_reg,
                n_iters=config.ot_iters,
                tol=config.ot_tol,
                gw_outer_iters=config.gw_outer_iters,
                dropout=config.dropout,
            )
            if config.use_ot and behavioral
            else None
        )
        self.shared_attention = AttentionBlock(
            d_model=d, n_heads=config.n_heads, dropout=config.dropout
        )
        self.shared_ffn = FeedForwardBlock(d_model=d, d_hidden=2 * d, dropout=config.dropout)
        self.pooling = EmotionTokenPooling(
            n_tokens=len(phys_src) + len(beh_src), n_labels=config.n_labels
        )
        self.decoder = LabelCorrelationDecoder(
            n_labels=config.n_labels,
            d_model=d,
            n_heads=config.n_heads,
            dropout=config.dropout,
            use_label_correlation=config.use_label_correlation,
        )
        n_cond = len(config.conditions)
        self.condition_head = nn.Linear(config.n_labels * d, n_cond) if n_cond else None
        # Mean target distribution of each condition (rows in ``config.conditions`` order).
        # Persistent only with a read-out, so checkpoints of models without one still load.
        self.register_buffer(
            "condition_means",
            torch.full((n_cond, config.n_labels), 1.0 / config.n_labels),
            persistent=bool(n_cond),
        )

    def set_condition_means(self, means: Mapping[str, Any]) -> None:
        """Set the mixture components: ``condition -> (L,)`` mean target distribution.

        Raises
        ------
        ValueError
            A configured condition is missing, or a row is not a distribution.
        """
        missing = [c for c in self.config.conditions if c not in means]
        if missing:
            raise ValueError(f"no mean distribution for the conditions {missing}")
        rows = (
            torch.stack(
                [torch.as_tensor(means[c], dtype=torch.float32) for c in self.config.conditions]
            )
            if self.config.conditions
            else self.condition_means
        )
        if rows.shape != self.condition_means.shape or not bool(torch.isfinite(rows).all()):
            raise ValueError(f"condition means must be finite, shape {tuple(rows.shape)}")
        if bool((rows < 0).any()) or not torch.allclose(rows.sum(1), torch.ones(len(rows))):
            raise ValueError("every condition mean must be a distribution summing to 1")
        with torch.no_grad():
            self.condition_means.copy_(rows)

    def learned_correlation(self) -> Tensor:
        """``(L, L)`` cosine similarity of the label embeddings."""
        return self.decoder.learned_correlation()

    def _physiological(
        self, tokens: Tensor, present: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """Physiological token set ``(B, Np, d)`` and its validity ``(B, Np)``.

        ``present`` None means every modality of every sample is present (validity None too).
        """
        anchor = tokens[:, : self._n_anchor]
        if self.phys_fusion is None:
            return anchor, None if present is None else present[:, self._phys_src]
        keys = tokens[:, self._n_anchor : self._n_phys_features]
        if present is None:
            query = anchor.repeat(1, self._n_others, 1)
            return self.phys_fusion(query, keys, logit_bias=self._pair_mask), None
        anchor_ok = present[:, 0]
        query = torch.where(anchor_ok[:, None, None], anchor, self.anchor_fallback)
        query = query.repeat(1, self._n_others, 1)
        bias = self._pair_mask + key_mask(present[:, self._key_src])
        other_ok = present[:, self._phys_src]
        fused = self.phys_fusion(query, keys, logit_bias=bias, update_mask=other_ok)
        return fused, other_ok | anchor_ok[:, None]

    def forward(
        self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None
    ) -> Tensor:
        """Log-probabilities ``(B, n_labels)`` from ``name -> (B, F_m)`` normalised features.

        Parameters
        ----------
        features
            Every configured modality; NaN/inf entries are treated as missing features.
        present
            Optional ``name -> (B,)`` bool; False marks the whole modality absent for a sample.
        """
        return self.forward_with_conditions(features, present)[0]

    def forward_with_conditions(
        self, features: Mapping[str, Tensor], present: Mapping[str, Tensor] | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """:meth:`forward` and the condition logits ``(B, C)`` (None without ``conditions``)."""
        inputs = self.layout.prepare(features, present)
        mask = inputs.present
        if self.training:
            mask = drop_modalities(mask, self.config.modality_dropout)
        # The common case, everything present, skips all mask arithmetic (adding 0 and
        # multiplying by 1 change nothing, so both paths give the same numbers).
        present_mask = None if bool(mask.all()) else mask
        tokens = self.tokenizer(inputs.values, inputs.missing)
        phys, phys_valid = self._physiological(tokens, present_mask)
        valid = phys_valid
        if self._has_behavioral:
            beh = tokens[:, self._n_phys_features :]
            beh_valid = None if present_mask is None else present_mask[:, self._beh_src]
            if self.ot is not None:
                phys = self.ot(phys, phys_valid, beh, beh_valid)
            fused = torch.cat([phys, beh], dim=1)
            if present_mask is not None:
                valid = torch.cat([phys_valid, beh_valid], dim=1)
        else:
            fused = phys
        bias = self._set_mask if valid is None else self._set_mask + key_mask(valid)
        fused = self.shared_ffn(self.shared_attention(fused, fused, logit_bias=bias))
        decoded = self.decoder.decode(self.pooling(fused, valid))
        if self.condition_head is None:
            return F.log_softmax(self.decoder.classify(decoded), dim=-1), None
        condition_logits = F.linear(decoded, self.condition_head.weight, self.condition_head.bias)
        mixture = torch.softmax(condition_logits, dim=-1) @ self.condition_means
        logits = torch.log(mixture.clamp_min(_MIX_FLOOR))
        if self.config.condition_residual:
            logits = logits + self.decoder.classify(decoded)
        return F.log_softmax(logits, dim=-1), condition_logits


def alignment_loss(model: HeLo, label_corr: Tensor) -> Tensor:
    """Mean squared difference between the embeddings' cosine similarity and ``label_corr``."""
    learned = model.learned_correlation()
    target = torch.as_tensor(label_corr, dtype=learned.dtype, device=learned.device)
    if target.shape != learned.shape:
        raise ValueError(
            f"label_corr must have shape {tuple(learned.shape)}, got {tuple(target.shape)}"
        )
    return (learned - target).square().mean()


def helo_loss(
    model: HeLo,
    log_probs: Tensor,
    target: Tensor,
    label_corr: Tensor,
    *,
    lam: float,
    condition_logits: Tensor | None = None,
    condition_target: Tensor | None = None,
    condition_weight: float = 0.0,
) -> tuple[Tensor, dict[str, float]]:
    """HeLo training objective: ``KL(target || pred)`` (batch mean) ``+ lam * alignment``
    ``+ condition_weight * cross-entropy(condition)``.

    The alignment term pulls the label embeddings' cosine-similarity matrix toward the label
    correlation of the training targets; it is 0 (and not computed) when the model was built
    with ``use_label_correlation=False``. The condition term trains the condition read-out on
    the protocol condition of each window (indices into ``model.config.conditions``; a negative
    index, e.g. a window of a condition the model does not know, is ignored); it is 0 without
    condition logits or targets.

    Returns
    -------
    tuple
        The differentiable total loss and ``{"loss", "kl", "align", "condition"}`` as floats
        for logging.
    """
    kl = F.kl_div(log_probs, target.to(log_probs.dtype), reduction="batchmean")
    total = kl
    align = kl.new_zeros(())
    if model.config.use_label_correlation:
        align = alignment_loss(model, label_corr)
        total = total + lam * align
    condition = kl.new_zeros(())
    if condition_logits is not None and condition_target is not None and condition_weight > 0:
        known = condition_target >= 0
        if bool(known.any()):
            condition = F.cross_entropy(condition_logits[known], condition_target[known])
            total = total + condition_weight * condition
    logged = {"loss": total, "kl": kl, "align": align, "condition": condition}
    return total, {key: float(value.detach()) for key, value in logged.items()}
