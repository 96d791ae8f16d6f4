"""``helo-stream validate``: check a pipeline without starting anything."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from helo_stream.config import ConfigError, ConfigProblem, load_pipeline


def pipeline_problems(path: Path) -> list[ConfigProblem]:
    """Every problem of a pipeline file, including whether its checkpoint fits."""
    try:
        pipeline = load_pipeline(path)
    except ConfigError as err:
        return err.problems
    from helo_stream.models.checkpoint import CheckpointError, load_checkpoint
    from helo_stream.pipeline.features import WindowFeaturizer
    from helo_stream.pipeline.model_stage import checkpoint_problems

    try:
        predictor = load_checkpoint(pipeline.checkpoint_path)
    except CheckpointError as err:
        return [ConfigProblem(path, "model.checkpoint", str(err))]
    featurizer = WindowFeaturizer.from_pipeline(pipeline)
    return checkpoint_problems(pipeline, predictor, featurizer.feature_names)


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate_command(files: tuple[Path, ...]) -> None:
    """Validate pipeline FILES: every problem with its file, field and what was expected."""
    failed = False
    for path in files:
        problems = pipeline_problems(path)
        if problems:
            failed = True
            click.secho(f"{path}: {len(problems)} problem(s)", fg="red", err=True)
            for problem in problems:
                click.echo(f"  {problem}", err=True)
        else:
            click.secho(f"{path}: ok", fg="green")
    sys.exit(1 if failed else 0)
