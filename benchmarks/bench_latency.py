"""End-to-end latency: a window's last sample pushed to an LSL outlet -> its message at a SUB.

What runs, as three processes on this machine (one clock: ``pylsl.local_clock()``):

* the replay (this script, ``_replay`` mode): a real WESAD E4 session (S2, from ``--start``
  seconds in) played at 1x by :class:`~helo_stream.replay.RecordingPlayer` with a lead of one
  window + 2 s, so the first window is complete at once, logging every push (local clock after
  the push, first and last timestamp) and writing that log to a file when it stops;
* the pipeline: ``helo-stream run pipelines/wesad_live.yaml --subject X --quiet --address
  tcp://127.0.0.1:PORT --engine E`` (60 s windows every 0.25 s), exactly as a user runs it;
* this process: a ZeroMQ SUB that stamps every message with ``pylsl.local_clock()`` on receipt.

A window (t - L, t] is cut once every stream has a sample within half a sampling period of t
(see :mod:`helo_stream.windows.scheduler`), so its last-sample push time is, per stream, the push
time of the first chunk whose last timestamp is >= t - tol, and the max over the streams
(``end_to_end``). ``tol`` is 0.5 ms, not 1 us: the pipeline's inlets apply LSL's ``clocksync``
correction, which on one machine is microseconds but not zero, so its window ends (computed
from corrected stamps) sit microseconds off the pushed stamps; 0.5 ms is below every sample
period (700 Hz: 1.4 ms).

``end_to_end_from_completing_push`` measures from the push of the sample the pipeline really
waited for (the later of the two candidates pushed before the pipeline pulled its completing
sample, ``receipt - window_to_publish``); since the scheduler tolerates half a period it mostly
equals ``end_to_end``. Also: the pipeline's own ``window_to_publish`` (from its messages'
``latency_ms``) and the pipeline process's CPU (``psutil`` cpu_times delta / wall, % of one
core, every thread: liblsl's receiver threads included) over the measured interval.

The baseline, measured in the same run on the same data: the same pipeline with the ``batch``
feature engine (NeuroKit2 recomputes every window from scratch).

Targets (issue 4): p50 <= 10 ms, p99 <= 30 ms, CPU <= 2 % of one core.

Usage: ``python benchmarks/bench_latency.py [--minutes 5] [--engines incremental batch]
[--out benchmarks/results/latency.json]``. Default: 5 min measured per engine, ~12 min total.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
E4_PIPELINE = REPO / "pipelines" / "wesad_live.yaml"
DEFAULT_SESSION = (REPO / ".." / "shared" / "data" / "wesad_e4" / "S2").resolve()
#: Matching tolerance between window ends and pushed stamps (see the module docstring).
MATCH_TOL_S = 5e-4
#: How long a pipeline may take to resolve its streams, warm up and publish a first message.
STARTUP_TIMEOUT_S = 180.0


# -- shared helpers (bench_capacity.py and bench_ingest.py import these) ---------------------


def write_lsl_config(port_range: int = 2048) -> Path:
    """A temporary ``lsl_api.cfg``: discovery on this machine only, room for many outlets.

    Every outlet takes four ports of ``[ports] PortRange`` (32 by default: eight outlets), and
    consumers that find streams through ``KnownPeers`` only probe that range, so 48 subjects x
    5 outlets need a larger range. Every process of a benchmark must read the same file, which
    is why it goes to ``LSLAPICFG`` before any child starts.
    """
    path = Path(tempfile.gettempdir()) / f"helo-stream-bench-{os.getpid()}-lsl_api.cfg"
    path.write_text(
        "[multicast]\nResolveScope = machine\n[lab]\nKnownPeers = {127.0.0.1}\n"
        f"[ports]\nPortRange = {port_range}\n"
    )
    os.environ["LSLAPICFG"] = str(path)
    return path


def machine() -> dict[str, Any]:
    """What the numbers were measured on; load averages tell how busy the machine was."""
    import psutil

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> list[float]:
    """1, 5 and 15 minute load averages (other work on the machine competes for the cores)."""
    return [round(x, 2) for x in os.getloadavg()]


def emit_result(result: dict[str, Any], out: Path | None) -> None:
    """Print a benchmark's JSON and, with ``--out``, write the same text there."""
    text = json.dumps(result, indent=2)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env() -> dict[str, str]:
    """Environment of every child: the repository importable, the benchmark's LSL config."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def start_pipeline(
    pipeline: Path, subjects: Sequence[str], address: str, *, engine: str = "incremental"
) -> subprocess.Popen[bytes]:
    """``helo-stream run`` as a user starts it; its own pid, so psutil measures only it."""
    cmd = [sys.executable, "-m", "helo_stream", "run", str(pipeline), "--quiet"]
    for subject in subjects:
        cmd += ["--subject", subject]
    cmd += ["--address", address, "--engine", engine]
    return subprocess.Popen(
        cmd,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def start_replay(
    *,
    subjects: Sequence[str],
    log_path: Path,
    profile: str,
    session: Path,
    start_s: float,
    duration_s: float,
    lead_s: float,
    chunk_s: float,
) -> subprocess.Popen[bytes]:
    """The replay child (``_replay`` mode of this script): all subjects in one process."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_replay",
        "--log",
        str(log_path),
        "--profile",
        profile,
        "--session",
        str(session),
        "--start",
        str(start_s),
        "--duration",
        str(duration_s),
        "--lead",
        str(lead_s),
        "--chunk",
        str(chunk_s),
        *subjects,
    ]
    return subprocess.Popen(cmd, env=child_env(), stdin=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM (the replay writes its log, the pipeline closes its inlets), then kill.

    Not SIGINT: a benchmark started in the background (``cmd &`` in a script) passes SIGINT
    on as ignored, so its children would never see it; ``helo-stream run`` treats SIGTERM
    like Ctrl-C.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)


def e4_recording(session: Path) -> Any:
    """The E4 session with only the streams the E4 pipeline reads (no unconsumed outlets)."""
    from helo_stream.recordings import load_recording

    rec = load_recording(session)
    keep = {f"empatica_e4.{k}" for k in ("bvp", "eda", "temp", "acc")}
    rec.streams = {k: s for k, s in rec.streams.items() if k in keep}
    return rec


def chest_recording(session: Path, *, start_s: float, duration_s: float) -> Any:
    """RespiBAN (700 Hz, NeuroKit2 simulations) + the real E4 streams of ``session``.

    There is no real RespiBAN data here, so ECG, respiration, EDA and EMG are simulated with
    NeuroKit2 at the device's rate (temperature and ACC are slow noise); the per-sample cost of
    ingest, filters and features does not depend on whether the signal is real.
    """
    import neurokit2 as nk

    from helo_stream.recordings.base import profile_stream, regular_timestamps

    rec = e4_recording(session)
    t0 = rec.start + start_s
    n = round(duration_s * 700)
    seconds = int(np.ceil(n / 700))  # some NeuroKit2 simulators want whole seconds
    rng = np.random.default_rng(0)
    signals = {
        "ecg": nk.ecg_simulate(
            duration=seconds, sampling_rate=700, heart_rate=72, method="simple", random_state=0
        ),
        "resp": nk.rsp_simulate(
            duration=seconds, sampling_rate=700, respiratory_rate=15, random_state=0
        ),
        "eda": nk.eda_simulate(
            duration=seconds, sampling_rate=700, scr_number=int(seconds // 20), random_state=0
        ),
        "emg": nk.emg_simulate(
            duration=seconds, sampling_rate=700, burst_number=int(seconds // 10), random_state=0
        ),
        "temp": 33.0 + 0.01 * np.cumsum(rng.standard_normal(n)) / np.sqrt(n),
        "acc": 0.02 * rng.standard_normal((n, 3)) + np.array([0.0, 0.0, 1.0]),
    }
    ts = regular_timestamps(n, 700.0, t0)
    for key, data in signals.items():
        rec.streams[f"respiban.{key}"] = profile_stream(
            "respiban",
            key,
            subject=rec.subject,
            data=np.asarray(data)[:n],
            timestamps=ts,
            path=rec.path,
        )
    return rec


def replay_main(argv: Sequence[str]) -> None:
    """The replay process: one RecordingPlayer per subject, push logs saved on SIGINT/end."""
    parser = argparse.ArgumentParser(prog="bench replay")
    parser.add_argument("subjects", nargs="+")
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--profile", choices=["e4", "chest"], default="e4")
    parser.add_argument("--session", type=Path, default=DEFAULT_SESSION)
    parser.add_argument("--start", type=float, default=1800.0)
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--lead", type=float, default=62.0)
    parser.add_argument("--chunk", type=float, default=0.02)
    parser.add_argument("--wait", type=float, default=STARTUP_TIMEOUT_S)
    args = parser.parse_args(argv)

    import psutil

    from helo_stream.replay import RecordingPlayer

    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    if args.profile == "chest":
        rec = chest_recording(args.session, start_s=args.start, duration_s=args.duration)
    else:
        rec = e4_recording(args.session)
    players = [
        RecordingPlayer(
            rec,
            subject=s,
            start_s=args.start,
            duration_s=args.duration,
            lead_s=args.lead,
            chunk_s=args.chunk,
            log_pushes=True,
        )
        for s in args.subjects
    ]
    for p in players:
        p.open()
    args.log.with_suffix(".ready").touch()  # outlets exist: the pipeline may resolve them now
    deadline = time.monotonic() + args.wait
    for p in players:
        p.wait_for_consumers(timeout=max(deadline - time.monotonic(), 0.1), stop=stopping)
    me = psutil.Process()
    cpu0, wall0 = me.cpu_times(), time.monotonic()
    for p in players:
        p.start()
    while not stopping.is_set() and any(p.is_running for p in players):
        stopping.wait(0.2)
    cpu1, wall1 = me.cpu_times(), time.monotonic()
    for p in players:
        p.close()
    arrays = {
        f"{p.subject}/{key}": log.as_array()
        for p in players
        for key, log in p.push_log.items()
        if key != "protocol"
    }
    arrays["_cpu_wall"] = np.array(
        [cpu1.user + cpu1.system - cpu0.user - cpu0.system, wall1 - wall0]
    )
    tmp = args.log.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(args.log)


@dataclass
class Received:
    """Messages as they arrived at the SUB: local clock at receipt and the raw JSON."""

    clock: list[float] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)


class Subscriber:
    """A SUB in a thread that only stamps and stores (decoding later keeps receipt cheap)."""

    def __init__(self, address: str) -> None:
        import zmq

        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.RCVHWM, 0)
        self._sock.setsockopt(zmq.SUBSCRIBE, b"")
        self._sock.connect(address)
        self.received = Received()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        import pylsl
        import zmq

        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        while not self._done.is_set():
            if not poller.poll(100):
                continue
            while True:
                try:
                    parts = self._sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self.received.clock.append(pylsl.local_clock())
                self.received.raw.append(parts[-1])

    def close(self) -> None:
        self._done.set()
        self._thread.join()
        self._sock.close(linger=0)
        self._ctx.term()


def decode(received: Received) -> list[dict[str, Any]]:
    """``subject, end, receipt, window_to_publish`` per message, in arrival order."""
    out = []
    for clock, raw in zip(received.clock, received.raw, strict=True):
        msg = json.loads(raw)
        out.append(
            {
                "subject": msg["subject"],
                "end": float(msg["window"]["end"]),
                "receipt": clock,
                "w2p_ms": float(msg["latency_ms"]["window_to_publish"]),
            }
        )
    return out


def push_latencies(
    messages: list[dict[str, Any]], log: dict[str, np.ndarray], *, completing: bool = False
) -> np.ndarray:
    """Per message: receipt - push time of the window's last sample (max over the streams).

    With ``completing``, instead the push of the sample the pipeline really waited for: per
    stream, of the chunk holding the window's last sample and the next one, the later that
    was pushed before the pipeline pulled the completing sample (``receipt -
    window_to_publish``). They differ when the scheduler waits for the next 4 Hz sample (see
    the module docstring); the difference is then that wait, not transport or compute.

    NaN where a stream's log has no push reaching the window end (cannot happen for a message
    the pipeline published from these streams, so NaNs would point at a mismatch).
    """
    by_subject: dict[str, list[np.ndarray]] = {}
    for name, arr in log.items():
        if name.startswith("_"):
            continue
        subject = name.split("/", 1)[0]
        by_subject.setdefault(subject, []).append(arr)
    out = np.full(len(messages), np.nan)
    for i, m in enumerate(messages):
        pulled = m["receipt"] - m["w2p_ms"] / 1e3
        pushed = []
        for arr in by_subject.get(m["subject"], []):
            j = int(np.searchsorted(arr[:, 2], m["end"] - MATCH_TOL_S, side="left"))
            if j >= len(arr):
                pushed.append(np.nan)
                continue
            t = arr[j, 0]
            if completing and j + 1 < len(arr) and arr[j + 1, 0] <= pulled:
                t = arr[j + 1, 0]
            pushed.append(t)
        if pushed:
            out[i] = m["receipt"] - max(pushed)
    return out


def percentiles_ms(x: np.ndarray) -> dict[str, float | int]:
    """p50/p95/p99/max in ms (x in seconds), and the count."""
    x = x[np.isfinite(x)]
    if not len(x):
        return {"n": 0}
    q = np.percentile(x, [50, 95, 99]) * 1e3
    return {
        "n": len(x),
        "p50_ms": round(float(q[0]), 2),
        "p95_ms": round(float(q[1]), 2),
        "p99_ms": round(float(q[2]), 2),
        "max_ms": round(float(x.max() * 1e3), 2),
    }


def cpu_seconds(procs: Sequence[Any]) -> float:
    """User + system CPU seconds of psutil processes (0 for one that has gone)."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except Exception:  # a process that exited counts nothing more
            continue
        total += t.user + t.system
    return total


@dataclass
class Trial:
    """One measured run: the messages, the push log, and CPU over the measured interval."""

    messages: list[dict[str, Any]]
    log: dict[str, np.ndarray]
    t_start: float  # local clock: measured interval
    t_end: float
    pipeline_cpu_pct: float
    replay_cpu_pct: float
    load_before: list[float]
    load_after: list[float]
    n_pipelines: int
    errors: list[str]


def run_trial(
    *,
    profile: str,
    pipeline: Path,
    subjects: Sequence[str],
    measure_s: float,
    warmup_s: float,
    start_s: float,
    session: Path,
    engine: str = "incremental",
    one_process_per_subject: bool = False,
    chunk_s: float = 0.02,
    lead_s: float = 62.0,
) -> Trial:
    """Replay ``subjects`` in one process, serve them, measure ``measure_s`` after warm-up.

    Warm-up (after the first message) lets the lead's backlog, first-call allocations and the
    start of every subject's windows pass before anything is counted.
    """
    import psutil
    import pylsl

    workdir = Path(tempfile.mkdtemp(prefix="helo-bench-"))
    log_path = workdir / "pushes.npz"
    errors: list[str] = []
    replay_s = lead_s + STARTUP_TIMEOUT_S + warmup_s + measure_s + 30.0
    replay = start_replay(
        subjects=subjects,
        log_path=log_path,
        profile=profile,
        session=session,
        start_s=start_s,
        duration_s=replay_s,
        lead_s=lead_s,
        chunk_s=chunk_s,
    )
    ready = log_path.with_suffix(".ready")
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not ready.exists():  # a chest replay simulates its signals first
        if time.monotonic() > deadline or replay.poll() is not None:
            raise RuntimeError("the replay did not open its outlets")
        time.sleep(0.2)
    groups = [[s] for s in subjects] if one_process_per_subject else [list(subjects)]
    ports = [free_port() for _ in groups]
    subs = [Subscriber(f"tcp://127.0.0.1:{p}") for p in ports]
    pipes = [
        start_pipeline(pipeline, g, f"tcp://127.0.0.1:{p}", engine=engine)
        for g, p in zip(groups, ports, strict=True)
    ]
    ps_pipes = [psutil.Process(p.pid) for p in pipes]
    ps_replay = psutil.Process(replay.pid)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not all(s.received.clock for s in subs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in pipes):
                raise RuntimeError("the pipeline published nothing (see its stderr above)")
            time.sleep(0.2)
        time.sleep(warmup_s)
        load_before = loadavg()
        c_pipe0, c_rep0, t0 = cpu_seconds(ps_pipes), cpu_seconds([ps_replay]), pylsl.local_clock()
        time.sleep(measure_s)
        c_pipe1, c_rep1, t1 = cpu_seconds(ps_pipes), cpu_seconds([ps_replay]), pylsl.local_clock()
        load_after = loadavg()
    finally:
        for s in subs:
            s.close()
        if stop(replay) != 0:
            errors.append(f"replay exited with {replay.returncode}")
        for p in pipes:
            code = stop(p)
            err = p.stderr.read().decode(errors="replace") if p.stderr else ""
            if code not in (0, -signal.SIGINT, -signal.SIGTERM, 130, 143):
                tail = [line for line in err.splitlines() if "INFO|" not in line][-10:]
                errors.append(f"pipeline exited with {code}: " + " | ".join(tail))
    log = dict(np.load(log_path)) if log_path.exists() else {}
    messages = [m for s in subs for m in decode(s.received)]
    messages.sort(key=lambda m: m["receipt"])
    wall = t1 - t0
    return Trial(
        messages=messages,
        log=log,
        t_start=t0,
        t_end=t1,
        pipeline_cpu_pct=100.0 * (c_pipe1 - c_pipe0) / wall,
        replay_cpu_pct=100.0 * (c_rep1 - c_rep0) / wall,
        load_before=load_before,
        load_after=load_after,
        n_pipelines=len(pipes),
        errors=errors,
    )


def summarize(trial: Trial, *, step_s: float = 0.25) -> dict[str, Any]:
    """Latency percentiles, lag and completeness over the measured interval of a trial."""
    msgs = [m for m in trial.messages if trial.t_start <= m["receipt"] <= trial.t_end]
    e2e = push_latencies(msgs, trial.log)
    w2p = np.array([m["w2p_ms"] for m in msgs]) / 1e3
    subjects = sorted({m["subject"] for m in trial.messages})
    # lag: replay position (= local clock: stamps follow it at 1x) - newest window end published
    growth = []
    third = (trial.t_end - trial.t_start) / 3
    for s in subjects:
        r = np.array([m["receipt"] for m in msgs if m["subject"] == s])
        e = np.array([m["end"] for m in msgs if m["subject"] == s])
        if len(r) < 6:
            growth.append(np.inf)
            continue
        lag = r - e
        first, last = lag[r < trial.t_start + third], lag[r > trial.t_end - third]
        growth.append(
            float(np.median(last) - np.median(first)) if len(first) and len(last) else np.inf
        )
    expected = len(subjects) * (trial.t_end - trial.t_start) / step_s
    return {
        "end_to_end": percentiles_ms(e2e),
        # from the push of the sample the scheduler really waited for (see push_latencies);
        # the gap to "end_to_end" is the wait for the next 4 Hz sample
        "end_to_end_from_completing_push": percentiles_ms(
            push_latencies(msgs, trial.log, completing=True)
        ),
        "pipeline_window_to_publish": percentiles_ms(w2p),
        "messages": len(msgs),
        "messages_expected": round(expected),
        "subjects_publishing": len(subjects),
        "max_lag_growth_s": round(max(growth), 4) if growth else None,
        "pipeline_cpu_pct_of_one_core": round(trial.pipeline_cpu_pct, 2),
        "replay_cpu_pct_of_one_core": round(trial.replay_cpu_pct, 2),
        "pipeline_processes": trial.n_pipelines,
        "measured_s": round(trial.t_end - trial.t_start, 1),
        "loadavg_before": trial.load_before,
        "loadavg_after": trial.load_after,
        "unmatched_messages": int(np.count_nonzero(~np.isfinite(e2e))),
        "errors": trial.errors,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_replay":
        replay_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="measured per engine")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds, after 1st message")
    parser.add_argument("--engines", nargs="+", default=["incremental", "batch"])
    parser.add_argument("--session", type=Path, default=DEFAULT_SESSION)
    parser.add_argument("--start", type=float, default=1800.0, help="seconds into the session")
    parser.add_argument("--chunk", type=float, default=0.02, help="replay push interval, s")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    write_lsl_config()
    result: dict[str, Any] = {
        "benchmark": "end-to-end latency, LSL push of a window's last sample -> ZMQ SUB",
        "machine": machine(),
        "setup": {
            "pipeline": str(E4_PIPELINE.relative_to(REPO)),
            "session": str(args.session),
            "start_s": args.start,
            "speed": 1.0,
            "replay_chunk_s": args.chunk,
            "lead_s": 62.0,
            "warmup_s": args.warmup,
            "measured_s_per_engine": args.minutes * 60,
            "processes": "replay, `helo-stream run --quiet --address`, ZMQ SUB (this script)",
            "latency": "receipt local_clock - max over streams of the push local_clock of the "
            "first chunk whose last timestamp >= window end - 0.5 ms (clocksync offset)",
        },
        "targets": {"p50_ms": 10, "p99_ms": 30, "pipeline_cpu_pct_of_one_core": 2},
        "loadavg_start": loadavg(),
        "engines": {},
    }
    for engine in args.engines:
        subject = f"lat{uuid.uuid4().hex[:6]}"
        print(f"[latency] {engine}: {args.minutes:g} min ...", file=sys.stderr, flush=True)
        trial = run_trial(
            profile="e4",
            pipeline=E4_PIPELINE,
            subjects=[subject],
            measure_s=args.minutes * 60,
            warmup_s=args.warmup,
            start_s=args.start,
            session=args.session,
            engine=engine,
            chunk_s=args.chunk,
        )
        result["engines"][engine] = summarize(trial)
        print(json.dumps({engine: result["engines"][engine]}), file=sys.stderr, flush=True)
    result["loadavg_end"] = loadavg()
    emit_result(result, args.out)


if __name__ == "__main__":
    main()
