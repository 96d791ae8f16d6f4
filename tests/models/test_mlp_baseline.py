"""The late-fusion MLP baseline honours the same forward contract as HeLo."""

from __future__ import annotations

import math

import pytest
import torch

from helo_stream.models.mlp import LateFusionMLP, MLPConfig


@pytest.mark.parametrize("set_name", ["wrist", "chest", "dmer", "single"])
def test_shapes_sums_and_missing(set_name, modality_sets, make_features):
    mods = modality_sets[set_name]
    torch.manual_seed(0)
    model = LateFusionMLP(MLPConfig(modalities=mods, n_labels=6))
    features = make_features(mods, batch=5)
    features[mods[0].name][0, 0] = math.nan
    present = {mods[-1].name: torch.tensor([True, False, True, False, False])}
    for mode in (model.train, model.eval):
        mode()
        out = model(features, present)
        assert out.shape == (5, 6)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(5), atol=1e-5, rtol=0)
    with torch.no_grad():
        assert torch.equal(model(features, present), model(features, present))
        nothing = {m.name: torch.zeros(5, dtype=torch.bool) for m in mods}
        assert torch.isfinite(model(features, nothing)).all()


def test_absent_modality_values_are_ignored(wrist, make_features):
    model = LateFusionMLP(MLPConfig(modalities=wrist, n_labels=4)).eval()
    features = make_features(wrist, batch=3)
    present = {"acc": torch.zeros(3, dtype=torch.bool)}
    with torch.no_grad():
        out = model(features, present)
        assert torch.equal(out, model({**features, "acc": features["acc"] * 100}, present))


def test_config_round_trip_and_validation(wrist):
    config = MLPConfig(modalities=wrist, n_labels=4, hidden=16)
    assert MLPConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError):
        MLPConfig(modalities=wrist, n_labels=1)
    with pytest.raises(ValueError):
        MLPConfig(modalities=(), n_labels=3)
