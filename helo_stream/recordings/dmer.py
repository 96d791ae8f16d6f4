"""DMER per-subject feature files (Yang et al., "A Multimodal Dataset for Mixed Emotion
Recognition", Scientific Data 11:847, 2024) as a :class:`Recording` of 1 Hz feature streams.

The released files hold features, not signals. Following the authors' code
(``PrepareFeatures4Subj.m``), ``feas`` has one row per second of each clip and the columns

* 0-89: EEG differential entropy, 5 bands x 18 DSI-24 channels, channel-major (``fea4eeg.py``);
* 90-117: 28 GSR statistics of a 5-s window (``perifeaext.py``);
* 118-144: 27 PPG statistics of a 5-s window, band-passed 0.5-8 Hz;
* 145-912: LBP-TOP of the second's 30 video frames, XY/XT/YT x 256 bins (``LBP-TOP.py``);

``vids`` gives each row's clip (0-31, rows of a clip contiguous) and ``dis_label`` each clip's
10 PANAS ratings (1-5). Each clip's first 4 seconds are dropped by the authors so that the 5-s
GSR/PPG windows are complete; row ``i`` of a clip therefore summarises seconds ``[i, i + 5)``
(GSR/PPG) and ``[i + 4, i + 5)`` (EEG, video) and is stamped at the end of that span, ``i + 5``
seconds after the clip's start. Clips are laid out one after another with ``gap_s`` between
them (the real gaps are not in the files), each a condition ``clip<k>`` with its ratings that
spans the seconds the clip's rows cover, ``(first stamp - 1, last stamp]``: a window is labelled
only when it holds nothing but that clip's rows, as many as it lasts in seconds.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from helo_stream.recordings.base import (
    ConditionInterval,
    RecordedStream,
    Recording,
    RecordingError,
    RecordingWarning,
    profile_stream,
)
from helo_stream.signal.features.dmer_peripheral import DMER_GSR_FEATURES, DMER_PPG_FEATURES

__all__ = [
    "DMER_COLUMNS",
    "DMER_FEATURE_STREAMS",
    "DMER_GSR_FEATURES",
    "DMER_LEAD_S",
    "DMER_PPG_FEATURES",
    "LABELS_DMER",
    "load_dmer",
]

#: The 10 PANAS items of DMER, in the order of ``dis_label`` (the authors' rating page:
#: 受鼓舞的, 警觉的, 兴奋的, 热情的, 坚定的, 害怕的, 难过的, 焦虑的, 惊恐的, 苦恼的).
LABELS_DMER: tuple[str, ...] = (
    "inspired",
    "alert",
    "excited",
    "enthusiastic",
    "determined",
    "afraid",
    "upset",
    "nervous",
    "scared",
    "distressed",
)

#: Column slices of ``feas`` per modality (the face columns are optional).
DMER_COLUMNS: dict[str, slice] = {
    "eeg": slice(0, 90),
    "gsr": slice(90, 118),
    "ppg": slice(118, 145),
    "face": slice(145, 913),
}
#: The device-profile stream each block of columns is replayed as: the ``features_stream`` of
#: the eeg, gsr and ppg modalities of ``pipelines/dmer_live.yaml``; face LBP-TOP is the camera's
#: own stream, so replayed and live face features are the same kind.
DMER_FEATURE_STREAMS: dict[str, tuple[str, str]] = {
    "eeg": ("dsi24", "eeg_de"),
    "gsr": ("es1_wristband", "gsr_features"),
    "ppg": ("es1_wristband", "ppg_features"),
    "face": ("face_camera", "lbptop"),
}
#: Seconds from a clip's start to its first feature row's timestamp (4 dropped + 1).
DMER_LEAD_S = 5.0
#: Seconds a feature row stands for: one row per second, stamped at the end of its second.
_ROW_S = 1.0

_N_PHYSIO = DMER_COLUMNS["ppg"].stop
_N_ALL = DMER_COLUMNS["face"].stop


def _loadmat(path: Path) -> dict[str, Any]:
    import scipy.io

    try:
        return scipy.io.loadmat(path, squeeze_me=False)
    except NotImplementedError as err:  # scipy's message for MATLAB v7.3 (HDF5) files
        raise RecordingError(
            "MATLAB v7.3 (HDF5) .mat files are not supported; re-save it in MATLAB with "
            "save(..., '-v7') or convert it with h5py",
            path=path,
        ) from err
    except (ValueError, TypeError, OSError) as err:
        raise RecordingError(f"not a readable MATLAB .mat file ({err})", path=path) from err


def _real(feas: np.ndarray, path: Path) -> np.ndarray:
    """The real part, warning when imaginary parts are dropped.

    The authors' GSR/PPG spectral statistics are medians/extremes of a complex FFT, so a file
    saved straight from their code can be complex; only those columns carry imaginary parts.
    """
    if not np.iscomplexobj(feas):
        return feas
    imag = np.any(feas.imag != 0, axis=0)
    if imag.any():
        warnings.warn(
            f"{path}: feas is complex; the imaginary parts of columns "
            f"{np.flatnonzero(imag).tolist()} are dropped (real parts kept)",
            RecordingWarning,
            stacklevel=3,
        )
    return np.ascontiguousarray(feas.real)


def _clip_runs(vids: np.ndarray, path: Path) -> list[tuple[int, int, int]]:
    """``(clip, first_row, stop_row)`` of each contiguous run of rows, in file order."""
    change = np.flatnonzero(np.diff(vids)) + 1
    starts = np.concatenate(([0], change))
    stops = np.concatenate((change, [vids.size]))
    runs = [(int(vids[a]), int(a), int(b)) for a, b in zip(starts, stops, strict=True)]
    clips = [clip for clip, _, _ in runs]
    repeated = sorted({c for c in clips if clips.count(c) > 1})
    if repeated:
        raise RecordingError(
            f"the rows of clip(s) {repeated} are not contiguous in vids; expected each clip's "
            "rows in one block",
            path=path,
        )
    return runs


def _ratings(labels: np.ndarray, clips: list[int], path: Path) -> dict[int, dict[str, Any]]:
    """Per-clip ratings from ``dis_label``: ``(n_clips, 10)`` indexed by clip id, or its
    transpose ``(10, n_clips)``."""
    n_items = len(LABELS_DMER)
    table = np.asarray(labels)
    if table.ndim != 2 or n_items not in table.shape:
        raise RecordingError(
            f"dis_label must be (clips, {n_items}) PANAS ratings, got shape {table.shape}",
            path=path,
        )
    if table.shape[1] != n_items:
        table = table.T
    if max(clips) >= table.shape[0]:
        raise RecordingError(
            f"vids name clip {max(clips)} but dis_label has ratings for {table.shape[0]} clips "
            f"(0-{table.shape[0] - 1})",
            path=path,
        )
    table = np.asarray(table, dtype=np.float64)
    out: dict[int, dict[str, Any]] = {}
    for clip in clips:
        row = table[clip]
        if not np.all(np.isfinite(row)):
            raise RecordingError(f"dis_label of clip {clip} is not finite: {row}", path=path)
        integral = np.all(row == np.round(row))
        values = [int(v) for v in np.round(row)] if integral else [float(v) for v in row]
        out[clip] = dict(zip(LABELS_DMER, values, strict=True))
    return out


def load_dmer(path: str | Path, *, subject: str | None = None, gap_s: float = 10.0) -> Recording:
    """Read one DMER subject's feature file.

    Parameters
    ----------
    path
        The subject's ``.mat`` file (``feas``, ``vids``, ``dis_label``).
    subject
        Subject name; the file's stem by default.
    gap_s
        Seconds between one clip's last row and the next clip's start on the recording clock.

    Returns
    -------
    Recording
        Streams ``dsi24.eeg_de`` (90 ch), ``es1_wristband.gsr_features`` (28),
        ``es1_wristband.ppg_features`` (27) and, when the file has the video columns,
        ``face_camera.lbptop`` (768), as the device profiles describe them, all at 1 Hz;
        one condition ``clip<k>`` per clip with its 10 PANAS ratings.

    Raises
    ------
    RecordingError
        For a missing file or key, fewer than 145 or an unexpected number of columns, a
        ``vids`` that does not match the rows, non-contiguous clips or unusable ratings.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordingError("no such file; expected a DMER subject .mat file", path=path)
    if not (isinstance(gap_s, int | float) and np.isfinite(gap_s) and gap_s >= 0):
        raise ValueError(f"gap_s must be a non-negative number of seconds, got {gap_s!r}")
    mat = _loadmat(path)
    missing = [key for key in ("feas", "vids", "dis_label") if key not in mat]
    if missing:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise RecordingError(
            f"not a DMER feature file: missing {missing} (it has {found}); expected feas, "
            "vids and dis_label",
            path=path,
        )
    feas = np.asarray(mat["feas"])
    if feas.ndim != 2 or not np.issubdtype(feas.dtype, np.number):
        raise RecordingError(f"feas must be a 2-D numeric array, got {feas.shape}", path=path)
    feas = _real(feas, path)
    n_rows, n_cols = feas.shape
    if n_cols < _N_PHYSIO:
        raise RecordingError(
            f"feas has {n_cols} columns; a DMER file has at least {_N_PHYSIO} "
            "(EEG 0-89, GSR 90-117, PPG 118-144) plus 768 video columns",
            path=path,
        )
    if n_cols not in (_N_PHYSIO, _N_ALL):
        raise RecordingError(
            f"feas has {n_cols} columns; expected {_N_PHYSIO} (no video) or {_N_ALL} "
            "(with the 768 LBP-TOP video columns)",
            path=path,
        )
    vids = np.asarray(mat["vids"])
    if vids.ndim > 2 or (vids.ndim == 2 and 1 not in vids.shape) or vids.size != n_rows:
        raise RecordingError(
            f"vids of shape {vids.shape} does not match the {n_rows} rows of feas; expected "
            "one clip id per row",
            path=path,
        )
    vids_f = vids.reshape(-1).astype(np.float64)
    if n_rows == 0:
        raise RecordingError("feas has no rows", path=path)
    if not np.all(np.isfinite(vids_f)) or np.any(vids_f != np.round(vids_f)) or vids_f.min() < 0:
        raise RecordingError("vids must be non-negative integer clip ids (0-31)", path=path)
    runs = _clip_runs(vids_f.astype(np.int64), path)
    ratings = _ratings(mat["dis_label"], [clip for clip, _, _ in runs], path)

    timestamps = np.empty(n_rows)
    conditions: list[ConditionInterval] = []
    start = 0.0
    for clip, a, b in runs:
        timestamps[a:b] = start + DMER_LEAD_S + np.arange(b - a, dtype=np.float64)
        end = start + DMER_LEAD_S + (b - a - 1)
        # The clip's rated span is the seconds its rows cover, not the clip itself: a window
        # holding the first DMER_LEAD_S - 1 s (no rows) would get the clip's ratings with fewer
        # rows than the live pipeline averages. The first row covers (its stamp - 1 s, stamp].
        conditions.append(
            ConditionInterval(f"clip{clip}", end - (b - a) * _ROW_S, end, ratings[clip])
        )
        start = end + gap_s

    name = subject or path.stem
    # Each block as the device profile's feature stream, so a replay publishes what
    # pipelines/dmer_live.yaml names as the modalities' features_stream.
    streams: dict[str, RecordedStream] = {
        f"{device}.{key}": profile_stream(
            device,
            key,
            subject=name,
            data=feas[:, DMER_COLUMNS[block]],
            timestamps=timestamps,
            path=path,
        )
        for block, (device, key) in DMER_FEATURE_STREAMS.items()
        if block != "face"
    }
    if n_cols == _N_ALL:
        streams["face_camera.lbptop"] = profile_stream(
            "face_camera",
            "lbptop",
            subject=name,
            data=feas[:, DMER_COLUMNS["face"]],
            timestamps=timestamps,
            path=path,
        )
    return Recording(
        subject=name,
        path=path,
        format="dmer",
        streams=streams,
        conditions=conditions,
    )
