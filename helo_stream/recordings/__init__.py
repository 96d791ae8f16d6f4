"""Recorded sessions (WESAD E4 folders, WESAD ``.pkl``, XDF) in one in-memory shape.

:func:`load_recording` picks the reader from what the path looks like, so the replay command
and the training datasets accept any of the formats.
"""

from __future__ import annotations

from pathlib import Path

from helo_stream.recordings.base import (
    CONDITIONS,
    LABELS_WESAD,
    ConditionInterval,
    RecordedStream,
    Recording,
    RecordingError,
    RecordingFormat,
    RecordingWarning,
)
from helo_stream.recordings.e4_sync import (
    E4Alignment,
    align_e4_to_protocol,
    e4_detect_sync_tap,
    find_double_taps,
    protocol_fit,
)

__all__ = [
    "CONDITIONS",
    "LABELS_WESAD",
    "ConditionInterval",
    "E4Alignment",
    "RecordedStream",
    "Recording",
    "RecordingError",
    "RecordingFormat",
    "RecordingWarning",
    "align_e4_to_protocol",
    "detect_format",
    "e4_detect_sync_tap",
    "find_double_taps",
    "load_recording",
    "protocol_fit",
]

ACCEPTED_LAYOUTS = (
    "a WESAD subject folder with SX_E4_Data/ (wesad_e4), "
    "a folder with SX.pkl or a .pkl file (wesad_pkl), an .xdf file (xdf), or a DMER per-subject "
    ".mat feature file (dmer)"
)


def detect_format(path: str | Path) -> RecordingFormat:
    """The format of ``path``, or :class:`RecordingError` naming the accepted layouts.

    A folder holding both ``SX.pkl`` and ``SX_E4_Data/`` (the full WESAD download) is read as
    ``wesad_pkl``: it has the chest streams and the authors' own synchronisation.
    """
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"no such file or folder; expected {ACCEPTED_LAYOUTS}", path=path)
    if path.is_dir():
        if any(path.glob("*.pkl")):
            return "wesad_pkl"
        if path.name.endswith("_E4_Data") or any(p.is_dir() for p in path.glob("*_E4_Data")):
            return "wesad_e4"
    else:
        suffix = path.suffix.lower()
        if suffix == ".pkl":
            return "wesad_pkl"
        if suffix in {".xdf", ".xdfz"}:
            return "xdf"
        if suffix == ".mat":
            return "dmer"
    raise RecordingError(f"unrecognised recording; expected {ACCEPTED_LAYOUTS}", path=path)


def load_recording(
    path: str | Path, *, format: RecordingFormat | None = None, subject: str | None = None
) -> Recording:
    """Read a recording, detecting its format (or using ``format``).

    ``subject`` overrides the subject name (and with it the profile streams' source ids).
    """
    fmt = format or detect_format(path)
    if fmt == "wesad_e4":
        from helo_stream.recordings.wesad_e4 import load_wesad_e4

        return load_wesad_e4(path, subject=subject)
    if fmt == "wesad_pkl":
        from helo_stream.recordings.wesad_pkl import load_wesad_pkl

        return load_wesad_pkl(path, subject=subject)
    if fmt == "dmer":
        from helo_stream.recordings.dmer import load_dmer

        return load_dmer(path, subject=subject)
    if fmt == "xdf":
        from helo_stream.recordings.xdf import load_xdf

        return load_xdf(path, subject=subject)
    raise RecordingError(f"unknown format {fmt!r}; expected {ACCEPTED_LAYOUTS}", path=path)
