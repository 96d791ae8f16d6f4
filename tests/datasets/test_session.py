"""Windows, targets and normalisation of one session: the pieces a leak would hide in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helo_stream.datasets.session import SessionDataset, label_windows, ratings_distribution
from helo_stream.models import FeatureNormalizer
from helo_stream.pipeline.features import FeatureTable
from helo_stream.recordings.base import ConditionInterval, Recording, RecordingError
from helo_stream.recordings.e4_sync import E4Alignment

LABELS = ("calm", "tense", "happy")


def _table(ends: np.ndarray, values: np.ndarray | None = None) -> FeatureTable:
    x = np.arange(len(ends), dtype=float)[:, None] if values is None else values
    return FeatureTable(
        window_end=np.asarray(ends, dtype=float),
        features={"m": x},
        present={"m": np.ones(len(ends), dtype=bool)},
        feature_names={"m": ("f",)},
    )


def _recording(
    conditions: list[ConditionInterval], alignment: E4Alignment | None = None
) -> Recording:
    return Recording(
        subject="S1",
        path=Path("."),
        format="wesad_e4",
        streams={},
        conditions=conditions,
        alignment=alignment,
    )


def _alignment(uncertainty_s: float | None) -> E4Alignment:
    return E4Alignment(
        chest_start_unix=0.0,
        offset_s=0.0,
        tap_time_s=None,
        confidence=0.1,
        ok=True,
        reason="test",
        method="protocol",
        uncertainty_s=uncertainty_s,
    )


def test_ratings_are_normalised_to_a_distribution() -> None:
    # 1 + 3 + 4 = 8
    got = ratings_distribution({"calm": 1, "tense": 3, "happy": 4, "extra": 5}, LABELS)
    np.testing.assert_allclose(got, [1 / 8, 3 / 8, 4 / 8])


def test_missing_rating_is_an_error() -> None:
    with pytest.raises(RecordingError, match="tense"):
        ratings_distribution({"calm": 1, "happy": 2}, LABELS)


def test_only_windows_wholly_inside_a_rated_condition_get_its_target() -> None:
    # 10 s windows ending every 5 s from t=110 to t=160; condition A covers [100, 130],
    # condition B [140, 160] without ratings (e.g. an unanswered questionnaire item).
    ends = np.arange(110.0, 161.0, 5.0)
    rec = _recording(
        [
            ConditionInterval("baseline", 100.0, 130.0, {"calm": 2, "tense": 1, "happy": 1}),
            ConditionInterval("stress", 140.0, 160.0, None),
        ]
    )
    ds = label_windows(rec, LABELS, _table(ends), length_s=10.0)
    inside_a = (ends - 10.0 >= 100.0) & (ends <= 130.0)  # ends 110..130
    np.testing.assert_array_equal(ds.labelled, inside_a)
    np.testing.assert_allclose(ds.targets[inside_a], np.tile([0.5, 0.25, 0.25], (5, 1)))
    assert np.isnan(ds.targets[~inside_a]).all()
    # The window ending at 135 starts at 125 and straddles A's end: no condition at all.
    assert ds.condition[list(ends).index(135.0)] == ""
    # Windows inside the unrated condition know their condition but are not labelled.
    inside_b = (ends - 10.0 >= 140.0) & (ends <= 160.0)
    assert set(ds.condition[inside_b]) == {"stress"}
    assert not ds.labelled[inside_b].any()


def test_frozen_normalisation_uses_only_the_first_calibration_seconds() -> None:
    rng = np.random.default_rng(0)
    ends = np.arange(0.0, 1000.0, 10.0)  # 100 windows, 10 s apart
    values = rng.normal(5.0, 2.0, (len(ends), 1))
    session = SessionDataset(
        "S1",
        _table(ends, values),
        np.full((len(ends), 3), np.nan),
        np.full(len(ends), "", dtype=object),
        np.zeros(len(ends), dtype=bool),
    )
    norm = FeatureNormalizer(
        population_mean={"m": np.array([0.0])},
        population_std={"m": np.array([1.0])},
        calibration_s=300.0,
        std_floor_ratio=0.0,
        mode="frozen",
    )
    z = session.normalized_features(norm)["m"][:, 0]
    calib = values[ends < 300.0, 0]  # windows ending in the first 300 s: 0..290
    expected_late = (values[ends >= 300.0, 0] - calib.mean()) / calib.std()
    np.testing.assert_allclose(z[ends >= 300.0], expected_late, rtol=1e-5)
    np.testing.assert_allclose(z[ends < 300.0], calib, rtol=1e-5)  # population stats (0, 1)

    # Changing anything after the calibration period changes no other window's z-score ...
    late = values.copy()
    late[80:, 0] += 100.0
    z_late = SessionDataset(
        "S1", _table(ends, late), session.targets, session.condition, session.labelled
    ).normalized_features(norm)["m"][:, 0]
    np.testing.assert_allclose(z_late[:80], z[:80], rtol=1e-6)
    # ... while changing one calibration window shifts every later z-score.
    early = values.copy()
    early[3, 0] += 100.0
    z_early = SessionDataset(
        "S1", _table(ends, early), session.targets, session.condition, session.labelled
    ).normalized_features(norm)["m"][:, 0]
    assert np.all(np.abs(z_early[30:] - z[30:]) > 1e-3)


def test_running_normalisation_is_causal() -> None:
    """A window's z-score depends on that window and the ones before it, never on later ones."""
    rng = np.random.default_rng(1)
    ends = np.arange(0.0, 1000.0, 10.0)
    values = rng.normal(5.0, 2.0, (len(ends), 1))
    late = values.copy()
    late[80:, 0] += 100.0
    norm = FeatureNormalizer(
        population_mean={"m": np.array([0.0])},
        population_std={"m": np.array([1.0])},
        calibration_s=300.0,
        mode="running",
    )
    blank = (np.full((len(ends), 3), np.nan), np.full(len(ends), "", dtype=object))
    z, z_late = (
        SessionDataset(
            "S1", _table(ends, v), *blank, np.zeros(len(ends), dtype=bool)
        ).normalized_features(norm)["m"][:, 0]
        for v in (values, late)
    )
    np.testing.assert_array_equal(z_late[:80], z[:80])
    assert np.all(np.abs(z_late[80:] - z[80:]) > 1e-3)


def test_an_uncertain_alignment_leaves_the_windows_near_condition_boundaries_unlabelled() -> None:
    # 10 s windows ending every second; condition A covers [100, 130]
    ends = np.arange(100.0, 151.0, 1.0)
    rated = ConditionInterval("baseline", 100.0, 130.0, {"calm": 2, "tense": 1, "happy": 1})
    exact = (ends - 10.0 >= 100.0) & (ends <= 130.0)  # ends 110..130
    # no alignment, or one without uncertainty: exactly the windows inside the condition
    for alignment in (None, _alignment(None), _alignment(0.0)):
        ds = label_windows(_recording([rated], alignment), LABELS, _table(ends), length_s=10.0)
        np.testing.assert_array_equal(ds.labelled, exact)
    # +-4 s: only windows inside wherever within 4 s the condition really is
    ds = label_windows(_recording([rated], _alignment(4.0)), LABELS, _table(ends), length_s=10.0)
    np.testing.assert_array_equal(ds.labelled, (ends - 10.0 >= 104.0) & (ends <= 126.0))
    assert set(ds.condition[ds.labelled]) == {"baseline"}
    assert ds.condition[list(ends).index(110.0)] == ""  # in A only if the offset is exact
