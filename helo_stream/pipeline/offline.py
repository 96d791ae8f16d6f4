"""The offline fast path: a whole recording through the pipeline's stages and model, no LSL.

``helo-stream process`` and the benchmarks call :func:`process_recording`; training and
evaluation build their windows with :func:`featurize_recording`. Both go through
:func:`featurize_streams`, which applies the live pipeline's own code to recorded streams:

* each stream's samples are taken as its device sends them (the profile's channel format, so a
  float32 device's samples are float32 values) and conditioned as the live source conditions
  them (timestamps that do not advance dropped, hold-last-finite, the causal filter from the
  first sample, NaN back in non-finite rows:
  :class:`~helo_stream.sources.conditioning.SampleConditioner`);
* windows are placed by the live :class:`~helo_stream.windows.scheduler.WindowScheduler`, over
  the streams played on a simulated clock (:class:`~helo_stream.sources.clocked.ClockedStream`:
  a replay at speed 1 without transport delay), so the first window, the half-period margins,
  the streams waited for, their ``ok``/``stale``/``missing`` states and the windows skipped
  after an outage are the live ones;
* every window goes through :meth:`~helo_stream.pipeline.processor.WindowProcessor.featurize`,
  the live runner's per-window rules (quality, coverage, non-finite -> absent); a window without
  a present modality is dropped (no message, no ``seq``, never seen by the normaliser).

Then, per array instead of per window (a session of two hours has ~30 000 windows at a 0.25 s
step): per-subject normalisation (:meth:`~helo_stream.models.normalization.FeatureNormalizer.
transform_session`, identical to the runner's ``transform(features, t=window_end)`` window by
window) and :meth:`~helo_stream.pipeline.processor.WindowProcessor.classify` in blocks.

Messages are ``helo-stream/emotion/1`` messages, interchangeable with what ``listen --out``
records. Their window bounds and ``published_lsl`` (the window end: nothing waited) are on the
recording clock; ``latency_ms.features``/``model`` are this run's average cost per window.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helo_stream.config import Pipeline
from helo_stream.config.device import CHANNEL_DTYPES
from helo_stream.pipeline.features import Engine, FeatureTable
from helo_stream.pipeline.processor import WindowCut, WindowProcessor
from helo_stream.recordings.base import Recording, RecordingError
from helo_stream.sources.clocked import ClockedStream
from helo_stream.sources.conditioning import SampleConditioner
from helo_stream.sources.health import HealthTracker
from helo_stream.windows.scheduler import WindowScheduler

__all__ = [
    "MODEL_BLOCK",
    "OfflineResult",
    "StageTimes",
    "featurize_recording",
    "featurize_streams",
    "process_recording",
    "recording_streams",
]

#: Windows per model call: large enough to amortise torch's per-call overhead, small enough
#: that a two-hour session does not hold one huge activation tensor.
MODEL_BLOCK = 4096
#: Longest step of the simulated clock: how finely a stream's silence is followed while the
#: scheduler waits for it (live, the loop looks at least every 0.25 s).
MAX_TICK_S = 0.25


# -- recording -> streams -> windows (shared with training and evaluation) --------------------
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


def featurize_recording(
    recording: Recording,
    pipeline: Pipeline,
    *,
    step_s: float,
    processor: WindowProcessor | None = None,
    progress: bool = False,
) -> FeatureTable:
    """Features of every window of ``recording`` the live pipeline would publish, cut every
    ``step_s`` (see :func:`featurize_streams`)."""
    processor = processor or WindowProcessor.from_pipeline(pipeline, with_model=False)
    streams = recording_streams(recording, pipeline)
    return featurize_streams(processor, streams, step_s=step_s, progress=progress)


def featurize_streams(
    processor: WindowProcessor,
    streams: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    step_s: float,
    progress: bool = False,
) -> FeatureTable:
    """Every published window of whole recorded streams (modality -> (samples, timestamps)),
    by the live pipeline's rules (module docstring). A modality without a stream is missing."""
    from tqdm.auto import tqdm

    if not step_s > 0:
        raise ValueError(f"step_s must be positive, got {step_s}")
    pipeline = processor.pipeline
    window = pipeline.config.window
    featurizer = processor.featurizer
    length = featurizer.length_s
    conditioned: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, (samples, timestamps) in streams.items():
        stage = featurizer.stages[name]
        ts = np.asarray(timestamps, dtype=np.float64)
        # as the device sends them (a replay publishes the profile's format, e.g. float32)
        wire = CHANNEL_DTYPES.get(stage.channel_format, np.float64)
        x = np.asarray(samples).astype(wire).astype(np.float64).reshape(len(ts), stage.n_channels)
        keep = HealthTracker(nominal_srate=stage.srate).accept(ts)
        if not keep.all():
            x, ts = x[keep], ts[keep]
        if len(ts) == 0:
            continue
        conditioner = SampleConditioner(
            n_channels=stage.n_channels, filter=stage.make_filter(), name=name
        )
        conditioned[name] = (conditioner.process(x)[0], ts)
    names = featurizer.feature_names
    if not conditioned:
        return _empty_table(names)
    opened_at = min(ts[0] for _, ts in conditioned.values())
    clock = {
        name: ClockedStream(
            ts,
            srate=featurizer.stages[name].srate,
            stale_after_s=window.stale_after_s,
            missing_after_s=window.missing_after_s,
            opened_at=opened_at,
        )
        for name, (_, ts) in conditioned.items()
    }
    required = [
        name for name, mod in pipeline.modalities.items() if mod.config.required and name in clock
    ]
    if not required:
        return _empty_table(names)
    scheduler = WindowScheduler(
        sources=clock, length_s=length, step_s=step_s, required=required, cut_data=False
    )
    subject = processor.new_subject()

    def cutter(name: str) -> WindowCut:
        x, ts = conditioned[name]

        def cut(start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
            lo, hi = np.searchsorted(ts, [start, end], side="right")
            return x[lo:hi], ts[lo:hi]

        return cut

    cuts = {name: cutter(name) for name in conditioned}

    rows: list = []
    n_cut = 0
    # Data go in ahead of the windows in blocks (at most what the horizon leaves beyond one
    # window): incremental features depend only on what was known at a window's end.
    block_s = max(step_s, 0.5 * (featurizer.horizon_s - length))
    fed = dict.fromkeys(conditioned, 0)
    fed_until = -np.inf
    tick = step_s / np.ceil(step_s / MAX_TICK_S - 1e-9)
    last = max(ts[-1] for _, ts in conditioned.values())
    stop_at = last + window.stale_after_s + step_s
    base, j = opened_at, 0  # the clock is base + j * tick (never accumulated: no drift)
    now = base
    n_expected = max(int((last - opened_at - length) / step_s) + 1, 0)
    with tqdm(total=n_expected, disable=not progress, desc="windows", unit="win") as bar:
        while now <= stop_at:
            for stream in clock.values():
                stream.advance(now)
            known = scheduler.first_end_lsl is not None
            for w in scheduler.poll():
                n_cut += 1
                if w.end_lsl > fed_until:
                    fed_until = w.end_lsl + block_s
                    for name, (x, ts) in conditioned.items():
                        stop = int(np.searchsorted(ts, fed_until, side="right"))
                        if stop > fed[name]:
                            processor.ingest(
                                subject, name, x[fed[name] : stop], ts[fed[name] : stop]
                            )
                            fed[name] = stop
                result = processor.featurize(
                    subject,
                    start_lsl=w.start_lsl,
                    end_lsl=w.end_lsl,
                    status=w.status,
                    cut=cuts,
                )
                if result.usable:
                    rows.append(result)
                bar.update(1)
            if not known and scheduler.first_end_lsl is not None:
                base, j = scheduler.first_end_lsl, 0  # from here on, ticks fall on window ends
            else:
                j += 1
            now = base + j * tick
    return FeatureTable(
        window_end=np.array([r.end_lsl for r in rows], dtype=np.float64),
        features={
            name: np.array([r.features[name] for r in rows]).reshape(len(rows), len(names[name]))
            for name in names
        },
        present={name: np.array([r.present[name] for r in rows], dtype=bool) for name in names},
        feature_names=names,
        states={name: np.array([r.status[name] for r in rows], dtype=object) for name in names},
        quality={name: [r.quality.get(name, ()) for r in rows] for name in names},
        n_cut=n_cut,
    )


def _empty_table(names: Mapping[str, tuple[str, ...]]) -> FeatureTable:
    return FeatureTable(
        window_end=np.empty(0),
        features={name: np.empty((0, len(n))) for name, n in names.items()},
        present={name: np.zeros(0, dtype=bool) for name in names},
        feature_names=dict(names),
        states={name: np.empty(0, dtype=object) for name in names},
        quality={name: [] for name in names},
        n_cut=0,
    )


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

    Arrays are indexed by published window (``seq``); windows without a usable modality, or
    whose model output was not a distribution, are counted in :attr:`n_skipped` and have no
    row, as live.
    """

    processor: WindowProcessor = field(repr=False)
    subject: str
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

    @property
    def pipeline(self) -> str:
        return self.processor.pipeline.name

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.processor.model.labels)

    @property
    def model_name(self) -> str:
        return self.processor.model.model_name

    @property
    def checkpoint_sha256(self) -> str:
        return self.processor.model.checkpoint_sha256

    @property
    def threshold(self) -> float | None:
        return self.processor.model.threshold

    def __len__(self) -> int:
        return len(self.window_end)

    def message(self, seq: int) -> dict:
        """The ``helo-stream/emotion/1`` message of published window ``seq``."""
        n = max(len(self), 1)
        return self.processor.message(
            subject=self.subject,
            seq=seq,
            start_lsl=float(self.window_start[seq]),
            end_lsl=float(self.window_end[seq]),
            status={name: str(states[seq]) for name, states in self.states.items()},
            quality={name: flags[seq] for name, flags in self.quality.items()},
            distribution=self.distributions[seq],
            scores=None if self.scores is None else self.scores[seq],
            latency_ms={
                "window_to_publish": 0.0,
                "features": self.times.features_s / n * 1e3,
                "model": self.times.model_s / n * 1e3,
            },
            published_lsl=float(self.window_end[seq]),
            published_unix=time.time(),
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
    processor: WindowProcessor | None = None,
    engine: Engine = "incremental",
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
    processor
        Reuse already built stages and model (benchmarks, several recordings); built from the
        pipeline, with the feature ``engine``, when None.
    engine
        ``"incremental"`` (what runs live) or ``"batch"`` (the per-window reference).
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
    if model_block < 1:
        raise ValueError(f"model_block must be at least 1, got {model_block}")
    times = StageTimes()
    t0 = time.perf_counter()
    if not isinstance(recording, Recording):
        from helo_stream.recordings import load_recording

        recording = load_recording(recording)
    streams = recording_streams(recording, pipeline)
    times.read_s = time.perf_counter() - t0

    t0 = time.perf_counter()  # building the stages and loading the checkpoint: model time
    processor = processor or WindowProcessor.from_pipeline(pipeline, engine=engine)
    model = processor.model
    times.model_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    step = float(step_s) if step_s is not None else pipeline.config.window.step_s
    table = featurize_streams(processor, streams, step_s=step, progress=progress)
    times.features_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    normalised = model.new_normalizer().transform_session(table.features, table.window_end)
    n = len(table)
    distributions = np.empty((n, len(model.labels)))
    valid = np.zeros(n, dtype=bool)
    scores = np.empty_like(distributions) if model.multilabel else None
    for a in range(0, n, model_block):
        b = min(a + model_block, n)
        out = processor.classify(
            {name: z[a:b] for name, z in normalised.items()},
            {name: flags[a:b] for name, flags in table.present.items()},
        )
        distributions[a:b], valid[a:b] = out.distributions, out.valid
        if scores is not None and out.scores is not None:
            scores[a:b] = out.scores
    times.model_s += time.perf_counter() - t0

    rows = np.flatnonzero(valid)
    n_cut = table.n_cut if table.n_cut is not None else n
    return OfflineResult(
        processor=processor,
        subject=subject if subject is not None else recording.subject,
        window_start=table.window_end[rows] - processor.featurizer.length_s,
        window_end=table.window_end[rows],
        distributions=distributions[rows],
        states={name: values[rows] for name, values in table.states.items()},
        quality={name: [flags[i] for i in rows] for name, flags in table.quality.items()},
        n_windows=n_cut,
        n_skipped=n_cut - len(rows),
        duration_s=recording.duration_s,
        times=times,
        scores=None if scores is None else scores[rows],
    )
