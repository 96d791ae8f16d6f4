"""``input_clip``: a model-config value, stored in checkpoints, old checkpoints unchanged."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from helo_stream.config import load_pipeline
from helo_stream.config.pipeline import ModelConfig
from helo_stream.models.checkpoint import load_checkpoint
from helo_stream.models.helo import HeLo, HeLoConfig
from helo_stream.models.inputs import DEFAULT_INPUT_CLIP, LEGACY_INPUT_CLIP
from helo_stream.models.mlp import LateFusionMLP, MLPConfig
from helo_stream.models.tailor import Tailor, TailorConfig
from helo_stream.training.fitting import FitSettings, build_model
from tests.models.conftest import WRIST

REPO = Path(__file__).resolve().parents[2]
CONFIGS = {
    "helo": (HeLoConfig, HeLo),
    "mlp": (MLPConfig, LateFusionMLP),
    "tailor": (TailorConfig, Tailor),
}


def test_default_is_the_pipeline_default() -> None:
    assert DEFAULT_INPUT_CLIP == ModelConfig.model_fields["input_clip"].default == 10.0
    for config_cls, _ in CONFIGS.values():
        assert config_cls(modalities=WRIST, n_labels=3).input_clip == DEFAULT_INPUT_CLIP


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_stored_and_legacy_configs(name: str) -> None:
    config_cls, _ = CONFIGS[name]
    config = config_cls(modalities=WRIST, n_labels=3, input_clip=4.0)
    assert config_cls.from_dict(config.to_dict()) == config
    old = {k: v for k, v in config.to_dict().items() if k != "input_clip"}
    assert config_cls.from_dict(old).input_clip == LEGACY_INPUT_CLIP
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="input_clip"):
            config_cls(modalities=WRIST, n_labels=3, input_clip=bad)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_clip_decides_the_output(name: str) -> None:
    config_cls, model_cls = CONFIGS[name]
    torch.manual_seed(0)
    wide = model_cls(config_cls(modalities=WRIST, n_labels=3)).eval()
    narrow = model_cls(config_cls(modalities=WRIST, n_labels=3, input_clip=2.0)).eval()
    narrow.load_state_dict(wide.state_dict())
    x = {m.name: torch.randn(4, m.n_features) for m in WRIST}
    x["bvp"][0] = 9.0  # beyond 2, within 10
    clipped = {k: v.clamp(-2.0, 2.0) for k, v in x.items()}

    def out(model, features):
        with torch.no_grad():
            y = model(features)
        return y.logits if name == "tailor" else y

    torch.testing.assert_close(out(narrow, x), out(wide, clipped), rtol=0, atol=0)
    assert not torch.equal(out(narrow, x), out(wide, x))


def test_shipped_checkpoints_load_with_the_legacy_clip() -> None:
    for name in ("helo_wesad_e4", "tailor_wesad_e4"):
        predictor = load_checkpoint(REPO / "checkpoints" / f"{name}.pt")
        assert predictor.model.config.input_clip == LEGACY_INPUT_CLIP


@pytest.mark.parametrize(
    ("pipeline_name", "method"),
    [("wesad_tailor", "tailor"), ("wesad_live", "helo"), ("wesad_live", "mlp")],
)
def test_pipeline_model_input_clip_is_used_at_training_time(pipeline_name, method) -> None:
    pipeline = load_pipeline(REPO / "pipelines" / f"{pipeline_name}.yaml", check_checkpoint=False)
    model_config = pipeline.config.model.model_copy(update={"input_clip": 3.0})
    clipped = replace(pipeline, config=pipeline.config.model_copy(update={"model": model_config}))
    model, _, stored = build_model(method, clipped, FitSettings.from_pipeline(clipped))
    assert stored["input_clip"] == model.config.input_clip == 3.0
