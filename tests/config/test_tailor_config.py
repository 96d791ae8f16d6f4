"""The TAILOR section of a pipeline: typed, with the authors' defaults and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from helo_stream.config import load_pipeline
from helo_stream.config.pipeline import ModelConfig, TailorSettings

REPO = Path(__file__).resolve().parents[2]


def model(**kwargs) -> ModelConfig:
    return ModelConfig(checkpoint=Path("x.pt"), labels=("a", "b"), **kwargs)


def test_defaults_are_the_authors_values() -> None:
    t = model(name="tailor").tailor_settings
    assert (t.adv_weight, t.diff_weight, t.common_weight) == (0.01, 5e-6, 0.5)
    assert t.threshold == 0.5 and t.present_min_rating == 3


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"threshold": 1.0}, "threshold"),
        ({"threshold": 0.0}, "threshold"),
        ({"present_min_rating": 6}, "present_min_rating"),
        ({"adv_weight": -0.1}, "adv_weight"),
        ({"d_model": 30, "n_heads": 4}, "multiple of n_heads"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_settings_are_named(settings, message) -> None:
    with pytest.raises(ValidationError, match=message):
        model(
            name="tailor",
            tailor=TailorSettings(**settings) if "unknown" not in settings else settings,
        )


def test_tailor_section_only_with_a_tailor_model() -> None:
    with pytest.raises(ValidationError, match="only to name: tailor"):
        model(name="helo", tailor={"threshold": 0.4})


def test_shipped_tailor_pipeline_loads() -> None:
    pipeline = load_pipeline(REPO / "pipelines" / "wesad_tailor.yaml", check_checkpoint=False)
    live = load_pipeline(REPO / "pipelines" / "wesad_live.yaml", check_checkpoint=False)
    assert pipeline.config.model.name == "tailor"
    assert pipeline.config.model.checkpoint.name == "tailor_wesad_e4.pt"
    assert pipeline.config.modalities == live.config.modalities
    assert pipeline.config.devices == live.config.devices
    raw = yaml.safe_load((REPO / "pipelines" / "wesad_tailor.yaml").read_text())
    assert raw["model"]["tailor"]["threshold"] == pipeline.config.model.tailor_settings.threshold
