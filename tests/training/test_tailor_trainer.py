"""TAILOR trainer: learning a multi-label problem, seeding, best-weight restore, resume."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import helo_stream.training.tailor_trainer as tt
from helo_stream.metrics.multilabel import multilabel_metrics
from helo_stream.models.helo import ModalitySpec
from helo_stream.models.tailor import Tailor, TailorConfig
from helo_stream.training.tailor_trainer import (
    TailorTrainConfig,
    grl_coefficient,
    predict_proba,
    train_tailor,
)

MODS = (
    ModalitySpec("bvp", "physiological", 4),
    ModalitySpec("eda", "physiological", 3),
    ModalitySpec("acc", "behavioral", 3),
)
N_LABELS = 4


def problem(n: int, seed: int = 0):
    """Four labels, each present when a simple function of one or two modalities exceeds a cut
    (about a third of the windows): within-modality and cross-modal labels."""
    rng = np.random.default_rng(seed)
    f = {m.name: rng.standard_normal((n, m.n_features)).astype(np.float32) for m in MODS}
    targets = np.stack(
        [
            f["bvp"][:, 0] + f["bvp"][:, 1] > 0.6,
            f["eda"][:, 0] - f["eda"][:, 2] > 0.6,
            f["acc"][:, 1] > 0.45,
            f["bvp"][:, 3] + f["eda"][:, 1] > 0.6,
        ],
        axis=1,
    )
    groups = np.repeat(np.arange(n // 40 + 1), 40)[:n]
    return f, targets, groups


def model(seed: int = 0, **kwargs) -> Tailor:
    """A deterministic small TAILOR: no dropout, no modality dropout (unless given)."""
    torch.manual_seed(seed)
    kwargs = {"dropout": 0.0, "modality_dropout": 0.0, **kwargs}
    return Tailor(TailorConfig(modalities=MODS, n_labels=N_LABELS, d_model=16, **kwargs))


def test_trained_tailor_beats_label_frequencies() -> None:
    features, targets, groups = problem(320)
    test_x, test_y, _ = problem(300, seed=1)
    net = model()
    config = TailorTrainConfig(epochs=8, batch_size=16, lr=1e-2, seed=0, val_fraction=0.25)
    result = train_tailor(net, features=features, targets=targets, groups=groups, config=config)
    assert not net.training
    probs = predict_proba(net, features=test_x)
    assert probs.shape == (300, N_LABELS)
    trained = multilabel_metrics(test_y, probs >= net.config.threshold)
    train_rows = np.isin(groups, result.train_groups)
    freq = targets[train_rows].mean(axis=0)
    by_freq = multilabel_metrics(test_y, np.broadcast_to(freq >= 0.5, test_y.shape))
    everything = multilabel_metrics(test_y, np.ones_like(test_y))
    assert trained["micro_f1"] > max(by_freq["micro_f1"], everything["micro_f1"]) + 0.2
    assert trained["hamming_loss"] < 0.15


def test_group_split_and_best_weights_are_restored() -> None:
    features, targets, groups = problem(240)
    net = model()
    config = TailorTrainConfig(epochs=6, batch_size=32, lr=5e-3, val_fraction=0.34, seed=3)
    result = train_tailor(net, features=features, targets=targets, groups=groups, config=config)
    assert set(result.train_groups).isdisjoint(result.val_groups)
    assert len(result.val_groups) == 2 and len(result.history) == 6
    val_losses = [row["val_loss"] for row in result.history]
    assert result.best_epoch == 1 + int(np.argmin(val_losses))
    assert result.best_val_bce == pytest.approx(min(val_losses))
    # The model holds a copy of the best epoch's weights, not the last epoch's.
    val_rows = np.isin(groups, result.val_groups)
    probs = predict_proba(net, features={k: v[val_rows] for k, v in features.items()})
    y = targets[val_rows].astype(np.float64)
    p = np.clip(probs.astype(np.float64), 1e-12, 1 - 1e-12)
    bce = float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    assert bce == pytest.approx(result.best_val_bce, rel=1e-4)
    for key in ("val_micro_f1", "val_jaccard_accuracy", "train_adv_common", "grl", "lr"):
        assert key in result.history[0]


def test_best_is_not_the_last_epoch_reference() -> None:
    """With a learning rate far too high the last epoch is worse; the best one must survive."""
    features, targets, groups = problem(160)
    net = model()
    config = TailorTrainConfig(
        epochs=5, batch_size=16, lr=0.3, warmup_fraction=0.0, val_fraction=0.25, grad_clip=None
    )
    result = train_tailor(net, features=features, targets=targets, groups=groups, config=config)
    last = result.history[-1]["val_loss"]
    val_rows = np.isin(groups, result.val_groups)
    probs = predict_proba(net, features={k: v[val_rows] for k, v in features.items()})
    y = targets[val_rows]
    p = np.clip(probs.astype(np.float64), 1e-12, 1 - 1e-12)
    bce = float(-(y * np.log(p) + (~y) * np.log(1 - p)).mean())
    assert bce == pytest.approx(result.best_val_bce, rel=1e-4)
    assert result.best_epoch < len(result.history)
    assert bce < last


def test_seeded_runs_are_identical_and_seed_matters() -> None:
    features, targets, groups = problem(120)
    config = TailorTrainConfig(epochs=2, batch_size=32, seed=7, val_fraction=0.34)
    a = train_tailor(model(), features=features, targets=targets, groups=groups, config=config)
    b = train_tailor(model(), features=features, targets=targets, groups=groups, config=config)
    assert a.history == b.history
    other = TailorTrainConfig(epochs=2, batch_size=32, seed=8, val_fraction=0.34)
    c = train_tailor(model(), features=features, targets=targets, groups=groups, config=other)
    assert c.history != a.history


def test_resume_continues_exactly(tmp_path: Path, monkeypatch) -> None:
    features, targets, groups = problem(120)
    features["eda"][5, 1] = np.nan
    present = {"acc": np.arange(120) % 7 != 0}
    config = TailorTrainConfig(epochs=3, batch_size=32, seed=1, val_fraction=0.34)
    reference = model()
    ref = train_tailor(
        reference,
        features=features,
        targets=targets,
        groups=groups,
        present=present,
        config=config,
    )
    # Run again with checkpoints and keep the state written after epoch 2 (an interruption).
    saved = tmp_path / "run"
    snapshot = tmp_path / "after_epoch_2.pt"
    original = tt._save_state

    def keep(path, state):
        original(path, state)
        if state["epoch"] == 2:
            shutil.copy(path, snapshot)

    monkeypatch.setattr(tt, "_save_state", keep)
    train_tailor(
        model(),
        features=features,
        targets=targets,
        groups=groups,
        present=present,
        config=config,
        checkpoint_dir=saved,
    )
    monkeypatch.setattr(tt, "_save_state", original)
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    shutil.copy(snapshot, resumed_dir / tt._STATE_FILE)
    resumed = model(seed=123)  # weights come from the state file
    res = train_tailor(
        resumed,
        features=features,
        targets=targets,
        groups=groups,
        present=present,
        config=config,
        checkpoint_dir=resumed_dir,
    )
    assert res.resumed_from_epoch == 2
    assert res.history == ref.history and res.best_epoch == ref.best_epoch
    for (name, a), b in zip(
        reference.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    # A different setup must not silently resume.
    with pytest.raises(ValueError, match="different"):
        train_tailor(
            model(),
            features=features,
            targets=targets,
            groups=groups,
            config=TailorTrainConfig(epochs=3, batch_size=16, seed=1, val_fraction=0.34),
            checkpoint_dir=resumed_dir,
        )


def test_patience_stops_early() -> None:
    features, targets, groups = problem(120)
    config = TailorTrainConfig(
        epochs=40,
        batch_size=32,
        lr=0.5,
        warmup_fraction=0.0,
        val_fraction=0.34,
        patience=1,
        grad_clip=None,
    )
    result = train_tailor(model(), features=features, targets=targets, groups=groups, config=config)
    assert result.stopped_early and len(result.history) < 40
    assert len(result.history) == result.best_epoch + 1


def test_warmup_and_grl_schedules() -> None:
    assert grl_coefficient(0.0) == 0.0
    assert grl_coefficient(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert 0 < grl_coefficient(0.1) < grl_coefficient(0.5) < 1
    assert grl_coefficient(0.0, schedule="constant") == 1.0
    features, targets, _ = problem(64)
    config = TailorTrainConfig(epochs=4, batch_size=16, lr=1e-3, warmup_fraction=0.25)
    result = train_tailor(model(), features=features, targets=targets, config=config)
    lrs = [row["lr"] for row in result.history]
    # 16 steps, 4 of warmup: full lr after epoch 1, then linear decay to 0 at the end.
    assert lrs[0] == pytest.approx(1e-3)
    assert lrs[1] > lrs[2] > lrs[3] == pytest.approx(0.0)
    grls = [row["grl"] for row in result.history]
    assert grls == sorted(grls) and grls[0] > 0


def test_input_errors() -> None:
    features, targets, groups = problem(80)
    config = TailorTrainConfig(epochs=1, val_fraction=0.5)
    with pytest.raises(ValueError, match="groups"):
        train_tailor(model(), features=features, targets=targets, config=config)
    with pytest.raises(ValueError, match="labels"):
        train_tailor(
            model(), features=features, targets=targets[:, :2], groups=groups, config=config
        )
    with pytest.raises(ValueError, match="boolean"):
        train_tailor(
            model(), features=features, targets=targets * 0.5, groups=groups, config=config
        )
    with pytest.raises(ValueError, match="rows"):
        train_tailor(
            model(), features=features, targets=targets[:40], groups=groups[:40], config=config
        )


def test_sequence_inputs_with_padding() -> None:
    """The CMU-MOSEI path: (N, T, D) sequences with padding masks train and predict."""
    rng = np.random.default_rng(0)
    mods = (ModalitySpec("text", "behavioral", 6), ModalitySpec("audio", "behavioral", 4))
    n, steps = 48, 5
    features = {m.name: rng.standard_normal((n, steps, m.n_features)) for m in mods}
    padding = {"text": np.arange(steps)[None, :] >= rng.integers(1, steps + 1, n)[:, None]}
    targets = features["audio"][:, :, 0].mean(axis=1)[:, None] > np.array([[-0.2, 0.0, 0.2]])
    torch.manual_seed(0)
    net = Tailor(
        TailorConfig(modalities=mods, n_labels=3, inputs="sequence", d_model=16, max_len=8)
    )
    config = TailorTrainConfig(epochs=2, batch_size=16, val_fraction=0.25)
    groups = np.arange(n) // 6
    result = train_tailor(
        net, features=features, padding=padding, targets=targets, groups=groups, config=config
    )
    assert all(math.isfinite(row["val_loss"]) for row in result.history)
    probs = predict_proba(net, features=features, padding=padding)
    changed = {k: v.copy() for k, v in features.items()}
    changed["text"][padding["text"]] = 1e3
    again = predict_proba(net, features=changed, padding=padding)
    np.testing.assert_allclose(again, probs, rtol=0, atol=1e-5)


def test_evaluation_keeps_order_and_the_last_partial_batch() -> None:
    # The authors' evaluation loaders shuffled and dropped the last batch; here every sample is
    # scored once, in input order, whatever the batch size.
    features, _, _ = problem(31)
    torch.manual_seed(0)
    config = TailorConfig(modalities=MODS, n_labels=N_LABELS, d_model=16, dropout=0.3)
    net = Tailor(config).eval()
    whole = predict_proba(net, features=features, batch_size=1024)
    chunked = predict_proba(net, features=features, batch_size=7)
    assert whole.shape == chunked.shape == (31, N_LABELS)
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        direct = torch.sigmoid(net({k: torch.as_tensor(v) for k, v in features.items()}).logits)
    np.testing.assert_allclose(whole, direct.numpy(), rtol=1e-5, atol=1e-6)
