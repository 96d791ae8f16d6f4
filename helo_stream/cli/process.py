"""``helo-stream process``: a whole recording through a pipeline as fast as the CPU allows.

No LSL, no sleeping: :func:`helo_stream.pipeline.offline.process_recording` computes every
window, and this command writes one ``helo-stream/emotion/1`` message per window as JSON lines
(the format ``listen --out`` records, so ``helo-stream plot`` reads either), or Parquet when
the file ends in ``.parquet`` and pyarrow is installed. Each line is written whole and flushed
in blocks, so Ctrl-C leaves a valid file holding the windows written so far.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import click

__all__ = ["process_command", "write_json_lines"]

#: Lines between flushes: a reader following the file sees progress, and few syscalls are made.
FLUSH_EVERY = 1000


def write_json_lines(messages: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """Write each message as one JSON line; returns how many were written.

    Every line goes out in a single ``write`` call, so an interruption (Ctrl-C raises
    ``KeyboardInterrupt`` between calls) never leaves half a line; the count then says how
    many whole lines the file holds (read it from the exception's ``written`` attribute).
    """
    written = 0
    try:
        for message in messages:
            out.write(json.dumps(message, allow_nan=False) + "\n")
            written += 1
            if written % FLUSH_EVERY == 0:
                out.flush()
    except KeyboardInterrupt as interrupt:
        interrupt.written = written  # type: ignore[attr-defined]
        raise
    finally:
        out.flush()
    return written


def _write_parquet(messages: Iterable[dict[str, Any]], path: Path) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:
        raise click.UsageError(
            "writing Parquet needs pyarrow (pip install pyarrow); or write JSON lines (.jsonl)"
        ) from err
    rows = list(messages)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return len(rows)


@click.command("process")
@click.argument("recording", type=click.Path(path_type=Path))
@click.option(
    "--pipeline",
    "pipeline_file",
    type=click.Path(path_type=Path),
    required=True,
    help="Pipeline file (its stages, window and model are used).",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file: JSON lines (one message per window; '-' for stdout), or .parquet.",
)
@click.option(
    "--step",
    "step_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Window step in seconds [default: the pipeline's window.step_s].",
)
@click.option("--subject", default=None, help="Subject name in the messages [the recording's].")
@click.option(
    "--engine",
    type=click.Choice(["incremental", "batch"]),
    default=None,
    help="Feature engine [the pipeline default]; 'batch' re-processes every window (reference).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no summary.")
def process_command(
    recording: Path,
    pipeline_file: Path,
    out_path: Path,
    step_s: float | None,
    subject: str | None,
    engine: str | None,
    quiet: bool,
) -> None:
    """Compute every window of RECORDING with --pipeline and write its messages to --out."""
    import time

    from helo_stream.config import load_pipeline
    from helo_stream.pipeline.offline import process_recording
    from helo_stream.recordings import detect_format

    pipeline = load_pipeline(pipeline_file)
    detect_format(recording)  # a bad path fails before any output file is touched
    to_stdout = str(out_path) == "-"
    parquet = out_path.suffix.lower() == ".parquet"
    written = 0
    interrupted = False
    # Opened now, so even an interrupted run leaves a (valid, possibly empty) file.
    out = None
    if not parquet:
        out = sys.stdout if to_stdout else out_path.open("w", encoding="utf-8")
    try:
        result = process_recording(
            pipeline,
            recording,
            step_s=step_s,
            subject=subject,
            engine=engine or "incremental",  # type: ignore[arg-type]
            progress=not quiet,
        )
        t0 = time.perf_counter()
        messages = result.messages()
        if not quiet:
            from tqdm.auto import tqdm

            messages = tqdm(messages, total=len(result), desc="write", unit="win", file=sys.stderr)
        if parquet:
            written = _write_parquet(messages, out_path)
        else:
            assert out is not None
            written = write_json_lines(messages, out)
        result.times.write_s = time.perf_counter() - t0
    except KeyboardInterrupt as interrupt:
        interrupted = True
        written = getattr(interrupt, "written", written)
    except Exception:
        if out is not None and not to_stdout:
            out.close()
            out_path.unlink(missing_ok=True)  # nothing was computed: leave no empty file behind
            out = None
        raise
    finally:
        if out is not None and not to_stdout:
            out.close()
    where = "stdout" if to_stdout else str(out_path)
    if interrupted:
        click.echo(
            f"helo-stream process: interrupted; {written} window(s) written to {where}", err=True
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)  # skip torch's interpreter teardown: Ctrl-C should end at once
    if not quiet:
        times = result.times
        factor = result.duration_s / times.total_s if times.total_s > 0 else float("inf")
        click.echo(
            f"helo-stream process: {written} window(s) of {result.subject} "
            f"({result.n_skipped} skipped) -> {where} in {times.total_s:.1f} s "
            f"(read {times.read_s:.1f}, features {times.features_s:.1f}, model "
            f"{times.model_s:.1f}, write {times.write_s:.1f}); {factor:.0f}x real time",
            err=True,
        )
