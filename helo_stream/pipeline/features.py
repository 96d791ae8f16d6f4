"""Window features: the single place where a window of samples becomes model inputs.

The live runner and the offline dataset builder both go through :class:`WindowFeaturizer`, so a
model is trained on exactly what it later sees in real time: the same causal filters (applied to
a stream as it arrives, state carried), the same window bounds ``(end - L, end]`` and the same
feature extractors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from helo_stream.config import Pipeline
from helo_stream.config.pipeline import FilterConfig
from helo_stream.signal.features import ModalityFeatures, make_extractor
from helo_stream.signal.filters import CausalSosFilter

#: A window must hold at least this fraction of its nominal sample count for a modality to count
#: as present; less means the device dropped out for most of the window.
MIN_COVERAGE = 0.5


@dataclass(frozen=True)
class ModalityStage:
    """Filter design and feature extractor of one modality."""

    name: str
    kind: str
    role: str
    srate: float
    n_channels: int
    filter_config: FilterConfig | None
    extractor: ModalityFeatures

    def make_filter(self) -> CausalSosFilter | None:
        """A fresh causal filter with zero history, one per stream connection."""
        cfg = self.filter_config
        if cfg is None:
            return None
        return CausalSosFilter(
            kind=cfg.kind,
            srate=self.srate,
            low_hz=cfg.low_hz,
            high_hz=cfg.high_hz,
            order=cfg.order,
            n_channels=self.n_channels,
            design=cfg.design,
        )


class WindowFeaturizer:
    """Turn per-modality window samples into feature vectors and presence flags."""

    def __init__(self, *, stages: Mapping[str, ModalityStage], length_s: float) -> None:
        self.stages = dict(stages)
        self.length_s = float(length_s)

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> WindowFeaturizer:
        stages = {}
        for name, mod in pipeline.modalities.items():
            stream = mod.stream
            extractor = make_extractor(
                stream.modality, srate=stream.nominal_srate, features=mod.config.features
            )
            stages[name] = ModalityStage(
                name=name,
                kind=stream.modality,
                role=stream.role,
                srate=stream.nominal_srate,
                n_channels=stream.n_channels,
                filter_config=mod.config.filter,
                extractor=extractor,
            )
        return cls(stages=stages, length_s=pipeline.config.window.length_s)

    @property
    def feature_names(self) -> dict[str, tuple[str, ...]]:
        return {name: stage.extractor.names for name, stage in self.stages.items()}

    @property
    def roles(self) -> dict[str, str]:
        return {name: stage.role for name, stage in self.stages.items()}

    def features(
        self,
        data: Mapping[str, tuple[np.ndarray, np.ndarray]],
        status: Mapping[str, str],
    ) -> tuple[dict[str, np.ndarray], dict[str, bool]]:
        """Features of one window.

        A modality counts as present when its stream is ``ok`` and the window holds at least
        :data:`MIN_COVERAGE` of its nominal samples; otherwise its features are NaN and the model
        is told it is absent.
        """
        features: dict[str, np.ndarray] = {}
        present: dict[str, bool] = {}
        for name, stage in self.stages.items():
            samples, timestamps = data.get(name, (np.empty((0, stage.n_channels)), np.empty(0)))
            expected = stage.srate * self.length_s
            ok = status.get(name, "missing") == "ok" and len(timestamps) >= MIN_COVERAGE * expected
            if ok:
                features[name] = stage.extractor.compute(samples, timestamps)
            else:
                features[name] = np.full(len(stage.extractor.names), np.nan)
            present[name] = ok
        return features, present


@dataclass(frozen=True)
class FeatureTable:
    """Features of consecutive windows of one recording, the offline twin of the live stream."""

    window_end: np.ndarray
    features: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    feature_names: dict[str, tuple[str, ...]]

    def __len__(self) -> int:
        return len(self.window_end)


def window_ends(
    first_timestamps: Sequence[float],
    last_timestamps: Sequence[float],
    *,
    length_s: float,
    step_s: float,
) -> np.ndarray:
    """Window ends as the live scheduler places them: first full window, then exact steps."""
    t0 = max(first_timestamps) + length_s
    t_last = min(last_timestamps)
    if t_last < t0:
        return np.empty(0)
    n = int(np.floor((t_last - t0) / step_s + 1e-9)) + 1
    return t0 + step_s * np.arange(n)


def featurize_streams(
    featurizer: WindowFeaturizer,
    streams: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    step_s: float,
    progress: bool = False,
) -> FeatureTable:
    """Features of every window of whole recorded streams (modality -> (samples, timestamps)).

    Each stream is filtered once, causally, from its first sample, exactly as the live source
    filters it chunk by chunk; windows are then cut with the live scheduler's bounds.
    """
    from tqdm.auto import tqdm

    filtered: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, stage in featurizer.stages.items():
        samples, timestamps = streams[name]
        samples = np.asarray(samples, dtype=np.float64).reshape(len(timestamps), stage.n_channels)
        filt = stage.make_filter()
        filtered[name] = (filt.process(samples) if filt is not None else samples, timestamps)

    ends = window_ends(
        [ts[0] for _, ts in filtered.values()],
        [ts[-1] for _, ts in filtered.values()],
        length_s=featurizer.length_s,
        step_s=step_s,
    )
    bounds = {
        name: (
            np.searchsorted(ts, ends - featurizer.length_s, side="right"),
            np.searchsorted(ts, ends, side="right"),
        )
        for name, (_, ts) in filtered.items()
    }
    names = featurizer.feature_names
    out = {name: np.full((len(ends), len(names[name])), np.nan) for name in featurizer.stages}
    present = {name: np.zeros(len(ends), dtype=bool) for name in featurizer.stages}
    status = dict.fromkeys(featurizer.stages, "ok")
    for i in tqdm(range(len(ends)), disable=not progress, desc="features", unit="win"):
        window = {
            name: (
                x[bounds[name][0][i] : bounds[name][1][i]],
                ts[bounds[name][0][i] : bounds[name][1][i]],
            )
            for name, (x, ts) in filtered.items()
        }
        feats, pres = featurizer.features(window, status)
        for name in featurizer.stages:
            out[name][i] = feats[name]
            present[name][i] = pres[name]
    return FeatureTable(window_end=ends, features=out, present=present, feature_names=names)
