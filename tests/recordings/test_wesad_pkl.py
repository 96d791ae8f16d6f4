"""The synchronised WESAD ``SX.pkl`` reader, on small pickles in exactly the readme's layout."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from helo_stream.recordings import LABELS_WESAD, RecordingError, RecordingWarning, load_recording
from helo_stream.recordings.wesad_pkl import label_runs, load_wesad_pkl


def test_reads_the_layout_with_ratings(tmp_path: Path, wf: SimpleNamespace) -> None:
    folder = tmp_path / "S98"
    folder.mkdir()
    raw = wf.wesad_pickle_dict("S98", seconds=12)
    path = wf.write_pickle(folder / "S98.pkl", raw)
    # ORDER Base, TSST, Medi 1, Fun, Medi 2 as in the label runs 1, 2, 4, 3, 4
    (folder / "S98_quest.csv").write_text(wf.quest_text())
    rec = load_recording(folder)
    assert rec.format == "wesad_pkl" and rec.subject == "S98" and rec.path == path
    assert sorted(rec.streams) == [
        "empatica_e4.acc",
        "empatica_e4.bvp",
        "empatica_e4.eda",
        "empatica_e4.temp",
        "respiban.acc",
        "respiban.ecg",
        "respiban.eda",
        "respiban.emg",
        "respiban.resp",
        "respiban.temp",
    ]
    for key, pkl_key in (("ecg", "ECG"), ("acc", "ACC"), ("temp", "Temp")):
        s = rec.stream("respiban", key)
        assert s.nominal_srate == 700 and s.device == "respiban"
        np.testing.assert_array_equal(s.data, raw["signal"]["chest"][pkl_key])
        np.testing.assert_array_equal(s.timestamps, np.arange(12 * 700) / 700)
    assert rec.stream("respiban", "ecg").units == ("mV",)
    assert rec.stream("respiban", "ecg").source_id == "S98-respiban-ecg"
    for key, rate in (("bvp", 64), ("eda", 4), ("temp", 4), ("acc", 32)):
        s = rec.stream("empatica_e4", key)
        assert s.nominal_srate == rate and s.timestamps[0] == 0.0
        assert s.timestamps[1] == pytest.approx(1 / rate)
        np.testing.assert_array_equal(s.data, raw["signal"]["wrist"][key.upper()])
    assert rec.stream("empatica_e4", "acc").units == ("1/64 g",) * 3
    assert rec.start == 0.0 and rec.end == pytest.approx(12.0)

    got = [(c.condition, c.start, c.end) for c in rec.conditions]
    assert got == [
        ("baseline", 1.0, 4.0),
        ("stress", 5.0, 7.0),
        ("meditation", 7.5, 8.5),
        ("amusement", 8.5, 10.0),
        ("meditation", 10.0, 11.0),
    ]
    assert all(
        c.ratings is not None and list(c.ratings) == list(LABELS_WESAD) for c in rec.conditions
    )
    assert rec.conditions[1].ratings["alert"] == 5  # the 26-item stress line
    assert rec.alignment is None


def test_file_path_and_subject_override(tmp_path: Path, wf: SimpleNamespace) -> None:
    path = wf.write_pickle(tmp_path / "S98.pkl", wf.wesad_pickle_dict("S98"), python2_names=False)
    rec = load_wesad_pkl(path, subject="bob")
    assert rec.subject == "bob"
    assert rec.stream("empatica_e4", "bvp").source_id == "bob-empatica_e4-bvp"
    assert all(c.ratings is None for c in rec.conditions)  # no quest file beside it


def test_label_runs() -> None:
    labels = np.array([0, 0, 1, 1, 1, 0, 2, 2, 5, 4, 4, 3, 7, 7])
    assert label_runs(labels, 1.0) == [
        ("baseline", 2.0, 5.0),
        ("stress", 6.0, 8.0),
        ("meditation", 9.0, 11.0),
        ("amusement", 11.0, 12.0),
    ]
    assert label_runs(np.array([], dtype=int), 700.0) == []


def test_more_runs_than_reports_warns(tmp_path: Path, wf: SimpleNamespace) -> None:
    labels = [(1, 2), (4, 1), (0, 1), (4, 1), (0, 1), (4, 1)]  # three meditation runs
    wf.write_pickle(tmp_path / "S97.pkl", wf.wesad_pickle_dict("S97", 8, labels))
    (tmp_path / "S97_quest.csv").write_text(wf.quest_text())
    with pytest.warns(RecordingWarning, match="do not match"):
        rec = load_recording(tmp_path / "S97.pkl")
    assert [c.ratings is not None for c in rec.conditions] == [True, True, True, False]


class _Evil:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.pop("label"), "expected a dict with 'signal' and 'label'"),
        (lambda d: d["signal"].pop("wrist"), "'chest' and 'wrist'"),
        (lambda d: d["signal"]["chest"].pop("EMG"), r"chest signals \['EMG'\] missing"),
        (lambda d: d["signal"]["wrist"].pop("BVP"), r"wrist signals \['BVP'\] missing"),
        (
            lambda d: d["signal"]["chest"].update(ECG=d["signal"]["chest"]["ECG"][:-5]),
            "differ in length",
        ),
        (
            lambda d: d["signal"]["chest"].update(ACC=d["signal"]["chest"]["ACC"][:, :2]),
            r"shape \(n, 3\)",
        ),
        (
            lambda d: d["signal"]["wrist"].update(BVP=d["signal"]["wrist"]["BVP"][:300]),
            "not the synchronised layout",
        ),
        (lambda d: d.update(label=d["label"][:100]), "one per chest sample"),
        (lambda d: d["signal"]["wrist"].update(EDA="oops"), "numeric array"),
    ],
)
def test_inconsistent_layouts(tmp_path: Path, wf: SimpleNamespace, mutate, match: str) -> None:
    raw = wf.wesad_pickle_dict("S96", seconds=12)
    mutate(raw)
    path = wf.write_pickle(tmp_path / "S96.pkl", raw)
    with pytest.raises(RecordingError, match=match) as err:
        load_recording(path)
    assert str(path) in str(err.value)


def test_truncated_and_foreign_pickles(tmp_path: Path, wf: SimpleNamespace) -> None:
    path = wf.write_pickle(tmp_path / "S95.pkl", wf.wesad_pickle_dict("S95", seconds=12))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError, match="truncated or corrupted"):
        load_recording(path)
    path.write_bytes(b"this is not a pickle at all")
    with pytest.raises(RecordingError, match="not a readable WESAD pickle"):
        load_recording(path)
    path.write_bytes(pickle.dumps({"signal": _Evil(), "label": 1}, protocol=2))
    with pytest.raises(RecordingError, match=r"refusing to load posix\.system"):
        load_recording(path)
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(RecordingError, match="got list"):
        load_recording(path)
