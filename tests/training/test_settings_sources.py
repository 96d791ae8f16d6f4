"""One source of defaults: the pipeline's typed config, whatever the entry point.

``helo-stream train`` and ``evaluate --loso`` build models and trainers from the pipeline's
``training`` and ``model.tailor`` sections (FitSettings); a direct library call builds them
from the dataclasses' own defaults. Both must give the same values.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

import pytest

from helo_stream.config import load_pipeline
from helo_stream.config.pipeline import TailorSettings, TrainingConfig
from helo_stream.models.helo import HeLoConfig, ModalitySpec
from helo_stream.models.mlp import MLPConfig
from helo_stream.models.tailor import SETTINGS_FIELDS, TailorConfig
from helo_stream.training.fitting import TRAINING_FIELDS, FitSettings, build_model
from helo_stream.training.tailor_trainer import (
    THRESHOLD_GRID,
    TailorTrainConfig,
    tailor_epochs,
)
from helo_stream.training.trainer import RECIPE_FIELDS, TrainConfig

REPO = Path(__file__).resolve().parents[2]
MODS = (ModalitySpec("eda", "physiological", 3), ModalitySpec("acc", "behavioral", 2))


def test_model_and_trainer_defaults_are_the_pipeline_defaults() -> None:
    tailor, training = TailorSettings(), TrainingConfig()
    config = TailorConfig(modalities=MODS, n_labels=3)
    assert {n: getattr(config, n) for n in SETTINGS_FIELDS} == {
        n: getattr(tailor, n) for n in SETTINGS_FIELDS
    }
    fit = FitSettings()
    assert {n: getattr(fit, n) for n in TRAINING_FIELDS} == {
        n: getattr(training, n) for n in TRAINING_FIELDS
    }
    assert fit.tailor_settings == tailor
    assert {n: getattr(TrainConfig(), n) for n in RECIPE_FIELDS} == {
        n: getattr(training, n) for n in RECIPE_FIELDS
    }
    direct = TailorTrainConfig()
    assert direct.epochs == tailor_epochs(training.epochs, tailor) == 24
    assert (direct.batch_size, direct.lr, direct.weight_decay, direct.seed) == (
        training.batch_size,
        training.lr,
        training.weight_decay,
        training.seed,
    )
    assert (direct.warmup_fraction, direct.grl_schedule, direct.grl_gamma) == (
        tailor.warmup_fraction,
        tailor.grl_schedule,
        tailor.grl_gamma,
    )
    # FitSettings' architecture widths are the models' own defaults (no pipeline setting).
    assert fit.d_model == HeLoConfig(modalities=MODS, n_labels=3).d_model
    assert fit.hidden == MLPConfig(modalities=MODS, n_labels=3).hidden


def test_from_settings_gives_the_direct_defaults_with_validation_rules() -> None:
    fit = FitSettings()
    with_val = TrainConfig.from_settings(fit, validation=True)
    assert asdict(with_val) == asdict(TrainConfig(val_fraction=0.2, patience=8))
    assert asdict(TrainConfig.from_settings(fit, validation=False)) == asdict(TrainConfig())
    tailor = fit.tailor_settings
    ttc = TailorTrainConfig.from_settings(fit, tailor, validation=True)
    assert asdict(ttc) == asdict(
        TailorTrainConfig(val_fraction=0.2, patience=8, threshold_grid=THRESHOLD_GRID)
    )
    fixed = tailor.model_copy(update={"threshold_from_validation": False, "max_epochs": None})
    none = TailorTrainConfig.from_settings(fit, fixed, validation=False)
    assert (none.val_fraction, none.patience, none.threshold_grid, none.epochs) == (
        0.0,
        None,
        None,
        fit.epochs,
    )
    no_patience = TrainConfig.from_settings(FitSettings(val_fraction=0.0), validation=True)
    assert (no_patience.val_fraction, no_patience.patience) == (0.0, None)


def test_every_training_field_reaches_fit_settings() -> None:
    cutting = {"step_s", "data"}
    assert set(TrainingConfig.model_fields) - cutting == set(TRAINING_FIELDS)
    assert set(TRAINING_FIELDS) <= {f.name for f in fields(FitSettings)}


@pytest.mark.parametrize("name", ["wesad_tailor", "wesad_live"])
def test_pipeline_entry_builds_what_the_shipped_checkpoints_hold(name: str) -> None:
    """The values ``helo-stream train`` used for the shipped checkpoints (read from them)."""
    import torch

    pipeline = load_pipeline(REPO / "pipelines" / f"{name}.yaml", check_checkpoint=False)
    settings = FitSettings.from_pipeline(pipeline)
    stored = torch.load(pipeline.checkpoint_path, weights_only=True)
    method = pipeline.config.model.name
    shipped = stored["model_config"]
    conditions = ()
    if "member" in shipped:  # the HeLo ensemble: one member's architecture
        shipped = shipped["member"]
        conditions = tuple(shipped["conditions"])
    _, _, built = build_model(method, pipeline, settings, conditions=conditions)
    expected = {**shipped, "input_clip": 10.0}
    if method == "tailor":  # the shipped threshold was chosen on the validation subjects
        expected["threshold"] = settings.tailor_settings.threshold
    assert built == expected
    recorded = stored["metadata"]["fit_settings"]
    now = settings.to_dict()
    assert {k: now[k] for k in recorded if k != "tailor"} == {
        k: v for k, v in recorded.items() if k != "tailor"
    }
    assert {k: now["tailor"][k] for k in recorded["tailor"]} == recorded["tailor"]
