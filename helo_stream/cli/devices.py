"""``helo-stream devices``: which LSL streams are visible, as a table or JSON."""

from __future__ import annotations

import json
import sys

import click

__all__ = ["devices_command"]

_PIPED_WIDTH = 200


@click.command("devices")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="Seconds to listen for stream announcements.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
def devices_command(timeout_s: float, as_json: bool) -> None:
    """List the LSL streams visible from this machine."""
    from helo_stream.sources.discovery import list_streams

    streams = list_streams(timeout=timeout_s)
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in streams], indent=2))
        return
    if not streams:
        click.echo(f"No LSL streams visible (listened for {timeout_s:g} s).", err=True)
        return

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(streams)} LSL stream(s)", title_justify="left")
    # Names and ids fold instead of being cut with an ellipsis: they are what users copy.
    table.add_column("name", style="bold", overflow="fold")
    table.add_column("type")
    table.add_column("source_id", overflow="fold")
    table.add_column("ch", justify="right")
    table.add_column("rate", justify="right")
    table.add_column("format")
    table.add_column("host")
    table.add_column("uid", overflow="fold", style="dim")
    for s in streams:
        rate = f"{s.nominal_srate:g} Hz" if s.nominal_srate > 0 else "irregular"
        table.add_row(
            s.name,
            s.type,
            s.source_id,
            str(s.channel_count),
            rate,
            s.channel_format,
            s.hostname,
            s.uid,
        )
    # Piped output is not limited to 80 columns, so rows stay on one line for grep.
    console = Console() if sys.stdout.isatty() else Console(width=_PIPED_WIDTH)
    console.print(table)
