"""Per-subject feature z-scoring that uses only what a live system knows at each moment.

Physiological baselines differ a lot between people (resting heart rate, skin conductance
level), so features are z-scored per subject. A live system cannot use a whole session's
statistics: it starts with population statistics from the training data and, once the first
``calibration_s`` seconds of the subject's own windows have been seen, switches to the subject's
own statistics. Two rules for those (``mode``):

* ``"running"`` (the default): the statistics of *every* window of the session so far, the
  current one included, updated with each window. A feature is then read relative to the
  subject's own range across the states the session has gone through, which removes most of
  the between-person differences that a short calibration leaves (on WESAD it is what lets the
  window features separate the protocol conditions across people; see the model card).
* ``"frozen"``: the statistics of exactly the calibration windows, frozen from then on (the rule
  of checkpoints written before ``mode`` existed).

Training data must be normalised the same way (:meth:`FeatureNormalizer.transform_session`), or
the model would learn on a distribution the live system never produces.

>>> import numpy as np
>>> norm = FeatureNormalizer(population_mean={"eda": [2.0]}, population_std={"eda": [1.0]},
...                          calibration_s=10.0, mode="running")
>>> z = norm.transform_session({"eda": np.array([[1.0], [3.0], [5.0]])}, np.array([0.0, 5, 10]))
>>> [round(float(v), 3) for v in z["eda"][:, 0]]  # population, then all windows so far
[-1.0, 1.0, 1.225]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

__all__ = ["NORMALIZATION_MODES", "FeatureNormalizer", "NormalizationMode"]

NormalizationMode = Literal["running", "frozen"]
#: The per-subject statistics rules (see the module docstring).
NORMALIZATION_MODES: tuple[str, ...] = ("running", "frozen")


def _as_vector(name: str, value: Any, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{what}[{name!r}] must be a non-empty 1-D array, got shape {arr.shape}")
    return arr


class FeatureNormalizer:
    """Z-score features with population statistics, then with the subject's calibration ones.

    One instance serves one subject's stream (see :meth:`reset`). Non-finite inputs stay NaN
    in the output (the models treat NaN as a missing feature) and are ignored by the statistics.

    Parameters
    ----------
    population_mean, population_std
        ``modality -> (F,)`` statistics of the training population (finite).
    calibration_s
        Length of the calibration period in seconds, counted from the first window's ``t``.
    std_floor_ratio
        A subject's standard deviation is floored at this fraction of the population one: a
        few quiet minutes can give a nearly constant feature whose z-scores would explode later.
    min_std
        Absolute floor for every standard deviation.
    mode
        ``"running"``: after the calibration period, statistics of every window so far;
        ``"frozen"``: statistics of the calibration windows only (module docstring).
    """

    #: Fewer finite calibration values than this and a feature keeps the population statistics.
    MIN_CALIBRATION_VALUES = 2

    def __init__(
        self,
        *,
        population_mean: Mapping[str, np.ndarray],
        population_std: Mapping[str, np.ndarray],
        calibration_s: float = 300.0,
        std_floor_ratio: float = 0.1,
        min_std: float = 1e-6,
        mode: NormalizationMode = "running",
    ) -> None:
        if set(population_mean) != set(population_std) or not population_mean:
            raise ValueError(
                "population_mean and population_std must name the same non-empty set of "
                f"modalities, got {sorted(population_mean)} and {sorted(population_std)}"
            )
        if not (math.isfinite(calibration_s) and calibration_s >= 0.0):
            raise ValueError(f"calibration_s must be finite and >= 0, got {calibration_s}")
        if not (0.0 <= std_floor_ratio <= 1.0) or not (min_std > 0.0):
            raise ValueError("std_floor_ratio must lie in [0, 1] and min_std be > 0")
        if mode not in NORMALIZATION_MODES:
            raise ValueError(f"mode must be one of {list(NORMALIZATION_MODES)}, got {mode!r}")
        self.mode: NormalizationMode = mode
        self.calibration_s = float(calibration_s)
        self.std_floor_ratio = float(std_floor_ratio)
        self.min_std = float(min_std)
        self._mean: dict[str, np.ndarray] = {}
        self._std: dict[str, np.ndarray] = {}
        for name in population_mean:
            mean = _as_vector(name, population_mean[name], "population_mean")
            std = _as_vector(name, population_std[name], "population_std")
            if mean.shape != std.shape:
                raise ValueError(f"population mean and std of {name!r} differ in length")
            if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std >= 0)):
                raise ValueError(f"population statistics of {name!r} must be finite, std >= 0")
            self._mean[name] = mean
            self._std[name] = np.maximum(std, self.min_std)
        self.reset()

    @classmethod
    def fit_population(cls, features: Mapping[str, np.ndarray], **kwargs: Any) -> FeatureNormalizer:
        """Population statistics from training windows ``modality -> (N, F)`` (NaN ignored).

        A feature that is never finite gets mean 0 and std 1 (it stays NaN after z-scoring
        anyway). ``kwargs`` are passed to the constructor.
        """
        means, stds = {}, {}
        for name, values in features.items():
            arr = np.asarray(values, dtype=np.float64)
            if arr.ndim != 2 or arr.shape[0] == 0:
                raise ValueError(f"features[{name!r}] must be (N, F) with N >= 1, got {arr.shape}")
            finite = np.isfinite(arr)
            seen = finite.any(axis=0)
            # Never-finite columns become 0 (no all-NaN slice warnings), then get 0 / 1.
            filled = np.where(seen, np.where(finite, arr, np.nan), 0.0)
            means[name] = np.where(seen, np.nanmean(filled, axis=0), 0.0)
            stds[name] = np.where(seen, np.nanstd(filled, axis=0), 1.0)
        return cls(population_mean=means, population_std=stds, **kwargs)

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modality names, in the order of the population statistics."""
        return tuple(self._mean)

    @property
    def calibrated(self) -> bool:
        """True once the subject's own statistics are in use."""
        return self._subject is not None or self._running_calibrated

    def reset(self) -> None:
        """Forget the current subject: the next call starts a new calibration period."""
        self._t0: float | None = None
        self._buffer: dict[str, list[np.ndarray]] = {name: [] for name in self._mean}
        self._subject: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
        self._running_calibrated = False
        # Running mode: per feature, count, sum and sum of squares of the finite values seen,
        # in population units ((x - mean) / std) so that the sums stay well conditioned.
        self._sums: dict[str, np.ndarray] = {
            name: np.zeros((3, mean.size)) for name, mean in self._mean.items()
        }

    def _subject_stats(
        self, windows: Mapping[str, np.ndarray]
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Frozen per-feature statistics from the calibration windows ``modality -> (n, F)``."""
        stats = {}
        for name, pop_mean in self._mean.items():
            pop_std = self._std[name]
            arr = windows[name]
            count = np.isfinite(arr).sum(axis=0) if arr.size else np.zeros(pop_mean.shape, int)
            enough = count >= self.MIN_CALIBRATION_VALUES
            filled = np.where(enough, arr, 0.0) if arr.size else np.zeros((1, pop_mean.size))
            floor = np.maximum(self.std_floor_ratio * pop_std, self.min_std)
            mean = np.where(enough, np.nanmean(filled, axis=0), pop_mean)
            std = np.where(enough, np.maximum(np.nanstd(filled, axis=0), floor), pop_std)
            stats[name] = (mean, std)
        return stats

    def _stats_from_sums(
        self, name: str, count: np.ndarray, s1: np.ndarray, s2: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and floored std from running sums in population units (any leading shape)."""
        pop_mean, pop_std = self._mean[name], self._std[name]
        enough = count >= self.MIN_CALIBRATION_VALUES
        n = np.maximum(count, 1.0)
        mean_u = s1 / n
        var_u = np.maximum(s2 / n - mean_u**2, 0.0)
        floor = np.maximum(self.std_floor_ratio * pop_std, self.min_std)
        mean = np.where(enough, pop_mean + pop_std * mean_u, pop_mean)
        std = np.where(enough, np.maximum(pop_std * np.sqrt(var_u), floor), pop_std)
        return mean, std

    def _check_window(self, name: str, value: Any) -> np.ndarray:
        if name not in self._mean:
            raise KeyError(f"unknown modality {name!r}; known: {list(self._mean)}")
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
        if arr.shape != self._mean[name].shape:
            raise ValueError(
                f"features[{name!r}] must have {self._mean[name].size} values, got {arr.size}"
            )
        return np.where(np.isfinite(arr), arr, np.nan)

    def transform(self, features: Mapping[str, np.ndarray], *, t: float) -> dict[str, np.ndarray]:
        """Z-score one window (``modality -> (F,)``) that ends at time ``t`` (seconds).

        The first call's ``t`` starts the calibration period; windows with
        ``t - t_first < calibration_s`` are z-scored with population statistics and remembered;
        the first window at or after the end freezes the subject statistics from them and is,
        like every later window, z-scored with those. A modality left out of ``features`` (device
        absent) is left out of the result and contributes nothing to the statistics.

        Returns
        -------
        dict
            ``modality -> (F,)`` float32 z-scores; NaN where the input was not finite.
        """
        if not math.isfinite(t):
            raise ValueError(f"t must be finite, got {t}")
        windows = {name: self._check_window(name, value) for name, value in features.items()}
        if self._t0 is None:
            self._t0 = float(t)
        if self.mode == "running":
            return self._transform_running(windows, t)
        if self._subject is None and t - self._t0 >= self.calibration_s:
            self._subject = self._subject_stats(self._stacked_buffer())
            self._buffer = {name: [] for name in self._mean}
        if self._subject is None:
            for name, arr in windows.items():
                self._buffer[name].append(arr)
            stats = {name: (self._mean[name], self._std[name]) for name in windows}
        else:
            stats = self._subject
        return {
            name: ((arr - stats[name][0]) / stats[name][1]).astype(np.float32)
            for name, arr in windows.items()
        }

    def _transform_running(
        self, windows: Mapping[str, np.ndarray], t: float
    ) -> dict[str, np.ndarray]:
        assert self._t0 is not None
        calibrated = t - self._t0 >= self.calibration_s
        out = {}
        for name, arr in windows.items():
            sums = self._sums[name]
            finite = np.isfinite(arr)
            u = np.where(finite, (arr - self._mean[name]) / self._std[name], 0.0)
            sums[0] += finite
            sums[1] += u
            sums[2] += u * u
            if calibrated:
                mean, std = self._stats_from_sums(name, sums[0], sums[1], sums[2])
            else:
                mean, std = self._mean[name], self._std[name]
            out[name] = ((arr - mean) / std).astype(np.float32)
        self._running_calibrated = calibrated
        return out

    def _stacked_buffer(self) -> dict[str, np.ndarray]:
        return {
            name: np.stack(rows) if rows else np.empty((0, self._mean[name].size))
            for name, rows in self._buffer.items()
        }

    def transform_session(
        self, features: Mapping[str, np.ndarray], t: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Offline z-scoring of one subject's whole session, identical to streaming it in order.

        Equivalent to a fresh normalizer's :meth:`transform` called on rows ``0..N-1``; this
        instance's own streaming state is neither used nor changed.

        Parameters
        ----------
        features
            ``modality -> (N, F)``; every modality of the normalizer (NaN rows for gaps).
        t
            ``(N,)`` window end times in call order.
        """
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(t)):
            raise ValueError("t must be finite")
        if set(features) != set(self._mean):
            raise KeyError(
                f"features must hold the modalities {sorted(self._mean)}, got {sorted(features)}"
            )
        arrays = {}
        for name, value in features.items():
            arr = np.asarray(value, dtype=np.float64)
            if arr.ndim != 2 or arr.shape != (t.size, self._mean[name].size):
                raise ValueError(
                    f"features[{name!r}] must have shape ({t.size}, {self._mean[name].size}), "
                    f"got {arr.shape}"
                )
            arrays[name] = np.where(np.isfinite(arr), arr, np.nan)
        if t.size == 0:
            return {name: arr.astype(np.float32) for name, arr in arrays.items()}
        done = np.flatnonzero(t - t[0] >= self.calibration_s)
        split = int(done[0]) if done.size else t.size
        if self.mode == "running":
            return self._session_running(arrays, split)
        subject = self._subject_stats({name: arr[:split] for name, arr in arrays.items()})
        out = {}
        for name, arr in arrays.items():
            z = np.empty_like(arr)
            z[:split] = (arr[:split] - self._mean[name]) / self._std[name]
            z[split:] = (arr[split:] - subject[name][0]) / subject[name][1]
            out[name] = z.astype(np.float32)
        return out

    def _session_running(
        self, arrays: Mapping[str, np.ndarray], split: int
    ) -> dict[str, np.ndarray]:
        """Running-mode z-scores of a whole session: cumulative sums instead of a loop."""
        out = {}
        for name, arr in arrays.items():
            finite = np.isfinite(arr)
            u = np.where(finite, (arr - self._mean[name]) / self._std[name], 0.0)
            mean, std = self._stats_from_sums(
                name,
                np.cumsum(finite, axis=0, dtype=np.float64),
                np.cumsum(u, axis=0),
                np.cumsum(u * u, axis=0),
            )
            mean[:split] = self._mean[name]
            std[:split] = self._std[name]
            out[name] = ((arr - mean) / std).astype(np.float32)
        return out

    def to_dict(self, *, include_state: bool = False) -> dict[str, Any]:
        """Plain-type representation (lists and floats), safe for ``torch.load(weights_only=True)``.

        Without ``include_state`` it describes a fresh normalizer (what a checkpoint stores);
        with it, also the current subject's calibration progress.
        """
        out: dict[str, Any] = {
            "population_mean": {name: arr.tolist() for name, arr in self._mean.items()},
            "population_std": {name: arr.tolist() for name, arr in self._std.items()},
            "calibration_s": self.calibration_s,
            "std_floor_ratio": self.std_floor_ratio,
            "min_std": self.min_std,
            "mode": self.mode,
        }
        if include_state:
            out["state"] = {
                "t0": self._t0,
                "running_calibrated": self._running_calibrated,
                "sums": {name: sums.tolist() for name, sums in self._sums.items()},
                "buffer": {
                    name: [row.tolist() for row in rows] for name, rows in self._buffer.items()
                },
                "subject": None
                if self._subject is None
                else {name: [m.tolist(), s.tolist()] for name, (m, s) in self._subject.items()},
            }
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureNormalizer:
        """Inverse of :meth:`to_dict` (with or without state).

        A dict without ``mode`` (written before it existed) describes the ``"frozen"`` rule.
        """
        data = dict(data)
        state = data.pop("state", None)
        data.setdefault("mode", "frozen")
        norm = cls(**data)
        if state is not None:
            norm._t0 = None if state["t0"] is None else float(state["t0"])
            norm._buffer = {
                name: [np.asarray(row, dtype=np.float64) for row in state["buffer"].get(name, [])]
                for name in norm._mean
            }
            norm._running_calibrated = bool(state.get("running_calibrated", False))
            for name, sums in (state.get("sums") or {}).items():
                if name in norm._sums:
                    norm._sums[name] = np.asarray(sums, dtype=np.float64).reshape(3, -1)
            if state["subject"] is not None:
                norm._subject = {
                    name: (np.asarray(m, dtype=np.float64), np.asarray(s, dtype=np.float64))
                    for name, (m, s) in state["subject"].items()
                }
        return norm
