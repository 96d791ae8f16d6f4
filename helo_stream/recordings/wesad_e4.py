"""The WESAD Empatica E4 folder: ``SX/SX_E4_Data/{ACC,BVP,EDA,TEMP}.csv`` plus ``SX_quest.csv``.

Each CSV starts with the unix start time (UTC) and the sampling rate, one value per column,
followed by the samples. Timestamps are ``start + i / rate`` on the unix clock, which is the
recording clock of this format. The protocol conditions in ``SX_quest.csv`` count from the
chest-strap start; they are placed on the E4 clock with :mod:`helo_stream.recordings.e4_sync`.
``HR.csv``, ``IBI.csv`` and ``tags.csv`` are derived by the E4 software and not read.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from helo_stream.recordings.base import (
    ConditionInterval,
    RecordedStream,
    Recording,
    RecordingError,
    RecordingWarning,
    device_profile,
    profile_stream,
    regular_timestamps,
)
from helo_stream.recordings.e4_sync import E4Alignment, WristSignal, align_e4_to_protocol
from helo_stream.recordings.quest import Quest, read_quest

DEVICE = "empatica_e4"
#: File name -> (profile stream key, number of columns).
E4_FILES: dict[str, tuple[str, int]] = {
    "ACC.csv": ("acc", 3),
    "BVP.csv": ("bvp", 1),
    "EDA.csv": ("eda", 1),
    "TEMP.csv": ("temp", 1),
}


def read_e4_csv(path: str | Path, *, n_columns: int) -> tuple[float, float, np.ndarray]:
    """One E4 CSV as ``(start_unix, rate_hz, samples (n, n_columns) float64)``.

    Raises
    ------
    RecordingError
        Missing file, header lines that are not numbers, columns that disagree on the start
        or rate, a wrong column count, a non-numeric or short (truncated) line, or no samples.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise RecordingError("file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as err:
        raise RecordingError(f"cannot read E4 file: {err}", path=path) from None
    lines = text.split("\n", 2)
    if len(lines) < 3 or not lines[2].strip():
        raise RecordingError(
            "no samples: an E4 file needs a start-time line, a rate line and samples", path=path
        )
    header: list[float] = []
    for line_no, name in ((1, "start time"), (2, "sampling rate")):
        fields = [f.strip() for f in lines[line_no - 1].split(",")]
        try:
            values = [float(f) for f in fields]
        except ValueError:
            raise RecordingError(
                f"line {line_no} must be the {name} (one number per column), got "
                f"{lines[line_no - 1].strip()[:60]!r}",
                path=path,
            ) from None
        if len(values) != n_columns:
            raise RecordingError(
                f"line {line_no} has {len(values)} column(s), expected {n_columns}", path=path
            )
        if any(v != values[0] for v in values):
            raise RecordingError(f"the columns disagree on the {name}: {values}", path=path)
        header.append(values[0])
    start, rate = header
    if not np.isfinite(start) or not np.isfinite(rate) or rate <= 0:
        raise RecordingError(f"invalid start time {start} or rate {rate}", path=path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an empty or ragged body is an error, not a warning
            data = np.loadtxt(io.StringIO(lines[2]), delimiter=",", ndmin=2, dtype=np.float64)
    except (ValueError, UserWarning) as err:
        raise RecordingError(
            f"malformed samples (truncated or corrupted?): {err}", path=path
        ) from None
    if data.shape[1] != n_columns:
        raise RecordingError(
            f"samples have {data.shape[1]} column(s), expected {n_columns}", path=path
        )
    if not np.all(np.isfinite(data)):
        bad = int(np.argmax(~np.isfinite(data).all(axis=1)))
        raise RecordingError(f"non-finite sample value at data line {bad + 3}", path=path)
    return float(start), float(rate), data


def e4_data_dir(path: Path) -> Path | None:
    """The ``SX_E4_Data`` folder of a subject folder (or the folder itself), if there is one."""
    if path.name.endswith("_E4_Data") and path.is_dir():
        return path
    found = sorted(p for p in path.glob("*_E4_Data") if p.is_dir())
    return found[0] if found else None


def _conditions(quest: Quest, alignment: E4Alignment) -> list[ConditionInterval]:
    if not alignment.ok or alignment.chest_start_unix is None:
        return []
    base = alignment.chest_start_unix
    return [
        ConditionInterval(c.condition, base + c.start_s, base + c.end_s, c.ratings)
        for c in quest.conditions
    ]


def load_wesad_e4(path: str | Path, *, subject: str | None = None, align: bool = True) -> Recording:
    """Read a WESAD subject folder ``SX/`` (or its ``SX_E4_Data/``) into a :class:`Recording`.

    Streams are ``empatica_e4.{acc,bvp,eda,temp}`` with unix timestamps. With ``SX_quest.csv``
    beside the data, the conditions (with their PANAS ratings) are placed on the E4 clock by
    the chest-strap alignment (the accelerometer, checked against the E4 end, the taps, and the
    EDA and heart rate during the stress condition: see :mod:`helo_stream.recordings.e4_sync`);
    when that alignment is not trustworthy, ``conditions`` stays empty and ``alignment.ok`` is
    False with the reason and the evidence (a warning says so too). ``align=False`` skips the
    alignment (and so the conditions) when only the signals are wanted.
    """
    path = Path(path)
    if not path.exists():
        raise RecordingError("no such file or folder", path=path)
    data_dir = e4_data_dir(path)
    if data_dir is None:
        raise RecordingError("not a WESAD E4 folder: no SX_E4_Data/ inside", path=path)
    folder = data_dir.parent
    subject_id = data_dir.name[: -len("_E4_Data")] or folder.name
    profile = device_profile(DEVICE)
    streams: dict[str, RecordedStream] = {}
    e4_start: float | None = None
    for filename, (key, n_columns) in E4_FILES.items():
        file = data_dir / filename
        start, rate, data = read_e4_csv(file, n_columns=n_columns)
        expected = profile.streams[key].nominal_srate
        if abs(rate - expected) > 1e-9:
            raise RecordingError(
                f"sampled at {rate:g} Hz but the {DEVICE} profile's {key!r} stream is "
                f"{expected:g} Hz",
                path=file,
            )
        streams[f"{DEVICE}.{key}"] = profile_stream(
            DEVICE,
            key,
            subject=subject or subject_id,
            data=data,
            timestamps=regular_timestamps(len(data), rate, start),
            path=file,
        )
        if key == "acc":
            e4_start = start
    quest_file = folder / f"{subject_id}_quest.csv"
    conditions: list[ConditionInterval] = []
    alignment: E4Alignment | None = None
    if quest_file.is_file():
        quest = read_quest(quest_file)
        if align:
            acc = streams[f"{DEVICE}.acc"]
            physiology = {
                key: WristSignal(
                    stream.data[:, 0],
                    stream.nominal_srate,
                    float(stream.timestamps[0] - acc.timestamps[0]),
                )
                for key, stream in (
                    ("eda", streams[f"{DEVICE}.eda"]),
                    ("bvp", streams[f"{DEVICE}.bvp"]),
                )
            }
            alignment = align_e4_to_protocol(
                acc.data,
                acc.nominal_srate,
                [(c.start_s, c.end_s) for c in quest.conditions],
                e4_start_unix=e4_start,
                conditions=[c.condition for c in quest.conditions],
                **physiology,
            )
            conditions = _conditions(quest, alignment)
            if not alignment.ok:
                warnings.warn(
                    f"{folder}: E4/chest-strap alignment failed, conditions left out: "
                    f"{alignment.reason}",
                    RecordingWarning,
                    stacklevel=2,
                )
    return Recording(
        subject=subject or subject_id,
        path=folder,
        format="wesad_e4",
        streams=streams,
        conditions=conditions,
        alignment=alignment,
    )
