"""The offline fast path: a whole recording through the pipeline's stages and model, no LSL.

``helo-stream process`` and the benchmarks call :func:`process_recording`; training and
evaluation build their windows with :func:`featurize_recording`. Both share the single
recording -> streams -> :func:`~helo_stream.pipeline.features.featurize_streams` path, so a
window's features are the same whether it is trained on, processed offline or seen live.

What the live runner does per window is done here per array, because a session of two hours
has ~30 000 windows at a 0.25 s step and Python per-window overhead would dominate:

* window bounds, filters and features: :func:`featurize_streams` (the live scheduler's bounds,
  causal filters from the first sample, the pipeline's feature engine);
* modality states and quality flags (:func:`window_quality`): what the live scheduler and
  :func:`~helo_stream.windows.quality.assess_window` report, from the live pipeline's running
  counts (:class:`~helo_stream.windows.quality.StreamQuality`) instead of one call per window.
  A modality whose newest sample is older than ``stale_after_s`` at a window's end is ``stale``
  (``missing`` after ``missing_after_s``): what a replay at speed 1 shows live;
* the runner's rules: a non-finite feature vector marks its modality absent, and a window with
  no usable modality is skipped (no message, no ``seq``) and never reaches the normaliser;
* per-subject normalisation: :meth:`~helo_stream.models.normalization.FeatureNormalizer.
  transform_session`, identical to calling ``transform(features, t=window_end)`` window by
  window in order, as the runner does (population statistics for the first ``calibration_s``,
  then the subject's own statistics by the normaliser's ``mode``);
* the model: :meth:`~helo_stream.models.checkpoint.Predictor.predict_batch` in blocks.

Messages are ``helo-stream/emotion/1`` messages, interchangeable with what ``listen --out``
records. Their window bounds and ``published_lsl`` (the window end: nothing waited) are on the
recording clock; ``latency_ms.features``/``model`` are this run's average cost per window.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from helo_stream.config import Pipeline
from helo_stream.pipeline.features import FeatureTable, WindowFeaturizer, featurize_streams
from helo_stream.recordings.base import Recording, RecordingError
from helo_stream.sinks.message import build_emotion_message
from helo_stream.windows.quality import StreamQuality

if TYPE_CHECKING:
    from helo_stream.models.checkpoint import Predictor

__all__ = [
    "MODEL_BLOCK",
    "OfflineResult",
    "StageTimes",
    "WindowQualityTable",
    "featurize_recording",
    "make_featurizer",
    "process_recording",
    "recording_streams",
    "window_quality",
]

#: Windows per model call: large enough to amortise torch's per-call overhead, small enough
#: that a two-hour session does not hold one huge activation tensor.
MODEL_BLOCK = 4096


# -- recording -> streams -> features (shared with training and evaluation) --------------------
def recording_streams(
    recording: Recording, pipeline: Pipeline
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The recorded stream behind each of the pipeline's modalities.

    Raises
    ------
    RecordingError
        The recording lacks a stream the pipeline needs (named, with what it has instead).
    """
    streams = {}
    for name, mod in pipeline.modalities.items():
        key = f"{mod.profile.name}.{mod.stream_key}"
        if key not in recording.streams:
            raise RecordingError(
                f"{recording.path}: no {key!r} stream for modality {name!r}; the recording has "
                f"{sorted(recording.streams)}"
            )
        stream = recording.streams[key]
        streams[name] = (stream.data, stream.timestamps)
    return streams


def make_featurizer(pipeline: Pipeline, *, engine: str | None = None) -> WindowFeaturizer:
    """The pipeline's featurizer, with the feature ``engine`` it asks for (its default if None).

    The one place where the offline path chooses an engine, so the benchmark can time the
    per-window reference (``"batch"``) against the default in the same run.
    """
    if engine is None:
        return WindowFeaturizer.from_pipeline(pipeline)
    return WindowFeaturizer.from_pipeline(pipeline, engine=engine)  # type: ignore[arg-type]


def featurize_recording(
    recording: Recording,
    pipeline: Pipeline,
    *,
    step_s: float,
    featurizer: WindowFeaturizer | None = None,
    progress: bool = False,
) -> FeatureTable:
    """Features of every window of ``recording``, cut every ``step_s`` as the live scheduler."""
    featurizer = featurizer or make_featurizer(pipeline)
    streams = recording_streams(recording, pipeline)
    return featurize_streams(featurizer, streams, step_s=step_s, progress=progress)


# -- quality and modality states, vectorised -------------------------------------------------
@dataclass(frozen=True)
class WindowQualityTable:
    """Per-window quality of one modality, as
    :func:`~helo_stream.windows.quality.assess_window` would report it.

    Attributes
    ----------
    flags
        ``(N,)`` tuples of flags (:data:`~helo_stream.windows.quality.QUALITY_FLAGS` order).
    usable
        ``(N,)`` False where the window must not reach the features (flat, mostly bad, empty).
    """

    flags: list[tuple[str, ...]]
    usable: np.ndarray


def window_quality(
    samples: np.ndarray,
    timestamps: np.ndarray,
    window_end: np.ndarray,
    *,
    srate: float,
    length_s: float,
    ranges: Sequence[tuple[float, float] | None] | None = None,
) -> WindowQualityTable:
    """:func:`~helo_stream.windows.quality.assess_window` of every window
    ``(end - length_s, end]`` of one stream.

    ``samples`` are what the live windows hold: filtered, NaN in unusable rows. The whole stream
    goes through the live pipeline's :class:`~helo_stream.windows.quality.StreamQuality` once,
    so every window is judged from running counts, as live.
    """
    samples = np.asarray(samples, dtype=np.float64)
    quality = StreamQuality(srate=srate, capacity=max(len(timestamps), 1), ranges=ranges)
    quality.push(samples, timestamps)

    def cut(end: float) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.searchsorted(timestamps, [end - length_s, end], side="right")
        return samples[lo:hi], timestamps[lo:hi]

    flags: list[tuple[str, ...]] = []
    usable = np.zeros(len(window_end), dtype=bool)
    for k, end in enumerate(window_end.tolist()):
        found, _, usable[k] = quality.assess(end - length_s, end, lambda end=end: cut(end))
        flags.append(found)
    return WindowQualityTable(flags=flags, usable=usable)


def modality_states(
    timestamps: np.ndarray,
    window_end: np.ndarray,
    *,
    stale_after_s: float,
    missing_after_s: float,
) -> np.ndarray:
    """``ok``/``stale``/``missing`` of one stream at every window end, from its newest sample.

    Live, a stream turns stale after ``stale_after_s`` of wall-clock silence; offline, the
    recording clock stands in for the wall clock (a replay at speed 1).
    """
    newest = np.searchsorted(timestamps, window_end, side="right") - 1
    age = np.where(newest >= 0, window_end - timestamps[np.maximum(newest, 0)], np.inf)
    states = np.full(len(window_end), "ok", dtype=object)
    states[age > stale_after_s] = "stale"
    states[age > missing_after_s] = "missing"
    return states


def _hold_last_finite(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows with a non-finite value replaced by the last finite row (zeros before any), as the
    live source does before its filter, so one NaN cannot poison a causal filter for good."""
    bad = ~np.isfinite(samples).all(axis=1)
    if not bad.any():
        return samples, bad
    index = np.where(~bad, np.arange(len(samples)), -1)
    source = np.maximum.accumulate(index)
    held = np.where(source[:, None] >= 0, samples[np.maximum(source, 0)], 0.0)
    return held, bad


# -- the whole session ---------------------------------------------------------------------
@dataclass
class StageTimes:
    """Seconds spent in each stage of one :func:`process_recording` (and its writer)."""

    read_s: float = 0.0
    features_s: float = 0.0
    model_s: float = 0.0
    write_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.read_s + self.features_s + self.model_s + self.write_s


@dataclass
class OfflineResult:
    """Every published window of one recording; :meth:`messages` builds their messages.

    Arrays are indexed by published window (``seq``); windows without a usable modality are
    counted in :attr:`n_skipped` and have no row, as live.
    """

    pipeline: str
    subject: str
    labels: tuple[str, ...]
    model_name: str
    checkpoint_sha256: str
    window_start: np.ndarray
    window_end: np.ndarray
    distributions: np.ndarray
    states: dict[str, np.ndarray]
    quality: dict[str, list[tuple[str, ...]]]
    n_windows: int
    n_skipped: int
    duration_s: float
    times: StageTimes = field(default_factory=StageTimes)
    #: Per-label presence probabilities of a multi-label model (TAILOR), else None.
    scores: np.ndarray | None = None
    threshold: float | None = None

    def __len__(self) -> int:
        return len(self.window_end)

    def message(self, seq: int) -> dict:
        """The ``helo-stream/emotion/1`` message of published window ``seq``."""
        n = max(len(self), 1)
        return build_emotion_message(
            pipeline=self.pipeline,
            subject=self.subject,
            seq=seq,
            window_start_lsl=float(self.window_start[seq]),
            window_end_lsl=float(self.window_end[seq]),
            labels=self.labels,
            distribution=self.distributions[seq],
            modalities={name: str(states[seq]) for name, states in self.states.items()},
            latency_ms={
                "window_to_publish": 0.0,
                "features": self.times.features_s / n * 1e3,
                "model": self.times.model_s / n * 1e3,
            },
            model_name=self.model_name,
            checkpoint_sha256=self.checkpoint_sha256,
            published_lsl=float(self.window_end[seq]),
            published_unix=time.time(),
            quality={name: flags[seq] for name, flags in self.quality.items() if flags[seq]},
            scores=None if self.scores is None else self.scores[seq],
            threshold=self.threshold if self.scores is not None else None,
        )

    def messages(self) -> Iterator[dict]:
        """Messages in ``seq`` order, built lazily (a writer can stop after any of them)."""
        for seq in range(len(self)):
            yield self.message(seq)


def process_recording(
    pipeline: Pipeline,
    recording: Recording | str | Path,
    *,
    step_s: float | None = None,
    subject: str | None = None,
    featurizer: WindowFeaturizer | None = None,
    predictor: Predictor | None = None,
    model_block: int = MODEL_BLOCK,
    progress: bool = False,
) -> OfflineResult:
    """Run ``pipeline`` on a whole recording as fast as the CPU allows.

    Parameters
    ----------
    pipeline
        The validated pipeline (stages, window, model).
    recording
        A loaded :class:`Recording` or a path :func:`~helo_stream.recordings.load_recording`
        reads (WESAD E4 folder, ``.pkl``, XDF, DMER ``.mat``, demo recordings).
    step_s
        Window step; the pipeline's ``window.step_s`` by default (what live publishes).
    subject
        The messages' ``subject``; the recording's by default.
    featurizer, predictor
        Reuse already built stages (benchmarks, several recordings); built from the pipeline
        when None.
    model_block
        Windows per model call. Batched float32 inference differs from the live runner's
        batch of one in the last bits (measured: at most ~2e-6 in a probability); 1 gives the
        live numbers bit for bit, at the live cost per window.
    progress
        Show progress bars on stderr.

    Raises
    ------
    RecordingError
        Unreadable recording, or one lacking a stream the pipeline needs.
    ConfigError
        The pipeline's checkpoint does not fit its labels and features.
    """
    from helo_stream.pipeline.model_stage import load_model_stage

    times = StageTimes()
    t0 = time.perf_counter()
    if not isinstance(recording, Recording):
        from helo_stream.recordings import load_recording

        recording = load_recording(recording)
    streams = recording_streams(recording, pipeline)
    times.read_s = time.perf_counter() - t0

    t0 = time.perf_counter()  # building the stages and loading the checkpoint: model time
    featurizer = featurizer or make_featurizer(pipeline)
    if predictor is None:
        predictor = load_model_stage(pipeline, featurizer.feature_names)
    times.model_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    window = pipeline.config.window
    step = float(step_s) if step_s is not None else window.step_s
    if not step > 0:
        raise ValueError(f"step_s must be positive, got {step_s}")
    prepared: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    unusable_rows: dict[str, np.ndarray] = {}
    for name, (samples, timestamps) in streams.items():
        stage = featurizer.stages[name]
        samples = np.asarray(samples, dtype=np.float64).reshape(len(timestamps), stage.n_channels)
        held, unusable_rows[name] = _hold_last_finite(samples)
        prepared[name] = (held, np.asarray(timestamps, dtype=np.float64))
    table = featurize_streams(featurizer, prepared, step_s=step, progress=progress)
    ends = table.window_end
    states: dict[str, np.ndarray] = {}
    quality: dict[str, list[tuple[str, ...]]] = {}
    present: dict[str, np.ndarray] = {}
    features: dict[str, np.ndarray] = {}
    for name, stage in featurizer.stages.items():
        samples, timestamps = prepared[name]
        filt = stage.make_filter()
        filtered = filt.process(samples) if filt is not None else samples.copy()
        filtered[unusable_rows[name]] = np.nan  # as the live source stores them
        states[name] = modality_states(
            timestamps,
            ends,
            stale_after_s=window.stale_after_s,
            missing_after_s=window.missing_after_s,
        )
        checked = window_quality(
            filtered,
            timestamps,
            ends,
            srate=stage.srate,
            length_s=featurizer.length_s,
            ranges=pipeline.modalities[name].stream.channel_ranges,
        )
        # live, only a delivering (ok) modality's window is assessed
        quality[name] = [
            flags if state == "ok" else ()
            for flags, state in zip(checked.flags, states[name], strict=True)
        ]
        values = table.features[name]
        finite = np.all(np.isfinite(values), axis=1)
        present[name] = table.present[name] & (states[name] == "ok") & checked.usable & finite
        features[name] = np.where(present[name][:, None], values, np.nan)
    published = np.zeros(len(ends), dtype=bool)
    for flags in present.values():
        published |= flags
    times.features_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    kept = np.flatnonzero(published)
    normalised = predictor.new_normalizer().transform_session(
        {name: values[kept] for name, values in features.items()}, ends[kept]
    )
    distributions = np.empty((len(kept), len(predictor.labels)))
    if model_block < 1:
        raise ValueError(f"model_block must be at least 1, got {model_block}")
    # A multi-label model's presence scores, normalised, are its distribution (as live).
    predict = predictor.predict_scores_batch if predictor.multilabel else predictor.predict_batch
    for a in range(0, len(kept), model_block):
        b = min(a + model_block, len(kept))
        distributions[a:b] = predict(
            {name: z[a:b] for name, z in normalised.items()},
            {name: flags[kept[a:b]] for name, flags in present.items()},
        )
    scores = distributions.copy() if predictor.multilabel else None
    # safe_distribution, row by row: live logs an invalid output and publishes nothing for it
    with np.errstate(invalid="ignore"):
        totals = distributions.sum(axis=1)
        valid = (
            np.all(np.isfinite(distributions), axis=1)
            & ~np.any(distributions < 0, axis=1)
            & (totals > 0)
        )
    distributions = distributions[valid] / totals[valid, None]
    if scores is not None:
        scores = scores[valid]
    times.model_s += time.perf_counter() - t0

    rows = kept[valid]
    return OfflineResult(
        pipeline=pipeline.name,
        subject=subject if subject is not None else recording.subject,
        labels=tuple(predictor.labels),
        model_name=predictor.model_name,
        checkpoint_sha256=predictor.checkpoint_sha256,
        window_start=ends[rows] - featurizer.length_s,
        window_end=ends[rows],
        distributions=distributions,
        states={name: values[rows] for name, values in states.items()},
        quality={name: [flags[i] for i in rows] for name, flags in quality.items()},
        n_windows=len(ends),
        n_skipped=len(ends) - len(rows),
        duration_s=recording.duration_s,
        times=times,
        scores=scores,
        threshold=predictor.threshold,
    )
