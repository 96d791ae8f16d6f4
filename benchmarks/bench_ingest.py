"""Ingest CPU: helo-stream's LSLSource against mne-lsl's StreamLSL reading the same streams.

What runs: a replay process publishes, at 1x, (a) the E4 profile streams of the real WESAD S2
session (BVP 64 Hz, ACC 32 Hz x3, EDA and TEMP 4 Hz) and then (b) one 700 Hz 8-channel chest
stream (RespiBAN-like raw: ECG, EDA, EMG, RESP, TEMP, ACC x3 from NeuroKit2 simulations), each
for ``--seconds``. Three reader processes consume the same streams at the same time, so they
see identical traffic and machine load:

* ``lslsource``: :class:`~helo_stream.sources.lsl_source.LSLSource` (pull, timestamp checks,
  health, ring buffer), polled every 2 ms (how the pipeline's loop polled before it learnt to
  sleep until a window can be complete);
* ``lslsource_filter``: the same with the pipeline's causal filter per stream (E4: the
  ``wesad_live.yaml`` filters; chest: the ECG band-pass of ``wesad_chest_live.yaml``, 3-45 Hz
  order 3, applied to all 8 channels);
* ``mne_lsl``: ``mne_lsl.stream.StreamLSL`` (ring buffer, its own acquisition thread) with
  ``acquisition_delay`` 2 ms (the same polling period) and clocksync;
* ``lslsource_step`` and ``mne_lsl_step``: the same two pulled once per 0.25 s window step,
  the cadence of the pipeline's loop now (it pulls a subject's streams when its next window can
  be complete), StreamLSL with ``acquisition_delay`` 0.25 s.

Each reader's CPU is its process's ``psutil`` cpu_times delta over the measured interval,
reported as CPU milliseconds per second of stream and as % of one core. Process start-up,
imports and connection are outside the interval.

mne-lsl is not a dependency of helo-stream: ``pip install -e '.[bench]'``.

Usage: ``python benchmarks/bench_ingest.py [--seconds 60] [--out benchmarks/results/ingest.json]``
(about 2.5 minutes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_latency import (  # this folder is not a package: found through sys.path
    DEFAULT_SESSION,
    E4_PIPELINE,
    REPO,
    child_env,
    emit_result,
    loadavg,
    machine,
    stop,
    write_lsl_config,
)

READERS = ("lslsource", "lslsource_filter", "mne_lsl", "lslsource_step", "mne_lsl_step")
POLL_S = 0.002  # helo_stream.pipeline.runner.IDLE_SLEEP_S
STEP_S = 0.25  # the pipelines' window step
CHEST_RATE = 700.0
CHEST_CHANNELS = ("ECG", "EDA", "EMG", "RESP", "TEMP", "ACC_X", "ACC_Y", "ACC_Z")


def chest8_recording(subject: str, seconds: float) -> Any:
    """One 700 Hz, 8-channel float32 stream shaped like the RespiBAN's raw output."""
    import neurokit2 as nk

    from helo_stream.recordings import Recording
    from helo_stream.recordings.base import RecordedStream, regular_timestamps

    n = round(seconds * CHEST_RATE)
    whole = int(np.ceil(seconds))
    rng = np.random.default_rng(0)
    cols = [
        nk.ecg_simulate(duration=whole, sampling_rate=700, method="simple", random_state=0),
        nk.eda_simulate(duration=whole, sampling_rate=700, scr_number=whole // 20, random_state=0),
        nk.emg_simulate(
            duration=whole, sampling_rate=700, burst_number=whole // 10, random_state=0
        ),
        nk.rsp_simulate(duration=whole, sampling_rate=700, random_state=0),
    ]
    data = np.column_stack(
        [np.asarray(c)[:n] for c in cols]
        + [
            33.0 + 0.01 * rng.standard_normal(n),
            0.02 * rng.standard_normal((n, 3)) + [0.0, 0.0, 1.0],
        ]
    )
    stream = RecordedStream(
        key="chest.raw",
        device=None,
        name="RespiBAN_RAW",
        type="RAW",
        source_id=f"{subject}-respiban-raw",
        nominal_srate=CHEST_RATE,
        channel_format="float32",
        channel_labels=CHEST_CHANNELS,
        units=("mV", "uS", "mV", "%", "degC", "g", "g", "g"),
        data=data,
        timestamps=regular_timestamps(n, CHEST_RATE),
    )
    return Recording(
        subject=subject, path=Path("simulated"), format="xdf", streams={"chest.raw": stream}
    )


def replay_main(argv: list[str]) -> None:
    """Replay process: the E4 streams of S2 or the chest stream, until SIGTERM/SIGINT or the end."""
    import signal
    import threading

    from helo_stream.replay import RecordingPlayer

    parser = argparse.ArgumentParser(prog="bench_ingest replay")
    parser.add_argument("profile", choices=["e4", "chest"])
    parser.add_argument("subject")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--session", type=Path, default=DEFAULT_SESSION)
    args = parser.parse_args(argv)
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    if args.profile == "e4":
        from bench_latency import e4_recording

        player = RecordingPlayer(
            e4_recording(args.session), subject=args.subject, start_s=1800, duration_s=args.seconds
        )
    else:
        player = RecordingPlayer(chest8_recording(args.subject, args.seconds), subject=args.subject)
    with player:
        player.wait_for_consumers(timeout=120, stop=stopping)
        player.run(stop=stopping)


def reader_main(argv: list[str]) -> None:
    """Reader process: connect, wait for data, measure own CPU over ``--seconds``; JSON out."""
    import psutil
    import pylsl

    parser = argparse.ArgumentParser(prog="bench_ingest reader")
    parser.add_argument("kind", choices=READERS)
    parser.add_argument("profile", choices=["e4", "chest"])
    parser.add_argument("source_ids", nargs="+")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    kind = args.kind.removesuffix("_step")
    period = STEP_S if args.kind.endswith("_step") else POLL_S

    infos = {}
    for sid in args.source_ids:
        found = pylsl.resolve_byprop("source_id", sid, timeout=60)
        if not found:
            raise SystemExit(f"no stream {sid}")
        infos[sid] = found[0]
    if kind == "mne_lsl":
        from mne_lsl.stream import StreamLSL

        streams = [
            StreamLSL(70.0, source_id=sid).connect(
                acquisition_delay=period, processing_flags=["clocksync"], timeout=30
            )
            for sid in infos
        ]

        def poll() -> None:
            time.sleep(0.5)  # acquisition happens in mne-lsl's own thread

        def received() -> int:
            # samples since connect (only get_data() resets it; calling it would add a
            # consumer's copy to the cost), so counted once, at the end
            return sum(int(s.n_new_samples) for s in streams)
    else:
        from helo_stream.config import load_pipeline
        from helo_stream.pipeline.features import WindowFeaturizer
        from helo_stream.signal.filters import CausalSosFilter
        from helo_stream.sources.lsl_source import LSLSource

        pipeline = load_pipeline(E4_PIPELINE)
        stages = WindowFeaturizer.from_pipeline(pipeline).stages
        sources = []
        for sid, info in infos.items():
            flt = None
            if kind == "lslsource_filter":
                if args.profile == "e4":
                    flt = stages[sid.rsplit("-", 1)[1]].make_filter()  # <subject>-empatica_e4-bvp
                else:
                    flt = CausalSosFilter(
                        kind="bandpass",
                        srate=CHEST_RATE,
                        low_hz=3.0,
                        high_hz=45.0,
                        order=3,
                        n_channels=8,
                    )
            src = LSLSource(
                info=info, modality=sid, buffer_s=pipeline.config.window.buffer_seconds, filter=flt
            )
            src.open(timeout=30)
            sources.append(src)
        total = [0]

        def poll() -> None:
            n = sum(src.pull() for src in sources)
            total[0] += n
            if n == 0 or period > POLL_S:
                time.sleep(period)

        def received() -> int:
            n, total[0] = total[0], 0
            return n

    deadline = time.monotonic() + 120
    while received() == 0 and time.monotonic() < deadline:
        poll()
    t_settle = time.monotonic() + 2.0
    while time.monotonic() < t_settle:
        poll()
    received()
    me = psutil.Process()
    c0, t0 = me.cpu_times(), time.monotonic()
    n = 0
    while time.monotonic() - t0 < args.seconds:
        poll()
        if kind != "mne_lsl":
            n += received()
    c1, t1 = me.cpu_times(), time.monotonic()
    if kind == "mne_lsl":
        n = received()  # since connect: includes the few seconds before the interval
    cpu = (c1.user + c1.system) - (c0.user + c0.system)
    wall = t1 - t0
    args.out.write_text(
        json.dumps(
            {
                "cpu_ms_per_stream_second": round(1e3 * cpu / wall, 3),
                "cpu_pct_of_one_core": round(100 * cpu / wall, 3),
                "measured_s": round(wall, 1),
                "samples": n,
            }
        )
    )


def measure(profile: str, seconds: float, workdir: Path) -> dict[str, Any]:
    """Replay one profile and run every reader against it at the same time."""
    subject = f"ing{uuid.uuid4().hex[:5]}"
    if profile == "e4":
        ids = [f"{subject}-empatica_e4-{k}" for k in ("bvp", "acc", "eda", "temp")]
    else:
        ids = [f"{subject}-respiban-raw"]
    me = str(Path(__file__).resolve())
    replay = subprocess.Popen(
        [sys.executable, me, "_replay", profile, subject, "--seconds", str(seconds + 120)],
        env=child_env(),
        stdin=subprocess.DEVNULL,
    )
    outs = {k: workdir / f"{profile}-{k}.json" for k in READERS}
    readers = {
        k: subprocess.Popen(
            [
                sys.executable,
                me,
                "_reader",
                k,
                profile,
                *ids,
                "--seconds",
                str(seconds),
                "--out",
                str(outs[k]),
            ],
            env=child_env(),
            stdin=subprocess.DEVNULL,
        )
        for k in READERS
    }
    load_before = loadavg()
    result: dict[str, Any] = {"streams": ids}
    try:
        for k, proc in readers.items():
            proc.wait(timeout=seconds + 300)
            result[k] = (
                json.loads(outs[k].read_text())
                if outs[k].exists()
                else {"error": f"exit {proc.returncode}"}
            )
    finally:
        for proc in readers.values():
            stop(proc, timeout=5)
        stop(replay)
    result["loadavg_before"], result["loadavg_after"] = load_before, loadavg()
    for suffix in ("", "_step"):
        ours = result[f"lslsource{suffix}"].get("cpu_ms_per_stream_second")
        theirs = result[f"mne_lsl{suffix}"].get("cpu_ms_per_stream_second")
        if ours and theirs:
            result[f"mne_lsl_over_lslsource{suffix}"] = round(theirs / ours, 2)
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_replay":
        replay_main(sys.argv[2:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_reader":
        reader_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured per profile")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    write_lsl_config(port_range=512)
    workdir = Path(tempfile.mkdtemp(prefix="helo-ingest-"))
    from importlib.metadata import version

    result: dict[str, Any] = {
        "benchmark": "ingest CPU: LSLSource vs mne-lsl StreamLSL on the same 1x streams",
        "machine": machine(),
        "versions": {p: version(p) for p in ("pylsl", "mne_lsl", "numpy")},
        "setup": {
            "measured_s_per_profile": args.seconds,
            "poll_s": POLL_S,
            "step_s": STEP_S,
            "readers": "separate processes, all five at once on the same streams",
            "e4": "WESAD S2 from 1800 s: BVP 64 Hz, ACC 32 Hz x3, EDA 4 Hz, TEMP 4 Hz",
            "chest": "one 700 Hz x 8-channel float32 stream (NeuroKit2 simulations)",
            "repo": str(REPO),
        },
        "loadavg_start": loadavg(),
    }
    for profile in ("e4", "chest"):
        print(f"[ingest] {profile} ...", file=sys.stderr, flush=True)
        result[profile] = measure(profile, args.seconds, workdir)
    result["loadavg_end"] = loadavg()
    emit_result(result, args.out)


if __name__ == "__main__":
    main()
