"""Window features: the single place where streamed samples become model inputs.

The live runner and the offline dataset builder both go through :class:`WindowFeaturizer`, so a
model is trained on exactly what it later sees in real time: the same causal filters (applied to
a stream as it arrives, state carried), the same window bounds ``(end - L, end]`` and the same
feature extractors. Extractors are incremental (:mod:`helo_stream.signal.incremental`): every
sample is filtered and scanned once when it arrives, and a window only reduces what was derived,
which is what makes a 0.25 s step affordable for dozens of people on one machine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from helo_stream.config import Pipeline
from helo_stream.config.pipeline import FilterConfig
from helo_stream.signal.filters import CausalSosFilter
from helo_stream.signal.incremental import Engine, IncrementalFeatures, make_stream_features

#: A window must hold at least this fraction of its nominal sample count for a modality to count
#: as present; less means the device dropped out for most of the window.
MIN_COVERAGE = 0.5


@dataclass(frozen=True)
class ModalityStage:
    """Filter design, value ranges and feature extractor settings of one modality."""

    name: str
    kind: str
    role: str
    srate: float
    n_channels: int
    filter_config: FilterConfig | None
    features: tuple[str, ...] | None
    channels: tuple[str, ...]
    ranges: tuple[tuple[float, float] | None, ...] | None = None

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

    def make_features(self, *, horizon_s: float, engine: Engine) -> IncrementalFeatures:
        """A fresh feature extractor with no history, one per subject and stream."""
        return make_stream_features(
            self.kind,
            srate=self.srate,
            features=self.features,
            channels=self.channels,
            horizon_s=horizon_s,
            engine=engine,
        )


class WindowFeaturizer:
    """What features a pipeline computes and how; :meth:`new_tracker` holds one subject's state.

    Parameters
    ----------
    stages
        Per-modality settings, in pipeline order.
    length_s
        Window length in seconds.
    horizon_s
        How far behind the newest sample a window may start (the pipeline's ring-buffer length).
    engine
        ``"incremental"`` (default) or ``"batch"``, which re-processes every window with the
        window extractors: the reference the incremental engine is checked and benchmarked
        against.
    """

    def __init__(
        self,
        *,
        stages: Mapping[str, ModalityStage],
        length_s: float,
        horizon_s: float | None = None,
        engine: Engine = "incremental",
    ) -> None:
        self.stages = dict(stages)
        self.length_s = float(length_s)
        self.horizon_s = float(horizon_s) if horizon_s is not None else 2.0 * self.length_s
        if self.horizon_s < self.length_s:
            raise ValueError(f"horizon_s ({horizon_s}) must be at least length_s ({length_s})")
        self.engine: Engine = engine
        # One extractor per modality, built now: bad feature names or rates fail here, before
        # any stream is touched, and the names are known without a subject.
        self._names = {
            name: stage.make_features(horizon_s=self.horizon_s, engine=engine).names
            for name, stage in self.stages.items()
        }

    @classmethod
    def from_pipeline(
        cls, pipeline: Pipeline, *, engine: Engine = "incremental"
    ) -> WindowFeaturizer:
        stages = {}
        for name, mod in pipeline.modalities.items():
            stream = mod.stream
            stages[name] = ModalityStage(
                name=name,
                kind=stream.modality,
                role=stream.role,
                srate=stream.nominal_srate,
                n_channels=stream.n_channels,
                filter_config=mod.config.filter,
                features=None if mod.config.features is None else tuple(mod.config.features),
                channels=tuple(stream.channel_labels),
                ranges=stream.channel_ranges,
            )
        window = pipeline.config.window
        return cls(
            stages=stages,
            length_s=window.length_s,
            horizon_s=window.buffer_seconds,
            engine=engine,
        )

    @property
    def feature_names(self) -> dict[str, tuple[str, ...]]:
        return dict(self._names)

    @property
    def roles(self) -> dict[str, str]:
        return {name: stage.role for name, stage in self.stages.items()}

    def new_tracker(self) -> FeatureTracker:
        """Empty running state for one subject's streams."""
        return FeatureTracker(self)


class FeatureTracker:
    """One subject's running feature state: streams in as they arrive, window features out.

    :meth:`ingest` takes every (pipeline-filtered) chunk once; :meth:`features` is called per
    window. Values outside the device profile's plausible range become missing samples here,
    so they never reach a filter or detector (the window's quality flags report them).
    """

    def __init__(self, featurizer: WindowFeaturizer) -> None:
        self.featurizer = featurizer
        self.extractors: dict[str, IncrementalFeatures] = {
            name: stage.make_features(horizon_s=featurizer.horizon_s, engine=featurizer.engine)
            for name, stage in featurizer.stages.items()
        }
        self._bounds: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
        for name, stage in featurizer.stages.items():
            ranges = stage.ranges
            if ranges is None or all(r is None for r in ranges):
                self._bounds[name] = None
            else:
                self._bounds[name] = (
                    np.array([-np.inf if r is None else r[0] for r in ranges]),
                    np.array([np.inf if r is None else r[1] for r in ranges]),
                )

    def ingest(self, name: str, samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        """Take in modality ``name``'s next chunk (filtered, NaN where unusable)."""
        bounds = self._bounds[name]
        if bounds is not None:
            samples = np.asarray(samples, dtype=np.float64)
            with np.errstate(invalid="ignore"):
                outside = ((samples < bounds[0]) | (samples > bounds[1])).any(axis=1)
            if outside.any():
                samples = samples.copy()
                samples[outside] = np.nan
        self.extractors[name].update(samples, timestamps_lsl)

    def features(
        self,
        *,
        start_lsl: float,
        end_lsl: float,
        n_samples: Mapping[str, int],
        status: Mapping[str, str],
    ) -> tuple[dict[str, np.ndarray], dict[str, bool]]:
        """Features of the window ``(start_lsl, end_lsl]``.

        A modality counts as present when its stream is ``ok`` and the window holds at least
        :data:`MIN_COVERAGE` of its nominal samples (``n_samples``, the usable samples the
        window holds); otherwise its features are NaN and the model is told it is absent.
        """
        features: dict[str, np.ndarray] = {}
        present: dict[str, bool] = {}
        length_s = end_lsl - start_lsl
        for name, stage in self.featurizer.stages.items():
            expected = stage.srate * length_s
            ok = status.get(name, "missing") == "ok" and n_samples.get(name, 0) >= (
                MIN_COVERAGE * expected
            )
            if ok:
                features[name] = self.extractors[name].compute(start_lsl, end_lsl)
            else:
                features[name] = np.full(len(self.featurizer.feature_names[name]), np.nan)
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
    filters it chunk by chunk; windows are cut with the live scheduler's bounds. The streams are
    fed to one tracker in blocks, each window computed once every stream has reached its end:
    incremental features depend only on what was known at a window's end, so this gives the
    live numbers whatever the block size.
    """
    from tqdm.auto import tqdm

    filtered: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, stage in featurizer.stages.items():
        samples, timestamps = streams[name]
        timestamps = np.asarray(timestamps, dtype=np.float64)
        samples = np.asarray(samples, dtype=np.float64).reshape(len(timestamps), stage.n_channels)
        filt = stage.make_filter()
        filtered[name] = (filt.process(samples) if filt is not None else samples, timestamps)

    length = featurizer.length_s
    ends = window_ends(
        [ts[0] for _, ts in filtered.values()],
        [ts[-1] for _, ts in filtered.values()],
        length_s=length,
        step_s=step_s,
    )
    counts = {
        name: np.searchsorted(ts, ends, side="right")
        - np.searchsorted(ts, ends - length, side="right")
        for name, (_, ts) in filtered.items()
    }
    names = featurizer.feature_names
    out = {name: np.full((len(ends), len(names[name])), np.nan) for name in featurizer.stages}
    present = {name: np.zeros(len(ends), dtype=bool) for name in featurizer.stages}
    status = dict.fromkeys(featurizer.stages, "ok")
    tracker = featurizer.new_tracker()
    # Feed ahead by at most what the horizon leaves beyond one window.
    block_s = max(step_s, 0.5 * (featurizer.horizon_s - length))
    fed = dict.fromkeys(filtered, 0)
    fed_until = -math.inf
    with tqdm(total=len(ends), disable=not progress, desc="features", unit="win") as bar:
        i = 0
        while i < len(ends):
            if ends[i] > fed_until:
                fed_until = ends[i] + block_s
                for name, (x, ts) in filtered.items():
                    stop = int(np.searchsorted(ts, fed_until, side="right"))
                    if stop > fed[name]:
                        tracker.ingest(name, x[fed[name] : stop], ts[fed[name] : stop])
                        fed[name] = stop
            stop_i = int(np.searchsorted(ends, fed_until, side="right"))
            for k in range(i, stop_i):
                feats, pres = tracker.features(
                    start_lsl=ends[k] - length,
                    end_lsl=ends[k],
                    n_samples={name: int(c[k]) for name, c in counts.items()},
                    status=status,
                )
                for name in featurizer.stages:
                    out[name][k] = feats[name]
                    present[name][k] = pres[name]
            bar.update(stop_i - i)
            i = stop_i
    return FeatureTable(window_end=ends, features=out, present=present, feature_names=names)
