"""``helo-stream listen``: print the emotion messages a pipeline publishes.

JSON lines by default (one message per line, flushed, for piping into ``jq`` or a file);
``--pretty`` shows live bars per subject when stdout is a terminal
(:mod:`helo_stream.receivers.terminal_view`): the distribution, or for a multi-label model (TAILOR)
each label's presence score on a fixed 0-100 % scale with the present labels checked.
``--out FILE`` appends every message to a file as JSON lines, and ``--markers`` records the
``HeLo_Protocol`` LSL markers beside them, which is what ``helo-stream plot`` draws.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from helo_stream.receivers.terminal_view import render_live

__all__ = ["listen_command", "render_live"]

#: Marker records and messages from two threads go to one output, one line at a time.
_OUTPUT_LOCK = threading.Lock()


def _write_line(record: dict[str, Any], *, out: Any | None, echo: bool) -> None:
    """One JSON line to the --out file (flushed: a crash loses nothing) and/or stdout."""
    line = json.dumps(record)
    with _OUTPUT_LOCK:
        if out is not None:
            out.write(line + "\n")
            out.flush()
        if echo:
            click.echo(line)
            sys.stdout.flush()


@click.command("listen")
@click.option(
    "--address",
    default="tcp://127.0.0.1:5556",
    show_default=True,
    help="ZeroMQ endpoint of the publisher.",
)
@click.option(
    "--topic", default="helo/emotion", show_default=True, help="Topic (prefix) to subscribe to."
)
@click.option(
    "--pretty",
    is_flag=True,
    help="Live view per subject (only on a terminal; JSON lines otherwise).",
)
@click.option(
    "--count", type=click.IntRange(min=1), default=None, help="Exit after this many messages."
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Exit with status 1 when no message arrives for this many seconds.",
)
@click.option(
    "--curve-secret-key",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="This client's CURVE secret key file (helo-stream keys), for an encrypted publisher.",
)
@click.option(
    "--curve-server-key",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="The publisher's CURVE public key file (with --curve-secret-key).",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also append every message (and marker) to this file as JSON lines.",
)
@click.option(
    "--markers",
    is_flag=True,
    help="Also record the HeLo_Protocol LSL markers (protocol conditions) as JSON lines.",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=None,
    help="With --pretty: only the N most probable (highest-scoring) labels (default: all, "
    "in a fixed order).",
)
@click.option(
    "--offline-after",
    "offline_after_s",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="With --pretty: flag a subject offline after this many silent seconds.",
)
def listen_command(
    address: str,
    topic: str,
    pretty: bool,
    count: int | None,
    timeout_s: float | None,
    curve_secret_key: str | None = None,
    curve_server_key: str | None = None,
    out_path: Path | None = None,
    markers: bool = False,
    top: int | None = None,
    offline_after_s: float = 5.0,
) -> None:
    """Print the emotion messages published on --address, one JSON object per line."""
    from helo_stream.receivers.terminal_view import TerminalView
    from helo_stream.receivers.zmq_subscriber import ZmqSubscriber

    live_view = pretty and sys.stdout.isatty()
    received = 0
    view = TerminalView(top=top, offline_after_s=offline_after_s)
    live = None
    out = out_path.open("a", encoding="utf-8") if out_path is not None else None
    recorder = None
    if markers:
        from helo_stream.receivers.markers_inlet import MarkerRecorder

        def on_marker(record: dict[str, Any]) -> None:
            view.add_marker(subject=record["subject"], marker=record["marker"])
            _write_line(record, out=out, echo=not live_view)

        recorder = MarkerRecorder(on_marker=on_marker).start()
    try:
        if (curve_secret_key is None) != (curve_server_key is None):
            raise click.UsageError("--curve-secret-key and --curve-server-key go together")
        with ZmqSubscriber(
            address=address,
            topic=topic,
            curve_secret_key=curve_secret_key,
            curve_server_key=curve_server_key,
        ) as sub:
            if live_view:
                from rich.live import Live

                # rich redraws the view 8 times a second however fast messages come
                live = Live(view, refresh_per_second=8, transient=False)
                live.start()
            last_message_wall = time.monotonic()
            while count is None or received < count:
                # Short polls keep Ctrl-C responsive and let the idle timeout be checked.
                item = sub.recv(0.2)
                if item is None:
                    if timeout_s is not None and time.monotonic() - last_message_wall > timeout_s:
                        if live is not None:
                            live.stop()
                            live = None
                        click.echo(
                            f"no message on {address} (topic {topic!r}) for {timeout_s:g} s",
                            err=True,
                        )
                        raise click.exceptions.Exit(1)
                    continue
                _, message = item
                received += 1
                last_message_wall = time.monotonic()
                if live is not None:
                    view.add(message)
                    if out is not None:
                        _write_line(message, out=out, echo=False)
                else:
                    _write_line(message, out=out, echo=True)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # The reader went away (`listen | head`); exit quietly like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        if recorder is not None:
            recorder.close()
        if live is not None:
            live.stop()
        if out is not None:
            out.close()
