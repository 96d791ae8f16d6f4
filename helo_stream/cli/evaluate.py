"""``helo-stream evaluate``: score a checkpoint on recordings, or run the full LOSO comparison.

Without ``--loso`` the pipeline's checkpoint (or ``--checkpoint``) predicts every labelled
window of each recording at ``--data``, next to the trivial population-mean predictor and the
condition oracle stored in the checkpoint (means of its training targets). Subjects the
checkpoint was trained on are flagged: their scores are in-sample.

With ``--loso`` every method (HeLo, its two ablations, the late-fusion MLP, multi-label TAILOR)
is trained once per held-out subject on the others, and scored against the same references on
both tasks (label distributions, and which labels are present); this is the honest
subject-independent estimate. Both write ``NAME.md``, ``NAME.json`` and ``NAME.png`` to ``--out``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from helo_stream.recordings.base import RecordingError

_DEFAULT_METHODS = ("helo", "helo_no_ot", "helo_no_label_corr", "mlp", "tailor")


def _command_line(parts: list[str]) -> str:
    return " ".join(["helo-stream", "evaluate", *parts])


def checkpoint_result(
    predictor: Any, subjects: list[Any], pipeline: Any, *, checkpoint: Path
) -> Any:
    """An :class:`EvaluationResult` of one checkpoint on the labelled windows of ``subjects``."""
    import numpy as np

    from helo_stream.datasets.wesad import alignment_rows
    from helo_stream.evaluation.baselines import oracle_predictions
    from helo_stream.evaluation.fitting import predict_session
    from helo_stream.evaluation.loso import EvaluationResult, per_window_metrics, sample_windows

    meta = predictor.metadata
    from helo_stream.evaluation.fitting import METHODS

    # Name the model as in LOSO reports (an ablation keeps its name); a foreign one "model".
    model = meta.get("method") if meta.get("method") in METHODS else predictor.model_name
    methods = [model]
    pop = meta.get("population_mean_distribution")
    cond_means = meta.get("condition_mean_distributions")
    has_refs = pop is not None and cond_means is not None
    if has_refs:
        pop = np.asarray(pop, dtype=np.float64)
        cond_means = {k: np.asarray(v, dtype=np.float64) for k, v in cond_means.items()}
        methods += ["population_mean", "condition_oracle"]
    per_subject, n_windows, samples = {}, {}, []
    trained_on = set(meta.get("train_subjects", []))
    for s in subjects:
        if not s.usable:
            continue
        y = s.session.targets[s.session.labelled]
        preds = {model: predict_session(predictor, s.session)}
        if has_refs:
            conds = s.session.condition[s.session.labelled]
            preds["population_mean"] = np.tile(pop, (len(y), 1))
            preds["condition_oracle"] = oracle_predictions(cond_means, conds, fallback=pop)
        per_subject[s.subject] = {
            m: {k: float(v.mean()) for k, v in per_window_metrics(y, preds[m]).items()}
            for m in methods
        }
        n_windows[s.subject] = len(y)
        ends = s.session.window_end[s.session.labelled]
        conds = s.session.condition[s.session.labelled]
        for i in sample_windows(s.session):
            samples.append(
                {
                    "subject": s.subject,
                    "condition": str(conds[i]),
                    "window_end": float(ends[i]),
                    "true": y[i].tolist(),
                    "pred": {m: preds[m][i].tolist() for m in methods},
                }
            )
    in_sample = sorted(set(per_subject) & trained_on)
    notes = [
        f"Checkpoint {checkpoint} ({predictor.model_name}, sha256 "
        f"{predictor.checkpoint_sha256[:16]}…), trained on "
        f"{', '.join(sorted(trained_on)) or 'unknown subjects'}.",
    ]
    if has_refs:
        notes.append(
            "Population mean and condition oracle are the means of the checkpoint's training "
            "targets (stored in its metadata)."
        )
    if in_sample:
        notes.append(
            f"IN-SAMPLE: {', '.join(in_sample)} were training subjects of this checkpoint; "
            "their scores overstate what it does on new people (use --loso for an honest "
            "estimate)."
        )
    excluded = [f"{s.subject}: {s.excluded_reason}" for s in subjects if not s.usable]
    if excluded:
        notes.append("Not evaluated (no labelled windows): " + "; ".join(excluded))
    multilabel = (
        _checkpoint_multilabel(predictor, subjects, model=model) if predictor.multilabel else None
    )
    return EvaluationResult(
        kind="checkpoint",
        methods=methods,
        labels=list(predictor.labels),
        per_subject=per_subject,
        n_windows=n_windows,
        alignment=alignment_rows(subjects),
        samples=samples,
        settings={
            "checkpoint": str(checkpoint),
            "pipeline": str(pipeline.path),
            "step_s": pipeline.config.training.step_s,
            "window_length_s": pipeline.config.window.length_s,
            "calibration_s": predictor.new_normalizer().calibration_s,
        },
        notes=notes,
        **(multilabel or {}),
    )


def _checkpoint_multilabel(predictor: Any, subjects: list[Any], *, model: str) -> dict[str, Any]:
    """The multi-label task of a multi-label checkpoint: its presence scores over its threshold
    against presence targets read from the recordings, next to the majority label sets of its
    training windows (stored in its metadata) when they are there."""
    import numpy as np

    from helo_stream.evaluation.fitting import multilabel_targets, predict_session
    from helo_stream.evaluation.loso import MULTILABEL_METRICS, majority_sets
    from helo_stream.metrics.multilabel import multilabel_metrics

    meta = predictor.metadata
    min_rating = int(meta.get("present_min_rating", 3))
    truth = multilabel_targets(subjects, predictor.labels, min_rating=min_rating)
    prevalence = meta.get("label_prevalence")
    by_condition = meta.get("condition_label_prevalence") or {}
    rules = {model: f"presence score >= {predictor.threshold}"}
    if prevalence is not None:
        rules["presence_majority"] = "labels present in >= half of the training windows"
        rules["condition_presence_oracle"] = (
            "labels present in >= half of the training windows of the true condition"
        )
    per_subject = {}
    for s in subjects:
        if not s.usable:
            continue
        lab = s.session.labelled
        y = truth[s.subject][lab]
        sets = {model: predict_session(predictor, s.session, scores=True) >= predictor.threshold}
        if prevalence is not None:
            overall = np.asarray(prevalence) >= 0.5
            sets["presence_majority"] = np.tile(overall, (len(y), 1))
            sets["condition_presence_oracle"] = np.stack(
                [
                    majority_sets(np.asarray(by_condition[c])[None, :])
                    if c in by_condition
                    else overall
                    for c in s.session.condition[lab].astype(str)
                ]
            )
        per_subject[s.subject] = {
            m: {k: v for k, v in multilabel_metrics(y, p).items() if k in MULTILABEL_METRICS}
            for m, p in sets.items()
        }
    return {
        "multilabel_methods": list(rules),
        "per_subject_multilabel": per_subject,
        "multilabel_rules": rules,
    }


@click.command("evaluate")
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "--data",
    required=True,
    type=click.Path(path_type=Path),
    help="A subject folder or a folder of subject folders.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for NAME.md, NAME.json and NAME.png.",
)
@click.option(
    "--checkpoint",
    type=click.Path(path_type=Path),
    default=None,
    help="Checkpoint to score (default: the pipeline's). Not used with --loso.",
)
@click.option(
    "--loso", is_flag=True, help="Train and score every method leave-one-subject-out instead."
)
@click.option(
    "--methods",
    default=",".join(_DEFAULT_METHODS),
    show_default=True,
    help="With --loso: trained methods to compare (comma-separated).",
)
@click.option(
    "--name",
    default=None,
    help="Report file name (default loso_<data folder> or eval_<data folder>).",
)
@click.option("--seed", type=int, default=None, help="With --loso: override training.seed.")
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="With --loso: override training.epochs.",
)
@click.option(
    "--train-stride",
    type=click.IntRange(min=1),
    default=None,
    help="With --loso: keep every n-th labelled training window (default 3).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes for feature extraction and LOSO fits.",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Feature cache (default $HELO_STREAM_CACHE/features or ~/.cache/helo-stream/features).",
)
@click.option(
    "--no-cache", is_flag=True, help="Neither read nor write cached features or finished LOSO fits."
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Progress bars (on a terminal).",
)
def evaluate_command(
    config: Path,
    data: Path,
    out_dir: Path,
    checkpoint: Path | None,
    loso: bool,
    methods: str,
    name: str | None,
    seed: int | None,
    epochs: int | None,
    train_stride: int | None,
    jobs: int,
    cache_dir: Path | None,
    no_cache: bool,
    progress: bool,
) -> None:
    """Score models on the recordings at --data; write a Markdown + JSON report and a figure."""
    import torch

    from helo_stream.config import ConfigError, load_pipeline
    from helo_stream.datasets.wesad import default_cache_dir, load_subjects  # any layout
    from helo_stream.evaluation.report import write_report
    from helo_stream.pipeline.features import WindowFeaturizer

    torch.set_num_threads(1)
    pipeline = load_pipeline(config, check_checkpoint=False)
    cache = None if no_cache else (cache_dir or default_cache_dir())
    data_name = data.resolve().name
    subjects = load_subjects(data, pipeline, cache_dir=cache, jobs=jobs, progress=progress)
    usable = [s for s in subjects if s.usable]
    if not usable:
        reasons = "; ".join(f"{s.subject}: {s.excluded_reason}" for s in subjects)
        raise RecordingError(f"no labelled windows to evaluate ({reasons})", path=data)
    if loso:
        from helo_stream.evaluation.fitting import FitSettings
        from helo_stream.evaluation.loso import run_loso

        if checkpoint is not None:
            raise click.UsageError("--checkpoint cannot be combined with --loso")
        chosen = [m.strip() for m in methods.split(",") if m.strip()]
        settings = FitSettings.from_pipeline(
            pipeline, seed=seed, epochs=epochs, train_stride=train_stride
        )
        if len(usable) < 3:
            raise RecordingError(
                f"LOSO needs at least 3 subjects with labelled windows, found {len(usable)}",
                path=data,
            )
        try:
            result = run_loso(
                subjects,
                pipeline,
                settings=settings,
                methods=chosen,
                jobs=jobs,
                work_dir=None if cache is None else cache.parent / "loso",
                progress=progress,
                log=click.echo,
            )
        except ValueError as err:
            raise click.UsageError(str(err)) from err
        parts = [str(config), "--data", str(data), "--out", str(out_dir), "--loso"]
        if chosen != list(_DEFAULT_METHODS):
            parts += ["--methods", ",".join(chosen)]
        for flag, value in (
            ("--seed", seed),
            ("--epochs", epochs),
            ("--train-stride", train_stride),
            ("--name", name),
        ):
            if value is not None:
                parts += [flag, str(value)]
        name = name or f"loso_{data_name}"
        title = f"LOSO comparison on {data_name} ({pipeline.name})"
    else:
        from helo_stream.models.checkpoint import load_checkpoint
        from helo_stream.pipeline.model_stage import checkpoint_problems

        ckpt = checkpoint or pipeline.checkpoint_path
        predictor = load_checkpoint(ckpt)
        featurizer = WindowFeaturizer.from_pipeline(pipeline)
        problems = checkpoint_problems(pipeline, predictor, featurizer.feature_names)
        if problems:
            raise ConfigError(problems)
        result = checkpoint_result(predictor, subjects, pipeline, checkpoint=ckpt)
        parts = [str(config), "--data", str(data), "--out", str(out_dir)]
        if checkpoint is not None:
            parts += ["--checkpoint", str(checkpoint)]
        name = name or f"eval_{data_name}"
        title = f"Checkpoint {Path(ckpt).name} on {data_name}"
    paths = write_report(result, out_dir, name=name, title=title, command=_command_line(parts))
    for path in paths.values():
        click.echo(f"wrote {path}")
