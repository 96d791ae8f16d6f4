"""The checkpoint shipped in ``checkpoints/`` fits the live pipeline and works on real data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from helo_stream.config import load_pipeline
from helo_stream.datasets.subjects import load_subject
from helo_stream.models import load_checkpoint
from helo_stream.pipeline.features import WindowFeaturizer
from helo_stream.pipeline.model_stage import checkpoint_problems
from helo_stream.training.fitting import predict_session

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "pipelines" / "wesad_live.yaml"
WESAD_E4 = REPO / ".." / "shared" / "data" / "wesad_e4"


def test_shipped_checkpoint_matches_the_live_pipeline() -> None:
    pipeline = load_pipeline(PIPELINE)
    assert pipeline.checkpoint_path.stat().st_size < 5 * 1024 * 1024
    predictor = load_checkpoint(pipeline.checkpoint_path)
    featurizer = WindowFeaturizer.from_pipeline(pipeline)
    assert checkpoint_problems(pipeline, predictor, featurizer.feature_names) == []
    assert predictor.labels == pipeline.labels
    assert predictor.feature_names == featurizer.feature_names
    assert predictor.model_name == pipeline.config.model.name
    assert predictor.new_normalizer().calibration_s == pipeline.config.model.calibration_s
    meta = predictor.metadata
    assert len(meta["train_subjects"]) >= 10
    assert meta["window_length_s"] == pipeline.config.window.length_s


def test_a_pipeline_clipping_inputs_otherwise_than_its_checkpoint_is_refused() -> None:
    pipeline = load_pipeline(PIPELINE)
    model = pipeline.config.model.model_copy(update={"input_clip": 5.0})
    changed = replace(pipeline, config=pipeline.config.model_copy(update={"model": model}))
    predictor = load_checkpoint(pipeline.checkpoint_path)
    problems = checkpoint_problems(
        changed, predictor, WindowFeaturizer.from_pipeline(changed).feature_names
    )
    assert [p.field for p in problems] == ["model.input_clip"]
    assert "trained with input_clip 10" in problems[0].message


def test_shipped_checkpoint_gives_valid_distributions_on_s2() -> None:
    if not (WESAD_E4 / "S2" / "S2_E4_Data").is_dir():
        pytest.skip(f"real WESAD E4 recordings not available at {WESAD_E4.resolve()}")
    pipeline = load_pipeline(PIPELINE)
    predictor = load_checkpoint(pipeline.checkpoint_path)
    # A coarse 20 s step keeps this fast; every window still goes through the live stages.
    subject = load_subject(WESAD_E4 / "S2", pipeline, step_s=20.0, cache_dir=None)
    assert subject.alignment is not None and subject.alignment["ok"]
    session = subject.session
    pred = predict_session(predictor, session)
    assert pred.shape == (session.n_labelled, len(pipeline.labels)) and len(pred) > 100
    assert np.all(np.isfinite(pred)) and np.all(pred >= 0)
    np.testing.assert_allclose(pred.sum(axis=1), 1.0, atol=1e-9)
    # The model reads the signals: its predictions move between protocol conditions.
    cond = session.condition[session.labelled]
    stress, base = pred[cond == "stress"].mean(axis=0), pred[cond == "baseline"].mean(axis=0)
    assert np.abs(stress - base).sum() > 0.01
