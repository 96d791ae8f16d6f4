"""The live pipeline: LSL sources -> windows -> features -> model -> ZeroMQ.

One thread does everything in order (pull every inlet without blocking, cut the windows that are
complete, compute, publish), so there are no locks and the order of messages is the order of
windows. Time domains: window bounds and ``published_lsl`` are on the LSL clock
(``pylsl.local_clock``); latencies are differences of LSL-clock readings taken in this process;
``published_unix`` is the wall clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pylsl

from helo_stream.config import Pipeline
from helo_stream.models.checkpoint import Predictor
from helo_stream.pipeline.features import FeatureTracker, WindowFeaturizer
from helo_stream.pipeline.model_stage import load_model_stage, safe_distribution
from helo_stream.sinks.message import build_emotion_message
from helo_stream.sinks.recorder import SessionRecorder
from helo_stream.sinks.zmq_publisher import ZmqPublisher
from helo_stream.sources.lsl_source import LSLSource, open_sources
from helo_stream.sources.resolve import resolve_pipeline_streams, subject_from_source_id
from helo_stream.windows.quality import assess_window
from helo_stream.windows.scheduler import WindowScheduler
from helo_stream.windows.window import Window

log = logging.getLogger(__name__)

#: How long the loop sleeps when no inlet had new samples; bounds the added latency.
IDLE_SLEEP_S = 0.002
#: How many recent latencies :class:`RunStats` keeps.
LATENCY_HISTORY = 100_000


@dataclass
class RunStats:
    """Counters a caller (CLI, tests, benchmarks) reads after or during a run."""

    published: int = 0
    windows: int = 0
    #: The latest window-to-publish latencies (bounded, so a run of days does not grow).
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_HISTORY))
    #: Windows not published: no usable modality, or the model output was not a distribution.
    skipped: int = 0
    #: Windows in which each modality had each quality flag.
    quality_counts: dict[str, dict[str, int]] = field(default_factory=dict)


class PipelineRunner:
    """Run one pipeline for one subject.

    Parameters
    ----------
    pipeline : Pipeline
        The validated pipeline.
    subject : str | None
        Overrides the pipeline's ``subject`` (which streams to use).
    publisher : ZmqPublisher | None
        Where messages go; built from the pipeline's ``publisher`` section when None.
    on_message : callable | None
        Called with every published message (the CLI prints them).
    recorder : SessionRecorder | None
        Receives every raw input chunk and every published message; closed with the runner.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        subject: str | None = None,
        publisher: ZmqPublisher | None = None,
        on_message: Callable[[dict], None] | None = None,
        recorder: SessionRecorder | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.subject_filter = subject if subject is not None else pipeline.config.subject
        self.featurizer = WindowFeaturizer.from_pipeline(pipeline)
        self.tracker = self.featurizer.new_tracker()
        # Fail on a checkpoint that does not fit before touching the network.
        self.predictor: Predictor = load_model_stage(pipeline, self.featurizer.feature_names)
        self.normalizer = self.predictor.new_normalizer()
        self._publisher = publisher
        self._owns_publisher = publisher is None
        self.on_message = on_message
        self.sources: dict[str, LSLSource] = {}
        self.scheduler: WindowScheduler | None = None
        self.subject = self.subject_filter or ""
        self.stats = RunStats()
        self.recorder = recorder
        self._states: dict[str, str] = {}
        self._final_health: dict[str, dict[str, Any]] | None = None
        self._ranges = {
            name: mod.stream.channel_ranges for name, mod in pipeline.modalities.items()
        }

    # -- lifecycle -------------------------------------------------------------------------
    def open(self, *, timeout: float | None = None) -> None:
        """Resolve the streams, open the inlets and the publisher."""
        cfg = self.pipeline.config
        pipeline = self.pipeline
        self._warm_up()
        if self.subject_filter != cfg.subject:
            pipeline = _with_subject(pipeline, self.subject_filter)
        infos = resolve_pipeline_streams(pipeline, timeout=timeout or cfg.resolve_timeout_s)
        window = cfg.window
        for name, info in infos.items():
            stage = self.featurizer.stages[name]
            device = cfg.devices[pipeline.modalities[name].device]
            source = LSLSource(
                info=info,
                modality=name,
                buffer_s=window.buffer_seconds,
                processing_flags=device.processing_flags,
                filter=stage.make_filter(),
                stale_after_s=window.stale_after_s,
                missing_after_s=window.missing_after_s,
            )
            source.on_filtered = _ingest_into(self.tracker, name)
            self.sources[name] = source
            if self.recorder is not None:
                self.recorder.open_stream(
                    name, channel_labels=pipeline.modalities[name].stream.channel_labels
                )
                source.on_raw = _record_into(self.recorder, name)
        absent = [name for name in pipeline.modalities if name not in self.sources]
        if absent:
            log.warning("optional modalities without a stream, running without them: %s", absent)
        open_sources(self.sources.values(), timeout=cfg.resolve_timeout_s)
        if not self.subject and infos:
            name, info = next(iter(infos.items()))
            mod = pipeline.modalities[name]
            self.subject = (
                subject_from_source_id(
                    info.source_id(), profile=mod.profile, stream_key=mod.stream_key
                )
                or info.source_id()
            )
        required = [
            name
            for name, mod in pipeline.modalities.items()
            if mod.config.required and name in self.sources
        ]
        self.scheduler = WindowScheduler(
            sources=self.sources,
            length_s=window.length_s,
            step_s=window.step_s,
            required=required,
        )
        if self._publisher is None:
            pub = cfg.publisher
            base = self.pipeline.path.parent
            self._publisher = ZmqPublisher(
                address=pub.address,
                topic=pub.topic,
                bind=pub.bind,
                send_hwm=pub.send_hwm,
                curve_secret_key=(
                    None if pub.curve_secret_key is None else base / pub.curve_secret_key
                ),
                curve_allowed_clients=(
                    None
                    if pub.curve_allowed_clients is None
                    else [base / p for p in pub.curve_allowed_clients]
                ),
            )
        if self.recorder is not None:
            self.recorder.write_session(
                {
                    "pipeline": pipeline.name,
                    "subject": self.subject,
                    "streams": {
                        name: {"name": src.name, "source_id": src.source_id, "srate": src.srate}
                        for name, src in self.sources.items()
                    },
                }
            )

    def _warm_up(self) -> None:
        """Run the stages once on noise, so lazy imports and first-call allocations (seconds,
        for NeuroKit2) are paid before the first real window, not by its latency."""
        rng = np.random.default_rng(0)
        length = self.featurizer.length_s
        tracker = self.featurizer.new_tracker()
        n_samples = {}
        for name, stage in self.featurizer.stages.items():
            n = max(int(length * stage.srate), 1)
            tracker.ingest(
                name, rng.standard_normal((n, stage.n_channels)), np.arange(n) / stage.srate
            )
            n_samples[name] = n
        features, present = tracker.features(
            start_lsl=-1.0,
            end_lsl=length,
            n_samples=n_samples,
            status=dict.fromkeys(n_samples, "ok"),
        )
        self.predictor.predict(
            self.predictor.new_normalizer().transform(features, t=0.0), present=present
        )

    def close(self) -> None:
        """Close inlets and (if owned) the publisher; safe to call twice."""
        if self.sources:
            self._final_health = self.health_report()  # what the streams were like at the end
        for source in self.sources.values():
            source.close()
        self.sources.clear()
        if self._publisher is not None and self._owns_publisher:
            self._publisher.close()
            self._publisher = None
        if self.recorder is not None:
            self.recorder.close()

    def __enter__(self) -> PipelineRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- work ------------------------------------------------------------------------------
    def step(self) -> int:
        """Pull every inlet once and publish every window that became complete."""
        if self.scheduler is None:
            raise RuntimeError("call open() before step()")
        pulled = sum(source.pull() for source in self.sources.values())
        self._log_state_changes()
        for window in self.scheduler.poll():
            self._process(window)
        if self._publisher is not None:
            self._publisher.serve_subscriptions()
        if self.recorder is not None:
            self.recorder.maybe_flush()
        return pulled

    def _log_state_changes(self) -> None:
        """One log line per health transition (a device dropping out, coming back)."""
        for name, source in self.sources.items():
            state = source.state
            before = self._states.get(name)
            if state != before:
                self._states[name] = state
                if before is not None:
                    level = logging.INFO if state == "ok" else logging.WARNING
                    log.log(
                        level, "stream %s (%s): %s -> %s", name, source.source_id, before, state
                    )

    def health_report(self) -> dict[str, dict[str, Any]]:
        """Health of every modality's stream (``StreamHealth`` fields; ``missing`` if none).

        After :meth:`close`, the health the streams had when they were closed.
        """
        if not self.sources and self._final_health is not None:
            return self._final_health
        report: dict[str, dict[str, Any]] = {}
        for name in self.pipeline.modalities:
            source = self.sources.get(name)
            if source is None:
                report[name] = {"state": "missing", "source_id": None}
            else:
                report[name] = {"source_id": source.source_id, **asdict(source.health)}
            report[name]["quality_windows"] = dict(self.stats.quality_counts.get(name, {}))
        return report

    def run(
        self, *, stop: threading.Event | None = None, until: Callable[[], bool] | None = None
    ) -> RunStats:
        """Loop until ``stop`` is set or ``until()`` returns True, then drain once more."""
        stop = stop or threading.Event()
        while not stop.is_set():
            if until is not None and until():
                self._drain(stop)
                break
            if self.step() == 0:
                time.sleep(IDLE_SLEEP_S)
        return self.stats

    def _drain(self, stop: threading.Event, *, quiet_s: float = 0.5) -> None:
        """After the source ended: take in everything still queued, until ``quiet_s`` of quiet.

        A pipeline that fell behind (a replay faster than it computes) still publishes every
        window of the recording.
        """
        last_data = time.monotonic()
        while not stop.is_set():
            if self.step() > 0:
                last_data = time.monotonic()
            elif time.monotonic() - last_data > quiet_s:
                return
            else:
                time.sleep(IDLE_SLEEP_S)

    def _process(self, window: Window) -> None:
        self.stats.windows += 1
        t0 = pylsl.local_clock()
        # A modality without a stream (an optional device that is not there) reads "missing".
        status = {name: window.status.get(name, "missing") for name in self.pipeline.modalities}
        data, usable_status, quality = self._check_quality(window, status)
        features, present = self.tracker.features(
            start_lsl=window.start_lsl,
            end_lsl=window.end_lsl,
            n_samples={name: len(timestamps) for name, (_, timestamps) in data.items()},
            status=usable_status,
        )
        for name, vector in features.items():
            if present[name] and not np.all(np.isfinite(vector)):
                # never let a feature that could not be computed pass as a measured value
                present[name] = False
                features[name] = np.full_like(vector, np.nan)
        if not any(present.values()):
            self.stats.skipped += 1
            log.warning("window %d: no modality has usable data; nothing published", window.seq)
            return
        t1 = pylsl.local_clock()
        normalised = self.normalizer.transform(features, t=window.end_lsl)
        scores = None
        try:
            if self.predictor.multilabel:
                # One forward pass: presence scores, and the same normalised as the distribution.
                scores = self.predictor.predict_scores(normalised, present=present)
                distribution = safe_distribution(scores)
            else:
                distribution = safe_distribution(
                    self.predictor.predict(normalised, present=present)
                )
        except ValueError as err:
            self.stats.skipped += 1
            log.error("window %d: %s; nothing published", window.seq, err)
            return
        t2 = pylsl.local_clock()
        published_lsl = pylsl.local_clock()
        latency = {
            "window_to_publish": (published_lsl - window.completed_local) * 1e3,
            "features": (t1 - t0) * 1e3,
            "model": (t2 - t1) * 1e3,
        }
        message = build_emotion_message(
            pipeline=self.pipeline.name,
            subject=self.subject,
            seq=self.stats.published,
            window_start_lsl=window.start_lsl,
            window_end_lsl=window.end_lsl,
            labels=self.predictor.labels,
            distribution=distribution,
            modalities=status,
            latency_ms=latency,
            model_name=self.predictor.model_name,
            checkpoint_sha256=self.predictor.checkpoint_sha256,
            published_lsl=published_lsl,
            published_unix=time.time(),
            quality=quality,
            scores=scores,
            threshold=self.predictor.threshold if scores is not None else None,
        )
        assert self._publisher is not None
        self._publisher.publish(message)
        if self.recorder is not None:
            self.recorder.message(message)
        self.stats.published += 1
        self.stats.latencies_ms.append(latency["window_to_publish"])
        if self.on_message is not None:
            self.on_message(message)

    def _check_quality(
        self, window: Window, status: dict[str, str]
    ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, str], dict[str, list[str]]]:
        """Flag each delivering modality's window, drop unusable rows, and withhold (status
        ``missing`` for the featurizer only) a modality whose window is not usable."""
        data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        usable_status = dict(status)
        quality: dict[str, list[str]] = {}
        for name, (samples, timestamps) in window.data.items():
            if status.get(name) != "ok":
                data[name] = (samples, timestamps)
                continue
            stage = self.featurizer.stages[name]
            q = assess_window(
                samples,
                timestamps,
                srate=stage.srate,
                length_s=window.length_s,
                ranges=self._ranges.get(name),
            )
            data[name] = (q.samples, q.timestamps_lsl)
            if not q.usable:
                usable_status[name] = "missing"
            if q.flags:
                quality[name] = list(q.flags)
                counts = self.stats.quality_counts.setdefault(name, {})
                for flag in q.flags:
                    counts[flag] = counts.get(flag, 0) + 1
        return data, usable_status, quality


def _record_into(
    recorder: SessionRecorder, modality: str
) -> Callable[[np.ndarray, np.ndarray], None]:
    def record(samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        recorder.samples(modality, samples, timestamps_lsl)

    return record


def _ingest_into(
    tracker: FeatureTracker, modality: str
) -> Callable[[np.ndarray, np.ndarray], None]:
    def ingest(samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        tracker.ingest(modality, samples, timestamps_lsl)

    return ingest


def _with_subject(pipeline: Pipeline, subject: str | None) -> Pipeline:
    config = pipeline.config.model_copy(update={"subject": subject})
    return Pipeline(
        pipeline.path, config, pipeline.profiles, pipeline.modalities, pipeline.checkpoint_path
    )


def top_labels(message: dict, k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` most probable labels of a message, for compact printing."""
    p = np.asarray(message["distribution"])
    order = np.argsort(p)[::-1][:k]
    return [(message["labels"][i], float(p[i])) for i in order]
