"""TAILOR's decision threshold: chosen on the validation groups' windows only, kept without them."""

from __future__ import annotations

import numpy as np
import pytest

import helo_stream.training.tailor_trainer as tt
from helo_stream.training.tailor_trainer import (
    THRESHOLD_GRID,
    TailorTrainConfig,
    choose_threshold,
    predict_proba,
    train_tailor,
)
from tests.training.test_tailor_trainer import model, problem


def separable(cut_low: float, cut_high: float, *, n: int = 400, seed: int = 0):
    """Present labels score in ``[cut_high, 1)``, absent ones in ``[0, cut_low)``."""
    rng = np.random.default_rng(seed)
    y = rng.random((n, 5)) < 0.3
    probs = np.where(y, rng.uniform(cut_high, 1.0, y.shape), rng.uniform(0.0, cut_low, y.shape))
    return probs, y


def test_grid_is_fixed() -> None:
    assert THRESHOLD_GRID[0] == 0.05 and THRESHOLD_GRID[-1] == 0.95 and len(THRESHOLD_GRID) == 19
    assert np.allclose(np.diff(THRESHOLD_GRID), 0.05)


def test_scores_separating_at_a_known_cut_choose_it() -> None:
    probs, y = separable(0.28, 0.32)
    chosen, scores = choose_threshold(probs, y, THRESHOLD_GRID, default=0.5)
    assert chosen == pytest.approx(0.3)
    assert scores[chosen] == pytest.approx(1.0)
    assert max(scores.values()) == scores[chosen]
    assert all(f1 < 1.0 for t, f1 in scores.items() if t != chosen)
    probs, y = separable(0.68, 0.72, seed=1)
    assert choose_threshold(probs, y, THRESHOLD_GRID, default=0.5)[0] == pytest.approx(0.7)


def test_micro_f1_is_the_criterion() -> None:
    probs, y = separable(0.45, 0.55, seed=2)
    flip = np.random.default_rng(3).random(y.shape) < 0.2
    y = y ^ flip
    _, scores = choose_threshold(probs, y, THRESHOLD_GRID, default=0.5)
    for t in (0.1, 0.5, 0.9):
        pred = probs >= t
        tp, fp, fn = (pred & y).sum(), (pred & ~y).sum(), (~pred & y).sum()
        assert scores[t] == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_ties_go_to_the_default_and_no_positive_keeps_it() -> None:
    probs, y = separable(0.2, 0.8, seed=4)  # 0.2 < t <= 0.8: every candidate is perfect
    assert choose_threshold(probs, y, THRESHOLD_GRID, default=0.5)[0] == pytest.approx(0.5)
    assert choose_threshold(probs, y, THRESHOLD_GRID, default=0.33)[0] == pytest.approx(0.35)
    none = np.zeros_like(y)
    assert choose_threshold(probs, none, THRESHOLD_GRID, default=0.42)[0] == 0.42
    with pytest.raises(ValueError, match="must both be"):
        choose_threshold(probs[:, :2], y, THRESHOLD_GRID, default=0.5)


def test_bad_grid_is_refused() -> None:
    for grid in ((), (0.0, 0.5), (0.5, 1.0)):
        with pytest.raises(ValueError, match="threshold_grid"):
            TailorTrainConfig(threshold_grid=grid)


def test_training_chooses_on_the_validation_windows_only(monkeypatch) -> None:
    features, targets, groups = problem(320)
    seen = {}
    original = tt.choose_threshold

    def spy(probs, y, grid, *, default):
        seen.update(probs=probs.copy(), y=y.copy(), grid=tuple(grid), default=default)
        return original(probs, y, grid, default=default)

    monkeypatch.setattr(tt, "choose_threshold", spy)
    net = model(threshold=0.5)
    config = TailorTrainConfig(
        epochs=4, batch_size=16, lr=1e-2, val_fraction=0.25, threshold_grid=THRESHOLD_GRID
    )
    result = train_tailor(net, features=features, targets=targets, groups=groups, config=config)
    val_rows = np.isin(groups, result.val_groups)
    assert 0 < val_rows.sum() < len(groups)
    # Exactly the validation windows, scored by the selected epoch's weights.
    np.testing.assert_array_equal(seen["y"], targets[val_rows])
    val_probs = predict_proba(net, features={k: v[val_rows] for k, v in features.items()})
    np.testing.assert_allclose(seen["probs"], val_probs, rtol=1e-5, atol=1e-6)
    assert seen["grid"] == THRESHOLD_GRID and seen["default"] == 0.5
    want, scores = original(val_probs, targets[val_rows], THRESHOLD_GRID, default=0.5)
    assert result.threshold_source == "validation"
    assert result.threshold == pytest.approx(want) == net.config.threshold
    assert result.threshold_scores == pytest.approx(scores)
    assert result.threshold in THRESHOLD_GRID
    # The rest of the config is untouched.
    assert net.config == model(threshold=want).config


@pytest.mark.parametrize(
    ("val_fraction", "grid", "labels"),
    [(0.0, THRESHOLD_GRID, True), (0.25, None, True), (0.25, THRESHOLD_GRID, False)],
    ids=["no-val", "no-grid", "no-present-label"],
)
def test_configured_threshold_is_kept(val_fraction, grid, labels) -> None:
    features, targets, groups = problem(160)
    targets = targets if labels else np.zeros_like(targets)
    net = model(threshold=0.4)
    config = TailorTrainConfig(
        epochs=2, batch_size=32, val_fraction=val_fraction, threshold_grid=grid
    )
    result = train_tailor(net, features=features, targets=targets, groups=groups, config=config)
    assert net.config.threshold == result.threshold == 0.4
    assert result.threshold_source == "configured" and result.threshold_scores == {}


def test_resume_with_a_grid_gives_the_same_threshold(tmp_path) -> None:
    features, targets, groups = problem(160)
    config = TailorTrainConfig(
        epochs=2, batch_size=32, val_fraction=0.25, threshold_grid=THRESHOLD_GRID
    )
    first = train_tailor(
        model(),
        features=features,
        targets=targets,
        groups=groups,
        config=config,
        checkpoint_dir=tmp_path,
    )
    # Everything was trained already: the saved state is restored, the choice repeated.
    again = model(seed=5)
    second = train_tailor(
        again,
        features=features,
        targets=targets,
        groups=groups,
        config=config,
        checkpoint_dir=tmp_path,
    )
    assert second.resumed_from_epoch == 2
    assert second.threshold == first.threshold == again.config.threshold
