"""``helo-stream listen``: print the emotion messages a pipeline publishes.

JSON lines by default (one message per line, flushed, for piping into ``jq`` or a file);
``--pretty`` shows a compact live view per subject when stdout is a terminal.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import click

__all__ = ["listen_command", "render_live"]

_STATE_STYLE = {"ok": "green", "stale": "yellow", "missing": "red"}
_BAR_WIDTH = 24


def _bar(p: float, width: int = _BAR_WIDTH) -> str:
    filled = p * width
    full = int(filled)
    partial = " ▏▎▍▌▋▊▉"[int((filled - full) * 8)] if full < width else ""
    return ("█" * full + partial).ljust(width)


def render_live(latest: dict[str, dict[str, Any]], *, received: int = 0) -> Any:
    """A rich renderable of the newest message of each subject (keyed by subject)."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    if not latest:
        return Text("waiting for messages ...", style="dim")
    panels = []
    for subject in sorted(latest):
        msg = latest[subject]
        probs = list(zip(msg["labels"], msg["distribution"], strict=False))
        probs.sort(key=lambda lp: lp[1], reverse=True)
        table = Table.grid(padding=(0, 1))
        table.add_column(justify="right", style="bold")
        table.add_column()
        table.add_column(justify="right")
        for label, p in probs[:5]:
            style = "cyan" if label == msg["top"] else "blue"
            table.add_row(label, Text(_bar(float(p)), style=style), f"{float(p):6.1%}")
        health = Text()
        for name, state in msg.get("modalities", {}).items():
            health.append(f"{name}:{state} ", style=_STATE_STYLE.get(state, "white"))
        latency = msg.get("latency_ms", {}).get("window_to_publish")
        latency_text = f"{latency:.1f} ms" if isinstance(latency, (int, float)) else "n/a"
        footer = Text(
            f"seq {msg.get('seq')}  latency {latency_text}  window end "
            f"{msg.get('window', {}).get('end', float('nan')):.2f}",
            style="dim",
        )
        title = (
            f"[bold]{subject or '(no subject)'}[/] · {msg.get('pipeline', '?')} · top: "
            f"[cyan]{msg.get('top', '?')}[/]"
        )
        panels.append(Panel(Group(table, health, footer), title=title, title_align="left"))
    panels.append(Text(f"{received} message(s) received — Ctrl-C to quit", style="dim"))
    return Group(*panels)


def _echo_line(message: dict[str, Any]) -> None:
    click.echo(json.dumps(message))
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
def listen_command(
    address: str, topic: str, pretty: bool, count: int | None, timeout_s: float | None
) -> None:
    """Print the emotion messages published on --address, one JSON object per line."""
    from helo_stream.sinks.zmq_subscriber import ZmqSubscriber

    live_view = pretty and sys.stdout.isatty()
    received = 0
    latest: dict[str, dict[str, Any]] = {}
    live = None
    try:
        with ZmqSubscriber(address=address, topic=topic) as sub:
            if live_view:
                from rich.live import Live

                live = Live(render_live(latest), refresh_per_second=8, transient=False)
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
                    latest[str(message.get("subject", ""))] = message
                    live.update(render_live(latest, received=received))
                else:
                    _echo_line(message)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # The reader went away (`listen | head`); exit quietly like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        if live is not None:
            live.stop()
