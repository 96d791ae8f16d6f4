"""``helo-stream replay``: publish a recorded session as fake LSL devices.

Ctrl-C or SIGTERM stops the replay cleanly: the outlets are destroyed (consumers see the
streams go away) and the command exits 0. A path that is not a readable recording gives one
error line and exit code 2.
"""

from __future__ import annotations

import signal
import threading
import warnings
from pathlib import Path
from types import FrameType

import click

from helo_stream.recordings.base import RecordingError


def _describe(recording: object, player: object) -> list[str]:
    from helo_stream.recordings import Recording
    from helo_stream.replay import RecordingPlayer

    assert isinstance(recording, Recording) and isinstance(player, RecordingPlayer)
    lines = [
        f"replaying {recording.subject} ({recording.format}, {recording.path}): "
        f"{player.duration_s:.1f} s at {player.speed:g}x{' looping' if player.loop else ''}"
    ]
    for key, info in player.stream_infos.items():
        rate = f"{info.nominal_srate():g} Hz" if info.nominal_srate() > 0 else "irregular"
        lines.append(
            f"  {info.name():<16} {info.type():<8} {rate:>10}  "
            f"source_id={info.source_id()}  ({key})"
        )
    if recording.conditions:
        names = ", ".join(c.condition for c in recording.conditions)
        lines.append(f"  conditions: {names}")
    alignment = recording.alignment
    if alignment is not None:
        state = "ok" if alignment.ok else "FAILED"
        lines.append(f"  chest-strap alignment {state} ({alignment.method}): {alignment.reason}")
    return lines


#: Seconds the outlets stay open after the last sample of a finished replay.
FINISH_LINGER_S = 1.0


@click.command("replay")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Playback speed; timestamps keep the recorded spacing.",
)
@click.option("--loop", is_flag=True, help="Start again at the end, timestamps continuing.")
@click.option(
    "--start",
    "start_s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Skip this many seconds of the recording.",
)
@click.option(
    "--duration",
    "duration_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Replay only this many seconds.",
)
@click.option(
    "--subject",
    default=None,
    help="Subject name in the streams' source ids (default: the recording's).",
)
@click.option(
    "--lead",
    "lead_s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Push the first this many seconds at once, stamped in the past, so a "
    "pipeline's first window is complete from the start.",
)
@click.option(
    "--wait-for-consumers",
    "wait_s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Before playing, wait up to this many seconds until every stream is consumed.",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Show a progress bar (only on a terminal).",
)
@click.pass_context
def replay_command(
    ctx: click.Context,
    path: Path,
    speed: float,
    loop: bool,
    start_s: float,
    duration_s: float | None,
    subject: str | None,
    lead_s: float,
    wait_s: float,
    progress: bool,
) -> None:
    """Publish the recording at PATH (WESAD E4 folder, WESAD .pkl or .xdf) on LSL."""
    from helo_stream.recordings import load_recording
    from helo_stream.replay import RecordingPlayer

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            recording = load_recording(path, subject=subject)
        player = RecordingPlayer(
            recording,
            speed=speed,
            loop=loop,
            start_s=start_s,
            duration_s=duration_s,
            subject=subject,
            lead_s=lead_s,
        )
    except (RecordingError, ValueError) as err:
        click.secho(f"error: {err}", fg="red", err=True)
        ctx.exit(2)
    for w in caught:
        if "alignment failed" in str(w.message):
            continue  # the alignment line below says it, with the method
        click.secho(f"warning: {w.message}", fg="yellow", err=True)
    for line in _describe(recording, player):
        click.echo(line, err=True)

    stop = threading.Event()
    interrupted: list[int] = []

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        interrupted.append(signum)
        stop.set()

    handlers: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, _on_signal)
    try:
        with player:
            consumed = wait_s <= 0 or player.wait_for_consumers(timeout=wait_s, stop=stop)
            if not consumed and not stop.is_set():
                click.secho(
                    f"warning: not every stream had a consumer after {wait_s:g} s; playing anyway",
                    fg="yellow",
                    err=True,
                )
            player.run(stop=stop, progress=progress)
            if not stop.is_set():
                # Let the last chunks reach the inlets before the outlets are destroyed.
                stop.wait(FINISH_LINGER_S)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
    if interrupted:
        click.echo(f"stopped ({signal.Signals(interrupted[0]).name}); outlets closed", err=True)
    else:
        click.echo("replay finished; outlets closed", err=True)
