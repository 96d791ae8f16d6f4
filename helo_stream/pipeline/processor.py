"""The per-window rules of a pipeline, written once for live, offline and training.

A stream's samples are conditioned before the buffer (:mod:`helo_stream.sources.conditioning`)
and fed, chunk by chunk, to :meth:`WindowProcessor.ingest`. Every window the live scheduler
places (:class:`~helo_stream.windows.scheduler.WindowScheduler`: live over LSL sources, offline
over :class:`~helo_stream.sources.clocked.ClockedStream`) then goes through
:meth:`WindowProcessor.featurize`:

1. the state of each modality's stream (``ok``/``stale``/``missing``; a modality without a
   stream is ``missing``);
2. the quality of each delivering modality's window (flags, usable samples, usable or not:
   :class:`~helo_stream.windows.quality.StreamQuality`);
3. its features, present when the window is usable and holds ``window.min_coverage`` of its
   nominal samples (:class:`~helo_stream.pipeline.features.FeatureTracker`);
4. a feature vector that is not finite marks its modality absent (never a measured value),
   except for features undefined by their definition in some windows (an extractor's
   ``undefined_ok``, e.g. the mean SCR amplitude of a window without SCRs), which the model's
   input layer reads as missing;
5. a window with no present modality is not published (:attr:`WindowFeatures.usable`).

Published windows are z-scored by the subject's normaliser in time order (live one window at a
time with ``transform``, offline and in training the whole session with ``transform_session``:
the same numbers) and classified in batches by :meth:`WindowProcessor.classify`, through the
one guard of the invariant every subscriber relies on
(:func:`~helo_stream.sinks.message.checked_distributions`).
:meth:`WindowProcessor.message` builds the ``helo-stream/emotion/1`` message of a window.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from helo_stream.config import Pipeline
from helo_stream.pipeline.features import Engine, FeatureTracker, WindowFeaturizer
from helo_stream.sinks.message import build_emotion_message, checked_distributions
from helo_stream.sources.health import StreamState
from helo_stream.sources.lsl_source import buffer_capacity
from helo_stream.windows.quality import StreamQuality

if TYPE_CHECKING:
    from helo_stream.models.checkpoint import Predictor
    from helo_stream.models.normalization import FeatureNormalizer

__all__ = [
    "WINDOW_EDGE_S",
    "Classified",
    "SubjectWindows",
    "WindowCut",
    "WindowFeatures",
    "WindowProcessor",
]

#: ``cut(t_start, t_end)``: one modality's samples and timestamps in ``(t_start, t_end]``, read
#: only when a window holds bad rows (see :meth:`StreamQuality.assess`).
WindowCut = Callable[[float, float], tuple[np.ndarray, np.ndarray]]
#: Seconds by which the data bounds of a window trail its nominal bounds. Window ends fall on
#: the sample grid of streams that started together, so a sample sits on each bound, and
#: microseconds of clock-synchronisation jitter (or the rounding of an epoch clock) would decide
#: its side: live and offline windows would differ by that sample. With the data cut at
#: ``(start + EDGE, end + EDGE]`` the sample at the end is always in and the one at the start
#: always out; 50 us is far below the sampling period of any wearable (1 ms at 1 kHz).
WINDOW_EDGE_S = 5e-5


@dataclass
class SubjectWindows:
    """One subject's running state: features, window quality, normaliser."""

    tracker: FeatureTracker
    quality: dict[str, StreamQuality]
    normalizer: FeatureNormalizer | None


@dataclass(frozen=True)
class WindowFeatures:
    """One window after the per-window rules.

    Attributes
    ----------
    features
        Modality -> raw feature vector, NaN where the modality is absent.
    present
        Modality -> whether the model gets its features.
    status
        Modality -> state of its stream when the window was cut (what the message reports).
    quality
        Modality -> quality flags of its window (only flagged, delivering modalities).
    """

    start_lsl: float
    end_lsl: float
    features: dict[str, np.ndarray]
    present: dict[str, bool]
    status: dict[str, StreamState]
    quality: dict[str, tuple[str, ...]]

    @property
    def usable(self) -> bool:
        """Whether any modality is present: a window without one is not published."""
        return any(self.present.values())


@dataclass(frozen=True)
class Classified:
    """The model's output for a batch of windows.

    ``distributions`` rows sum to one where ``valid``; a row that is not a distribution (not
    finite, negative or all zero) is NaN and must not be published. ``scores`` are a
    multi-label model's presence probabilities (None for a distribution model).
    """

    distributions: np.ndarray
    valid: np.ndarray
    scores: np.ndarray | None


class WindowProcessor:
    """A pipeline's per-window rules, its feature stages and (optionally) its model.

    Parameters
    ----------
    pipeline
        The validated pipeline (window, ranges, labels).
    featurizer
        Its feature stages (:meth:`WindowFeaturizer.from_pipeline` by default).
    predictor
        The checked model stage (:func:`~helo_stream.pipeline.model_stage.load_model_stage`);
        None to compute features only (building a training set).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        featurizer: WindowFeaturizer | None = None,
        predictor: Predictor | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.featurizer = featurizer or WindowFeaturizer.from_pipeline(pipeline)
        self.predictor = predictor
        window = pipeline.config.window
        self._capacity = {
            name: buffer_capacity(window.buffer_seconds, stage.srate)
            for name, stage in self.featurizer.stages.items()
        }

    @classmethod
    def from_pipeline(
        cls, pipeline: Pipeline, *, engine: Engine = "incremental", with_model: bool = True
    ) -> WindowProcessor:
        """Stages and, with ``with_model``, the checkpoint checked against them.

        Raises
        ------
        ConfigError
            The checkpoint does not fit the pipeline's labels and features.
        """
        featurizer = WindowFeaturizer.from_pipeline(pipeline, engine=engine)
        predictor = None
        if with_model:
            from helo_stream.pipeline.model_stage import load_model_stage

            predictor = load_model_stage(pipeline, featurizer.feature_names)
        return cls(pipeline, featurizer=featurizer, predictor=predictor)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.featurizer.stages)

    @property
    def model(self) -> Predictor:
        if self.predictor is None:
            raise RuntimeError("this processor computes features only (no model loaded)")
        return self.predictor

    # -- one subject -------------------------------------------------------------------------
    def new_subject(self) -> SubjectWindows:
        """Fresh state for one subject's streams (the normaliser too, when there is a model)."""
        quality = {
            name: StreamQuality(
                srate=stage.srate,
                capacity=self._capacity[name],
                ranges=stage.ranges,
                max_unusable_fraction=self.pipeline.config.window.max_unusable_fraction,
            )
            for name, stage in self.featurizer.stages.items()
        }
        normalizer = None if self.predictor is None else self.predictor.new_normalizer()
        return SubjectWindows(
            tracker=self.featurizer.new_tracker(), quality=quality, normalizer=normalizer
        )

    def ingest(
        self, subject: SubjectWindows, name: str, samples: np.ndarray, timestamps_lsl: np.ndarray
    ) -> None:
        """Take in modality ``name``'s next conditioned chunk (filtered, NaN where unusable)."""
        subject.quality[name].push(samples, timestamps_lsl)
        subject.tracker.ingest(name, samples, timestamps_lsl)

    def featurize(
        self,
        subject: SubjectWindows,
        *,
        start_lsl: float,
        end_lsl: float,
        status: Mapping[str, StreamState],
        cut: Mapping[str, WindowCut],
    ) -> WindowFeatures:
        """The per-window rules (module docstring, steps 1-4) for ``(start_lsl, end_lsl]``
        (the data cut :data:`WINDOW_EDGE_S` later)."""
        lo, hi = start_lsl + WINDOW_EDGE_S, end_lsl + WINDOW_EDGE_S
        states: dict[str, StreamState] = {
            name: status.get(name, "missing") for name in self.featurizer.stages
        }
        n_samples: dict[str, int] = {}
        usable: dict[str, bool] = {}
        quality: dict[str, tuple[str, ...]] = {}
        for name, state in states.items():
            if state != "ok" or name not in cut:
                usable[name] = False
                continue
            flags, n_samples[name], usable[name] = subject.quality[name].assess(
                lo, hi, lambda window=cut[name]: window(lo, hi)
            )
            if flags:
                quality[name] = flags
        features, present = subject.tracker.features(
            start_lsl=lo, end_lsl=hi, n_samples=n_samples, usable=usable
        )
        undefined_ok = self.featurizer.undefined_ok
        for name, vector in features.items():
            if present[name] and not np.all(np.isfinite(vector) | undefined_ok[name]):
                present[name] = False
                features[name] = np.full_like(vector, np.nan)
        return WindowFeatures(
            start_lsl=start_lsl,
            end_lsl=end_lsl,
            features=features,
            present=present,
            status=states,
            quality=quality,
        )

    def normalize(self, subject: SubjectWindows, window: WindowFeatures) -> dict[str, np.ndarray]:
        """The window's features z-scored by the subject's normaliser (call in time order)."""
        if subject.normalizer is None:
            raise RuntimeError("this processor computes features only (no model loaded)")
        return subject.normalizer.transform(window.features, t=window.end_lsl)

    # -- the model -----------------------------------------------------------------------------
    def classify(
        self, features: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray]
    ) -> Classified:
        """One forward pass over a batch: z-scored features (n, f) and presence flags (n,)."""
        model = self.model
        if model.multilabel:
            # presence scores; normalised, the same are the published distribution
            scores = model.predict_scores_batch(features, present)
            distributions, valid = checked_distributions(scores)
            return Classified(distributions=distributions, valid=valid, scores=scores)
        distributions, valid = checked_distributions(model.predict_batch(features, present))
        return Classified(distributions=distributions, valid=valid, scores=None)

    def message(
        self,
        *,
        subject: str,
        seq: int,
        start_lsl: float,
        end_lsl: float,
        status: Mapping[str, str],
        quality: Mapping[str, tuple[str, ...]],
        distribution: np.ndarray,
        scores: np.ndarray | None,
        latency_ms: Mapping[str, float],
        published_lsl: float,
        published_unix: float,
    ) -> dict:
        """The ``helo-stream/emotion/1`` message of one classified window: its bounds, its
        streams' states and quality flags (:class:`WindowFeatures`), and the model's output."""
        model = self.model
        return build_emotion_message(
            pipeline=self.pipeline.name,
            subject=subject,
            seq=seq,
            window_start_lsl=start_lsl,
            window_end_lsl=end_lsl,
            labels=model.labels,
            distribution=distribution,
            modalities=status,
            latency_ms=latency_ms,
            model_name=model.model_name,
            checkpoint_sha256=model.checkpoint_sha256,
            published_lsl=published_lsl,
            published_unix=published_unix,
            quality=quality,
            scores=scores,
            threshold=model.threshold if scores is not None else None,
        )
