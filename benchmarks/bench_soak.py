"""Soak: an hour (or more) of a real session through the full pipeline at maximum speed.

What runs: a recording (a real WESAD E4 subject from ``../shared/data/wesad_e4`` when present,
else the demo, looped) is cut into 1 s chunks and handed, stream by stream, to real
:class:`~helo_stream.sources.lsl_source.LSLSource` objects through the same ingest path a pulled
LSL chunk takes (timestamp checks, health, causal filter, ring buffer); the real
:class:`~helo_stream.windows.scheduler.WindowScheduler` cuts the windows and the real
:class:`~helo_stream.pipeline.runner.PipelineRunner` computes quality flags, NeuroKit2 features,
normalisation, the HeLo model, the message (schema) and publishes it on a real ZeroMQ XPUB
socket (127.0.0.1, free port) with the session recorder writing every message and raw sample
to a temporary folder. Only the LSL network hop is skipped, so nothing paces the data: the
pipeline runs as fast as it computes. Windows: the pipeline's own (60 s every 0.25 s).

Prints JSON: resident memory (VmRSS) at start (after the first 1000 windows, once caches and
allocators have settled) and end, growth in %, messages published vs expected, wall time.

Usage: ``python benchmarks/bench_soak.py [--hours 1] [--subject-dir PATH] [--out FILE]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pylsl

from helo_stream.config import load_pipeline
from helo_stream.pipeline.features import window_ends
from helo_stream.pipeline.runner import PipelineRunner
from helo_stream.recordings import load_recording
from helo_stream.sinks.recorder import SessionRecorder
from helo_stream.sinks.zmq_publisher import ZmqPublisher
from helo_stream.sources.lsl_source import LSLSource

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "pipelines" / "wesad_live.yaml"
CHUNK_S = 1.0
SETTLE_WINDOWS = 1000


def rss_mib() -> float:
    """Resident set size of this process (VmRSS), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def session_streams(
    recording_dir: Path, *, hours: float, modalities: dict
) -> tuple[str, str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """``hours`` of each modality's samples and timestamps, looping the session if shorter."""
    rec = load_recording(recording_dir)
    want_s = hours * 3600.0
    out = {}
    for name, mod in modalities.items():
        stream = rec.stream(mod.profile.name, mod.stream_key)
        x = np.asarray(stream.data, dtype=np.float64).reshape(len(stream.timestamps), -1)
        ts = np.asarray(stream.timestamps, dtype=np.float64) - rec.start
        period = rec.duration_s
        reps = int(np.ceil(want_s / period))
        xs = np.concatenate([x] * reps)
        tss = np.concatenate([ts + k * period for k in range(reps)])
        keep = tss < want_s
        out[name] = (xs[keep], tss[keep])
    source = "looped " if rec.duration_s < want_s else ""
    return rec.subject, f"{source}{recording_dir}", out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--subject-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    real = REPO.parent / "shared" / "data" / "wesad_e4" / "S2"
    subject_dir = args.subject_dir or (real if real.is_dir() else REPO / "recordings/demo/S0")
    pipeline = load_pipeline(PIPELINE)
    cfg = pipeline.config
    subject, described, streams = session_streams(
        subject_dir, hours=args.hours, modalities=pipeline.modalities
    )

    with tempfile.TemporaryDirectory(prefix="soak-") as record_dir:
        publisher = ZmqPublisher(address="tcp://127.0.0.1:*")
        runner = PipelineRunner(
            pipeline, subject=subject, publisher=publisher, recorder=SessionRecorder(record_dir)
        )
        offset_lsl = pylsl.local_clock()  # the session replayed as if it started now
        sources = {}
        for name, mod in pipeline.modalities.items():
            spec = mod.stream
            info = pylsl.StreamInfo(
                spec.name,
                spec.type,
                spec.n_channels,
                spec.nominal_srate,
                "float32",
                f"soak-{uuid.uuid4().hex[:8]}-{name}",
            )
            source = LSLSource(
                info=info,
                modality=name,
                buffer_s=cfg.window.buffer_seconds,
                processing_flags=(),
                filter=runner.processor.featurizer.stages[name].make_filter(),
                stale_after_s=cfg.window.stale_after_s,
                missing_after_s=cfg.window.missing_after_s,
            )
            runner.recorder.open_stream(name, channel_labels=spec.channel_labels)
            source.on_raw = _recording(runner.recorder, name)
            sources[name] = source
        session = runner.attach(sources, subject=subject or "soak")
        expected = len(
            window_ends(
                [ts[0] + offset_lsl for _, ts in streams.values()],
                [ts[-1] + offset_lsl for _, ts in streams.values()],
                length_s=cfg.window.length_s,
                step_s=cfg.window.step_s,
            )
        )
        rss_open = rss_mib()
        rss_start = None
        t0 = time.perf_counter()
        n_chunks = int(np.ceil(max(ts[-1] for _, ts in streams.values()) / CHUNK_S)) + 1
        bounds = {
            n: np.searchsorted(ts, np.arange(n_chunks + 1) * CHUNK_S)
            for n, (_, ts) in streams.items()
        }
        for k in range(n_chunks):
            for name, (x, ts) in streams.items():
                lo, hi = bounds[name][k], bounds[name][k + 1]
                source = runner.sources[name]
                source._health.mark_checked()
                if hi > lo:
                    source._ingest(x[lo:hi], ts[lo:hi] + offset_lsl)
            for window in session.scheduler.poll():
                runner._process(window, session)
            runner._flush()
            publisher.serve_subscriptions()
            if rss_start is None and runner.stats.published >= SETTLE_WINDOWS:
                rss_start = rss_mib()
        wall_s = time.perf_counter() - t0
        rss_end = rss_mib()
        recorded = runner.recorder.n_messages
        runner.close()

    result = {
        "benchmark": "soak",
        "recording": described,
        "session_hours": args.hours,
        "feeding": "in-process: recorded chunks through LSLSource ingest (no LSL network hop), "
        "every later stage real, unpaced",
        "window": {"length_s": cfg.window.length_s, "step_s": cfg.window.step_s},
        "rss_mib": {
            "after_open": round(rss_open, 1),
            "start": round(rss_start or rss_open, 1),
            "end": round(rss_end, 1),
        },
        "rss_growth_pct": round(
            100.0 * (rss_end - (rss_start or rss_open)) / (rss_start or rss_open), 2
        ),
        "messages": {
            "published": runner.stats.published,
            "expected": expected,
            "equal": runner.stats.published == expected,
            "sent_on_zmq": publisher.n_sent,
            "recorded": recorded,
            "skipped": runner.stats.skipped,
        },
        "quality_windows": runner.stats.quality_counts,
        "wall_s": round(wall_s, 1),
        "windows_per_s": round(runner.stats.published / wall_s, 1),
        "speed_vs_real_time": round(args.hours * 3600.0 / wall_s, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


def _recording(recorder: SessionRecorder, name: str) -> Callable[[np.ndarray, np.ndarray], None]:
    def write(samples: np.ndarray, timestamps_lsl: np.ndarray) -> None:
        recorder.samples(name, samples, timestamps_lsl)

    return write


if __name__ == "__main__":
    main()
