"""DMER per-subject .mat feature files: streams, clip conditions, layout errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helo_stream.recordings import RecordingError, RecordingWarning
from helo_stream.recordings.dmer import (
    DMER_GSR_FEATURES,
    DMER_LEAD_S,
    DMER_PPG_FEATURES,
    LABELS_DMER,
    load_dmer,
)

ROWS = {0: 6, 3: 4, 1: 5}  # the fixture's default layout: clip id -> rows, in file order


def test_streams_and_conditions(tmp_path: Path, dmer_files) -> None:
    data = dmer_files.layout()
    path = dmer_files.save(tmp_path, "7", **data)
    rec = load_dmer(path, gap_s=10.0)
    assert rec.subject == "7" and rec.format == "dmer"
    assert sorted(rec.streams) == [
        "dsi24.eeg_de",
        "es1_wristband.gsr_features",
        "es1_wristband.ppg_features",
        "face_camera.lbptop",
    ]
    eeg, gsr = rec.streams["dsi24.eeg_de"], rec.streams["es1_wristband.gsr_features"]
    ppg, face = rec.streams["es1_wristband.ppg_features"], rec.streams["face_camera.lbptop"]
    assert (eeg.n_channels, gsr.n_channels, ppg.n_channels, face.n_channels) == (90, 28, 27, 768)
    assert eeg.channel_labels[:2] == ("eeg_de_delta_P3", "eeg_de_theta_P3")
    assert gsr.channel_labels == DMER_GSR_FEATURES and ppg.channel_labels == DMER_PPG_FEATURES
    np.testing.assert_array_equal(eeg.data, data["feas"][:, :90])
    np.testing.assert_array_equal(gsr.data, data["feas"][:, 90:118])
    np.testing.assert_array_equal(ppg.data, data["feas"][:, 118:145])
    np.testing.assert_array_equal(face.data, data["feas"][:, 145:913])
    assert face.name == "HeLo_FaceLBPTOP" and face.source_id == "7-face_camera-lbptop"
    assert (eeg.name, eeg.source_id) == ("DSI24_EEG_DE", "7-dsi24-eeg_de")
    assert all(s.nominal_srate == 1.0 for s in rec.streams.values())

    # One timestamp per row, 1 s apart within a clip; clips in file order with gaps.
    ts = eeg.timestamps
    assert all(np.array_equal(s.timestamps, ts) for s in rec.streams.values())
    assert [c.condition for c in rec.conditions] == ["clip0", "clip3", "clip1"]
    row = 0
    for cond, (clip, n) in zip(rec.conditions, ROWS.items(), strict=True):
        clip_ts = ts[row : row + n]
        np.testing.assert_allclose(np.diff(clip_ts), 1.0)
        # The condition is the seconds the clip's rows cover: (first stamp - 1, last stamp].
        assert clip_ts[0] == cond.start + 1.0 and clip_ts[-1] == cond.end
        assert cond.ratings == dict(
            zip(LABELS_DMER, data["dis_label"][clip].astype(int).tolist(), strict=True)
        )
        assert all(isinstance(v, int) for v in cond.ratings.values())
        row += n
    # The next clip starts gap_s after the last row; its first row comes DMER_LEAD_S later.
    assert rec.conditions[1].start == pytest.approx(rec.conditions[0].end + 10.0 + DMER_LEAD_S - 1)
    assert rec.conditions[0].start == DMER_LEAD_S - 1.0
    # No condition holds a second without a row of its clip, nor a row of another clip.
    for cond in rec.conditions:
        held = ts[(ts > cond.start) & (ts <= cond.end)]
        assert held.size == cond.end - cond.start


def test_without_video_columns_and_transposed_labels(tmp_path: Path, dmer_files) -> None:
    data = dmer_files.layout(n_cols=145)
    path = dmer_files.save(
        tmp_path, "s2", feas=data["feas"], vids=data["vids"].T, dis_label=data["dis_label"].T
    )
    rec = load_dmer(path, subject="P2")
    assert "face_camera.lbptop" not in rec.streams and rec.subject == "P2"
    assert rec.conditions[1].ratings == dict(
        zip(LABELS_DMER, data["dis_label"][3].astype(int).tolist(), strict=True)
    )


def test_complex_spectral_columns_keep_their_real_part(tmp_path: Path, dmer_files) -> None:
    data = dmer_files.layout(n_cols=145)
    feas = data["feas"].astype(np.complex128)
    feas[:, 111] += 2j  # a GSR FFT statistic, as the authors' code can produce
    path = dmer_files.save(tmp_path, "c", feas=feas, vids=data["vids"], dis_label=data["dis_label"])
    with pytest.warns(RecordingWarning, match=r"columns \[111\]"):
        rec = load_dmer(path)
    np.testing.assert_array_equal(
        rec.streams["es1_wristband.gsr_features"].data, data["feas"][:, 90:118]
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("dis_label"), r"missing \['dis_label'\]"),
        (lambda d: d.update(feas=d["feas"][:, :120]), "at least 145"),
        (lambda d: d.update(feas=d["feas"][:, :500]), "expected 145 .* or 913"),
        (lambda d: d.update(vids=d["vids"][:-1]), "does not match the 15 rows"),
        (
            lambda d: d.update(vids=np.vstack([d["vids"][:3], d["vids"][10:], d["vids"][3:10]])),
            "not contiguous",
        ),
        (lambda d: d.update(vids=d["vids"] + 0.5), "integer clip ids"),
        (lambda d: d.update(dis_label=d["dis_label"][:, :9]), r"\(clips, 10\)"),
        (lambda d: d.update(dis_label=d["dis_label"][:2]), "vids name clip 3"),
    ],
)
def test_wrong_layouts_are_clear_errors(tmp_path: Path, dmer_files, change, message: str) -> None:
    data = dmer_files.layout()
    change(data)
    path = dmer_files.save(tmp_path, "bad", **data)
    with pytest.raises(RecordingError, match=message) as info:
        load_dmer(path)
    assert str(path) in str(info.value)


def test_not_a_mat_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"not matlab at all" * 20)
    with pytest.raises(RecordingError, match="not a readable MATLAB"):
        load_dmer(junk)
    with pytest.raises(RecordingError, match="no such file"):
        load_dmer(tmp_path / "absent.mat")
