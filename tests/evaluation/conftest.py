"""Small synthetic subjects in the real pipeline's feature layout, for fast evaluation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helo_stream.config import Pipeline, load_pipeline
from helo_stream.datasets.session import SessionDataset
from helo_stream.datasets.subjects import SubjectData
from helo_stream.pipeline.features import FeatureTable, WindowFeaturizer

REPO = Path(__file__).resolve().parents[2]
CONDITIONS = ("baseline", "stress", "amusement")


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    return load_pipeline(REPO / "pipelines" / "wesad_live.yaml", check_checkpoint=False)


def make_subject(
    name: str, pipeline: Pipeline, *, seed: int, n_per_condition: int = 30, usable: bool = True
) -> SubjectData:
    """A session: 60 unlabelled windows, then one run per condition, 10 s apart.

    Features shift with the condition (so there is something to learn) and with the subject
    (so per-subject normalisation matters); each condition's target is the subject's own
    normalised ratings.
    """
    rng = np.random.default_rng(seed)
    names = WindowFeaturizer.from_pipeline(pipeline).feature_names
    labels = pipeline.labels
    n_lead = 60
    n = n_lead + n_per_condition * len(CONDITIONS)
    ends = 1000.0 + 10.0 * np.arange(n)
    cond = np.full(n, "", dtype=object)
    targets = np.full((n, len(labels)), np.nan)
    labelled = np.zeros(n, dtype=bool)
    offset = rng.normal(0, 3)
    features = {m: rng.normal(offset, 1.0, (n, len(f))) for m, f in names.items()}
    for k, c in enumerate(CONDITIONS):
        rows = slice(n_lead + k * n_per_condition, n_lead + (k + 1) * n_per_condition)
        cond[rows] = c
        for m in features:
            features[m][rows] += 1.5 * k
        if usable:
            ratings = rng.integers(1, 6, len(labels)).astype(float)
            targets[rows] = ratings / ratings.sum()
            labelled[rows] = True
    table = FeatureTable(
        window_end=ends,
        features=features,
        present={m: np.ones(n, dtype=bool) for m in names},
        feature_names=names,
    )
    alignment = {
        "ok": usable,
        "method": "tap" if usable else "protocol",
        "offset_s": 30.0,
        "confidence": 0.9 if usable else 0.05,
        "uncertainty_s": 1.0,
        "protocol_offset_s": 30.0,
        "protocol_confidence": 0.5,
        "tap_time_s": 30.0,
        "reason": "synthetic",
    }
    session = SessionDataset(name, table, targets, cond, labelled)
    return SubjectData(name, Path(name), session, alignment)


@pytest.fixture
def subjects(pipeline: Pipeline) -> list[SubjectData]:
    """Four usable subjects and one whose alignment failed."""
    out = [make_subject(f"S{i}", pipeline, seed=i) for i in (1, 2, 3, 4)]
    out.append(make_subject("S9", pipeline, seed=9, usable=False))
    return out


def synthetic_presence(subjects, labels, *, min_rating: int = 3) -> dict[str, np.ndarray]:
    """Presence targets of synthetic subjects (they have no recording to read ratings from).

    A label is present where its normalised rating is above the uniform share, i.e. where it
    was rated above the subject's average for that condition.
    """
    out = {}
    for s in subjects:
        if not s.usable:
            continue
        y = np.zeros(s.session.targets.shape, dtype=bool)
        lab = s.session.labelled
        y[lab] = s.session.targets[lab] > 1.0 / len(labels)
        out[s.subject] = y
    return out


@pytest.fixture(autouse=True)
def _synthetic_presence(monkeypatch: pytest.MonkeyPatch) -> None:
    """LOSO reads presence targets from the recordings; synthetic subjects have none."""
    import helo_stream.evaluation.loso as loso
    import helo_stream.training.fitting as fitting

    monkeypatch.setattr(loso, "multilabel_targets", synthetic_presence)
    monkeypatch.setattr(fitting, "multilabel_targets", synthetic_presence)
