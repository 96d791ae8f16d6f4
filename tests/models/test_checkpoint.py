"""Checkpoint format: round trip, weights_only loading, validation errors, Predictor API."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch

from helo_stream.models.checkpoint import (
    CheckpointError,
    Predictor,
    load_checkpoint,
    save_checkpoint,
)
from helo_stream.models.helo import HeLo, HeLoConfig
from helo_stream.models.mlp import LateFusionMLP, MLPConfig
from helo_stream.models.normalization import FeatureNormalizer

LABELS = ["amusement", "baseline", "meditation", "stress"]


def feature_names(mods):
    return {m.name: [f"{m.name}_{i}" for i in range(m.n_features)] for m in mods}


def population(mods):
    return FeatureNormalizer(
        population_mean={m.name: np.arange(m.n_features, dtype=float) for m in mods},
        population_std={m.name: np.full(m.n_features, 2.0) for m in mods},
        calibration_s=120.0,
    )


def save(path, model, name, mods, **overrides):
    kwargs = {
        "model": model,
        "model_name": name,
        "model_config": model.config.to_dict(),
        "labels": LABELS,
        "feature_names": feature_names(mods),
        "normalizer": population(mods),
        "metadata": {"dataset": "synthetic", "fold": 3, "metrics": {"kl": 0.12}},
    }
    kwargs.update(overrides)
    return save_checkpoint(path, **kwargs)


@pytest.fixture
def helo(wrist):
    torch.manual_seed(0)
    return HeLo(HeLoConfig(modalities=wrist, n_labels=len(LABELS)))


@pytest.mark.parametrize("kind", ["helo", "mlp"])
def test_round_trip_identical_predictions(kind, tmp_path, wrist, make_features):
    torch.manual_seed(1)
    if kind == "helo":
        model = HeLo(HeLoConfig(modalities=wrist, n_labels=4, ot_method="gromov"))
    else:
        model = LateFusionMLP(MLPConfig(modalities=wrist, n_labels=4))
    path = tmp_path / "model.pt"
    digest = save(path, model, kind, wrist)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()

    predictor = load_checkpoint(path)
    assert isinstance(predictor, Predictor)
    assert predictor.model_name == kind
    assert predictor.labels == tuple(LABELS)
    assert predictor.feature_names["eda"] == tuple(f"eda_{i}" for i in range(5))
    assert predictor.checkpoint_sha256 == digest
    assert predictor.metadata == {"dataset": "synthetic", "fold": 3, "metrics": {"kl": 0.12}}

    features = make_features(wrist, batch=6, numpy=True)
    features["eda"][1, 2] = np.nan
    present = {"acc": np.array([True, True, False, True, True, False])}
    model.eval()
    with torch.no_grad():
        flags = {"acc": torch.from_numpy(present["acc"])}
        tensors = {k: torch.from_numpy(v) for k, v in features.items()}
        expected = np.exp(model(tensors, flags).double().numpy())
    batch = predictor.predict_batch(features, present)
    assert batch.dtype == np.float64 and batch.shape == (6, 4)
    # The same computation on the same weights: bit-identical, and again after a second load.
    np.testing.assert_array_equal(batch, expected / expected.sum(1, keepdims=True))
    np.testing.assert_array_equal(load_checkpoint(path).predict_batch(features, present), batch)
    for i in range(6):
        single = predictor.predict(
            {k: v[i] for k, v in features.items()}, present={"acc": bool(present["acc"][i])}
        )
        assert single.dtype == np.float64 and single.shape == (4,)
        assert math.isclose(single.sum(), 1.0, abs_tol=1e-12)
        np.testing.assert_allclose(single, batch[i], atol=1e-6)


def test_plain_dict_loadable_with_weights_only(tmp_path, helo, wrist):
    path = tmp_path / "ckpt.pt"
    save(path, helo, "helo", wrist)
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "helo-stream-checkpoint"
    assert payload["model_name"] == "helo"
    assert payload["labels"] == LABELS
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())
    assert HeLoConfig.from_dict(payload["model_config"]) == helo.config


def test_absent_modalities_and_new_normalizer(tmp_path, helo, wrist):
    path = tmp_path / "ckpt.pt"
    save(path, helo, "helo", wrist)
    predictor = load_checkpoint(path)
    window = {"bvp": np.zeros(6), "eda": np.ones(5), "temp": np.zeros(3), "acc": np.zeros(7)}
    without_acc = predictor.predict({k: v for k, v in window.items() if k != "acc"})
    np.testing.assert_allclose(
        without_acc, predictor.predict(window, present={"acc": False}), atol=1e-7
    )
    nothing = predictor.predict({})  # every device absent: still a distribution
    assert np.all(np.isfinite(nothing)) and math.isclose(nothing.sum(), 1.0)
    with pytest.raises(KeyError):
        predictor.predict({**window, "gyro": np.zeros(3)})
    norm_a, norm_b = predictor.new_normalizer(), predictor.new_normalizer()
    assert norm_a is not norm_b and norm_a.calibration_s == 120.0
    out = norm_a.transform({"eda": np.full(5, 2.0)}, t=0.0)
    np.testing.assert_allclose(out["eda"], (2.0 - np.arange(5)) / 2.0)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path)  # a directory
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable helo-stream checkpoint"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a helo-stream checkpoint"):
        load_checkpoint(foreign)
    assert issubclass(CheckpointError, ValueError)


def test_truncated_and_tampered_checkpoints(tmp_path, helo, wrist):
    path = tmp_path / "ckpt.pt"
    save(path, helo, "helo", wrist)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(truncated)

    payload = torch.load(path, weights_only=True)
    cases = {
        "lacks": {k: v for k, v in payload.items() if k != "labels"},
        "format version": {**payload, "format_version": 99},
        "unknown model_name": {**payload, "model_name": "transformer"},
        "invalid helo model_config": {**payload, "model_config": {"n_labels": 4}},
        "weights do not fit": {
            **payload,
            "state_dict": {k: v for k, v in payload["state_dict"].items() if "decoder" not in k},
        },
        "labels": {**payload, "labels": LABELS[:3]},
        "feature_names": {**payload, "feature_names": {"bvp": ["a"] * 6}},
    }
    for message, broken in cases.items():
        bad = tmp_path / "bad.pt"
        torch.save(broken, bad)
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(bad)


def test_save_rejects_inconsistent_arguments(tmp_path, helo, wrist):
    path = tmp_path / "ckpt.pt"
    with pytest.raises(CheckpointError, match="labels"):
        save(path, helo, "helo", wrist, labels=LABELS[:2])
    with pytest.raises(CheckpointError, match="feature_names"):
        save(path, helo, "helo", wrist, feature_names={"bvp": ["x"] * 6})
    with pytest.raises(CheckpointError, match="config"):
        save(path, helo, "mlp", wrist, model_config=MLPConfig(wrist, 4).to_dict())
    with pytest.raises(CheckpointError, match="JSON"):
        save(path, helo, "helo", wrist, metadata={"array": np.zeros(2)})
    with pytest.raises(CheckpointError, match="normalizer"):
        save(path, helo, "helo", wrist, normalizer=population(wrist[:2]))
    assert not path.exists()
