"""HeLo's condition read-out: the distribution is a mixture of condition means (+ a residual)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helo_stream.models.checkpoint import load_checkpoint
from helo_stream.models.helo import HeLo, HeLoConfig, helo_loss
from helo_stream.training import TrainConfig, train_model

CONDITIONS = ("baseline", "stress")
MEANS = {"baseline": np.array([0.7, 0.2, 0.1]), "stress": np.array([0.1, 0.2, 0.7])}


def build(mods, **kwargs) -> HeLo:
    torch.manual_seed(0)
    return HeLo(HeLoConfig(modalities=mods, n_labels=3, conditions=CONDITIONS, **kwargs))


def test_without_residual_the_output_is_the_mixture_of_condition_means(wrist, make_features):
    model = build(wrist, condition_residual=False).eval()
    model.set_condition_means(MEANS)
    features = make_features(wrist, batch=5)
    log_probs, logits = model.forward_with_conditions(features)
    assert logits is not None and logits.shape == (5, 2)
    mixture = torch.softmax(logits, dim=-1) @ torch.tensor(
        np.stack([MEANS[c] for c in CONDITIONS]), dtype=torch.float32
    )
    torch.testing.assert_close(log_probs.exp(), mixture, atol=1e-6, rtol=0)
    torch.testing.assert_close(model(features), log_probs)


def test_residual_moves_the_output_off_the_mixture_and_absent_modalities_stay_finite(
    wrist, make_features
):
    model = build(wrist).eval()
    model.set_condition_means(MEANS)
    features = make_features(wrist, batch=4)
    features["bvp"][1] = float("nan")
    present = {"acc": torch.tensor([True, True, False, True])}
    log_probs, logits = model.forward_with_conditions(features, present)
    assert torch.isfinite(log_probs).all() and torch.isfinite(logits).all()
    mixture = torch.softmax(logits, dim=-1) @ model.condition_means
    assert not torch.allclose(log_probs.exp(), mixture, atol=1e-3)


def test_condition_means_are_checked_and_saved_with_the_weights(
    wrist, save_wrist_checkpoint, tmp_path
):
    model = build(wrist)
    with pytest.raises(ValueError, match="stress"):
        model.set_condition_means({"baseline": MEANS["baseline"]})
    with pytest.raises(ValueError, match="distribution"):
        model.set_condition_means({"baseline": [0.5, 0.5, 0.5], "stress": MEANS["stress"]})
    with pytest.raises(ValueError, match="conditions"):
        HeLoConfig(modalities=wrist, n_labels=3, conditions=("only",))
    model.set_condition_means(MEANS)
    save_wrist_checkpoint(tmp_path / "c.pt", model)
    loaded = load_checkpoint(tmp_path / "c.pt")
    torch.testing.assert_close(loaded.model.condition_means, model.condition_means)
    assert loaded.model.config.conditions == CONDITIONS


def test_loss_adds_the_condition_cross_entropy_and_ignores_unknown_conditions(wrist, make_features):
    model = build(wrist)
    model.set_condition_means(MEANS)
    log_probs, logits = model.forward_with_conditions(make_features(wrist, batch=4))
    target = torch.full((4, 3), 1 / 3)
    corr = torch.eye(3)
    plain, parts = helo_loss(model, log_probs, target, corr, lam=0.1)
    cond = torch.tensor([0, 1, -1, 1])
    total, parts = helo_loss(
        model,
        log_probs,
        target,
        corr,
        lam=0.1,
        condition_logits=logits,
        condition_target=cond,
        condition_weight=2.0,
    )
    expected = torch.nn.functional.cross_entropy(logits[cond >= 0], cond[cond >= 0])
    torch.testing.assert_close(total, plain + 2.0 * expected)
    assert parts["condition"] == pytest.approx(float(expected.detach()))


def test_training_learns_the_conditions_and_their_distributions(wrist):
    rng = np.random.default_rng(0)
    n = 400
    cond = np.where(np.arange(n) % 2 == 0, "baseline", "stress")
    shift = np.where(cond == "stress", 1.5, -1.5)[:, None]
    feats = {
        m.name: (rng.standard_normal((n, m.n_features)) + shift).astype(np.float32) for m in wrist
    }
    targets = np.stack([MEANS[c] for c in cond])
    model = build(wrist, condition_residual=False)
    model.set_condition_means(MEANS)
    result = train_model(
        model,
        features=feats,
        present=None,
        targets=targets,
        conditions=cond,
        config=TrainConfig(epochs=15, batch_size=64, lr=3e-3),
        progress=False,
    )
    assert result.history[-1]["train_condition"] < result.history[0]["train_condition"]
    with torch.no_grad():
        pred = model({k: torch.from_numpy(v) for k, v in feats.items()}).exp().numpy()
    # stress windows get the stress mean's shape: most mass on the third label
    assert (pred[cond == "stress", 2] > 0.5).mean() > 0.9
    assert (pred[cond == "baseline", 0] > 0.5).mean() > 0.9
