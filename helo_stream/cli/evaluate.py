"""``helo-stream evaluate``: score a checkpoint on recordings, or run the full LOSO comparison.

Without ``--loso`` the pipeline's checkpoint (or ``--checkpoint``) predicts every labelled
window of each recording at ``--data``, next to the trivial population-mean predictor and the
condition oracle stored in the checkpoint (means of its training targets), and next to the
classical reference method (:mod:`helo_stream.evaluation.forest`) fitted here on those of the
checkpoint's training subjects that ``--data`` holds. Subjects the checkpoint was trained on are
flagged: their scores are in-sample.

With ``--loso`` every method (HeLo, its two ablations, the late-fusion MLP, multi-label TAILOR,
the random forest) is trained once per held-out subject on the others, and scored against the
same references on both tasks (label distributions, and which labels are present); this is the
honest subject-independent estimate. Both also score how well each distribution separates the
protocol conditions (decoding), and write ``NAME.md``, ``NAME.json`` and ``NAME.png`` to
``--out``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from helo_stream.recordings.base import RecordingError

_DEFAULT_METHODS = (
    "helo",
    "helo_no_ot",
    "helo_no_label_corr",
    "helo_no_condition",
    "mlp",
    "tailor",
)


def _command_line(parts: list[str]) -> str:
    return " ".join(["helo-stream", "evaluate", *parts])


def checkpoint_result(
    predictor: Any, subjects: list[Any], pipeline: Any, *, checkpoint: Path
) -> Any:
    """An :class:`EvaluationResult` of one checkpoint on the labelled windows of ``subjects``.

    The random forest (:mod:`helo_stream.evaluation.forest`) is fitted on the checkpoint's
    training subjects found among ``subjects``, z-scored with the checkpoint's normaliser
    statistics, with its fit seed and ``train_stride``, and read out through the checkpoint's
    condition means; it is left out (with a note) when none of them is there or the checkpoint
    stores no condition means.
    """
    import numpy as np

    from helo_stream.datasets.subjects import alignment_rows
    from helo_stream.evaluation.baselines import oracle_predictions
    from helo_stream.evaluation.decoding import decoding_info, decoding_scores
    from helo_stream.evaluation.loso import (
        FOREST,
        EvaluationResult,
        per_window_metrics,
        sample_windows,
    )
    from helo_stream.training.fitting import METHODS, predict_session

    meta = predictor.metadata

    # Name the model as in LOSO reports (an ablation keeps its name); a foreign one "model".
    model = meta.get("method") if meta.get("method") in METHODS else predictor.model_name
    methods = [model]
    pop = meta.get("population_mean_distribution")
    cond_means = meta.get("condition_mean_distributions")
    has_refs = pop is not None and cond_means is not None
    trained_on = set(meta.get("train_subjects", []))
    forest, forest_note = _checkpoint_forest(predictor, subjects, cond_means)
    if forest is not None:
        methods.append(FOREST)
    if has_refs:
        pop = np.asarray(pop, dtype=np.float64)
        cond_means = {k: np.asarray(v, dtype=np.float64) for k, v in cond_means.items()}
        methods += ["population_mean", "condition_oracle"]
    labels = list(predictor.labels)
    per_subject, n_windows, samples, decoding = {}, {}, [], {}
    for s in subjects:
        if not s.usable:
            continue
        y = s.session.targets[s.session.labelled]
        preds = {model: predict_session(predictor, s.session)}
        if forest is not None:
            preds[FOREST] = forest.predict_session(s.session, predictor.new_normalizer())
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
        decoding[s.subject] = {
            m: decoding_scores(preds[m], conds, labels, means=cond_means) for m in methods
        }
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
    notes.append(forest_note)
    if in_sample:
        notes.append(
            f"IN-SAMPLE: {', '.join(in_sample)} were training subjects of this checkpoint "
            "(and of the random forest, where it was fitted); their scores overstate what it "
            "does on new people (use --loso for an honest estimate)."
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
        labels=labels,
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
        timings={} if forest is None else {"fit_seconds_total": {FOREST: forest.seconds}},
        notes=notes,
        per_subject_decoding=decoding,
        decoding=decoding_info(labels, conditions=sorted(cond_means or {})),
        **(multilabel or {}),
    )


def _checkpoint_forest(
    predictor: Any, subjects: list[Any], condition_means: dict[str, Any] | None
) -> tuple[Any, str]:
    """The random forest of a checkpoint evaluation and the report's note about it.

    Returns ``(forest or None, note)``: fitted on the checkpoint's training subjects that are in
    ``subjects`` (with labelled windows), z-scored with the checkpoint's normaliser statistics,
    every ``train_stride``-th labelled window, seeded with the checkpoint's fit seed.
    """
    import numpy as np

    from helo_stream.evaluation.forest import FOREST_PARAMS, fit_forest_on_subjects

    meta = predictor.metadata
    trained = list(meta.get("train_subjects", []))
    fit = meta.get("fit_settings") or {}
    seed, stride = int(fit.get("seed", 0)), int(fit.get("train_stride", 3))
    found = [s for s in subjects if s.usable and s.subject in set(trained)]
    if condition_means is None:
        return None, (
            "Random forest → condition means left out: the checkpoint stores no condition "
            "means to read its condition probabilities out with."
        )
    if not found:
        return None, (
            "Random forest → condition means left out: none of the checkpoint's training "
            f"subjects ({', '.join(trained) or 'unknown'}) has labelled windows in --data, so "
            "there is nothing to fit it on."
        )
    means = {k: np.asarray(v, dtype=np.float64) for k, v in condition_means.items()}
    forest = fit_forest_on_subjects(
        found,
        predictor.new_normalizer(),
        means,
        stride=stride,
        seed=seed,
        modalities=list(predictor.feature_names),
    )
    names = [s.subject for s in found]
    missing = sorted(set(trained) - set(names))
    note = (
        f"Random forest → condition means (classical reference): fitted here on the "
        f"checkpoint's training subjects found in --data ({', '.join(names)}; "
        f"{len(names)} of {len(trained)}), z-scored with the checkpoint's normaliser "
        f"statistics, one labelled window in {stride} ({forest.n_train_windows} windows), "
        f"{FOREST_PARAMS['n_estimators']} trees, seed {seed}; its condition probabilities are "
        "mixed over the checkpoint's condition means."
    )
    if missing:
        note += f" Not in --data, so not fitted on: {', '.join(missing)}."
    return forest, note


def _checkpoint_multilabel(predictor: Any, subjects: list[Any], *, model: str) -> dict[str, Any]:
    """The multi-label task of a multi-label checkpoint: its presence scores over its threshold
    against presence targets read from the recordings, next to the majority label sets of its
    training windows (stored in its metadata) when they are there."""
    import numpy as np

    from helo_stream.evaluation.loso import MULTILABEL_METRICS, majority_sets
    from helo_stream.metrics.multilabel import multilabel_metrics
    from helo_stream.training.fitting import multilabel_targets, predict_session

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
    default=min(4, os.cpu_count() or 1),
    show_default="the CPU count, at most 4",
    help="Processes for feature extraction and LOSO fits (one torch thread each).",
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
    from helo_stream.datasets.subjects import default_cache_dir, load_subjects  # any layout
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
        from helo_stream.evaluation.loso import run_loso
        from helo_stream.training.fitting import FitSettings

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
