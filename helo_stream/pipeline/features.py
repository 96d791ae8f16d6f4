"""Window features: the single place where streamed samples become model inputs.

The live runner and the offline dataset builder both go through :class:`WindowFeaturizer`, so a
model is trained on exactly what it later sees in real time: the same causal filters (applied to
a stream as it arrives, state carried), the same window bounds ``(end - L, end]`` and the same
feature extractors. Extractors are incremental (:mod:`helo_stream.signal.incremental`): every
sample is filtered and scanned once when it arrives, and a window only reduces what was derived,
which is what makes a 0.25 s step affordable for dozens of people on one machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from helo_stream.config import Pipeline
from helo_stream.config.pipeline import FilterConfig
from helo_stream.signal.filters import CausalSosFilter
from helo_stream.signal.incremental import Engine, IncrementalFeatures, make_incremental_features

#: The default of the pipeline's ``window.min_coverage``: a window must hold at least this
#: fraction of its nominal sample count for a modality to count as present.
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
    #: The device's LSL channel format: what its samples are on the wire.
    channel_format: str = "double64"

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
        return make_incremental_features(
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
    min_coverage
        Fraction of a window's nominal samples a modality needs to be present.
    """

    def __init__(
        self,
        *,
        stages: Mapping[str, ModalityStage],
        length_s: float,
        horizon_s: float | None = None,
        engine: Engine = "incremental",
        min_coverage: float = MIN_COVERAGE,
    ) -> None:
        self.stages = dict(stages)
        self.length_s = float(length_s)
        self.min_coverage = float(min_coverage)
        self.horizon_s = float(horizon_s) if horizon_s is not None else 2.0 * self.length_s
        if self.horizon_s < self.length_s:
            raise ValueError(f"horizon_s ({horizon_s}) must be at least length_s ({length_s})")
        self.engine: Engine = engine
        # One extractor per modality, built now: bad feature names or rates fail here, before
        # any stream is touched, and the names are known without a subject.
        extractors = {
            name: stage.make_features(horizon_s=self.horizon_s, engine=engine)
            for name, stage in self.stages.items()
        }
        self._names = {name: extractor.names for name, extractor in extractors.items()}
        #: Modality -> which features may be NaN by definition (see ``undefined_ok``).
        self.undefined_ok = {
            name: np.array([f in extractor.undefined_ok for f in extractor.names], dtype=bool)
            for name, extractor in extractors.items()
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
                channel_format=stream.channel_format,
            )
        window = pipeline.config.window
        return cls(
            stages=stages,
            length_s=window.length_s,
            horizon_s=window.buffer_seconds,
            engine=engine,
            min_coverage=window.min_coverage,
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
        usable: Mapping[str, bool],
    ) -> tuple[dict[str, np.ndarray], dict[str, bool]]:
        """Features of the window ``(start_lsl, end_lsl]``.

        A modality counts as present when its window is ``usable`` (its stream delivering and
        the window passing the quality checks) and holds at least ``min_coverage`` of its
        nominal samples (``n_samples``, the usable samples the window holds); otherwise its
        features are NaN and the model is told it is absent.
        """
        features: dict[str, np.ndarray] = {}
        present: dict[str, bool] = {}
        length_s = end_lsl - start_lsl
        minimum = self.featurizer.min_coverage
        for name, stage in self.featurizer.stages.items():
            expected = stage.srate * length_s
            ok = usable.get(name, False) and n_samples.get(name, 0) >= minimum * expected
            if ok:
                features[name] = self.extractors[name].compute(start_lsl, end_lsl)
            else:
                features[name] = np.full(len(self.featurizer.feature_names[name]), np.nan)
            present[name] = ok
        return features, present


@dataclass(frozen=True)
class FeatureTable:
    """Features of the published windows of one recording, the offline twin of the live stream.

    Built by :func:`helo_stream.pipeline.offline.featurize_recording`: one row per window the
    live pipeline would publish (windows without a present modality have none), features NaN
    where a modality is absent. ``states`` and ``quality`` are what its messages would report
    (empty for a table read from a cache); ``n_cut`` counts every window cut, published or not.
    """

    window_end: np.ndarray
    features: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    feature_names: dict[str, tuple[str, ...]]
    states: dict[str, np.ndarray] = field(default_factory=dict)
    quality: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    n_cut: int | None = None

    def __len__(self) -> int:
        return len(self.window_end)
