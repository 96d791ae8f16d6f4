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
them (the real gaps are not in the files), each a condition ``clip<k>`` with its ratings.
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
from helo_stream.signal.features.eeg import DMER_EEG_CHANNELS, eeg_feature_names

__all__ = [
    "DMER_COLUMNS",
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

_STATS = ("median", "mean", "std", "min", "max", "minratio", "maxratio")
_FFT_STATS = ("median", "mean", "std", "min", "max", "range")


def _peripheral_names(prefix: str) -> tuple[str, ...]:
    names = [f"{prefix}_{s}" for s in _STATS]
    names += [f"{prefix}_d1_{s}" for s in _STATS]
    names += [f"{prefix}_d2_{s}" for s in _STATS]
    names += [f"{prefix}_fft_{s}" for s in _FFT_STATS]
    return tuple(names)


#: ``perifeaext.featurefromgsr``: statistics of x, diff(x), diff(diff(x)), of its FFT, and the
#: mean Welch PSD.
DMER_GSR_FEATURES: tuple[str, ...] = (*_peripheral_names("gsr"), "gsr_welch_mean")
#: ``perifeaext.featurefromppg``: as GSR without the Welch PSD.
DMER_PPG_FEATURES: tuple[str, ...] = _peripheral_names("ppg")

#: Column slices of ``feas`` per modality (the face columns are optional).
DMER_COLUMNS: dict[str, slice] = {
    "eeg": slice(0, 90),
    "gsr": slice(90, 118),
    "ppg": slice(118, 145),
    "face": slice(145, 913),
}
#: Seconds from a clip's start to its first feature row's timestamp (4 dropped + 1).
DMER_LEAD_S = 5.0

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


def _feature_stream(
    key: str,
    name: str,
    labels: tuple[str, ...],
    unit: str,
    data: np.ndarray,
    timestamps: np.ndarray,
    subject: str,
) -> RecordedStream:
    return RecordedStream(
        key=key,
        device=None,
        name=name,
        type=f"{name.removeprefix('DMER_').split('_')[0]}Features",
        source_id=f"{subject}-dmer-{key}",
        nominal_srate=1.0,
        channel_format="double64",
        channel_labels=labels,
        units=(unit,) * len(labels),
        data=np.ascontiguousarray(data, dtype=np.float64),
        timestamps=timestamps,
        extra={"manufacturer": "DMER (Yang et al. 2024)", "model": "released features"},
    )


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
        Streams ``dmer.eeg_de`` (90 ch), ``dmer.gsr`` (28), ``dmer.ppg`` (27) and, when the
        file has the video columns, ``face_camera.lbptop`` (768, as ``devices/face_camera.yaml``),
        all at 1 Hz; one condition ``clip<k>`` per clip with its 10 PANAS ratings.

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
        conditions.append(ConditionInterval(f"clip{clip}", start, end, ratings[clip]))
        start = end + gap_s

    name = subject or path.stem
    streams: dict[str, RecordedStream] = {
        "dmer.eeg_de": _feature_stream(
            "eeg_de",
            "DMER_EEG_DE",
            eeg_feature_names(DMER_EEG_CHANNELS),
            "nat",
            feas[:, DMER_COLUMNS["eeg"]],
            timestamps,
            name,
        ),
        "dmer.gsr": _feature_stream(
            "gsr",
            "DMER_GSR",
            DMER_GSR_FEATURES,
            "a.u.",
            feas[:, DMER_COLUMNS["gsr"]],
            timestamps,
            name,
        ),
        "dmer.ppg": _feature_stream(
            "ppg",
            "DMER_PPG",
            DMER_PPG_FEATURES,
            "a.u.",
            feas[:, DMER_COLUMNS["ppg"]],
            timestamps,
            name,
        ),
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
