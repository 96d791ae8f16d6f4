"""XDF reading (via pyxdf) on the example files, and picking a reader from a path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from helo_stream.recordings import RecordingError, RecordingWarning, detect_format, load_recording


def test_minimal(xdf_dir: Path) -> None:
    rec = load_recording(xdf_dir / "minimal.xdf")
    assert rec.format == "xdf" and rec.subject == "minimal"
    assert sorted(rec.streams) == ["SendDataC", "SendDataString"]
    eeg = rec.streams["SendDataC"]
    assert (eeg.device, eeg.key, eeg.type, eeg.channel_format) == (
        None,
        "SendDataC",
        "EEG",
        "int16",
    )
    assert eeg.nominal_srate == 10 and eeg.data.dtype == np.float64
    assert eeg.channel_labels == ("ch0", "ch1", "ch2") and eeg.units == ("", "", "")
    # README table: first sample 192, 255, 238 then 12, 22, 32 ...
    np.testing.assert_array_equal(eeg.data[:3], [[192, 255, 238], [12, 22, 32], [13, 23, 33]])
    assert len(eeg.timestamps) == 9 and np.all(np.diff(eeg.timestamps) > 0)
    # pyxdf applies the clock offset (-0.1 s) but does not dejitter
    np.testing.assert_allclose(eeg.timestamps, np.arange(5.0, 5.85, 0.1), atol=1e-9)
    markers = rec.streams["SendDataString"]
    assert markers.is_marker and markers.data.dtype == object
    assert list(markers.data[1:5, 0]) == ["Hello", "World", "from", "LSL"]
    assert markers.duration_s == pytest.approx(0.9)  # 9 samples at a nominal 10 Hz
    assert rec.conditions == []


def test_clock_resets(xdf_dir: Path) -> None:
    rec = load_recording(xdf_dir / "clock_resets.xdf")
    eeg, markers = rec.streams["BioSemi"], rec.streams["MyMarkerStream"]
    assert eeg.data.shape == (27815, 8) and eeg.source_id == "myuid34234"
    assert markers.data.shape == (175, 1) and markers.nominal_srate == 0
    assert markers.data[0, 0] == "XXX" and markers.data[-1, 0] == "XXX"
    # the recorder's clock was reset mid-file; with the resets handled time runs forward
    for s in (eeg, markers):
        assert np.all(np.diff(s.timestamps) >= 0)
    assert eeg.duration_s == pytest.approx(278.15)
    assert rec.end - rec.start == pytest.approx(573.0, abs=1.0)
    assert eeg.extra["clock_offsets"] > 10


def test_empty_streams_are_skipped(xdf_dir: Path) -> None:
    with pytest.warns(RecordingWarning, match="no samples; skipped") as caught:
        rec = load_recording(xdf_dir / "empty_streams.xdf")
    assert len([w for w in caught if issubclass(w.category, RecordingWarning)]) == 2
    assert sorted(rec.streams) == ["Data stream: test stream 0 counter", "ctrl"]
    data = rec.streams["Data stream: test stream 0 counter"]
    np.testing.assert_array_equal(data.data[:, 0], np.arange(10))
    assert data.channel_labels == ("ch:00",) and data.extra["manufacturer"] == "pylsltools"


def test_corrupted_xdf(tmp_path: Path, xdf_dir: Path) -> None:
    bad = tmp_path / "cut.xdf"
    bad.write_bytes((xdf_dir / "clock_resets.xdf").read_bytes()[:100])
    with pytest.raises(RecordingError, match=r"cut\.xdf"):
        load_recording(bad)
    garbage = tmp_path / "garbage.xdf"
    garbage.write_bytes(b"XDF:" + b"\x00" * 3)
    with pytest.raises(RecordingError):
        load_recording(garbage)


def test_xdf_without_streams(tmp_path: Path, xdf_dir: Path) -> None:
    raw = (xdf_dir / "empty_streams.xdf").read_bytes()
    # keep the magic number and the FileHeader chunk (length-prefixed), nothing else
    n_len = raw[4]
    length = int.from_bytes(raw[5 : 5 + n_len], "little")
    header_only = tmp_path / "header_only.xdf"
    header_only.write_bytes(raw[: 5 + n_len + length])
    with pytest.raises(RecordingError, match="no stream with samples"):
        load_recording(header_only)


def test_detect_format(
    tmp_path: Path, make_e4_folder: Callable[..., Path], wf: SimpleNamespace
) -> None:
    e4 = make_e4_folder("S41", seconds=5)
    assert detect_format(e4) == "wesad_e4"
    assert detect_format(e4 / "S41_E4_Data") == "wesad_e4"
    wf.write_pickle(e4 / "S41.pkl", wf.wesad_pickle_dict("S41", seconds=3))
    assert detect_format(e4) == "wesad_pkl"  # full WESAD folder: the synchronised file wins
    assert detect_format(e4 / "S41.pkl") == "wesad_pkl"
    assert load_recording(e4, format="wesad_e4").format == "wesad_e4"
    xdf = tmp_path / "rec.XDF"
    xdf.write_bytes(b"")
    assert detect_format(xdf) == "xdf"
    for bad in (tmp_path / "missing", tmp_path / "notes.txt", tmp_path / "empty_dir"):
        if bad.suffix:
            bad.write_text("x")
        elif bad.name == "empty_dir":
            bad.mkdir()
        with pytest.raises(RecordingError, match=r"SX_E4_Data/ \(wesad_e4\).*\.xdf file"):
            load_recording(bad)
