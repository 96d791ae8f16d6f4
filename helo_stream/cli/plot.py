"""``helo-stream plot``: a session's emotion-distribution timeline as a PNG.

Reads the JSON lines that ``helo-stream listen --out FILE [--markers]`` writes (or
``helo-stream run --json`` prints) and draws, per subject, the distribution as a stacked area,
the top emotion above it and the protocol conditions shaded from the recorded markers.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("plot")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PNG to write (default: FILE with a .png suffix).",
)
@click.option("--subject", default=None, help="Only this subject (default: one panel each).")
@click.option("--title", default=None, help="Figure title.")
@click.option(
    "--run",
    "run_index",
    type=int,
    default=-1,
    show_default=True,
    help="Which run of a subject to draw when FILE holds several (0 the first, -1 the last).",
)
def plot_command(
    file: Path, out_path: Path | None, subject: str | None, title: str | None, run_index: int
) -> None:
    """Plot the emotion messages (and protocol markers) recorded in FILE."""
    from helo_stream.plots.timeline import plot_timeline, read_session

    session = read_session(file)
    out = out_path if out_path is not None else file.with_suffix(".png")
    try:
        summary = plot_timeline(session, out=out, subject=subject, title=title, run=run_index)
    except ValueError as err:
        raise click.ClickException(f"{file}: {err}") from err
    conditions = ", ".join(sorted({c["condition"] for c in summary["conditions"]})) or "none"
    click.echo(
        f"wrote {out}: {summary['messages']} message(s) of {len(summary['subjects'])} "
        f"subject(s), {len(session.markers)} marker(s), conditions: {conditions}"
        + (f"; skipped {session.n_skipped} other line(s)" if session.n_skipped else ""),
        err=True,
    )
    for (pipeline, name), n in summary["runs"].items():
        if n > 1:
            click.echo(
                f"note: {name} ({pipeline}) has {n} runs in {file.name} (--out appends); "
                f"drew run {run_index} (--run picks another)",
                err=True,
            )
