"""Subject-independent leave-one-subject-out (LOSO) comparison of HeLo and its baselines.

For every subject with labelled windows, each method is trained on the other subjects only
(normaliser statistics, early-stopping subjects, label correlation and references included) and
scored on every labelled window of the held-out subject. Subjects without labelled windows (a
failed E4/chest-strap alignment) are listed and take no part in any fold.

The multi-label task is scored on the same folds and windows: TAILOR's presence scores over its
threshold, and every distribution (HeLo, ablations, MLP, random forest, references) turned into
a label set by :func:`~helo_stream.datasets.multilabel.distribution_to_multilabel` (a label is
present when its probability is at least ``1 / L``, i.e. above uniform), against presence
targets (rated at least ``present_min_rating``). Two multi-label references come from each
fold's training windows: the labels present in at least half of them, and the same per true
condition (an oracle).

Next to the trained models, every fold fits the classical reference method of
:mod:`helo_stream.evaluation.forest` (a random forest predicting the protocol condition from the
same z-scored window features, read out through the fold's condition means) on the same
training subjects, and every distribution method is scored on decoding the protocol conditions
(:mod:`helo_stream.evaluation.decoding`) with the fold's condition means.

Each ``(test subject, method)`` task (the forest is a task of its own) is independent, so tasks
run in worker processes on request, and finished tasks are stored in ``work_dir`` (keyed by data
and settings; the forest's files also by its version and parameters) so an interrupted
comparison resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from helo_stream.config import Pipeline, load_pipeline
from helo_stream.datasets.multilabel import distribution_to_multilabel
from helo_stream.datasets.subjects import SubjectData, alignment_rows
from helo_stream.evaluation.baselines import oracle_predictions
from helo_stream.evaluation.decoding import decoding_info, decoding_scores
from helo_stream.evaluation.forest import FOREST_PARAMS, fit_forest_on_subjects
from helo_stream.metrics.distribution import MEASURES
from helo_stream.metrics.multilabel import multilabel_metrics
from helo_stream.pipeline.features import WindowFeaturizer
from helo_stream.training.fitting import (
    METHODS,
    MULTILABEL_METHODS,
    FitSettings,
    fit_model,
    fit_normalizer,
    modality_specs,
    multilabel_targets,
    predict_session,
    training_arrays,
)
from helo_stream.training.references import condition_means

__all__ = [
    "CLASSICAL",
    "FOREST",
    "METRICS",
    "MULTILABEL_METRICS",
    "MULTILABEL_REFERENCES",
    "REFERENCES",
    "EvaluationResult",
    "Fold",
    "loso_folds",
    "per_window_metrics",
    "run_loso",
    "sample_windows",
]

#: The six Geng measures, per window.
METRICS = MEASURES
#: Reference predictors computed from the training subjects of each fold.
REFERENCES: tuple[str, ...] = ("population_mean", "condition_oracle")
#: The classical reference method (:mod:`helo_stream.evaluation.forest`), fitted in every fold.
FOREST = "random_forest"
#: Untrained-by-torch methods compared like the trained ones (report order: after them).
CLASSICAL: tuple[str, ...] = (FOREST,)
#: Bumped whenever the forest task changes, so stored forest results are never reused stale.
FOREST_TASK_VERSION = 1
#: Multi-label measures reported (keys of
#: :func:`~helo_stream.metrics.multilabel.multilabel_metrics`).
MULTILABEL_METRICS: tuple[str, ...] = (
    "jaccard_accuracy",
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "hamming_loss",
)
#: Multi-label references from each fold's training presence targets.
MULTILABEL_REFERENCES: tuple[str, ...] = ("presence_majority", "condition_presence_oracle")


def per_window_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, np.ndarray]:
    """Each of the six measures for every window ``(N,)``."""
    return {name: fn(y_true, y_pred) for name, fn in METRICS.items()}


@dataclass(frozen=True)
class Fold:
    """One LOSO fold: the held-out subject and the subjects the methods may learn from."""

    test: str
    train: tuple[str, ...]


def loso_folds(subjects: Sequence[str]) -> list[Fold]:
    """One fold per subject; its training side is every other subject."""
    names = list(subjects)
    if len(set(names)) != len(names):
        raise ValueError(f"subject names must be unique, got {names}")
    if len(names) < 2:
        raise ValueError("LOSO needs at least two subjects")
    return [Fold(test=t, train=tuple(s for s in names if s != t)) for t in names]


@dataclass
class EvaluationResult:
    """Per-subject scores of several methods on the same windows, ready for a report.

    Attributes
    ----------
    kind
        ``"loso"`` (each subject scored by models that never saw it) or ``"checkpoint"``
        (one trained model scored on the given subjects).
    methods
        Method names in report order (trained models first, then the random forest, then
        references).
    per_subject
        ``subject -> method -> metric -> mean over that subject's labelled windows``.
    n_windows
        Labelled windows scored per subject.
    alignment
        :func:`helo_stream.datasets.subjects.alignment_rows` of every subject found.
    samples
        A few windows with their true and predicted distributions (for the figure).
    timings
        Seconds: per method, the sum over folds of fitting and the per-fold values.
    settings
        Fit settings and anything else needed to reproduce the result.
    notes
        Plain-text caveats for the report.
    fold_info
        Per subject and trained method: fit time, validation subjects, epochs.
    multilabel_methods
        Methods scored on the multi-label task, in report order (empty: not scored).
    per_subject_multilabel
        ``subject -> method -> multi-label measure`` on the subject's labelled windows.
    multilabel_rules
        ``method -> how its label sets were obtained`` (threshold rule), for the report.
    per_subject_decoding
        ``subject -> method -> decoding measure`` (:mod:`helo_stream.evaluation.decoding`;
        None where it cannot be computed) for every distribution method.
    decoding
        :func:`~helo_stream.evaluation.decoding.decoding_info`: how the decoding measures were
        computed (empty: not scored).
    """

    kind: str
    methods: list[str]
    labels: list[str]
    per_subject: dict[str, dict[str, dict[str, float]]]
    n_windows: dict[str, int]
    alignment: list[dict[str, Any]]
    samples: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    fold_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    multilabel_methods: list[str] = field(default_factory=list)
    per_subject_multilabel: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    multilabel_rules: dict[str, str] = field(default_factory=dict)
    per_subject_decoding: dict[str, dict[str, dict[str, float | None]]] = field(
        default_factory=dict
    )
    decoding: dict[str, Any] = field(default_factory=dict)


def sample_windows(session: Any, *, per_run: int = 1) -> np.ndarray:
    """Indices (into the labelled windows) of the middle window of each labelled run.

    A run is a stretch of consecutive labelled windows of one condition, i.e. one protocol
    condition; two meditations give two runs.
    """
    lab = np.flatnonzero(session.labelled)
    if not len(lab):
        return np.empty(0, dtype=int)
    cond = session.condition[lab]
    breaks = np.flatnonzero((np.diff(lab) != 1) | (cond[1:] != cond[:-1])) + 1
    bounds = np.concatenate([[0], breaks, [len(lab)]])
    picks = []
    for lo, hi in itertools.pairwise(bounds):
        for k in range(per_run):
            picks.append(lo + (hi - lo) * (k + 1) // (per_run + 1))
    return np.asarray(picks, dtype=int)


def _data_fingerprint(subjects: Sequence[SubjectData]) -> str:
    digest = hashlib.sha256()
    for s in subjects:
        digest.update(s.subject.encode())
        digest.update(np.ascontiguousarray(s.session.window_end).tobytes())
        for name in sorted(s.session.table.features):
            digest.update(np.ascontiguousarray(s.session.table.features[name]).tobytes())
        digest.update(np.ascontiguousarray(np.nan_to_num(s.session.targets, nan=-1)).tobytes())
        digest.update(s.session.condition.astype(str).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class _Task:
    test: str
    method: str


def _run_task(
    task: _Task,
    subjects: Sequence[SubjectData],
    pipeline: Pipeline,
    settings: FitSettings,
    *,
    multilabel: dict[str, np.ndarray] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Fit ``task.method`` without ``task.test`` and predict the test subject's windows."""
    if task.method == FOREST:
        return _run_forest_task(task, subjects, pipeline, settings)
    by_name = {s.subject: s for s in subjects}
    test = by_name[task.test]
    train = [s for s in subjects if s.subject != task.test]
    assert all(s.subject != task.test for s in train)
    fitted = fit_model(
        task.method, train, pipeline, settings=settings, progress=progress, multilabel=multilabel
    )
    pred = predict_session(fitted.predictor, test.session)
    y = test.session.targets[test.session.labelled]
    out = {
        "test": task.test,
        "method": task.method,
        "pred": pred,
        "seconds": fitted.seconds,
        "train_subjects": list(fitted.train_subjects),
        "val_subjects": [str(g) for g in fitted.result.val_groups],
        "best_epoch": fitted.result.best_epoch,
        "epochs_run": len(fitted.result.history),
        "n_fit_windows": fitted.n_train_windows,
    }
    if fitted.predictor.multilabel:
        out["scores"] = predict_session(fitted.predictor, test.session, scores=True)
        out["threshold"] = fitted.predictor.threshold
    if task.method == "helo":  # references come from the same training subjects
        cond = test.session.condition[test.session.labelled]
        out["population_mean"] = np.tile(fitted.population_mean, (len(y), 1))
        out["condition_oracle"] = oracle_predictions(
            fitted.condition_means, cond, fallback=fitted.population_mean
        )
    return out


def _run_forest_task(
    task: _Task, subjects: Sequence[SubjectData], pipeline: Pipeline, settings: FitSettings
) -> dict[str, Any]:
    """The random forest of one fold (:mod:`helo_stream.evaluation.forest`).

    Normaliser, condition means and training windows are those of
    :func:`~helo_stream.training.fitting.fit_model` for the same training subjects (same
    functions, same ``train_stride``); the test subject is z-scored by a fresh copy of the
    fold's normaliser streamed through its session, as the models' predictions are. The fold's
    condition means are stored with the result: the decoding measures need them.
    """
    start = time.perf_counter()
    test = next(s for s in subjects if s.subject == task.test)
    train = [s for s in subjects if s.subject != task.test and s.usable]
    if not train:
        raise ValueError("no training subject has labelled windows")
    normalizer = fit_normalizer(train, pipeline)
    _, _, targets, _, conds = training_arrays(train, normalizer, stride=1)
    means = condition_means(targets, conds)
    forest = fit_forest_on_subjects(
        train,
        normalizer,
        means,
        stride=settings.train_stride,
        seed=settings.seed,
        modalities=[m.name for m in modality_specs(pipeline)],
    )
    pred = forest.predict_session(test.session, normalizer)
    return {
        "test": task.test,
        "method": FOREST,
        "pred": pred,
        "seconds": time.perf_counter() - start,
        "forest_fit_seconds": forest.seconds,
        "train_subjects": [s.subject for s in train],
        "val_subjects": [],
        "best_epoch": None,
        "epochs_run": None,
        "n_fit_windows": forest.n_train_windows,
        "forest_classes": list(forest.conditions),
        "condition_means": {c: v.tolist() for c, v in means.items()},
    }


def _forest_key() -> str:
    """What a forest task depends on beyond the shared key: version, parameters, scikit-learn."""
    import sklearn

    spec = {"v": FOREST_TASK_VERSION, "params": FOREST_PARAMS, "sklearn": sklearn.__version__}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


_WORKER: dict[str, Any] = {}


def _init_worker(
    subjects: list[SubjectData],
    pipeline_path: Path,
    settings: FitSettings,
    multilabel: dict[str, np.ndarray],
) -> None:
    import torch

    torch.set_num_threads(1)
    _WORKER.update(
        subjects=subjects,
        pipeline=load_pipeline(pipeline_path, check_checkpoint=False),
        settings=settings,
        multilabel=multilabel,
    )


def _worker_task(task: _Task) -> dict[str, Any]:
    return _run_task(
        task,
        _WORKER["subjects"],
        _WORKER["pipeline"],
        _WORKER["settings"],
        multilabel=_WORKER["multilabel"],
    )


def _task_file(work_dir: Path, task: _Task, *, multilabel_key: str = "") -> Path:
    """Stored result of one task; multi-label methods also depend on their settings and targets,
    the forest on its version and parameters."""
    if task.method == FOREST:
        return work_dir / f"{task.test}__{task.method}-{_forest_key()}.npz"
    if task.method in MULTILABEL_METHODS:
        return work_dir / f"{task.test}__{task.method}-{multilabel_key}.npz"
    return work_dir / f"{task.test}__{task.method}.npz"


def _multilabel_key(settings: FitSettings, multilabel: dict[str, np.ndarray]) -> str:
    """What a multi-label fit depends on beyond the shared key: its settings and targets."""
    digest = hashlib.sha256(json.dumps(settings.tailor, sort_keys=True).encode())
    for name in sorted(multilabel):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(multilabel[name]).tobytes())
    return digest.hexdigest()[:12]


def _save_task(path: Path, out: dict[str, Any]) -> None:
    arrays = {k: v for k, v in out.items() if isinstance(v, np.ndarray)}
    meta = {k: v for k, v in out.items() if not isinstance(v, np.ndarray)}
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    tmp.replace(path)


def _load_task(path: Path) -> dict[str, Any]:
    with np.load(path) as data:
        out = json.loads(str(data["meta"]))
        out.update({k: data[k] for k in data.files if k != "meta"})
    return out


def run_loso(
    subjects: Sequence[SubjectData],
    pipeline: Pipeline,
    *,
    settings: FitSettings,
    methods: Sequence[str] = tuple(METHODS),
    jobs: int = 1,
    work_dir: Path | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    multilabel: dict[str, np.ndarray] | None = None,
) -> EvaluationResult:
    """The full LOSO comparison of ``methods``, the forest and the references, on both tasks.

    Parameters
    ----------
    subjects
        Every subject found; those without labelled windows are reported, not used.
    methods
        Trained methods (keys of :data:`helo_stream.training.fitting.METHODS`); ``"helo"``
        is always run because the references are computed alongside it; the random forest
        (:data:`FOREST`) is always run too, as a task of its own.
    jobs
        Worker processes (one torch thread each).
    work_dir
        Where finished tasks are stored for resuming (None: nothing stored).
    log
        Called with one line per finished task.
    multilabel
        ``subject -> (N, L)`` presence targets of every window
        (:func:`~helo_stream.training.fitting.multilabel_targets`); read from the recordings
        with the settings' ``present_min_rating`` when None.
    """
    from tqdm.auto import tqdm

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; expected some of {list(METHODS)}")
    methods = ["helo", *[m for m in methods if m != "helo"]]
    usable = [s for s in subjects if s.usable]
    folds = loso_folds([s.subject for s in usable])
    tasks = [_Task(f.test, m) for f in folds for m in [*methods, *CLASSICAL]]
    if multilabel is None:
        multilabel = multilabel_targets(
            usable, pipeline.labels, min_rating=settings.tailor_settings.present_min_rating
        )
    ml_key = _multilabel_key(settings, multilabel)
    if work_dir is not None:
        # Only what decides a fit: data (features, targets, conditions), settings, the model's
        # inputs and outputs. Unrelated pipeline settings (publisher, devices) do not count.
        names = WindowFeaturizer.from_pipeline(pipeline).feature_names
        specs = {m.name: [m.role, list(names[m.name])] for m in modality_specs(pipeline)}
        key = hashlib.sha256(
            json.dumps(
                {
                    "data": _data_fingerprint(usable),
                    # TAILOR settings only decide TAILOR fits: they key those files alone.
                    "settings": {k: v for k, v in settings.to_dict().items() if k != "tailor"},
                    "labels": list(pipeline.labels),
                    "calibration_s": pipeline.config.model.calibration_s,
                    "normalization": pipeline.config.model.normalization,
                    "input_clip": pipeline.config.model.input_clip,
                    "modalities": specs,
                },
                sort_keys=True,
            ).encode()
        ).hexdigest()[:16]
        work_dir = Path(work_dir) / key
        work_dir.mkdir(parents=True, exist_ok=True)
    results: dict[_Task, dict[str, Any]] = {}
    todo = []
    for task in tasks:
        path = None if work_dir is None else _task_file(work_dir, task, multilabel_key=ml_key)
        if path is not None and path.is_file():
            results[task] = _load_task(path)
        else:
            todo.append(task)

    def done(task: _Task, out: dict[str, Any]) -> None:
        results[task] = out
        if work_dir is not None:
            _save_task(_task_file(work_dir, task, multilabel_key=ml_key), out)
        if log is not None:
            detail = (
                f"{out['n_fit_windows']} training windows"
                if out.get("epochs_run") is None
                else f"best epoch {out['best_epoch']}/{out['epochs_run']}"
            )
            log(f"{task.method:<20} test {task.test:<4} {out['seconds']:6.1f} s  {detail}")

    bar = tqdm(
        total=len(tasks), initial=len(results), desc="LOSO", unit="fit", disable=not progress
    )
    wall = time.perf_counter()
    if jobs <= 1:
        for task in todo:
            done(task, _run_task(task, usable, pipeline, settings, multilabel=multilabel))
            bar.update()
    elif todo:
        with ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(list(usable), pipeline.path, settings, multilabel),
        ) as pool:
            futures = {pool.submit(_worker_task, t): t for t in todo}
            for fut in as_completed(futures):
                done(futures[fut], fut.result())
                bar.update()
    bar.close()
    wall = time.perf_counter() - wall
    result = _collect(
        results,
        usable,
        subjects,
        methods,
        settings,
        pipeline,
        wall=wall,
        jobs=jobs,
        n_run=len(todo),
    )
    _score_multilabel(result, results, usable, methods, multilabel)
    return result


def _collect(
    results: dict[_Task, dict[str, Any]],
    usable: Sequence[SubjectData],
    subjects: Sequence[SubjectData],
    methods: Sequence[str],
    settings: FitSettings,
    pipeline: Pipeline,
    *,
    wall: float,
    jobs: int,
    n_run: int,
) -> EvaluationResult:
    fitted = [*methods, *CLASSICAL]
    all_methods = [*fitted, *REFERENCES]
    labels = list(pipeline.labels)
    per_subject: dict[str, dict[str, dict[str, float]]] = {}
    decoding: dict[str, dict[str, dict[str, float | None]]] = {}
    fold_conditions: set[str] = set()
    n_windows: dict[str, int] = {}
    samples: list[dict[str, Any]] = []
    fold_info: dict[str, dict[str, Any]] = {}
    for s in usable:
        y = s.session.targets[s.session.labelled]
        preds = {m: np.asarray(results[_Task(s.subject, m)]["pred"]) for m in fitted}
        helo = results[_Task(s.subject, "helo")]
        preds.update({r: helo[r] for r in REFERENCES})
        per_subject[s.subject] = {
            m: {k: float(v.mean()) for k, v in per_window_metrics(y, preds[m]).items()}
            for m in all_methods
        }
        n_windows[s.subject] = len(y)
        fold_info[s.subject] = {
            m: {
                k: results[_Task(s.subject, m)][k]
                for k in (
                    "seconds",
                    "val_subjects",
                    "best_epoch",
                    "epochs_run",
                    "n_fit_windows",
                    "threshold",  # multi-label methods: chosen on the validation subjects
                )
                if k in results[_Task(s.subject, m)]
            }
            for m in fitted
        }
        fold_info[s.subject]["train_subjects"] = helo["train_subjects"]
        ends = s.session.window_end[s.session.labelled]
        conds = s.session.condition[s.session.labelled]
        # The fold's condition means (training subjects only), stored with its forest task.
        means = {
            c: np.asarray(v, dtype=np.float64)
            for c, v in results[_Task(s.subject, FOREST)]["condition_means"].items()
        }
        fold_conditions.update(means)
        decoding[s.subject] = {
            m: decoding_scores(preds[m], conds, labels, means=means) for m in all_methods
        }
        for i in sample_windows(s.session):
            samples.append(
                {
                    "subject": s.subject,
                    "condition": str(conds[i]),
                    "window_end": float(ends[i]),
                    "true": y[i].tolist(),
                    "pred": {m: preds[m][i].tolist() for m in all_methods},
                }
            )
    fit_seconds = {
        m: {s.subject: float(results[_Task(s.subject, m)]["seconds"]) for s in usable}
        for m in fitted
    }
    excluded = [f"{s.subject}: {s.excluded_reason}" for s in subjects if not s.usable]
    notes = [
        f"Leave-one-subject-out over the {len(usable)} subjects with labelled windows; every "
        "normaliser statistic, early-stopping subject, label correlation and reference of a "
        "fold comes from its training subjects only.",
    ]
    if excluded:
        notes.append("Not used (no labelled windows): " + "; ".join(excluded))
    notes.append(
        "Random forest → condition means: a classical reference method fitted in every fold on "
        "the same z-scored window features and training windows as the neural methods "
        f"({FOREST_PARAMS['n_estimators']} trees, min. {FOREST_PARAMS['min_samples_leaf']} "
        "windows per leaf, NaN features left to the forest), predicting the protocol condition; "
        "its distribution is the predicted condition probabilities mixed over the fold's "
        "condition means."
    )
    return EvaluationResult(
        kind="loso",
        methods=all_methods,
        labels=labels,
        per_subject=per_subject,
        n_windows=n_windows,
        alignment=alignment_rows(subjects),
        samples=samples,
        timings={
            "fit_seconds_total": {m: float(sum(v.values())) for m, v in fit_seconds.items()},
            "fit_seconds_per_fold": fit_seconds,
            "wall_seconds_this_run": wall,
            "tasks_run_this_run": n_run,
            "jobs": jobs,
            "cpu_count": os.cpu_count(),
        },
        settings={
            "fit": settings.to_dict(),
            "pipeline": str(pipeline.path),
            "step_s": float(np.median(np.diff(usable[0].session.window_end)))
            if usable and len(usable[0].session) > 1
            else None,
            "window_length_s": pipeline.config.window.length_s,
            "calibration_s": pipeline.config.model.calibration_s,
            "normalization": pipeline.config.model.normalization,
            "input_clip": pipeline.config.model.input_clip,
        },
        notes=notes,
        fold_info=fold_info,
        per_subject_decoding=decoding,
        decoding=decoding_info(labels, conditions=sorted(fold_conditions)),
    )


def majority_sets(presence: np.ndarray) -> np.ndarray:
    """``(L,)`` bool: the labels present in at least half of ``presence`` ``(N, L)``."""
    return np.asarray(presence, dtype=bool).mean(axis=0) >= 0.5


def _score_multilabel(
    result: EvaluationResult,
    results: dict[_Task, dict[str, Any]],
    usable: Sequence[SubjectData],
    methods: Sequence[str],
    multilabel: dict[str, np.ndarray],
) -> None:
    """Add the multi-label task to ``result``: same folds, same windows, as described above."""
    n_labels = len(result.labels)
    rules: dict[str, str] = {}
    for m in [*methods, *CLASSICAL, *REFERENCES]:
        if m in MULTILABEL_METHODS:
            rules[m] = "presence score >= the model's threshold"
        else:
            rules[m] = f"distribution thresholded: probability >= 1/L = 1/{n_labels}"
    rules["presence_majority"] = "labels present in >= half of the fold's training windows"
    rules["condition_presence_oracle"] = (
        "labels present in >= half of the fold's training windows of the true condition"
    )
    per_subject: dict[str, dict[str, dict[str, float]]] = {}
    for s in usable:
        lab = s.session.labelled
        y = np.asarray(multilabel[s.subject], dtype=bool)[lab]
        conds = s.session.condition[lab].astype(str)
        sets: dict[str, np.ndarray] = {}
        for m in [*methods, *CLASSICAL]:
            out = results[_Task(s.subject, m)]
            if m in MULTILABEL_METHODS:
                sets[m] = np.asarray(out["scores"]) >= float(out["threshold"])
            else:
                sets[m] = distribution_to_multilabel(np.asarray(out["pred"]))
        helo = results[_Task(s.subject, "helo")]
        for r in REFERENCES:
            sets[r] = distribution_to_multilabel(np.asarray(helo[r]))
        train = [t for t in usable if t.subject != s.subject]
        train_y = np.concatenate(
            [np.asarray(multilabel[t.subject], dtype=bool)[t.session.labelled] for t in train]
        )
        train_c = np.concatenate([t.session.condition[t.session.labelled] for t in train])
        overall = majority_sets(train_y)
        sets["presence_majority"] = np.tile(overall, (len(y), 1))
        by_cond = {c: majority_sets(train_y[train_c == c]) for c in set(train_c.astype(str))}
        sets["condition_presence_oracle"] = (
            np.stack([by_cond.get(c, overall) for c in conds])
            if len(conds)
            else np.zeros((0, n_labels), dtype=bool)
        )
        per_subject[s.subject] = {
            m: {k: v for k, v in multilabel_metrics(y, p).items() if k in MULTILABEL_METRICS}
            for m, p in sets.items()
        }
    result.multilabel_methods = [*methods, *CLASSICAL, *REFERENCES, *MULTILABEL_REFERENCES]
    result.per_subject_multilabel = per_subject
    result.multilabel_rules = rules
