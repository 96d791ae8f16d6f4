"""Training loop: label correlation, seeding, resume, group-wise validation, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helo_stream.metrics.distribution import distribution_metrics, kl_divergence
from helo_stream.models.helo import HeLo, HeLoConfig, ModalitySpec
from helo_stream.models.mlp import LateFusionMLP, MLPConfig
from helo_stream.training.trainer import TrainConfig, label_correlation, train_model

MODS = (
    ModalitySpec("bvp", "physiological", 4),
    ModalitySpec("eda", "physiological", 3),
    ModalitySpec("acc", "behavioral", 3),
)


def problem(n: int, n_labels: int = 4, seed: int = 0):
    """Targets are a fixed deterministic function of the features (a softmax of a linear map)."""
    rng = np.random.default_rng(seed)
    features = {m.name: rng.standard_normal((n, m.n_features)).astype(np.float32) for m in MODS}
    weights = np.random.default_rng(123).standard_normal((10, n_labels)) * 1.2
    stacked = np.concatenate([features[m.name] for m in MODS], axis=1)
    logits = stacked @ weights
    targets = np.exp(logits - logits.max(axis=1, keepdims=True))
    return features, targets / targets.sum(axis=1, keepdims=True)


def helo(seed: int = 0, n_labels: int = 4, **kwargs) -> HeLo:
    torch.manual_seed(seed)
    return HeLo(HeLoConfig(modalities=MODS, n_labels=n_labels, d_model=16, **kwargs))


def test_label_correlation_by_hand_and_constant_columns():
    y = np.array([[0.2, 0.8, 0.0], [0.4, 0.6, 0.0], [0.9, 0.1, 0.0]])
    corr = label_correlation(y)
    # Columns 0 and 1 sum to 1, so they are perfectly anti-correlated; column 2 is constant.
    expected = np.array([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(corr, expected, atol=1e-12)
    y = np.random.default_rng(0).dirichlet(np.ones(5), size=50)
    np.testing.assert_allclose(label_correlation(y), np.corrcoef(y.T), atol=1e-12)
    with pytest.raises(ValueError):
        label_correlation(np.array([[np.nan, 1.0]]))


def test_same_seed_same_weights_and_different_seed_differs():
    features, targets = problem(96)
    config = TrainConfig(epochs=2, batch_size=32, seed=5)
    a, b, c = helo(), helo(), helo()
    train_model(a, features=features, present=None, targets=targets, config=config, progress=False)
    train_model(b, features=features, present=None, targets=targets, config=config, progress=False)
    other = TrainConfig(epochs=2, batch_size=32, seed=6)
    train_model(c, features=features, present=None, targets=targets, config=other, progress=False)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.decoder.label_embeddings, c.decoder.label_embeddings)


def test_resume_equals_straight_run(tmp_path):
    features, targets = problem(120)
    groups = np.repeat(np.arange(6), 20)
    present = {"acc": np.arange(120) % 5 != 0}
    config = dict(batch_size=32, seed=1, val_fraction=0.34)
    kwargs = dict(features=features, present=present, targets=targets, groups=groups)

    straight = helo()
    result = train_model(straight, config=TrainConfig(epochs=4, **config), progress=False, **kwargs)
    first = helo()  # the same start as the straight run; it "crashes" after epoch 2
    two = TrainConfig(epochs=2, **config)
    train_model(first, config=two, checkpoint_dir=tmp_path, progress=False, **kwargs)
    resumed = helo(seed=10)  # different init: resuming must restore the saved weights
    four = TrainConfig(epochs=4, **config)
    again = train_model(resumed, config=four, checkpoint_dir=tmp_path, progress=False, **kwargs)
    assert again.resumed_from_epoch == 2 and result.resumed_from_epoch == 0
    assert [h["epoch"] for h in again.history] == [1, 2, 3, 4]
    assert again.history == result.history
    assert again.best_epoch == result.best_epoch
    for (name, pa), pb in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(pa, pb), name
    # A different setup must not silently resume from that state.
    with pytest.raises(ValueError, match="different"):
        train_model(
            helo(), config=TrainConfig(epochs=4, **{**config, "lr": 0.01}),
            checkpoint_dir=tmp_path, progress=False, **kwargs,
        )  # fmt: skip


def test_validation_holds_out_whole_groups_and_restores_best_epoch():
    features, targets = problem(160)
    groups = np.repeat(np.array(["s1", "s2", "s3", "s4", "s5"]), 32)
    model = helo()
    result = train_model(
        model,
        features=features,
        present=None,
        targets=targets,
        config=TrainConfig(epochs=4, batch_size=32, val_fraction=0.4, lr=3e-3),
        groups=groups,
        progress=False,
    )
    assert len(result.val_groups) == 2 and not set(result.val_groups) & set(result.train_groups)
    assert set(result.val_groups) | set(result.train_groups) == set(groups)
    val_losses = [h["val_loss"] for h in result.history]
    assert result.best_epoch == 1 + int(np.argmin(val_losses))
    assert result.best_val_kl == pytest.approx(min(val_losses))
    assert not model.training
    val = np.isin(groups, result.val_groups)
    with torch.no_grad():
        probs = model({k: torch.from_numpy(v[val]) for k, v in features.items()}).exp().double()
    probs = (probs / probs.sum(1, keepdim=True)).numpy()
    measured = distribution_metrics(targets[val], probs)["kl_divergence"]
    assert measured == pytest.approx(result.best_val_kl, abs=1e-5)
    # The alignment target is the training labels' correlation only.
    np.testing.assert_allclose(result.label_corr, label_correlation(targets[~val]))


def test_input_validation():
    features, targets = problem(40)
    kwargs = dict(features=features, present=None, progress=False)
    with pytest.raises(ValueError, match="groups"):
        train_model(
            helo(), targets=targets, config=TrainConfig(epochs=1, val_fraction=0.2), **kwargs
        )
    with pytest.raises(ValueError, match="summing to 1"):
        train_model(helo(), targets=targets * 2, config=TrainConfig(epochs=1), **kwargs)
    with pytest.raises(ValueError, match="rows"):
        train_model(helo(), targets=targets[:30], config=TrainConfig(epochs=1), **kwargs)
    with pytest.raises(ValueError):
        TrainConfig(val_fraction=1.0)


def test_helo_learns_a_deterministic_function_better_than_the_mean():
    features, targets = problem(600, seed=1)
    test_features, test_targets = problem(300, seed=2)
    model = helo(seed=3)
    result = train_model(
        model,
        features=features,
        present=None,
        targets=targets,
        config=TrainConfig(epochs=5, batch_size=64, lr=5e-3, seed=0),
        progress=False,
    )
    assert result.history[-1]["train_kl"] < result.history[0]["train_kl"]
    with torch.no_grad():
        pred = model({k: torch.from_numpy(v) for k, v in test_features.items()}).exp().numpy()
    mean = np.tile(targets.mean(axis=0), (len(test_targets), 1))
    helo_kl = kl_divergence(test_targets, pred).mean()
    mean_kl = kl_divergence(test_targets, mean).mean()
    assert helo_kl < 0.5 * mean_kl, (helo_kl, mean_kl)


def test_mlp_trains_with_kl_only():
    features, targets = problem(200)
    torch.manual_seed(0)
    model = LateFusionMLP(MLPConfig(modalities=MODS, n_labels=4))
    result = train_model(
        model,
        features=features,
        present=None,
        targets=targets,
        config=TrainConfig(epochs=5, batch_size=32, lr=3e-3),
        progress=False,
    )
    assert all(h["train_align"] == 0.0 for h in result.history)
    assert result.history[-1]["train_kl"] < result.history[0]["train_kl"]
    assert result.best_epoch == 5 and result.best_val_kl is None
