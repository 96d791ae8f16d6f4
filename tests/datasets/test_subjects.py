"""Finding subject folders, and reporting subjects that cannot be labelled."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from helo_stream.datasets.session import SessionDataset
from helo_stream.datasets.subjects import (
    SubjectData,
    _alignment_dict,
    alignment_rows,
    default_cache_dir,
    find_subject_folders,
)
from helo_stream.pipeline.features import FeatureTable
from helo_stream.recordings.base import RecordingError
from helo_stream.recordings.e4_sync import E4Alignment


def _subject(root: Path, name: str) -> Path:
    (root / name / f"{name}_E4_Data").mkdir(parents=True)
    return root / name


def test_folder_of_subjects_in_natural_order(tmp_path: Path) -> None:
    for name in ("S10", "S2", "S3"):
        _subject(tmp_path, name)
    (tmp_path / "notes").mkdir()
    (tmp_path / "README.txt").write_text("not a recording")
    assert [p.name for p in find_subject_folders(tmp_path)] == ["S2", "S3", "S10"]


def test_a_subject_folder_is_its_own_dataset(tmp_path: Path) -> None:
    folder = _subject(tmp_path, "S7")
    assert find_subject_folders(folder) == [folder]


def test_no_recording_is_an_error_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordingError, match="empty"):
        find_subject_folders(tmp_path / "empty")
    with pytest.raises(RecordingError):
        find_subject_folders(tmp_path / "missing")


def test_cache_dir_is_outside_the_repository_and_overridable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HELO_STREAM_CACHE", raising=False)
    assert default_cache_dir() == Path.home() / ".cache" / "helo-stream" / "features"
    monkeypatch.setenv("HELO_STREAM_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "features"


def test_alignment_rows_say_which_evidence_decided() -> None:
    evidence = (
        "movement fit: best placement 1122.0 s ...: ambiguous (below 0.2)",
        "sync tap: ... between them, agrees",
        "decision: accepted: ambiguous movement fit corroborated by the sync tap",
    )
    alignment = E4Alignment(
        chest_start_unix=1122.0,
        offset_s=1122.0,
        tap_time_s=None,
        confidence=0.0,
        ok=True,
        reason="fit",
        method="protocol",
        uncertainty_s=8.2,
        e4_start_unix=0.0,
        evidence=evidence,
        decided_by="ambiguous movement fit corroborated by the sync tap",
        e4_end_after_protocol_s=173.5,
    )
    as_dict = _alignment_dict(SimpleNamespace(alignment=alignment))
    assert as_dict is not None
    assert as_dict["evidence"] == list(evidence)
    assert as_dict["decided_by"] == alignment.decided_by
    assert as_dict["e4_end_after_protocol_s"] == 173.5
    ends = np.array([60.0, 62.0])
    table = FeatureTable(
        window_end=ends,
        features={"m": np.zeros((2, 1))},
        present={"m": np.ones(2, dtype=bool)},
        feature_names={"m": ("f",)},
    )
    session = SessionDataset(
        "S11",
        table,
        np.full((2, 1), 0.5),
        np.array(["baseline", ""], dtype=object),
        np.array([True, False]),
    )
    (row,) = alignment_rows([SubjectData("S11", Path("S11"), session, as_dict)])
    assert row["decided_by"] == alignment.decided_by and row["evidence"] == list(evidence)
    assert row["e4_end_after_protocol_s"] == 173.5 and row["used"] and row["n_labelled"] == 1
    # rows of subjects without these keys (older dicts, other formats) still work
    (row,) = alignment_rows([SubjectData("X", Path("X"), session, None)])
    assert row["evidence"] == [] and row["decided_by"] is None
