"""The synchronised WESAD ``SX.pkl`` (readme section II.3): chest and wrist data plus labels.

Layout: ``{'subject': 'SX', 'signal': {'chest': {'ACC' (n,3), 'ECG', 'EDA', 'EMG', 'RESP',
'Temp' (n,1)} at 700 Hz in SI units, 'wrist': {'ACC' (m,3) 32 Hz in 1/64 g, 'BVP' 64 Hz,
'EDA' 4 Hz, 'TEMP' 4 Hz}}, 'label': (n,) at 700 Hz}``. Time 0 is the chest-strap start for
every array (the dataset authors cut the wrist data to it), so timestamps are ``i / rate``.

The real files are Python-2 pickles. Pickle can run arbitrary code, so they are read with an
unpickler that only accepts the numpy classes such a file needs.
"""

from __future__ import annotations

import pickle
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
    device_profile,
    profile_stream,
    regular_timestamps,
)
from helo_stream.recordings.quest import read_quest

CHEST_RATE = 700.0
#: pkl key -> respiban profile key
CHEST_KEYS: dict[str, str] = {
    "ECG": "ecg",
    "EDA": "eda",
    "EMG": "emg",
    "RESP": "resp",
    "Temp": "temp",
    "ACC": "acc",
}
#: pkl key -> empatica_e4 profile key
WRIST_KEYS: dict[str, str] = {"BVP": "bvp", "EDA": "eda", "TEMP": "temp", "ACC": "acc"}
#: WESAD label ids used as conditions; 0 is transient and 5-7 are to be ignored.
LABEL_CONDITIONS: dict[int, str] = {1: "baseline", 2: "stress", 3: "amusement", 4: "meditation"}
#: Chest and wrist must cover the same time up to this many seconds.
DURATION_TOLERANCE_S = 2.0

_ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
        ("collections", "OrderedDict"),
        ("builtins", "dict"),
        ("builtins", "list"),
        ("__builtin__", "dict"),
        ("__builtin__", "list"),
    }
)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuses every global except the numpy array machinery a WESAD pickle needs."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module.split(".", 2)[2]  # numpy 2 renamed numpy.core
        if module == "__builtin__":
            module = "builtins"
        return super().find_class(module, name)


def _load_pickle(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            return _NumpyOnlyUnpickler(fh, encoding="latin1").load()
    except FileNotFoundError:
        raise RecordingError("file not found", path=path) from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
        MemoryError,
        OSError,
        UnicodeDecodeError,
        OverflowError,
        RecursionError,
    ) as err:
        raise RecordingError(
            f"not a readable WESAD pickle (truncated or corrupted?): {type(err).__name__}: {err}",
            path=path,
        ) from None


def _array(value: Any, where: str, path: Path, *, columns: int | None) -> np.ndarray:
    if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.number):
        raise RecordingError(
            f"{where} must be a numeric array, got {type(value).__name__}", path=path
        )
    arr = value.astype(np.float64, copy=False)
    if columns is not None:
        if arr.ndim == 1 and columns == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != columns:
            raise RecordingError(
                f"{where} must have shape (n, {columns}), got {value.shape}", path=path
            )
        if not len(arr):
            raise RecordingError(f"{where} is empty", path=path)
    return arr


def label_runs(labels: np.ndarray, rate: float) -> list[tuple[str, float, float]]:
    """Contiguous runs of condition labels 1-4 as ``(condition, start_s, end_s)``, in order."""
    labels = np.asarray(labels).astype(np.int64, copy=False).ravel()
    if not len(labels):
        return []
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(labels)]])
    values = labels[starts]
    return [
        (LABEL_CONDITIONS[int(v)], s / rate, e / rate)
        for v, s, e in zip(values, starts, ends, strict=True)
        if int(v) in LABEL_CONDITIONS
    ]


def _attach_ratings(
    runs: list[tuple[str, float, float]], quest_file: Path
) -> list[ConditionInterval]:
    """Ratings from the quest file: the k-th run of a condition gets its k-th self-report."""
    quest = read_quest(quest_file)
    by_condition: dict[str, list[dict[str, int] | None]] = {}
    for c in quest.conditions:
        by_condition.setdefault(c.condition, []).append(c.ratings)
    seen: dict[str, int] = {}
    intervals = []
    for condition, start, end in runs:
        k = seen.get(condition, 0)
        seen[condition] = k + 1
        reports = by_condition.get(condition, [])
        ratings = reports[k] if k < len(reports) else None
        intervals.append(ConditionInterval(condition, start, end, ratings))
    mismatched = {c: n for c, n in seen.items() if n != len(by_condition.get(c, []))}
    if mismatched:
        warnings.warn(
            f"{quest_file}: label runs per condition {mismatched} do not match the "
            f"questionnaire's { ({c: len(v) for c, v in by_condition.items()}) }; unmatched runs "
            "have no ratings",
            RecordingWarning,
            stacklevel=3,
        )
    return intervals


def load_wesad_pkl(path: str | Path, *, subject: str | None = None) -> Recording:
    """Read ``SX.pkl`` (or a folder holding it) into a :class:`Recording` on the chest clock.

    Streams: ``respiban.{ecg,eda,emg,resp,temp,acc}`` at 700 Hz and
    ``empatica_e4.{bvp,eda,temp,acc}`` at their own rates (wrist ACC in 1/64 g, as recorded).
    Conditions are the runs of labels 1-4; ratings come from ``SX_quest.csv`` beside the file.
    """
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("S*.pkl")) or sorted(path.glob("*.pkl"))
        if not found:
            raise RecordingError("no SX.pkl in this folder", path=path)
        path = found[0]
    raw = _load_pickle(path)
    if not isinstance(raw, dict) or not {"signal", "label"} <= raw.keys():
        keys = sorted(map(str, raw.keys())) if isinstance(raw, dict) else type(raw).__name__
        raise RecordingError(
            f"not a WESAD pickle: expected a dict with 'signal' and 'label', got {keys}", path=path
        )
    signal = raw["signal"]
    if not isinstance(signal, dict) or not {"chest", "wrist"} <= signal.keys():
        raise RecordingError("'signal' must hold 'chest' and 'wrist' dicts", path=path)
    subject_id = str(raw.get("subject") or path.stem)
    name = subject or subject_id
    streams: dict[str, RecordedStream] = {}

    chest = signal["chest"]
    missing = [k for k in CHEST_KEYS if k not in chest]
    if missing:
        raise RecordingError(f"chest signals {missing} missing", path=path)
    respiban = device_profile("respiban")
    n_chest: int | None = None
    for pkl_key, key in CHEST_KEYS.items():
        spec = respiban.streams[key]
        arr = _array(chest[pkl_key], f"signal/chest/{pkl_key}", path, columns=spec.n_channels)
        if n_chest is None:
            n_chest = len(arr)
        elif len(arr) != n_chest:
            raise RecordingError(
                f"chest signals differ in length: {pkl_key} has {len(arr)}, expected {n_chest}",
                path=path,
            )
        streams[f"respiban.{key}"] = profile_stream(
            "respiban",
            key,
            subject=name,
            data=arr,
            timestamps=regular_timestamps(len(arr), CHEST_RATE),
            path=path,
        )
    assert n_chest is not None
    chest_duration = n_chest / CHEST_RATE

    wrist = signal["wrist"]
    missing = [k for k in WRIST_KEYS if k not in wrist]
    if missing:
        raise RecordingError(f"wrist signals {missing} missing", path=path)
    e4 = device_profile("empatica_e4")
    for pkl_key, key in WRIST_KEYS.items():
        spec = e4.streams[key]
        arr = _array(wrist[pkl_key], f"signal/wrist/{pkl_key}", path, columns=spec.n_channels)
        duration = len(arr) / spec.nominal_srate
        if abs(duration - chest_duration) > DURATION_TOLERANCE_S:
            raise RecordingError(
                f"wrist {pkl_key} covers {duration:.1f} s at {spec.nominal_srate:g} Hz but the "
                f"chest {chest_duration:.1f} s: not the synchronised layout",
                path=path,
            )
        streams[f"empatica_e4.{key}"] = profile_stream(
            "empatica_e4",
            key,
            subject=name,
            data=arr,
            timestamps=regular_timestamps(len(arr), spec.nominal_srate),
            path=path,
        )

    labels = raw["label"]
    if not isinstance(labels, np.ndarray) or labels.ndim != 1 or len(labels) != n_chest:
        shape = getattr(labels, "shape", type(labels).__name__)
        raise RecordingError(
            f"'label' must be a 1-D array of {n_chest} values (one per chest sample), got {shape}",
            path=path,
        )
    if not np.issubdtype(labels.dtype, np.number) or not np.all(np.isfinite(labels)):
        raise RecordingError("'label' must hold finite numeric condition ids", path=path)
    runs = label_runs(labels, CHEST_RATE)
    quest_file = path.parent / f"{subject_id}_quest.csv"
    if quest_file.is_file():
        conditions = _attach_ratings(runs, quest_file)
    else:
        conditions = [ConditionInterval(c, s, e) for c, s, e in runs]
    return Recording(
        subject=name, path=path, format="wesad_pkl", streams=streams, conditions=conditions
    )
