"""``helo-stream run``: the live pipeline, optionally fed by a replayed recording."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click

from helo_stream.config import find_recording, load_pipeline

#: How long a replay started by ``run`` waits for the pipeline's inlets before playing.
REPLAY_WAIT_S = 30.0


def _format_line(message: dict) -> str:
    from helo_stream.receivers.terminal_view import top_labels

    tops = " ".join(f"{label}={p:.3f}" for label, p in top_labels(message, 3))
    health = ",".join(f"{m}:{s}" for m, s in message["modalities"].items())
    return (
        f"[{message['subject']}] seq={message['seq']:<6d} end={message['window']['end']:.2f} "
        f"{tops}  ({health})  {message['latency_ms']['window_to_publish']:.1f} ms"
    )


def _format_health(health: dict) -> str:
    """One line of a stream's health counters, for the end-of-run summary."""
    if health.get("source_id") is None:
        return "missing (no stream was found; the model ran without it)"
    quality = health.get("quality_windows") or {}
    flags = ", ".join(f"{flag} in {n} window(s)" for flag, n in quality.items()) or "no flags"
    return (
        f"{health['state']} ({health['source_id']}): {health['n_samples']} samples, "
        f"{health['n_gaps']} gap(s), {health['n_backward_jumps']} backward jump(s), "
        f"{health['n_dropped']} dropped, {health['n_nonfinite']} non-finite, "
        f"{health['n_reconnects']} reconnect(s); quality: {flags}"
    )


def start_replay(
    path: Path,
    *,
    speed: float,
    loop: bool,
    subject: str | None,
    start_s: float,
    duration_s: float | None,
) -> subprocess.Popen[bytes]:
    """The replay as a child process, so its pacing never competes with the pipeline's GIL."""
    cmd = [
        sys.executable,
        "-m",
        "helo_stream",
        "replay",
        str(path),
        "--speed",
        str(speed),
        "--wait-for-consumers",
        str(REPLAY_WAIT_S),
        "--no-progress",
    ]
    if loop:
        cmd.append("--loop")
    if subject:
        cmd += ["--subject", subject]
    if start_s:
        cmd += ["--start", str(start_s)]
    if duration_s is not None:
        cmd += ["--duration", str(duration_s)]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)


def _die_with_parent() -> None:
    """In the replay child (Linux): die when the pipeline dies, even by ``kill -9``, so no
    orphaned replay keeps publishing fake devices. SIGKILL rather than SIGTERM: nobody is left
    to wait for a clean shutdown, and the kernel closes the outlets' sockets either way."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 1.0) -> None:
    """Interrupt, then terminate, then kill: the child gets a chance to close its outlets."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        if proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout / 2)
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@click.command("run")
@click.argument("pipeline_file", type=click.Path(path_type=Path))
@click.option(
    "--replay",
    "replay_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Replay this recording as fake LSL devices alongside the pipeline ('demo': the "
    "shipped demo recording).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Replay speed (with --replay).",
)
@click.option("--loop", is_flag=True, help="Loop the replay (with --replay).")
@click.option(
    "--start",
    "start_s",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Replay from this many seconds into the recording.",
)
@click.option(
    "--duration",
    "duration_s",
    type=click.FloatRange(min=0),
    default=None,
    help="Replay only this many seconds.",
)
@click.option(
    "--subject",
    "subjects",
    multiple=True,
    help="Use the streams of this subject (overrides the pipeline's 'subject'). Repeat to serve "
    "several subjects with one model (inference batched across them); with --replay, the "
    "recording is replayed once per subject under each name.",
)
@click.option("--address", default=None, help="Publish on this ZeroMQ address instead.")
@click.option(
    "--record",
    "record_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Append every published message and every raw input sample to files in this folder "
    "as they happen (messages.jsonl, streams/<modality>.csv).",
)
@click.option("--json", "as_json", is_flag=True, help="Print each message as a JSON line.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing per message.")
@click.option(
    "--engine",
    type=click.Choice(["incremental", "batch"]),
    default="incremental",
    hidden=True,
    help="Feature engine; 'batch' recomputes every window (the benchmarks' baseline).",
)
def run_command(
    pipeline_file: Path,
    replay_path: Path | None,
    speed: float,
    loop: bool,
    start_s: float,
    duration_s: float | None,
    subjects: tuple[str, ...],
    address: str | None,
    record_dir: Path | None,
    as_json: bool,
    quiet: bool,
    engine: str,
) -> None:
    """Run PIPELINE_FILE: resolve its devices, publish emotion distributions on ZeroMQ.

    PIPELINE_FILE is a pipeline file or the name of a shipped pipeline (wesad_live).
    """
    from helo_stream.pipeline.runner import PipelineRunner

    pipeline = load_pipeline(pipeline_file)
    if address is not None:
        publisher = pipeline.config.publisher.model_copy(update={"address": address})
        config = pipeline.config.model_copy(update={"publisher": publisher})
        pipeline = type(pipeline)(
            pipeline.path, config, pipeline.profiles, pipeline.modalities, pipeline.checkpoint_path
        )

    def show(message: dict) -> None:
        if quiet:
            return
        click.echo(json.dumps(message) if as_json else _format_line(message))

    if len(subjects) > 1 and record_dir is not None:
        raise click.UsageError("--record records one subject; give at most one --subject")
    if replay_path is not None:
        from helo_stream.recordings import load_recording
        from helo_stream.sources.resolve import select_modality_inputs

        replay_path = find_recording(replay_path)  # a path, or 'demo'
        # Fail here, not in the child, on a bad file; and follow the replayed subject's streams.
        replayed = load_recording(replay_path)
        subjects = subjects or (replayed.subject,)
        # A recording of features (DMER .mat) feeds modalities through their features_stream.
        pipeline = select_modality_inputs(pipeline, available=replayed.streams)
    recorder = None
    if record_dir is not None:
        from helo_stream.sinks.recorder import SessionRecorder

        recorder = SessionRecorder(record_dir)
    # loads the checkpoint
    runner = PipelineRunner(
        pipeline,
        subjects=list(subjects) or None,
        on_message=show,
        recorder=recorder,
        engine="batch" if engine == "batch" else "incremental",
    )
    replays = []
    if replay_path is not None:
        replays = [
            start_replay(
                replay_path,
                speed=speed,
                loop=loop,
                subject=subject,
                start_s=start_s,
                duration_s=duration_s,
            )
            for subject in subjects
        ]
    stop = threading.Event()
    # SIGTERM takes the same way out as Ctrl-C, also while the streams are being resolved.
    previous_sigterm = signal.signal(signal.SIGTERM, signal.default_int_handler)
    interrupted = False
    try:
        runner.open()
        who = ", ".join(repr(s) for s in runner.subjects)
        click.echo(
            f"helo-stream: {pipeline.name} for subject {who} -> "
            f"{pipeline.config.publisher.address} topic {pipeline.config.publisher.topic!r}",
            err=True,
        )
        until = (lambda: all(p.poll() is not None for p in replays)) if replays else None
        runner.run(stop=stop, until=until)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        try:
            runner.close()  # inlets, publisher, record files
        finally:
            for proc in replays:
                stop_process(proc)
            signal.signal(signal.SIGTERM, previous_sigterm)
    for subject in runner.subjects:
        prefix = f"{subject}: " if len(runner.subjects) > 1 else ""
        for name, health in runner.health_report(subject).items():
            click.echo(f"helo-stream: health {prefix}{name}: {_format_health(health)}", err=True)
    click.echo(
        f"helo-stream: {'interrupted; ' if interrupted else ''}published "
        f"{runner.stats.published} message(s)",
        err=True,
    )
    if interrupted:
        # Everything is closed and flushed; skip the interpreter's teardown of torch and
        # NeuroKit2 (about a second on a busy machine) so a signal stops the run within 2 s.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    for proc in replays:
        if proc.returncode not in (0, -signal.SIGINT, 130):
            raise click.ClickException(f"the replay exited with code {proc.returncode}")
