"""HeLoEnsemble: the mean of its members' distributions, saved and loaded as a "helo" model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helo_stream.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from helo_stream.models.ensemble import HeLoEnsemble, HeLoEnsembleConfig
from helo_stream.models.helo import HeLoConfig


def _ensemble(mods, members: int = 3) -> HeLoEnsemble:
    torch.manual_seed(0)
    member = HeLoConfig(modalities=mods, n_labels=4, conditions=("a", "b"))
    return HeLoEnsemble(HeLoEnsembleConfig(member=member, members=members)).eval()


def test_output_is_the_mean_of_the_members_distributions(wrist, make_features):
    model = _ensemble(wrist)
    features = make_features(wrist, batch=6)
    present = {"acc": torch.tensor([True, False, True, True, True, True])}
    with torch.no_grad():
        mean = torch.stack([m(features, present).exp() for m in model.members]).mean(0)
        got = model(features, present).exp()
    torch.testing.assert_close(got, mean, atol=1e-6, rtol=0)
    torch.testing.assert_close(got.sum(1), torch.ones(6), atol=1e-5, rtol=0)
    # members are distinct networks, so the mean differs from any one of them
    with torch.no_grad():
        assert not torch.allclose(got, model.members[0](features, present).exp(), atol=1e-4)


def test_checkpoint_round_trip_and_validation(
    wrist, make_features, save_wrist_checkpoint, tmp_path
):
    model = _ensemble(wrist, members=2)
    path = tmp_path / "ens.pt"
    save_wrist_checkpoint(path, model)
    loaded = load_checkpoint(path)
    assert isinstance(loaded.model, HeLoEnsemble) and loaded.model_name == "helo"
    features = make_features(wrist, batch=3, numpy=True)
    with torch.no_grad():
        expected = model({k: torch.from_numpy(v) for k, v in features.items()}).exp().numpy()
    np.testing.assert_allclose(loaded.predict_batch(features), expected, atol=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        HeLoEnsembleConfig(member=model.config.member, members=1)
    other = _ensemble(wrist, members=3)  # weights of 3 members cannot load into 2
    with pytest.raises(CheckpointError):
        save_checkpoint(
            path,
            model=model,
            model_name="helo",
            model_config=other.config.to_dict(),
            labels=["l0", "l1", "l2", "l3"],
            feature_names=loaded.feature_names,
            normalizer=loaded.new_normalizer(),
            metadata={},
        )
