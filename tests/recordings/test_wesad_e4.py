"""The WESAD E4 folder reader on generated folders, the shipped demo and the real S2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from helo_stream.config import DEVICES_DIR, load_device_profile
from helo_stream.recordings import (
    LABELS_WESAD,
    RecordingError,
    RecordingWarning,
    load_recording,
)
from helo_stream.recordings.wesad_e4 import load_wesad_e4, read_e4_csv


def test_generated_folder(make_e4_folder: Callable[..., Path], wf: SimpleNamespace) -> None:
    folder = make_e4_folder("S42", seconds=30)
    rec = load_recording(folder)
    assert rec.format == "wesad_e4" and rec.subject == "S42" and rec.path == folder
    assert sorted(rec.streams) == [
        "empatica_e4.acc",
        "empatica_e4.bvp",
        "empatica_e4.eda",
        "empatica_e4.temp",
    ]
    profile = load_device_profile(DEVICES_DIR / "empatica_e4.yaml")
    for key, rate, n, channels in (
        ("acc", 32, 960, 3),
        ("bvp", 64, 1920, 1),
        ("eda", 4, 120, 1),
        ("temp", 4, 120, 1),
    ):
        s = rec.stream("empatica_e4", key)
        spec = profile.streams[key]
        assert (s.nominal_srate, s.data.shape, s.data.dtype) == (rate, (n, channels), np.float64)
        assert (s.name, s.type, s.channel_labels, s.units) == (
            spec.name,
            spec.type,
            spec.channel_labels,
            spec.units,
        )
        assert s.source_id == profile.source_id(key, subject="S42")
        assert s.timestamps[0] == wf.E4_START
        np.testing.assert_array_equal(s.timestamps, wf.E4_START + np.arange(n) / rate)
        assert s.duration_s == pytest.approx(30.0)
    assert rec.start == wf.E4_START and rec.end == pytest.approx(wf.E4_START + 30)
    acc = np.loadtxt(folder / "S42_E4_Data" / "ACC.csv", delimiter=",", skiprows=2)
    np.testing.assert_array_equal(rec.stream("empatica_e4", "acc").data, acc)
    # no questionnaire: no conditions and nothing to align
    assert rec.conditions == [] and rec.alignment is None
    # the E4_Data folder itself is accepted too, and the subject can be renamed
    other = load_wesad_e4(folder / "S42_E4_Data", subject="alice")
    assert other.subject == "alice"
    assert other.stream("empatica_e4", "bvp").source_id == "alice-empatica_e4-bvp"


def test_alignment_failure_is_reported_not_used(
    make_e4_folder: Callable[..., Path], wf: SimpleNamespace
) -> None:
    # a 2-minute protocol cannot lie inside 60 s of E4 data
    folder = make_e4_folder("S43", seconds=60, quest=wf.quest_text())
    with pytest.warns(RecordingWarning, match="alignment failed"):
        rec = load_recording(folder)
    assert rec.alignment is not None and not rec.alignment.ok
    assert "does not cover" in rec.alignment.reason
    assert rec.conditions == []


def test_demo_recording_aligns_on_its_tap(demo_folder: Path) -> None:
    rec = load_recording(demo_folder)
    al = rec.alignment
    assert al is not None and al.ok and al.method == "tap"
    # the generator puts the tap (and so the chest start) 30 s after the E4 start
    assert al.offset_s == pytest.approx(30.0, abs=0.1)
    assert al.chest_start_unix == pytest.approx(al.e4_start_unix + al.offset_s)
    assert [c.condition for c in rec.conditions] == [
        "baseline",
        "stress",
        "amusement",
        "meditation",
    ]
    rel = [t - al.chest_start_unix for c in rec.conditions for t in (c.start, c.end)]
    assert rel == pytest.approx([20, 100, 125, 195, 220, 270, 290, 340])
    assert all(
        c.ratings is not None and list(c.ratings) == list(LABELS_WESAD) for c in rec.conditions
    )
    assert rec.conditions[1].ratings["stressed"] > rec.conditions[0].ratings["stressed"]
    assert rec.duration_s == pytest.approx(380.0, abs=0.1)
    total = sum(p.stat().st_size for p in demo_folder.rglob("*") if p.is_file())
    assert total < 1.5e6


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("", "no samples"),
        ("1600000000.0\n", "no samples"),
        ("hello\n64.0\n1.0\n", "line 1 must be the start time"),
        ("1600000000.0\n64.0, 64.0\n1.0\n", "line 2 has 2 column"),
        ("1600000000.0\n-4\n1.0\n", "invalid start time"),
        ("1600000000.0\n64.0\n1.0\n2.0\nabc\n", "malformed samples"),
        ("1600000000.0\n64.0\n1.0\n2.0\nnan\n", "non-finite"),
    ],
)
def test_bad_single_column_files(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "BVP.csv"
    path.write_text(content)
    with pytest.raises(RecordingError, match=match) as err:
        read_e4_csv(path, n_columns=1)
    assert str(path) in str(err.value)


def test_truncated_acc_line(make_e4_folder: Callable[..., Path]) -> None:
    folder = make_e4_folder("S44", seconds=10)
    acc = folder / "S44_E4_Data" / "ACC.csv"
    text = acc.read_text()
    acc.write_text(text[: len(text) - 4])  # cut inside the last line: "a,b,c" -> "a,b"
    with pytest.raises(RecordingError, match=r"ACC\.csv: malformed samples"):
        load_recording(folder)


def test_columns_disagree(tmp_path: Path) -> None:
    path = tmp_path / "ACC.csv"
    path.write_text("1600000000, 1600000001, 1600000000\n32, 32, 32\n1,2,3\n")
    with pytest.raises(RecordingError, match="disagree on the start time"):
        read_e4_csv(path, n_columns=3)


def test_rate_must_match_profile(make_e4_folder: Callable[..., Path], wf: SimpleNamespace) -> None:
    folder = make_e4_folder("S45", seconds=10)
    wf.write_e4_csv(folder / "S45_E4_Data" / "EDA.csv", np.ones(80), 8)
    with pytest.raises(RecordingError, match=r"8 Hz but the empatica_e4 profile's 'eda' .* 4 Hz"):
        load_recording(folder)


def test_missing_file(make_e4_folder: Callable[..., Path]) -> None:
    folder = make_e4_folder("S46", seconds=10)
    (folder / "S46_E4_Data" / "TEMP.csv").unlink()
    with pytest.raises(RecordingError, match=r"TEMP\.csv: file not found"):
        load_recording(folder)


def test_real_s2(wesad_root: Path) -> None:
    rec = load_recording(wesad_root / "S2")
    assert rec.format == "wesad_e4" and rec.subject == "S2"
    e4_start = 1495437325.0
    expected = {
        "acc": (32, 251970, 3),
        "bvp": (64, 503943, 1),
        "eda": (4, 31494, 1),
        "temp": (4, 31496, 1),
    }
    for key, (rate, n, channels) in expected.items():
        s = rec.stream("empatica_e4", key)
        assert (s.nominal_srate, s.data.shape) == (rate, (n, channels))
        assert s.timestamps[0] == e4_start
        assert s.timestamps[-1] == pytest.approx(e4_start + (n - 1) / rate)
    np.testing.assert_array_equal(rec.stream("empatica_e4", "acc").data[0], [29, -6, 55])

    al = rec.alignment
    assert al is not None and al.ok, al.reason
    # S2's RespiBAN start is known: 2017-05-22 07:39:01 UTC = 1416 s after the E4 start
    assert abs(al.offset_s - 1416.0) <= 5.0
    assert abs(al.chest_start_unix - 1495438741.0) <= 5.0

    # the quest file: Base, TSST, Medi 1, Fun, Medi 2 (sRead/fRead ignored)
    assert [c.condition for c in rec.conditions] == [
        "baseline",
        "stress",
        "meditation",
        "amusement",
        "meditation",
    ]
    starts = [c.start - al.chest_start_unix for c in rec.conditions]
    ends = [c.end - al.chest_start_unix for c in rec.conditions]
    assert starts == pytest.approx([428, 2395, 4219, 4885, 5618])  # 7.08, 39.55, 70.19, ...
    assert ends == pytest.approx([1592, 3030, 4630, 5267, 6015])  # 26.32, 50.3, 77.1, ...
    assert all(a.end < b.start for a, b in zip(rec.conditions, rec.conditions[1:], strict=False))
    base, stress = rec.conditions[0].ratings, rec.conditions[1].ratings
    assert base is not None and stress is not None
    assert [base[k] for k in LABELS_WESAD[:5]] == [1, 1, 3, 2, 1]
    # the stress line has 26 values; Angry (1) and Irritated (3) are dropped, Sad stays
    assert (stress["happy"], stress["sad"], stress["alert"]) == (2, 1, 5)
    assert len(stress) == 24
