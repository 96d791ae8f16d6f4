"""Shared fixtures for the model tests: the modality sets the models must support."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helo_stream.models.helo import ModalitySpec

WRIST = (
    ModalitySpec("bvp", "physiological", 6),
    ModalitySpec("eda", "physiological", 5),
    ModalitySpec("temp", "physiological", 3),
    ModalitySpec("acc", "behavioral", 7),
)
CHEST = (
    ModalitySpec("ecg", "physiological", 6),
    ModalitySpec("eda", "physiological", 5),
    ModalitySpec("emg", "physiological", 4),
    ModalitySpec("resp", "physiological", 5),
    ModalitySpec("temp", "physiological", 3),
    ModalitySpec("acc", "behavioral", 7),
)
DMER = (
    ModalitySpec("eeg", "physiological", 10),
    ModalitySpec("gsr", "physiological", 4),
    ModalitySpec("ppg", "physiological", 5),
    ModalitySpec("face", "behavioral", 8),
)
PHYSIO_ONLY = (
    ModalitySpec("eda", "physiological", 5),
    ModalitySpec("bvp", "physiological", 6),
)
SINGLE = (ModalitySpec("eda", "physiological", 4),)
# Behavioural modality listed first: the model must not depend on the declaration order.
BEHAVIOUR_FIRST = (
    ModalitySpec("acc", "behavioral", 3),
    ModalitySpec("gyro", "behavioral", 2),
    ModalitySpec("eda", "physiological", 2),
)

MODALITY_SETS = {
    "wrist": WRIST,
    "chest": CHEST,
    "dmer": DMER,
    "physio_only": PHYSIO_ONLY,
    "single": SINGLE,
    "behaviour_first": BEHAVIOUR_FIRST,
}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """One torch thread (the root conftest's fixture) for every test here."""


@pytest.fixture
def modality_sets() -> dict[str, tuple[ModalitySpec, ...]]:
    """Named modality sets: WESAD wrist and chest, DMER-like, physiological-only, ..."""
    return MODALITY_SETS


@pytest.fixture
def wrist() -> tuple[ModalitySpec, ...]:
    """The WESAD wrist set: bvp, eda, temp physiological; acc behavioural."""
    return WRIST


@pytest.fixture
def make_features():
    """``make_features(modalities, batch, seed=0, numpy=False)``: standard-normal features."""

    def make(
        modalities: tuple[ModalitySpec, ...], batch: int, seed: int = 0, numpy: bool = False
    ) -> dict[str, torch.Tensor] | dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        out = {
            m.name: rng.standard_normal((batch, m.n_features)).astype(np.float32)
            for m in modalities
        }
        return out if numpy else {name: torch.from_numpy(x) for name, x in out.items()}

    return make


@pytest.fixture
def save_wrist_checkpoint():
    """``save(path, model)``: a checkpoint of a model built for :data:`WRIST` (identity
    normaliser, feature names ``<modality><i>``, labels ``l0..``)."""
    from helo_stream.models.checkpoint import save_checkpoint
    from helo_stream.models.normalization import FeatureNormalizer

    def save(path, model) -> None:
        norm = FeatureNormalizer(
            population_mean={m.name: np.zeros(m.n_features) for m in WRIST},
            population_std={m.name: np.ones(m.n_features) for m in WRIST},
        )
        save_checkpoint(
            path,
            model=model,
            model_name="helo",
            model_config=model.config.to_dict(),
            labels=[f"l{i}" for i in range(model.config.n_labels)],
            feature_names={m.name: [f"{m.name}{i}" for i in range(m.n_features)] for m in WRIST},
            normalizer=norm,
            metadata={},
        )

    return save
