"""fit_model for TAILOR: the threshold chosen on the held-out training subjects reaches the
predictor and the saved checkpoint; without validation subjects the configured one is kept."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from helo_stream.models.checkpoint import load_checkpoint, save_checkpoint
from helo_stream.training.fitting import FitSettings, fit_model
from helo_stream.training.tailor_trainer import THRESHOLD_GRID

FAST = FitSettings(epochs=2, batch_size=64, train_stride=2, val_fraction=0.34, patience=None)


def test_threshold_is_chosen_on_validation_subjects_and_saved(subjects, pipeline, tmp_path) -> None:
    train = subjects[:3]
    fitted = fit_model("tailor", train, pipeline, settings=FAST)
    result = fitted.result
    assert len(result.val_groups) == 1
    assert set(result.val_groups) <= {s.subject for s in train}
    assert result.threshold_source == "validation" and result.threshold in THRESHOLD_GRID
    assert fitted.predictor.threshold == result.threshold == fitted.model_config["threshold"]
    path = tmp_path / "tailor.pt"
    save_checkpoint(
        path,
        model=fitted.predictor.model,
        model_name="tailor",
        model_config=fitted.model_config,
        labels=list(pipeline.labels),
        feature_names={k: list(v) for k, v in fitted.predictor.feature_names.items()},
        normalizer=fitted.normalizer,
        metadata={},
    )
    assert load_checkpoint(path).threshold == pytest.approx(result.threshold)


@pytest.mark.parametrize("case", ["switched-off", "no-validation-subjects"])
def test_configured_threshold_is_kept(subjects, pipeline, case) -> None:
    tailor = dict(FAST.tailor, threshold=0.45)
    if case == "switched-off":
        settings, train = replace(FAST, tailor=dict(tailor, threshold_from_validation=False)), 3
    else:  # two training subjects: no early-stopping split
        settings, train = replace(FAST, tailor=tailor), 2
    fitted = fit_model("tailor", subjects[:train], pipeline, settings=settings)
    assert fitted.result.threshold_source == "configured"
    assert fitted.predictor.threshold == fitted.model_config["threshold"] == 0.45
    assert np.isclose(fitted.result.threshold, 0.45)
