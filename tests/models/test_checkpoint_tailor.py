"""TAILOR checkpoints: the predictor knows it is multi-label, scores labels with a sigmoid and
still offers a valid distribution; HeLo predictors are unchanged and have no scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helo_stream.models.checkpoint import load_checkpoint, save_checkpoint
from helo_stream.models.helo import HeLo, HeLoConfig
from helo_stream.models.normalization import FeatureNormalizer
from helo_stream.models.tailor import Tailor, TailorConfig

LABELS = ["amusement", "baseline", "meditation", "stress"]


def save(path, model, name, mods):
    save_checkpoint(
        path,
        model=model,
        model_name=name,
        model_config=model.config.to_dict(),
        labels=LABELS,
        feature_names={m.name: [f"{m.name}_{i}" for i in range(m.n_features)] for m in mods},
        normalizer=FeatureNormalizer(
            population_mean={m.name: np.zeros(m.n_features) for m in mods},
            population_std={m.name: np.ones(m.n_features) for m in mods},
            calibration_s=120.0,
        ),
        metadata={"dataset": "synthetic"},
    )


@pytest.fixture
def tailor(wrist):
    torch.manual_seed(0)
    return Tailor(TailorConfig(modalities=wrist, n_labels=len(LABELS), d_model=16, threshold=0.4))


def test_tailor_round_trip_scores_and_distribution(tmp_path, tailor, wrist, make_features):
    path = tmp_path / "t.pt"
    save(path, tailor, "tailor", wrist)
    predictor = load_checkpoint(path)
    assert predictor.multilabel and predictor.model_name == "tailor"
    assert predictor.threshold == pytest.approx(0.4)
    feats = {k: v.numpy() for k, v in make_features(wrist, 3).items()}
    scores = predictor.predict_scores_batch(feats)
    with torch.no_grad():
        expected = torch.sigmoid(tailor.eval()(make_features(wrist, 3)).logits).numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    # The distribution is the same scores normalised, so consumers of distributions keep working.
    dist = predictor.predict_batch(feats)
    np.testing.assert_allclose(dist, scores / scores.sum(axis=1, keepdims=True), rtol=1e-6)
    one = predictor.predict_scores({k: v[0] for k, v in feats.items()})
    np.testing.assert_allclose(one, scores[0], rtol=1e-5, atol=1e-6)
    # Independent sigmoids: they need not sum to 1 (would be a softmax otherwise).
    assert not np.allclose(scores.sum(axis=1), 1.0)


def test_tailor_scores_with_an_absent_modality(tmp_path, tailor, wrist, make_features):
    path = tmp_path / "t.pt"
    save(path, tailor, "tailor", wrist)
    predictor = load_checkpoint(path)
    feats = {k: v.numpy()[0] for k, v in make_features(wrist, 1).items()}
    dropped = next(iter(feats))
    scores = predictor.predict_scores(feats, present={dropped: False})
    assert scores.shape == (len(LABELS),) and np.all((scores > 0) & (scores < 1))


def test_helo_predictor_is_unchanged_and_has_no_scores(tmp_path, wrist, make_features):
    torch.manual_seed(0)
    helo = HeLo(HeLoConfig(modalities=wrist, n_labels=len(LABELS)))
    path = tmp_path / "h.pt"
    save(path, helo, "helo", wrist)
    predictor = load_checkpoint(path)
    assert not predictor.multilabel and predictor.threshold is None
    feats = {k: v.numpy() for k, v in make_features(wrist, 2).items()}
    with torch.no_grad():
        expected = torch.exp(helo.eval()(make_features(wrist, 2))).numpy()
    np.testing.assert_allclose(predictor.predict_batch(feats), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="distribution, not per-label scores"):
        predictor.predict_scores_batch(feats)
