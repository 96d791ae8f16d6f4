"""The DMER dataset reader: windows of per-second features, PANAS targets, participant folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from helo_stream.cli import main
from helo_stream.config import PIPELINES_DIR, load_pipeline
from helo_stream.datasets.dmer import is_dmer_data
from helo_stream.datasets.subjects import load_subjects
from helo_stream.recordings.dmer import LABELS_DMER, load_dmer

PIPELINE = PIPELINES_DIR / "dmer_live.yaml"
ROWS = {0: 12, 2: 10, 1: 11}


@pytest.fixture
def dmer_folder(tmp_path: Path, dmer_files) -> tuple[Path, list[dict]]:
    folder = tmp_path / "dmer"
    folder.mkdir()
    layouts = []
    for p in range(3):
        data = dmer_files.layout(rows=ROWS, seed=p)
        dmer_files.save(folder, str(p + 1), **data)
        layouts.append(data)
    return folder, layouts


def test_windows_average_the_rows_and_carry_the_clip_ratings(dmer_folder) -> None:
    folder, layouts = dmer_folder
    pipeline = load_pipeline(PIPELINE, check_checkpoint=False)
    assert is_dmer_data(folder) and is_dmer_data(folder / "1.mat")
    subjects = load_subjects(folder, pipeline)  # the CLI's entry point dispatches to DMER
    assert [s.subject for s in subjects] == ["1", "2", "3"]
    s = subjects[0]
    session, feas = s.session, layouts[0]["feas"]
    assert s.usable and s.alignment is None
    # Windows lying in a clip carry its name; a clip of n rows has n - 4 full windows, the
    # first clip one fewer (windows start one length after the first row, which they exclude).
    for k, (clip, n) in enumerate(ROWS.items()):
        inside = session.labelled & (session.condition == f"clip{clip}")
        full = inside & session.table.present["eeg"]
        assert full.sum() == inside.sum() == n - 4 - (k == 0)
    assert not (session.labelled & (session.condition == "")).any()
    # A labelled window holds length_s rows, all of its own clip: none straddles two clips or
    # the start of a clip, whose first seconds have no rows.
    recording = load_dmer(folder / "1.mat")
    stamps = recording.streams["dsi24.eeg_de"].timestamps
    clip_of_row = layouts[0]["vids"].reshape(-1)
    length = pipeline.config.window.length_s
    for end, condition in zip(
        session.table.window_end[session.labelled],
        session.condition[session.labelled],
        strict=True,
    ):
        rows = (stamps > end - length) & (stamps <= end)
        assert rows.sum() == length
        assert {f"clip{int(c)}" for c in clip_of_row[rows]} == {condition}
    first = np.flatnonzero(session.labelled)[0]
    # The first labelled window of clip 0 holds its rows 1-5 (row 0 is stamped at the start).
    np.testing.assert_allclose(session.table.features["eeg"][first], feas[1:6, :90].mean(axis=0))
    np.testing.assert_allclose(session.table.features["gsr"][first], feas[1:6, 90:118].mean(0))
    np.testing.assert_allclose(session.table.features["ppg"][first], feas[1:6, 118:145].mean(0))
    # the face camera's profile publishes float32: the values a live pipeline would receive
    face_sent = feas[1:6, 145:].astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(session.table.features["face"][first], face_sent.mean(0))
    # The first labelled window of the second clip is its first full one: its rows 0-4.
    second = np.flatnonzero(session.labelled & (session.condition == "clip2"))[0]
    rows = slice(ROWS[0], ROWS[0] + 5)
    np.testing.assert_allclose(session.table.features["eeg"][second], feas[rows, :90].mean(0))
    # Targets: the clip's 10 PANAS ratings normalised to sum 1, in LABELS_DMER order.
    ratings = layouts[0]["dis_label"][0]
    np.testing.assert_allclose(session.targets[first], ratings / ratings.sum())
    assert session.condition[first] == "clip0"
    assert np.allclose(session.targets[session.labelled].sum(axis=1), 1.0)
    assert tuple(pipeline.labels) == LABELS_DMER


def test_face_from_a_file_without_video_is_a_clear_error(tmp_path: Path, dmer_files) -> None:
    path = dmer_files.save(tmp_path, "9", **dmer_files.layout(n_cols=145))
    pipeline = load_pipeline(PIPELINE, check_checkpoint=False)
    with pytest.raises(Exception, match=r"face_camera\.lbptop.*modality 'face'"):
        load_subjects(path, pipeline)


@pytest.mark.slow
def test_evaluate_loso_groups_by_participant(dmer_folder, tmp_path: Path) -> None:
    folder, _ = dmer_folder
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        main,
        ["evaluate", str(PIPELINE), "--data", str(folder), "--out", str(out), "--loso",
         "--methods", "helo", "--epochs", "1", "--no-cache", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = (out / "loso_dmer.json").read_text()
    for participant in ("1", "2", "3"):  # one held-out fold per participant file
        assert f'"{participant}"' in report
