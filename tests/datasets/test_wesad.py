"""Finding subject folders, and reporting subjects that cannot be labelled."""

from __future__ import annotations

from pathlib import Path

import pytest

from helo_stream.datasets.wesad import default_cache_dir, find_subject_folders
from helo_stream.recordings.base import RecordingError


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
