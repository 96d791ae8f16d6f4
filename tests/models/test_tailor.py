"""TAILOR: shapes, determinism, masking of padding and absent modalities, gradient reversal,
orthogonality loss and the config round trip."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from helo_stream.models.helo import ModalitySpec
from helo_stream.models.tailor import (
    Tailor,
    TailorConfig,
    grad_reverse,
    orthogonality_loss,
    tailor_loss,
)

MOSEI = (
    ModalitySpec("text", "behavioral", 300),
    ModalitySpec("visual", "behavioral", 35),
    ModalitySpec("audio", "behavioral", 74),
)
SMALL_SEQ = (
    ModalitySpec("a", "behavioral", 5),
    ModalitySpec("b", "behavioral", 3),
    ModalitySpec("c", "physiological", 1),
)


def window_model(mods, n_labels: int = 5, seed: int = 0, **kwargs) -> Tailor:
    torch.manual_seed(seed)
    return Tailor(TailorConfig(modalities=mods, n_labels=n_labels, d_model=16, **kwargs))


def seq_model(mods=SMALL_SEQ, n_labels: int = 6, seed: int = 0, **kwargs) -> Tailor:
    torch.manual_seed(seed)
    config = TailorConfig(
        modalities=mods, n_labels=n_labels, inputs="sequence", d_model=16, max_len=64, **kwargs
    )
    return Tailor(config)


def sequences(mods, batch: int, steps: dict[str, int] | None = None, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return {
        m.name: torch.randn(batch, (steps or {}).get(m.name, 7), m.n_features, generator=g)
        for m in mods
    }


@pytest.mark.parametrize("name", ["wrist", "chest", "dmer", "physio_only", "behaviour_first"])
def test_window_shapes_for_modality_sets(name, modality_sets, make_features) -> None:
    mods = modality_sets[name]
    model = window_model(mods).eval()
    out = model(make_features(mods, 4))
    assert out.logits.shape == (4, 5) and out.common_logits.shape == (4, 5)
    assert len(out.private) == len(mods) == len(out.valid)
    for m, p, c, v, dp in zip(
        mods, out.private, out.common, out.valid, out.private_modality_logits, strict=True
    ):
        assert p.shape == c.shape == (4, m.n_features, 16)
        assert v.shape == (4, m.n_features) and bool(v.all())
        assert dp.shape == (4, m.n_features, len(mods))
    assert out.present.shape == (4, len(mods)) and bool(out.present.all())
    # Granularity descent: one pairwise stage per extra modality, then the common stage.
    assert len(model.private_stages) == len(mods) - 1
    probs = out.probabilities()
    assert bool(((probs > 0) & (probs < 1)).all())


def test_single_modality_and_bad_configs_are_rejected() -> None:
    with pytest.raises(ValueError, match=">= 2 modalities"):
        TailorConfig(modalities=(ModalitySpec("eda", "physiological", 3),), n_labels=3)
    two = (ModalitySpec("eda", "physiological", 3), ModalitySpec("bvp", "physiological", 2))
    with pytest.raises(ValueError, match="fusion_order"):
        TailorConfig(modalities=two, n_labels=3, fusion_order=("eda", "acc"))
    with pytest.raises(ValueError, match="threshold"):
        TailorConfig(modalities=two, n_labels=3, threshold=1.0)
    with pytest.raises(ValueError, match="inputs"):
        TailorConfig(modalities=two, n_labels=3, inputs="frames")


def test_config_round_trip(wrist) -> None:
    config = TailorConfig(
        modalities=wrist, n_labels=4, fusion_order=("acc", "temp", "eda", "bvp"), adv_weight=0.1
    )
    again = TailorConfig.from_dict(config.to_dict())
    assert again == config
    assert again.order == ("acc", "temp", "eda", "bvp")
    assert isinstance(config.to_dict()["modalities"][0], dict)


def test_mosei_sequence_shapes() -> None:
    model = seq_model(MOSEI).eval()
    x = sequences(MOSEI, 3, {"text": 20, "visual": 20, "audio": 20})
    out = model(x)
    assert out.logits.shape == (3, 6)
    assert [p.shape[1] for p in out.private] == [20, 20, 20]
    # Unaligned lengths work too: the stages concatenate sequences.
    out = model(sequences(MOSEI, 2, {"text": 9, "visual": 30, "audio": 17}))
    assert out.logits.shape == (2, 6)
    assert [v.shape[1] for v in out.valid] == [9, 30, 17]


def test_eval_is_deterministic_training_is_not(wrist, make_features) -> None:
    model = window_model(wrist, dropout=0.3)
    x = make_features(wrist, 6)
    model.eval()
    a, b = model(x).logits, model(x).logits
    assert torch.equal(a, b)
    model.train()
    assert not torch.equal(model(x).logits, model(x).logits)


def test_sample_output_does_not_depend_on_the_batch(wrist, make_features) -> None:
    """Live windows arrive one at a time: batching must not change a sample's scores."""
    model = window_model(wrist).eval()
    x = make_features(wrist, 5)
    x["eda"][3] = float("nan")
    batched = model(x).logits
    for i in range(5):
        alone = model({k: v[i : i + 1] for k, v in x.items()}).logits
        torch.testing.assert_close(alone[0], batched[i], rtol=1e-5, atol=1e-6)


def test_seeded_construction(wrist, make_features) -> None:
    x = make_features(wrist, 3)
    a = window_model(wrist, seed=5).eval()(x).logits
    b = window_model(wrist, seed=5).eval()(x).logits
    c = window_model(wrist, seed=6).eval()(x).logits
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_nan_features_and_absent_modalities_never_give_nan(wrist, make_features) -> None:
    model = window_model(wrist).eval()
    x = make_features(wrist, 4)
    x["eda"][0, 1] = float("nan")
    x["bvp"][1] = float("nan")  # whole modality unavailable for sample 1
    x["acc"][2, 0] = float("inf")
    present = {"temp": torch.tensor([True, True, False, True])}
    out = model(x, present)
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.common_logits).all()
    assert out.present.tolist()[1] == [False, True, True, True]
    assert out.present.tolist()[2] == [True, True, False, True]
    loss, parts = tailor_loss(out, torch.ones(4, 5), config=model.config)
    assert torch.isfinite(loss) and all(v == v for v in parts.values())
    # Every modality absent: a finite constant prior, the same for every such sample.
    nothing = {m.name: torch.full((2, m.n_features), float("nan")) for m in wrist}
    empty = model(nothing).logits
    assert torch.isfinite(empty).all() and torch.allclose(empty[0], empty[1], atol=1e-6)


def test_absent_modality_values_are_ignored(wrist, make_features) -> None:
    model = window_model(wrist).eval()
    x = make_features(wrist, 3)
    absent = {"eda": torch.tensor([False, False, False])}
    ref = model(x, absent).logits
    x2 = {k: v.clone() for k, v in x.items()}
    x2["eda"] = torch.randn_like(x2["eda"]) * 5
    torch.testing.assert_close(model(x2, absent).logits, ref, rtol=0, atol=1e-6)
    # All-NaN is the same as declared absent.
    x3 = {k: v.clone() for k, v in x.items()}
    x3["eda"][:] = float("nan")
    torch.testing.assert_close(model(x3).logits, ref, rtol=0, atol=1e-6)
    # ... while the values of a present modality do matter.
    assert not torch.allclose(model(x2).logits, model(x).logits)


def test_padding_is_masked() -> None:
    model = seq_model().eval()
    x = sequences(SMALL_SEQ, 3, {"a": 10, "b": 6, "c": 8})
    pad_a = torch.zeros(3, 10, dtype=torch.bool)
    pad_a[0, 7:] = True
    pad_a[2, 3:] = True
    lengths = {"c": torch.tensor([8, 5, 2])}
    ref = model(x, padding={"a": pad_a}, lengths=lengths)
    changed = {k: v.clone() for k, v in x.items()}
    changed["a"][pad_a] = torch.randn(int(pad_a.sum()), 5) * 100
    changed["c"][1, 5:] = 42.0
    changed["c"][2, 2:] = -7.0
    out = model(changed, padding={"a": pad_a}, lengths=lengths)
    torch.testing.assert_close(out.logits, ref.logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(out.common_logits, ref.common_logits, rtol=0, atol=1e-5)
    assert ref.valid[0].sum(dim=1).tolist() == [7, 10, 3]
    assert ref.valid[2].sum(dim=1).tolist() == [8, 5, 2]
    # The auxiliary losses ignore padded tokens as well.
    y = torch.zeros(3, 6)
    _, p_ref = tailor_loss(ref, y, config=model.config)
    _, p_out = tailor_loss(out, y, config=model.config)
    for key in p_ref:
        assert p_out[key] == pytest.approx(p_ref[key], rel=1e-5, abs=1e-6), key
    # Without the mask the same change does move the prediction.
    unmasked = model(changed, lengths=lengths).logits
    assert not torch.allclose(unmasked, model(x, lengths=lengths).logits, atol=1e-4)


def test_all_nonfinite_step_is_padding_and_window_rejects_padding(wrist, make_features) -> None:
    model = seq_model().eval()
    x = sequences(SMALL_SEQ, 2)
    x["b"][0, 4:] = float("nan")
    out = model(x)
    assert out.valid[1][0].tolist() == [True] * 4 + [False] * 3
    assert torch.isfinite(out.logits).all()
    with pytest.raises(ValueError, match="sequence"):
        window_model(wrist)(make_features(wrist, 2), padding={"eda": torch.zeros(2, 5)})
    with pytest.raises(ValueError, match="max_len"):
        model(sequences(SMALL_SEQ, 1, {"a": 65}))


def test_input_validation(wrist, make_features) -> None:
    model = window_model(wrist)
    x = make_features(wrist, 2)
    with pytest.raises(KeyError, match="missing"):
        model({k: v for k, v in x.items() if k != "acc"})
    bad = dict(x)
    bad["eda"] = torch.zeros(2, 4)
    with pytest.raises(ValueError, match="shape"):
        model(bad)
    with pytest.raises(KeyError, match="unknown"):
        model(x, {"gsr": torch.ones(2, dtype=torch.bool)})


def test_grad_reverse_function() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    w = torch.randn(3)
    (g_plain,) = torch.autograd.grad((x * w).sum(), x)
    (g_rev,) = torch.autograd.grad((grad_reverse(x, 0.5) * w).sum(), x)
    torch.testing.assert_close(g_rev, -0.5 * g_plain)
    assert torch.equal(grad_reverse(x, 1.0), x)


def test_gradient_reversal_on_the_common_path(wrist, make_features) -> None:
    model = window_model(wrist).train()
    model.discriminator.eval()  # no dropout: both paths must see the same discriminator
    out = model(make_features(wrist, 5))
    common = out.common[0]
    target = torch.zeros(common.shape[:2], dtype=torch.long).reshape(-1)

    def ce(logits: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target)

    disc_params = list(model.discriminator.parameters())
    through_grl = torch.autograd.grad(
        ce(out.common_modality_logits[0]), [common, *disc_params], retain_graph=True
    )
    direct = torch.autograd.grad(ce(model.discriminator(common)), [common, *disc_params])
    # The features before the GRL get the discriminator's gradient with the sign flipped ...
    assert through_grl[0].abs().sum() > 0
    torch.testing.assert_close(through_grl[0], -direct[0])
    # ... while the discriminator itself is trained normally.
    for a, b in zip(through_grl[1:], direct[1:], strict=True):
        torch.testing.assert_close(a, b)
    # The private path is not reversed.
    private = out.private[0]
    (g_private,) = torch.autograd.grad(ce(out.private_modality_logits[0]), private)
    (g_direct,) = torch.autograd.grad(ce(model.discriminator(private)), private)
    torch.testing.assert_close(g_private, g_direct)


def test_orthogonality_loss() -> None:
    basis = torch.eye(4)
    first = basis[:2].expand(3, 2, 4)  # spans e0, e1
    second = basis[2:].expand(3, 2, 4)  # spans e2, e3
    assert orthogonality_loss(first, second).item() == 0.0
    overlap = second.clone()
    overlap[:, 0, 0] = 0.5  # token 0 of second now has a component along e0
    loss = orthogonality_loss(first, overlap)
    assert loss.item() == pytest.approx(0.25)
    # An invalid token's overlap does not count.
    valid = torch.tensor([[False, True]] * 3)
    assert orthogonality_loss(first, overlap, None, valid).item() == 0.0
    assert orthogonality_loss(first, first).item() == pytest.approx(2.0)


def test_loss_parts_and_weights(wrist, make_features) -> None:
    model = window_model(wrist).eval()
    x = make_features(wrist, 6)
    y = torch.rand(6, 5) > 0.5
    out = model(x)
    loss, parts = tailor_loss(out, y, config=model.config)
    c = model.config
    expected = (
        parts["bce"]
        + c.adv_weight * (parts["adv_private"] + parts["adv_common"])
        + c.diff_weight * parts["diff"]
        + c.common_weight * parts["common_bce"]
    )
    assert parts["loss"] == pytest.approx(expected, rel=1e-5)
    assert parts["bce"] == pytest.approx(
        F.binary_cross_entropy_with_logits(out.logits, y.float()).item()
    )
    assert parts["diff"] > 0 and parts["adv_private"] > 0
    bare = TailorConfig.from_dict(
        {**c.to_dict(), "adv_weight": 0.0, "diff_weight": 0.0, "common_weight": 0.0}
    )
    _, bare_parts = tailor_loss(out, y, config=bare)
    assert bare_parts["loss"] == pytest.approx(parts["bce"])
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
    with pytest.raises(ValueError, match="shape"):
        tailor_loss(out, y[:, :3], config=c)
