"""``helo-stream train``: fit the pipeline's model on recordings and write its checkpoint.

The checkpoint is written to ``OUT/<name of the pipeline's checkpoint file>``, so training with
``--out checkpoints`` replaces what ``pipelines/wesad_live.yaml`` loads. Training state is saved
after every epoch in ``OUT/.<name>.train-state/``; running the same command again after an
interruption resumes there (``--no-resume`` starts over), and the folder is removed once the
checkpoint is written.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import click

from helo_stream.config import Pipeline
from helo_stream.recordings.base import RecordingError


def resolve_data(pipeline: Pipeline, data: Path | None) -> Path:
    """``--data`` or the pipeline's ``training.data`` (relative to the pipeline file)."""
    if data is not None:
        return data
    configured = pipeline.config.training.data
    if configured is None:
        raise click.UsageError(
            "no training data: pass --data PATH (a subject folder or a folder of subject "
            f"folders) or set training.data in {pipeline.path}"
        )
    return configured if configured.is_absolute() else (pipeline.path.parent / configured)


def alignment_lines(subjects: list[Any]) -> list[str]:
    """One line per subject: the E4/chest-strap offset, its confidence, and whether it is used."""
    from helo_stream.datasets.subjects import alignment_rows

    lines = []
    for row in alignment_rows(subjects):
        offset = "–" if row["offset_s"] is None else f"{row['offset_s']:8.2f} s"
        conf = "–" if row["confidence"] is None else f"{row['confidence']:.2f}"
        state = "used" if row["used"] else f"NOT USED: {row['excluded_reason']}"
        lines.append(
            f"  {row['subject']:<5} offset {offset} ({row['method']}, confidence {conf}), "
            f"{row['n_labelled']:5d} labelled windows  {state}"
        )
    return lines


def checkpoint_metadata(
    fitted: Any, subjects: list[Any], pipeline: Pipeline, data: Path, settings: Any
) -> dict[str, Any]:
    """Provenance stored in the checkpoint, including the training-set references."""
    from datetime import datetime, timezone

    import torch

    from helo_stream import __version__
    from helo_stream.datasets.dmer import dmer_provenance
    from helo_stream.datasets.subjects import alignment_rows

    history = fitted.result.history
    best = history[fitted.result.best_epoch - 1] if history else {}
    multilabel = "present_min_rating" in fitted.extra
    if multilabel:
        labels_source = (
            "PANAS (20) + stressed, frustrated, happy, sad; an item is present in every window "
            f"of a condition when rated >= {fitted.extra['present_min_rating']} (1-5)"
        )
    else:
        labels_source = (
            "PANAS (20) + stressed, frustrated, happy, sad; ratings 1-5 per condition "
            "normalised to sum 1"
        )
    extra: dict[str, Any] = {}
    if multilabel:
        extra = {
            "present_min_rating": fitted.extra["present_min_rating"],
            "threshold": fitted.predictor.threshold,
            "label_prevalence": fitted.extra["label_prevalence"].tolist(),
            "condition_label_prevalence": {
                c: v.tolist() for c, v in fitted.extra["condition_label_prevalence"].items()
            },
        }
    return {
        "dataset": "WESAD (Schmidt et al., ICMI 2018), Empatica E4 wrist signals",
        "data": str(data),
        "pipeline": pipeline.name,
        "method": fitted.method,
        "labels_source": labels_source,
        # DMER data names itself (the dataset reader picks the layout the same way)
        **(dmer_provenance(data, present_min_rating=fitted.extra.get("present_min_rating")) or {}),
        **extra,
        **({"members": fitted.extra["members"]} if "members" in fitted.extra else {}),
        "train_subjects": list(fitted.train_subjects),
        "val_subjects": [str(g) for g in fitted.result.val_groups],
        "excluded_subjects": {s.subject: s.excluded_reason for s in subjects if not s.usable},
        "alignment": [
            {k: row[k] for k in ("subject", "used", "method", "offset_s", "confidence")}
            for row in alignment_rows(subjects)
        ],
        "n_fit_windows": fitted.n_train_windows,
        "best_epoch": fitted.result.best_epoch,
        "epochs_run": len(history),
        "best_val": {k: v for k, v in best.items() if k.startswith("val_")},
        "fit_settings": settings.to_dict(),
        "window_length_s": pipeline.config.window.length_s,
        "window_step_s": pipeline.config.training.step_s,
        "calibration_s": pipeline.config.model.calibration_s,
        "normalization": pipeline.config.model.normalization,
        "population_mean_distribution": fitted.population_mean.tolist(),
        "condition_mean_distributions": {c: v.tolist() for c, v in fitted.condition_means.items()},
        "train_seconds": round(fitted.seconds, 1),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "helo_stream_version": __version__,
        "torch_version": str(torch.__version__),
    }


@click.command("train")
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for the checkpoint (named as in the pipeline's model.checkpoint).",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="A subject folder or a folder of subject folders (default: training.data).",
)
@click.option(
    "--method",
    type=click.Choice(
        ["helo", "helo_no_ot", "helo_no_label_corr", "helo_no_condition", "mlp", "tailor"]
    ),
    default=None,
    help="Model to train (default: the pipeline's model.name).",
)
@click.option("--seed", type=int, default=None, help="Override training.seed.")
@click.option(
    "--epochs", type=click.IntRange(min=1), default=None, help="Override training.epochs."
)
@click.option(
    "--train-stride",
    type=click.IntRange(min=1),
    default=None,
    help="Keep every n-th labelled window for training (default 3).",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Feature cache (default $HELO_STREAM_CACHE/features or ~/.cache/helo-stream/features).",
)
@click.option("--no-cache", is_flag=True, help="Compute features without caching them.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes for feature extraction.",
)
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Continue an interrupted run found in OUT.",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Progress bars (on a terminal).",
)
def train_command(
    config: Path,
    out_dir: Path,
    data: Path | None,
    method: str | None,
    seed: int | None,
    epochs: int | None,
    train_stride: int | None,
    cache_dir: Path | None,
    no_cache: bool,
    jobs: int,
    resume: bool,
    progress: bool,
) -> None:
    """Train the model of pipeline CONFIG on the recordings at --data, write the checkpoint."""
    import torch

    from helo_stream.config import load_pipeline
    from helo_stream.datasets.subjects import default_cache_dir, load_subjects  # any layout
    from helo_stream.models import save_checkpoint
    from helo_stream.training.fitting import METHODS, FitSettings, fit_model

    torch.set_num_threads(1)
    pipeline = load_pipeline(config, check_checkpoint=False)
    data_path = resolve_data(pipeline, data)
    method = method or pipeline.config.model.name
    if METHODS[method][0] != pipeline.config.model.name:
        raise click.UsageError(
            f"--method {method} does not fit the pipeline's model.name "
            f"{pipeline.config.model.name!r}"
        )
    settings = FitSettings.from_pipeline(
        pipeline, seed=seed, epochs=epochs, train_stride=train_stride
    )
    cache = None if no_cache else (cache_dir or default_cache_dir())
    click.echo(f"reading {data_path} (windows every {pipeline.config.training.step_s:g} s)")
    subjects = load_subjects(data_path, pipeline, cache_dir=cache, jobs=jobs, progress=progress)
    for line in alignment_lines(subjects):
        click.echo(line)
    usable = [s for s in subjects if s.usable]
    if not usable:
        raise RecordingError(
            "no recording has windows inside a rated protocol condition; nothing to train on",
            path=data_path,
        )
    target = out_dir / pipeline.checkpoint_path.name
    state_dir = out_dir / f".{target.stem}.train-state"
    if not resume and state_dir.exists():
        shutil.rmtree(state_dir)
    max_epochs = settings.epochs
    if method == "tailor":
        from helo_stream.training.tailor_trainer import tailor_epochs

        max_epochs = tailor_epochs(settings.epochs, settings.tailor_settings)
    click.echo(
        f"training {method} on {len(usable)} subject(s), seed {settings.seed}, "
        f"up to {max_epochs} epochs"
    )
    try:
        fitted = fit_model(
            method,
            subjects,
            pipeline,
            settings=settings,
            progress=progress,
            checkpoint_dir=state_dir,
        )
    except ValueError as err:
        if "was saved by a different model, data set or" in str(err):
            raise click.ClickException(f"{err} (or pass --no-resume)") from err
        raise
    result = fitted.result
    if result.resumed_from_epoch:
        click.echo(f"resumed after epoch {result.resumed_from_epoch}")
    best = result.history[result.best_epoch - 1] if result.history else {}
    if "val_loss" in best and "val_jaccard_accuracy" in best:
        click.echo(
            f"best epoch {result.best_epoch}/{len(result.history)}: validation BCE "
            f"{best['val_loss']:.4f}, Jaccard accuracy {best['val_jaccard_accuracy']:.3f} on "
            f"held-out training subjects {', '.join(map(str, result.val_groups))}"
        )
    elif "val_loss" in best:
        members = fitted.extra.get("members")
        click.echo(
            f"{'member 1 of ' + str(len(members)) + ': ' if members else ''}"
            f"best epoch {result.best_epoch}/{len(result.history)}: validation KL "
            f"{best['val_loss']:.4f}, Chebyshev {best['val_chebyshev']:.4f} on held-out "
            f"training subjects {', '.join(map(str, result.val_groups))}"
        )
        for k, member in enumerate(members or [], start=1):
            if k > 1:
                click.echo(
                    f"member {k} of {len(members)}: best epoch {member['best_epoch']}/"
                    f"{member['epochs_run']}, held-out training subjects "
                    f"{', '.join(member['val_subjects'])}"
                )
    sha = save_checkpoint(
        target,
        model=fitted.predictor.model,
        model_name=fitted.predictor.model_name,  # type: ignore[arg-type]
        model_config=fitted.model_config,
        labels=list(pipeline.labels),
        feature_names={k: list(v) for k, v in fitted.predictor.feature_names.items()},
        normalizer=fitted.normalizer,
        metadata=checkpoint_metadata(fitted, subjects, pipeline, data_path, settings),
    )
    shutil.rmtree(state_dir, ignore_errors=True)
    size = target.stat().st_size
    click.echo(f"wrote {target} ({size / 1024:.0f} KiB, sha256 {sha[:16]}…)")
