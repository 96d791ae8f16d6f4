"""HeLo: shapes, masking, determinism, ablations and the label-embedding training signal."""

from __future__ import annotations

import math

import pytest
import torch

from helo_stream.models.helo import HeLo, HeLoConfig, ModalitySpec, alignment_loss, helo_loss
from helo_stream.models.inputs import drop_modalities

SET_NAMES = ["wrist", "chest", "dmer", "physio_only", "single", "behaviour_first"]


def build(modalities, n_labels=7, seed=0, **kwargs) -> HeLo:
    torch.manual_seed(seed)
    return HeLo(HeLoConfig(modalities=modalities, n_labels=n_labels, **kwargs))


def assert_distributions(log_probs: torch.Tensor, batch: int, n_labels: int) -> None:
    assert log_probs.shape == (batch, n_labels)
    assert log_probs.dtype == torch.float32
    assert torch.isfinite(log_probs).all()
    sums = log_probs.exp().sum(dim=1)
    torch.testing.assert_close(sums, torch.ones(batch), atol=1e-5, rtol=0)


@pytest.mark.parametrize("set_name", SET_NAMES)
@pytest.mark.parametrize("ot_method", ["sinkhorn", "gromov"])
def test_shapes_and_sums(set_name, ot_method, modality_sets, make_features):
    mods = modality_sets[set_name]
    model = build(mods, n_labels=5, ot_method=ot_method)
    features = make_features(mods, batch=9)
    for mode in (model.train, model.eval):
        mode()
        assert_distributions(model(features), 9, 5)


def test_train_and_eval_with_24_labels(wrist, make_features):
    model = build(wrist, n_labels=24)
    features = make_features(wrist, batch=3)
    assert_distributions(model.train()(features), 3, 24)
    with torch.inference_mode():
        assert_distributions(model.eval()(features), 3, 24)


def test_eval_is_deterministic(wrist, make_features):
    model = build(wrist).eval()
    features = make_features(wrist, batch=16)
    with torch.inference_mode():
        first = model(features)
        second = model(features)
    with torch.no_grad():  # after inference mode, with its cached label queries
        third = model(features)
    assert torch.equal(first, second)
    torch.testing.assert_close(first, third, atol=1e-6, rtol=0)


def test_training_mode_is_stochastic(wrist, make_features):
    model = build(wrist, dropout=0.0, modality_dropout=0.5).train()
    features = make_features(wrist, batch=32)
    assert not torch.equal(model(features), model(features))


def test_same_seed_same_init_different_seed_different_init(wrist):
    a, b, c = build(wrist, seed=3), build(wrist, seed=3), build(wrist, seed=4)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.decoder.label_embeddings, c.decoder.label_embeddings)


def test_batch_rows_are_independent_in_eval(wrist, make_features):
    model = build(wrist).eval()
    features = make_features(wrist, batch=6)
    with torch.no_grad():
        full = model(features)
        single = model({k: v[2:3] for k, v in features.items()})
    torch.testing.assert_close(full[2:3], single, atol=1e-5, rtol=0)


@pytest.mark.parametrize("set_name", SET_NAMES)
def test_any_single_missing_modality_and_all_missing(set_name, modality_sets, make_features):
    mods = modality_sets[set_name]
    model = build(mods).eval()
    features = make_features(mods, batch=4)
    with torch.no_grad():
        reference = model(features)
        for dropped in mods:
            present = {m.name: torch.ones(4, dtype=torch.bool) for m in mods}
            present[dropped.name] = torch.tensor([False, True, False, True])
            out = model(features, present)
            assert_distributions(out, 4, 7)
            # Rows where everything is present are unaffected by the others' masks.
            torch.testing.assert_close(out[1::2], reference[1::2], atol=1e-5, rtol=0)
        nothing = {m.name: torch.zeros(4, dtype=torch.bool) for m in mods}
        assert_distributions(model(features, nothing), 4, 7)


def test_absent_modality_values_are_ignored(wrist, make_features):
    model = build(wrist).eval()
    features = make_features(wrist, batch=5)
    present = {"bvp": torch.zeros(5, dtype=torch.bool)}  # the anchor
    changed = dict(features, bvp=torch.full((5, 6), 1e6))
    with torch.no_grad():
        out = model(features, present)
        assert torch.equal(out, model(changed, present))
        assert not torch.allclose(out, model(features))


def test_missing_anchor_uses_fallback_queries(wrist, make_features):
    model = build(wrist).eval()
    features = make_features(wrist, batch=2)
    absent = {"bvp": torch.zeros(2, dtype=torch.bool)}
    with torch.no_grad():
        before = model(features, absent)
        model.anchor_fallback.add_(1.0)
        after = model(features, absent)
    assert not torch.allclose(before, after)


def test_nan_and_inf_features_give_finite_output(wrist, make_features):
    model = build(wrist)
    features = make_features(wrist, batch=4)
    features["eda"][0, 1] = math.nan
    features["temp"][1] = math.nan  # a whole modality non-finite: treated as absent
    features["acc"][2, 0] = math.inf
    features["bvp"][3] = math.nan
    for mode in (model.train, model.eval):
        mode()
        out = model(features)
        assert_distributions(out, 4, 7)
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_nan_feature_differs_from_zero_feature(wrist, make_features):
    model = build(wrist).eval()
    features = make_features(wrist, batch=1)
    zero = {k: v.clone() for k, v in features.items()}
    nan = {k: v.clone() for k, v in features.items()}
    zero["eda"][0, 2] = 0.0
    nan["eda"][0, 2] = math.nan
    with torch.no_grad():
        assert not torch.allclose(model(zero), model(nan))


def test_input_validation(wrist, make_features):
    model = build(wrist)
    features = make_features(wrist, batch=2)
    with pytest.raises(KeyError, match="missing"):
        model({k: v for k, v in features.items() if k != "acc"})
    with pytest.raises(KeyError, match="unexpected"):
        model({**features, "gyro": torch.zeros(2, 3)})
    with pytest.raises(ValueError, match=r"features\['eda'\]"):
        model({**features, "eda": torch.zeros(2, 4)})
    with pytest.raises(ValueError, match="rows"):
        model({**features, "eda": torch.zeros(3, 5)})
    with pytest.raises(ValueError, match="present"):
        model(features, {"eda": torch.ones(3, dtype=torch.bool)})


def test_modality_dropout_never_drops_everything():
    torch.manual_seed(0)
    present = torch.rand(2000, 4) < 0.7
    dropped = drop_modalities(present, 0.9)
    assert not (dropped & ~present).any()  # never adds a modality
    had_any = present.any(dim=1)
    assert torch.equal(dropped.any(dim=1), had_any)
    assert dropped.sum() < present.sum() * 0.5  # it does drop


def test_alignment_gradient_reaches_label_embeddings(wrist, make_features):
    """The reference code re-drew the embeddings every pass; here they must learn."""
    model = build(wrist, n_labels=5).train()
    features = make_features(wrist, batch=8)
    target = torch.softmax(torch.randn(8, 5), dim=1)
    label_corr = torch.eye(5)
    before = model.decoder.label_embeddings.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss, parts = helo_loss(model, model(features), target, label_corr, lam=1.0)
    loss.backward()
    optimizer.step()
    assert parts["align"] > 0
    assert not torch.equal(model.decoder.label_embeddings, before)
    # The alignment term alone also moves them (no prediction loss involved).
    model.zero_grad()
    alignment_loss(model, label_corr).backward()
    assert model.decoder.label_embeddings.grad.abs().sum() > 0


def test_alignment_loss_decreases_when_trained_alone(wrist):
    model = build(wrist, n_labels=6)
    y = torch.softmax(torch.randn(200, 6) * 2, dim=1)
    label_corr = torch.corrcoef(y.T)
    optimizer = torch.optim.Adam([model.decoder.label_embeddings], lr=0.05)
    start = alignment_loss(model, label_corr).item()
    for _ in range(200):
        optimizer.zero_grad()
        loss = alignment_loss(model, label_corr)
        loss.backward()
        optimizer.step()
    end = alignment_loss(model, label_corr).item()
    assert end < 0.2 * start
    torch.testing.assert_close(model.learned_correlation(), label_corr, atol=0.15, rtol=0)


def test_helo_loss_matches_definition(wrist, make_features):
    model = build(wrist, n_labels=4)
    log_probs = model(make_features(wrist, batch=5))
    target = torch.softmax(torch.randn(5, 4), dim=1)
    corr = torch.eye(4)
    total, parts = helo_loss(model, log_probs, target, corr, lam=0.5)
    kl = (target * (target.log() - log_probs)).sum(dim=1).mean()
    align = ((model.learned_correlation() - corr) ** 2).mean()
    torch.testing.assert_close(total, kl + 0.5 * align, atol=1e-5, rtol=0)
    assert parts["kl"] == pytest.approx(kl.item(), abs=1e-5)
    assert parts["align"] == pytest.approx(align.item(), abs=1e-6)
    with pytest.raises(ValueError, match="label_corr"):
        helo_loss(model, log_probs, target, torch.eye(3), lam=0.5)


def test_ablation_flags_change_the_architecture(wrist, make_features):
    full = build(wrist)
    no_ot = build(wrist, use_ot=False)
    no_corr = build(wrist, use_label_correlation=False)
    assert full.ot is not None and any(n.startswith("ot.") for n, _ in full.named_parameters())
    assert no_ot.ot is None
    assert not any(n.startswith("ot.") for n, _ in no_ot.named_parameters())
    n_params = sum(p.numel() for p in full.parameters())
    assert sum(p.numel() for p in no_ot.parameters()) < n_params
    # Without label correlation: no attention bias and no alignment term.
    assert no_corr.decoder._compute_query_side()[1] is None
    assert full.decoder._compute_query_side()[1] is not None
    features = make_features(wrist, batch=3)
    target = torch.full((3, 7), 1 / 7)
    total, parts = helo_loss(no_corr, no_corr(features), target, torch.zeros(7, 7), lam=10.0)
    assert parts["align"] == 0.0
    assert total.item() == pytest.approx(parts["kl"])
    # No behavioural modality: nothing to transport, so no OT module even with use_ot.
    assert build(wrist[:3]).ot is None


def test_label_bias_changes_output(wrist, make_features):
    torch.manual_seed(0)
    with_corr = build(wrist, seed=1).eval()
    without = HeLo(HeLoConfig(modalities=wrist, n_labels=7, use_label_correlation=False))
    without.load_state_dict(with_corr.state_dict())
    without.eval()
    features = make_features(wrist, batch=4)
    with torch.no_grad():
        assert not torch.allclose(with_corr(features), without(features))


def test_inference_cache_follows_weight_changes(wrist, make_features):
    model = build(wrist).eval()
    features = make_features(wrist, batch=2)
    with torch.inference_mode():
        before = model(features)
    with torch.no_grad():
        model.decoder.label_embeddings.mul_(-1.0)
    with torch.inference_mode():
        after = model(features)
    with torch.enable_grad():
        fresh = model(features)  # computed without the cache
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, fresh.detach(), atol=1e-5, rtol=0)
    clone = build(wrist, seed=5).eval()
    clone.load_state_dict(model.state_dict())
    with torch.inference_mode():
        torch.testing.assert_close(clone(features), after, atol=1e-5, rtol=0)


def test_grad_and_inference_paths_agree(wrist, make_features):
    """The OT solver runs in NumPy without autograd; both paths must give the same output."""
    model = build(wrist, ot_method="gromov").eval()
    features = make_features(wrist, batch=5)
    with torch.enable_grad():
        differentiable = model(features)
    with torch.inference_mode():
        fast = model(features)
    torch.testing.assert_close(differentiable.detach(), fast, atol=1e-5, rtol=0)


def test_config_round_trip_and_validation(wrist):
    config = HeLoConfig(modalities=wrist, n_labels=3, anchor="eda", ot_method="gromov")
    data = config.to_dict()
    assert data["modalities"][0] == {"name": "bvp", "role": "physiological", "n_features": 6}
    assert HeLoConfig.from_dict(data) == config
    assert config.anchor_name == "eda"
    assert HeLoConfig(modalities=wrist, n_labels=3).anchor_name == "bvp"
    behaviour = (ModalitySpec("acc", "behavioral", 3),)
    bad = [
        {"modalities": behaviour, "n_labels": 3},
        {"modalities": wrist, "n_labels": 1},
        {"modalities": wrist, "n_labels": 3, "anchor": "acc"},
        {"modalities": wrist, "n_labels": 3, "d_model": 30, "n_heads": 4},
        {"modalities": wrist, "n_labels": 3, "ot_method": "emd"},
        {"modalities": wrist, "n_labels": 3, "modality_dropout": 1.0},
        {"modalities": (*wrist, wrist[0]), "n_labels": 3},
    ]
    for kwargs in bad:
        with pytest.raises(ValueError):
            HeLoConfig(**kwargs)
    with pytest.raises(ValueError, match="role"):
        ModalitySpec("x", "neural", 3)


def test_anchor_choice_changes_the_model(wrist, make_features):
    default = build(wrist)
    eda_anchor = build(wrist, anchor="eda")
    # bvp anchors: 2 others x 6 tokens; eda anchors: 2 others x 5 tokens.
    assert default.pooling.logits.shape == (7, 12 + 7)
    assert eda_anchor.pooling.logits.shape == (7, 10 + 7)
    features = make_features(wrist, batch=2)
    assert_distributions(eda_anchor(features), 2, 7)
