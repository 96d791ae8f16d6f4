"""``helo-stream camera``: a camera or video file as an LSL stream of LBP-TOP face features."""

from __future__ import annotations

import signal
import threading

import click

__all__ = ["camera_command"]


@click.command("camera")
@click.argument("source")
@click.option(
    "--subject",
    default="S0",
    show_default=True,
    help="Subject name in the stream's source_id ({subject}-face_camera-lbptop).",
)
@click.option(
    "--realtime/--no-realtime",
    default=True,
    show_default=True,
    help="Pace a video file at its frame rate, as a camera would.",
)
@click.option(
    "--face-crop",
    is_flag=True,
    help="Crop each clip to the detected face (Haar cascade) instead of DMER's whole frame.",
)
@click.option(
    "--variant",
    type=click.Choice(["dmer", "standard"]),
    default="dmer",
    show_default=True,
    help="LBP-TOP neighbour geometry: DMER's code, or the circle.",
)
@click.option(
    "--max-clips",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many 1-s samples.",
)
@click.option(
    "--wait-consumers",
    "wait_consumers_s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for an inlet before reading frames.",
)
def camera_command(
    source: str,
    subject: str,
    realtime: bool,
    face_crop: bool,
    variant: str,
    max_clips: int | None,
    wait_consumers_s: float,
) -> None:
    """Publish LBP-TOP features of SOURCE (camera index such as 0, or a video file) on LSL.

    One 768-value sample per 30 frames, as the face_camera device profile describes; stops at
    the end of a file, after --max-clips, or on Ctrl-C.
    """
    from helo_stream.drivers.camera import CameraError, CameraLbpTopSource

    target: int | str = int(source) if source.isdigit() else source
    try:
        camera = CameraLbpTopSource(
            target,
            subject=subject,
            realtime=realtime,
            face_crop=face_crop,
            variant=variant,  # type: ignore[arg-type]
        )
    except CameraError as err:
        raise click.ClickException(str(err)) from None
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        n = camera.run(stop=stop, max_clips=max_clips, wait_for_consumers_s=wait_consumers_s)
    except CameraError as err:
        raise click.ClickException(str(err)) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(f"published {n} LBP-TOP sample(s) from {source}", err=True)
