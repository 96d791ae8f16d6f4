"""Offline fast path: one whole WESAD E4 session through ``process_recording`` (JSON on stdout).

Times ``helo_stream.pipeline.offline.process_recording`` on a real ~2 h Empatica E4 session at
the pipeline's live step (0.25 s), split into read / features / model / write seconds (write:
JSON lines to a temporary file, as ``helo-stream process`` does), and reports the x-real-time
factor (session length / total seconds). Target: >= 240x real time (<= 30 s for 2 h).

Baseline, in the same run: the per-window reference engine
(``WindowFeaturizer.from_pipeline(pipeline, engine="batch")``, which re-processes every window
with NeuroKit2), through the same function. At ~15 ms per window a whole session takes minutes,
so by default it is timed on the session's first ``--baseline-windows`` windows and its per-window
cost extrapolated to the whole session (``"extrapolated": true``); ``--baseline-windows 0`` runs
it on the whole session.

Usage: ``python benchmarks/bench_offline.py [--session ../shared/data/wesad_e4/S2]
[--engine incremental] [--baseline-windows 2000] [--out benchmarks/results/offline.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from helo_stream.cli.process import write_json_lines
from helo_stream.config import PIPELINES_DIR, load_pipeline
from helo_stream.pipeline.offline import OfflineResult, process_recording
from helo_stream.pipeline.processor import WindowProcessor
from helo_stream.recordings import Recording, load_recording

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SESSION = REPO.parent / "shared" / "data" / "wesad_e4" / "S2"
TARGET_X_REAL_TIME = 240.0


def _first_seconds(recording: Recording, seconds: float) -> Recording:
    """The recording cut after ``seconds`` (every stream from its own start)."""
    streams = {}
    for key, stream in recording.streams.items():
        keep = stream.timestamps < recording.start + seconds
        streams[key] = replace(stream, data=stream.data[keep], timestamps=stream.timestamps[keep])
    return replace(recording, streams=streams)


def _timed_run(pipeline, recording: Recording, *, engine: str | None, step_s: float) -> dict:
    processor = WindowProcessor.from_pipeline(pipeline, engine=engine or "incremental")  # type: ignore[arg-type]
    t0 = time.perf_counter()
    result: OfflineResult = process_recording(
        pipeline, recording, step_s=step_s, processor=processor
    )
    with tempfile.TemporaryDirectory() as tmp:
        t_write = time.perf_counter()
        with (Path(tmp) / "messages.jsonl").open("w", encoding="utf-8") as out:
            written = write_json_lines(result.messages(), out)
        result.times.write_s = time.perf_counter() - t_write
    wall = time.perf_counter() - t0
    times = result.times
    return {
        "engine": processor.featurizer.engine,
        "windows": result.n_windows,
        "messages": written,
        "seconds": round(wall, 3),
        "read_s": round(times.read_s, 3),
        "features_s": round(times.features_s, 3),
        "model_s": round(times.model_s, 3),
        "write_s": round(times.write_s, 3),
        "ms_per_window": round(wall / max(result.n_windows, 1) * 1e3, 4),
        "recording_s": round(result.duration_s, 1),
    }


def main() -> None:
    """Run the fast path and the per-window baseline on one session; print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--session", type=Path, default=DEFAULT_SESSION)
    parser.add_argument("--pipeline", type=Path, default=PIPELINES_DIR / "wesad_live.yaml")
    parser.add_argument("--engine", default=None, help="feature engine of the fast path")
    parser.add_argument("--baseline-engine", default="batch")
    parser.add_argument(
        "--baseline-windows",
        type=int,
        default=2000,
        help="windows the baseline is timed on (0: the whole session)",
    )
    parser.add_argument("--step", type=float, default=None, help="[the pipeline's step]")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    if not args.session.exists():
        parser.error(f"no session at {args.session} (the real WESAD data, see benchmarks/README)")
    torch.set_num_threads(1)
    pipeline = load_pipeline(args.pipeline)
    step = args.step if args.step is not None else pipeline.config.window.step_s

    t0 = time.perf_counter()
    recording = load_recording(args.session)
    load_s = time.perf_counter() - t0
    fast = _timed_run(pipeline, recording, engine=args.engine, step_s=step)
    # reading the files is part of the session's cost: the run above got an in-memory recording
    fast["read_s"] = round(fast["read_s"] + load_s, 3)
    fast["seconds"] = round(fast["seconds"] + load_s, 3)
    fast["x_real_time"] = round(fast["recording_s"] / fast["seconds"], 1)

    length = pipeline.config.window.length_s
    if args.baseline_windows > 0:
        sample = _first_seconds(recording, length + args.baseline_windows * step + step)
    else:
        sample = recording
    baseline = _timed_run(pipeline, sample, engine=args.baseline_engine, step_s=step)
    per_window = baseline["seconds"] / max(baseline["windows"], 1)
    extrapolated = baseline["windows"] < fast["windows"]
    baseline["extrapolated"] = extrapolated
    baseline["seconds_per_session"] = round(
        per_window * fast["windows"] + load_s if extrapolated else baseline["seconds"] + load_s, 1
    )
    baseline["x_real_time"] = round(fast["recording_s"] / baseline["seconds_per_session"], 1)

    report = {
        "benchmark": "offline fast path: one whole WESAD E4 session, every window at the live step",
        "session": args.session.name,
        "pipeline": pipeline.name,
        "step_s": step,
        "window_s": length,
        "session_hours": round(fast["recording_s"] / 3600, 3),
        "target_x_real_time": TARGET_X_REAL_TIME,
        "meets_target": fast["x_real_time"] >= TARGET_X_REAL_TIME,
        "fast_path": fast,
        "baseline_per_window": baseline,
        "speedup_vs_baseline": round(baseline["seconds_per_session"] / fast["seconds"], 1),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "torch": torch.__version__,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
