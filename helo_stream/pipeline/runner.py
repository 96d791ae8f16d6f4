"""The live pipeline: LSL sources -> windows -> features -> model -> ZeroMQ.

The runner opens the streams and runs the loop; what happens to a window (quality, features,
presence, normalisation, the model, the distribution guard, the message) is the
:class:`~helo_stream.pipeline.processor.WindowProcessor`'s, the same code that builds the
offline messages and the training windows.

One thread does everything in order (pull the inlets, cut the windows that are complete, compute,
publish), so there are no locks and the order of messages is the order of windows. The loop does
not poll: each subject's streams are pulled when its next window can be complete (predicted from
the streams' own timestamps), and if the last samples are still in transit the loop waits on that
inlet and wakes the moment they arrive. Pulls are then one chunk per stream per window, which is
what keeps one subject's CPU small and lets many subjects share a core. One runner can serve
several subjects with one model: each subject has its own streams, scheduler, feature state and
normaliser, and the windows that became complete in one pass are classified in a single batched
forward pass. Time domains: window bounds and ``published_lsl`` are on the LSL clock
(``pylsl.local_clock``); latencies are differences of LSL-clock readings taken in this process;
``published_unix`` is the wall clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pylsl

from helo_stream.config import Pipeline
from helo_stream.pipeline.features import Engine
from helo_stream.pipeline.processor import SubjectWindows, WindowFeatures, WindowProcessor
from helo_stream.sinks.recorder import SessionRecorder
from helo_stream.sinks.zmq_publisher import ZmqPublisher
from helo_stream.sources.lsl_source import LSLSource, open_sources
from helo_stream.sources.resolve import (
    resolve_pipeline_streams,
    select_modality_inputs,
    subject_from_source_id,
    visible_modality_inputs,
)
from helo_stream.windows.scheduler import WindowScheduler
from helo_stream.windows.window import Window

log = logging.getLogger(__name__)

#: Shortest wait of the loop: how often it polls while draining, and while several subjects'
#: data are in transit at once.
IDLE_SLEEP_S = 0.002
#: The longest the loop sleeps before looking again, and the longest a subject's streams go
#: unpulled (``until`` is checked this often; a stop request ends the sleep at once).
MAX_IDLE_SLEEP_S = 0.25
#: The longest the loop waits on one inlet for data that should have arrived, before pulling
#: the subject's other streams and re-checking their health.
MAX_INLET_WAIT_S = 0.1
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


@dataclass
class SubjectSession:
    """One person's streams and running state inside a runner."""

    subject: str
    sources: dict[str, LSLSource]
    scheduler: WindowScheduler
    #: Running features, window quality and normaliser (fed as the sources buffer).
    windows: SubjectWindows
    #: Sequence number of this subject's next message (consumers detect gaps per subject).
    seq: int = 0
    states: dict[str, str] = field(default_factory=dict)
    #: ``pylsl.local_clock()`` at which the next window can be complete (when to pull again).
    wake_local: float = float("-inf")
    #: The stream whose data the next window waits for longest (waited on once it is due).
    wait_on: LSLSource | None = None


@dataclass
class _Pending:
    """A featurised window waiting for the batched model pass."""

    session: SubjectSession
    window: Window
    result: WindowFeatures
    #: z-scored features of the window
    normalised: dict[str, np.ndarray]
    features_ms: float


class PipelineRunner:
    """Run one pipeline for one or several subjects.

    Parameters
    ----------
    pipeline : Pipeline
        The validated pipeline.
    subject : str | None
        Overrides the pipeline's ``subject`` (which streams to use).
    subjects : sequence of str | None
        Serve each of these subjects (their streams are resolved by subject); one model, one
        publisher, inference batched across subjects. Overrides ``subject``.
    publisher : ZmqPublisher | None
        Where messages go; built from the pipeline's ``publisher`` section when None.
    on_message : callable | None
        Called with every published message (the CLI prints them).
    recorder : SessionRecorder | None
        Receives every raw input chunk and every published message; closed with the runner.
        One subject only.
    engine : {"incremental", "batch"}
        The feature engine (``"batch"`` re-runs NeuroKit2 on every window: the reference the
        benchmarks compare to).
    on_window : callable | None
        Called with the subject and the :class:`WindowFeatures` of every window cut, published
        or not (features before normalisation, presence, states, quality flags).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        subject: str | None = None,
        subjects: Sequence[str] | None = None,
        publisher: ZmqPublisher | None = None,
        on_message: Callable[[dict], None] | None = None,
        recorder: SessionRecorder | None = None,
        engine: Engine = "incremental",
        on_window: Callable[[str, WindowFeatures], None] | None = None,
    ) -> None:
        if subjects is not None:
            if isinstance(subjects, str) or not subjects:
                raise ValueError("subjects must be a non-empty list of subject names")
            if len(set(subjects)) != len(subjects):
                raise ValueError(f"subjects must be distinct, got {list(subjects)}")
            if recorder is not None and len(subjects) > 1:
                raise ValueError("a session recording holds one subject; record one at a time")
            self._subject_filters: list[str | None] = list(subjects)
        else:
            self._subject_filters = [subject if subject is not None else pipeline.config.subject]
        self.pipeline = pipeline
        # "batch" re-runs NeuroKit2 on every window: the reference the benchmarks compare to.
        self.engine: Engine = engine
        # Fail on a checkpoint that does not fit before touching the network.
        self.processor = WindowProcessor.from_pipeline(pipeline, engine=engine)
        self._publisher = publisher
        self._owns_publisher = publisher is None
        self.on_message = on_message
        self.on_window = on_window
        self.sessions: list[SubjectSession] = []
        self.stats = RunStats()
        self.recorder = recorder
        self._pending: list[_Pending] = []
        self._final_health: dict[str, dict[str, dict[str, Any]]] = {}

    # -- the single-subject view -----------------------------------------------------------
    @property
    def sources(self) -> dict[str, LSLSource]:
        """The first subject's sources (empty before :meth:`open`)."""
        return self.sessions[0].sources if self.sessions else {}

    @property
    def scheduler(self) -> WindowScheduler | None:
        return self.sessions[0].scheduler if self.sessions else None

    @property
    def subject(self) -> str:
        """The first subject's name (as requested until :meth:`open` has read it back)."""
        if self.sessions:
            return self.sessions[0].subject
        return self._subject_filters[0] or ""

    @property
    def subjects(self) -> list[str]:
        return [s.subject for s in self.sessions] or [f or "" for f in self._subject_filters]

    # -- lifecycle -------------------------------------------------------------------------
    def open(self, *, timeout: float | None = None) -> None:
        """Resolve every subject's streams, open the inlets and the publisher.

        A modality with a ``features_stream`` reads it when only that stream is on the network
        (see :meth:`_feed_from_visible_streams`), so this may rebuild the stages first.
        """
        cfg = self.pipeline.config
        self._feed_from_visible_streams(timeout=timeout or cfg.resolve_timeout_s)
        self._warm_up()
        found: list[tuple[str | None, Pipeline, dict[str, LSLSource], str]] = []
        for subject_filter in self._subject_filters:
            pipeline = self.pipeline
            if subject_filter != cfg.subject:
                config = pipeline.config.model_copy(update={"subject": subject_filter})
                pipeline = replace(pipeline, config=config)
            infos = resolve_pipeline_streams(pipeline, timeout=timeout or cfg.resolve_timeout_s)
            sources = {
                name: self._make_source(pipeline, name, info) for name, info in infos.items()
            }
            absent = [name for name in pipeline.modalities if name not in sources]
            if absent:
                log.warning(
                    "optional modalities without a stream, running without them: %s", absent
                )
            subject = subject_filter or ""
            if not subject and infos:
                name, info = next(iter(infos.items()))
                mod = pipeline.modalities[name]
                subject = (
                    subject_from_source_id(
                        info.source_id(), profile=mod.profile, stream_key=mod.stream_key
                    )
                    or info.source_id()
                )
            found.append((subject_filter, pipeline, sources, subject))
        open_sources(
            [src for _, _, sources, _ in found for src in sources.values()],
            timeout=cfg.resolve_timeout_s,
        )
        for _, pipeline, sources, subject in found:
            self.attach(sources, subject=subject)
            if self.recorder is not None:
                for name, source in sources.items():
                    self.recorder.open_stream(
                        name, channel_labels=pipeline.modalities[name].stream.channel_labels
                    )
                    source.on_raw = _record_into(self.recorder, name)
                self.recorder.write_session(
                    {
                        "pipeline": pipeline.name,
                        "subject": subject,
                        "streams": {
                            name: {"name": src.name, "source_id": src.source_id, "srate": src.srate}
                            for name, src in sources.items()
                        },
                    }
                )
        if self._publisher is None:
            self._publisher = ZmqPublisher.from_config(
                cfg.publisher, relative_to=self.pipeline.path.parent
            )

    def _feed_from_visible_streams(self, *, timeout: float) -> None:
        """Switch modalities whose raw stream is absent but features stream visible to it.

        ``--replay`` knows from the recording which streams exist; a run next to a separate
        ``helo-stream replay SUBJECT.mat`` (or a device publishing computed features) only
        learns it from the network. The stream decides the stages (rate, channels, extractor),
        so they are rebuilt and the checkpoint re-checked against them before any inlet is
        made. Pipelines without a ``features_stream`` skip this and pay no listening time.
        """
        undecided = [
            mod
            for mod in self.pipeline.modalities.values()
            if mod.config.features_stream not in (None, mod.stream_key)
        ]
        if not undecided:
            return
        visible = visible_modality_inputs(
            self.pipeline, subjects=self._subject_filters, timeout=timeout
        )
        fed = select_modality_inputs(self.pipeline, available=visible)
        if fed is self.pipeline:
            return
        switched = [n for n, m in fed.modalities.items() if m is not self.pipeline.modalities[n]]
        log.info("modalities fed by their features_stream (raw stream absent): %s", switched)
        self.processor = WindowProcessor.from_pipeline(fed, engine=self.engine)
        self.pipeline = fed

    def _make_source(self, pipeline: Pipeline, name: str, info: Any) -> LSLSource:
        cfg = pipeline.config
        window = cfg.window
        device = cfg.devices[pipeline.modalities[name].device]
        return LSLSource(
            info=info,
            modality=name,
            buffer_s=window.buffer_seconds,
            processing_flags=device.processing_flags,
            filter=self.processor.featurizer.stages[name].make_filter(),
            stale_after_s=window.stale_after_s,
            missing_after_s=window.missing_after_s,
        )

    def attach(self, sources: dict[str, LSLSource], *, subject: str) -> SubjectSession:
        """Serve one more subject from already created sources (modality -> source).

        The sources feed the subject's running window state as they buffer; windows are cut by
        a scheduler that waits for the subject's required modalities among them.
        """
        windows = self.processor.new_subject()
        for name, source in sources.items():
            source.on_filtered = _ingest_into(self.processor, windows, name)
        required = [
            name
            for name, mod in self.pipeline.modalities.items()
            if mod.config.required and name in sources
        ]
        window = self.pipeline.config.window
        session = SubjectSession(
            subject=subject,
            sources=sources,
            scheduler=WindowScheduler(
                sources=sources,
                length_s=window.length_s,
                step_s=window.step_s,
                required=required,
                cut_data=False,  # judged and featurised from running state (quality, tracker)
            ),
            windows=windows,
        )
        self.sessions.append(session)
        return session

    def _warm_up(self) -> None:
        """Run the stages once on noise, so lazy imports and first-call allocations (seconds,
        for NeuroKit2) are paid before the first real window, not by its latency."""
        rng = np.random.default_rng(0)
        processor = self.processor
        length = processor.featurizer.length_s
        windows = processor.new_subject()
        for name, stage in processor.featurizer.stages.items():
            n = max(int(length * stage.srate), 1)
            processor.ingest(
                windows,
                name,
                rng.standard_normal((n, stage.n_channels)),
                np.arange(n) / stage.srate,
            )
        result = processor.featurize(
            windows,
            start_lsl=-1.0,
            end_lsl=length,
            status=dict.fromkeys(processor.modalities, "ok"),
            cut={},
        )
        processor.classify(
            {name: v[np.newaxis] for name, v in processor.normalize(windows, result).items()},
            {name: np.array([flag]) for name, flag in result.present.items()},
        )

    def close(self) -> None:
        """Close inlets and (if owned) the publisher; safe to call twice."""
        for session in self.sessions:
            if session.sources:
                # what the streams were like at the end
                self._final_health[session.subject] = self._session_health(session)
            for source in session.sources.values():
                source.close()
            session.sources.clear()
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
        """Pull every inlet once (without waiting) and publish every window that became
        complete; returns the number of samples pulled."""
        if not self.sessions:
            raise RuntimeError("call open() before step()")
        return self._serve(self.sessions)

    def _serve(self, sessions: Sequence[SubjectSession]) -> int:
        """Pull these subjects' inlets, then cut, featurise, classify and publish their windows."""
        pulled = 0
        for session in sessions:
            pulled += sum(source.pull() for source in session.sources.values())
            self._log_state_changes(session)
        for session in sessions:
            for window in session.scheduler.poll():
                self._process(window, session)
        self._flush()
        if self._publisher is not None:
            self._publisher.serve_subscriptions()
        if self.recorder is not None:
            self.recorder.maybe_flush()
        return pulled

    def _log_state_changes(self, session: SubjectSession) -> None:
        """One log line per health transition (a device dropping out, coming back)."""
        for name, source in session.sources.items():
            state = source.state
            before = session.states.get(name)
            if state != before:
                session.states[name] = state
                if before is not None:
                    level = logging.INFO if state == "ok" else logging.WARNING
                    log.log(
                        level,
                        "%s: stream %s (%s): %s -> %s",
                        session.subject,
                        name,
                        source.source_id,
                        before,
                        state,
                    )

    def health_report(self, subject: str | None = None) -> dict[str, dict[str, Any]]:
        """Health of every modality's stream of one subject (the first by default):
        ``StreamHealth`` fields, ``missing`` if none.

        After :meth:`close`, the health the streams had when they were closed.
        """
        session = self.sessions[0] if subject is None and self.sessions else None
        for candidate in self.sessions:
            if candidate.subject == subject:
                session = candidate
        if session is None:
            raise KeyError(f"no subject {subject!r}; serving {self.subjects}")
        if not session.sources and session.subject in self._final_health:
            return self._final_health[session.subject]
        return self._session_health(session)

    def _session_health(self, session: SubjectSession) -> dict[str, dict[str, Any]]:
        report: dict[str, dict[str, Any]] = {}
        for name in self.pipeline.modalities:
            source = session.sources.get(name)
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
        if not self.sessions:
            raise RuntimeError("call open() before run()")
        stop = stop or threading.Event()
        while not stop.is_set():
            if until is not None and until():
                self._drain(stop)
                break
            now = pylsl.local_clock()
            due = [session for session in self.sessions if session.wake_local <= now]
            if due:
                self._serve(due)
                for session in due:
                    self._plan(session)
            self._wait(stop)
        return self.stats

    def _plan(self, session: SubjectSession) -> None:
        """Set when the subject's next window can be complete, and which stream decides it."""
        now = pylsl.local_clock()
        waiting = session.scheduler.waiting_for()
        session.wait_on = None
        if waiting is None:  # no required stream delivering: only their health can change
            session.wake_local = now + MAX_IDLE_SLEEP_S
            return
        if not waiting:  # complete already (poll cuts it next turn)
            session.wake_local = now + IDLE_SLEEP_S
            return
        latest = float("-inf")
        for name, due_lsl in waiting.items():
            source = session.sources[name]
            arrival = None if due_lsl is None else source.arrival_local(due_lsl)
            at = now if arrival is None else arrival
            if at > latest:
                latest, session.wait_on = at, source
        # Pulled at least this often all the same: the prediction is learnt from the pulls.
        session.wake_local = min(latest, now + MAX_IDLE_SLEEP_S)

    def _wait(self, stop: threading.Event) -> None:
        """Sleep until the next subject is due; if its data are late, wait on that inlet."""
        now = pylsl.local_clock()
        first = min(self.sessions, key=lambda session: session.wake_local)
        delay = first.wake_local - now
        if delay > 0:
            stop.wait(min(delay, MAX_IDLE_SLEEP_S))
            return
        if first.wait_on is None:
            return
        # Due but not arrived: in transit. Wake the moment it arrives, or when another subject
        # is due (several in transit at once are then polled every IDLE_SLEEP_S). Then take in
        # whichever other stream the window is still short of, the same way, so the subject is
        # served (every inlet pulled, the window cut) once, when its window is complete.
        limit = MAX_INLET_WAIT_S
        for session in self.sessions:
            if session is not first:
                limit = min(limit, session.wake_local - now)
        deadline = now + max(limit, IDLE_SLEEP_S)
        source: LSLSource | None = first.wait_on
        while source is not None:
            remaining = deadline - pylsl.local_clock()
            if remaining <= 0 or source.pull(timeout=remaining) == 0:
                return
            waiting = first.scheduler.waiting_for()
            source = first.sources[next(iter(waiting))] if waiting else None

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

    def _process(self, window: Window, session: SubjectSession | None = None) -> None:
        """Check and featurise one complete window; the model sees it in the next flush."""
        session = session or self.sessions[0]
        self.stats.windows += 1
        t0 = pylsl.local_clock()
        sources = session.sources
        result = self.processor.featurize(
            session.windows,
            start_lsl=window.start_lsl,
            end_lsl=window.end_lsl,
            status=window.status,
            cut={name: source.buffer.window for name, source in sources.items()},
        )
        if self.on_window is not None:
            self.on_window(session.subject, result)
        for name, flags in result.quality.items():
            counts = self.stats.quality_counts.setdefault(name, {})
            for flag in flags:
                counts[flag] = counts.get(flag, 0) + 1
        if not result.usable:
            self.stats.skipped += 1
            log.warning(
                "%s: window %d: no modality has usable data; nothing published",
                session.subject,
                window.seq,
            )
            return
        self._pending.append(
            _Pending(
                session=session,
                window=window,
                result=result,
                normalised=self.processor.normalize(session.windows, result),
                features_ms=(pylsl.local_clock() - t0) * 1e3,
            )
        )

    def _flush(self) -> None:
        """Classify every pending window in one batched forward pass and publish them."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        t1 = pylsl.local_clock()
        names = self.processor.modalities
        out = self.processor.classify(
            {name: np.stack([p.normalised[name] for p in pending]) for name in names},
            {name: np.array([p.result.present[name] for p in pending]) for name in names},
        )
        model_ms = (pylsl.local_clock() - t1) * 1e3
        for i, item in enumerate(pending):
            if not out.valid[i]:
                self.stats.skipped += 1
                log.error(
                    "%s: window %d: the model's output is not a distribution; nothing published",
                    item.session.subject,
                    item.window.seq,
                )
                continue
            scores = None if out.scores is None else out.scores[i]
            self._publish(item, out.distributions[i], model_ms=model_ms, scores=scores)

    def _publish(
        self,
        item: _Pending,
        distribution: np.ndarray,
        *,
        model_ms: float,
        scores: np.ndarray | None = None,
    ) -> None:
        session, window = item.session, item.window
        published_lsl = pylsl.local_clock()
        latency = {
            "window_to_publish": (published_lsl - window.completed_local) * 1e3,
            "features": item.features_ms,
            "model": model_ms,
        }
        message = self.processor.message(
            subject=session.subject,
            seq=session.seq,
            start_lsl=window.start_lsl,
            end_lsl=window.end_lsl,
            status=item.result.status,
            quality=item.result.quality,
            distribution=distribution,
            scores=scores,
            latency_ms=latency,
            published_lsl=published_lsl,
            published_unix=time.time(),
        )
        assert self._publisher is not None
        if self.recorder is not None:
            # Recorded first: whatever a subscriber saw is on disk, even if a signal lands now.
            self.recorder.message(message)
        self._publisher.publish(message)
        session.seq += 1
        self.stats.published += 1
        self.stats.latencies_ms.append(latency["window_to_publish"])
        if self.on_message is not None:
            self.on_message(message)


def _record_into(
    recorder: SessionRecorder, modality: str
) -> Callable[[np.ndarray, np.ndarray], None]:
    def record(samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        recorder.samples(modality, samples, timestamps_lsl)

    return record


def _ingest_into(
    processor: WindowProcessor, windows: SubjectWindows, modality: str
) -> Callable[[np.ndarray, np.ndarray], None]:
    def ingest(samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        processor.ingest(windows, modality, samples, timestamps_lsl)

    return ingest
