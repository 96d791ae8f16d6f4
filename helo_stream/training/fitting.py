"""Fit one model on a set of subjects: the single code path of ``train`` and of every LOSO fold.

Steps, all using training subjects only:

1. population feature statistics from every window of the training subjects;
2. each training session z-scored as the live pipeline would (population statistics for the
   first ``calibration_s`` seconds, then the session's own statistics by ``model.normalization``);
3. the labelled windows, thinned to every ``train_stride``-th (at a 2 s step consecutive
   60 s windows share 58 s of signal, so the skipped ones add little but cost time);
4. :func:`helo_stream.training.train_model` (TAILOR:
   :func:`helo_stream.training.tailor_trainer.train_tailor` on presence targets, an emotion
   being present when rated at least ``model.tailor.present_min_rating``), early stopping on
   whole held-out *training* subjects (``val_fraction``);
5. the trivial references (population mean, per-condition means; for presence targets the
   per-label prevalence overall and per condition) from all labelled training windows.

The result wraps the model in the live pipeline's :class:`~helo_stream.models.Predictor`, so
evaluation predicts exactly as ``helo-stream run`` does.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from helo_stream.config import Pipeline
from helo_stream.config.pipeline import TailorSettings, TrainingConfig
from helo_stream.datasets.subjects import SubjectData
from helo_stream.models import (
    FeatureNormalizer,
    HeLo,
    HeLoConfig,
    HeLoEnsemble,
    HeLoEnsembleConfig,
    LateFusionMLP,
    MLPConfig,
    ModalitySpec,
    Predictor,
)
from helo_stream.models.tailor import Tailor, TailorConfig
from helo_stream.pipeline.features import WindowFeaturizer
from helo_stream.training.references import condition_means, population_mean
from helo_stream.training.tailor_trainer import (
    TailorTrainConfig,
    TailorTrainResult,
    train_tailor,
)
from helo_stream.training.trainer import TrainConfig, TrainResult, train_model

__all__ = [
    "METHODS",
    "FitSettings",
    "FittedModel",
    "build_model",
    "fit_model",
    "multilabel_targets",
    "predict_session",
    "training_arrays",
]

MethodName = Literal[
    "helo", "helo_no_ot", "helo_no_label_corr", "helo_no_condition", "mlp", "tailor"
]

#: Trainable methods: model name in the checkpoint, and the HeLo ablation flags
#: (``use_conditions``: build the condition read-out when the data have conditions).
METHODS: dict[str, tuple[str, dict[str, bool]]] = {
    "helo": ("helo", {}),
    "helo_no_ot": ("helo", {"use_ot": False}),
    "helo_no_label_corr": ("helo", {"use_label_correlation": False}),
    "helo_no_condition": ("helo", {"use_conditions": False}),
    "mlp": ("mlp", {}),
    "tailor": ("tailor", {}),
}
#: Methods trained on presence (multi-label) targets instead of rating distributions.
MULTILABEL_METHODS = frozenset({"tailor"})
#: The pipeline's ``training`` defaults: the one source of FitSettings' defaults.
_TRAINING = TrainingConfig()
#: ``training`` fields that are FitSettings fields too (the others cut the datasets).
TRAINING_FIELDS = (
    "epochs",
    "batch_size",
    "lr",
    "lam",
    "condition_weight",
    "ensemble",
    "seed",
    "train_stride",
    "val_fraction",
    "patience",
    "weight_decay",
    "grad_clip",
)


def _model_default(config: type, name: str) -> Any:
    """A model config's own default (architectures the pipeline does not set)."""
    return {f.name: f.default for f in fields(config)}[name]


@dataclass(frozen=True)
class FitSettings:
    """Everything that decides a fitted model besides the data (recorded in reports).

    The training fields are the pipeline's ``training`` section (:meth:`from_pipeline`; their
    defaults are its defaults), ``tailor`` its ``model.tailor`` section.

    Attributes
    ----------
    epochs, batch_size, lr, lam, condition_weight, ensemble, seed, train_stride, val_fraction,
    patience, weight_decay, grad_clip
        As in :class:`helo_stream.config.pipeline.TrainingConfig`.
    d_model, hidden
        Width of HeLo's tokens and of the MLP baseline (no pipeline setting: the defaults of
        :class:`~helo_stream.models.HeLoConfig` and :class:`~helo_stream.models.MLPConfig`).
    tailor
        :class:`~helo_stream.config.pipeline.TailorSettings` as a dict (architecture, loss
        weights, threshold, ``present_min_rating``); the pipeline's ``model.tailor`` or the
        defaults.
    """

    epochs: int = _TRAINING.epochs
    batch_size: int = _TRAINING.batch_size
    lr: float = _TRAINING.lr
    lam: float = _TRAINING.lam
    condition_weight: float = _TRAINING.condition_weight
    ensemble: int = _TRAINING.ensemble
    seed: int = _TRAINING.seed
    train_stride: int = _TRAINING.train_stride
    val_fraction: float = _TRAINING.val_fraction
    patience: int | None = _TRAINING.patience
    weight_decay: float = _TRAINING.weight_decay
    grad_clip: float | None = _TRAINING.grad_clip
    d_model: int = _model_default(HeLoConfig, "d_model")
    hidden: int = _model_default(MLPConfig, "hidden")
    tailor: dict[str, Any] = field(default_factory=lambda: TailorSettings().model_dump())

    def __post_init__(self) -> None:
        if self.train_stride < 1:
            raise ValueError(f"train_stride must be >= 1, got {self.train_stride}")
        if self.ensemble < 1:
            raise ValueError(f"ensemble must be >= 1, got {self.ensemble}")
        # Validated (and completed with defaults) by the same typed model as the pipeline.
        object.__setattr__(self, "tailor", TailorSettings(**self.tailor).model_dump())

    @property
    def tailor_settings(self) -> TailorSettings:
        """The TAILOR settings as their typed model."""
        return TailorSettings(**self.tailor)

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, **overrides: Any) -> FitSettings:
        """Settings from the pipeline's ``training`` section; ``None`` overrides are ignored."""
        t = pipeline.config.training
        base = cls(
            **{name: getattr(t, name) for name in TRAINING_FIELDS},
            tailor=pipeline.config.model.tailor_settings.model_dump(),
        )
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FittedModel:
    """A trained model with its normaliser and the training-set references.

    ``extra`` holds what only some methods have: for multi-label methods ``present_min_rating``,
    ``label_prevalence`` ``(L,)`` and ``condition_label_prevalence`` (condition -> ``(L,)``),
    the fraction of labelled training windows in which each label is present.
    """

    method: str
    predictor: Predictor
    normalizer: FeatureNormalizer
    result: TrainResult | TailorTrainResult
    model_config: dict[str, Any]
    population_mean: np.ndarray
    condition_means: dict[str, np.ndarray]
    train_subjects: tuple[str, ...]
    n_train_windows: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def modality_specs(pipeline: Pipeline) -> tuple[ModalitySpec, ...]:
    """The pipeline's modalities as model inputs, in pipeline order, with their roles."""
    featurizer = WindowFeaturizer.from_pipeline(pipeline)
    return tuple(
        ModalitySpec(name, featurizer.roles[name], len(names))  # type: ignore[arg-type]
        for name, names in featurizer.feature_names.items()
    )


def build_model(
    method: str,
    pipeline: Pipeline,
    settings: FitSettings,
    *,
    conditions: Sequence[str] = (),
) -> tuple[torch.nn.Module, str, dict[str, Any]]:
    """A freshly initialised model for ``method`` (seeded): ``(module, model_name, config)``.

    ``conditions`` are the protocol conditions of the training windows; HeLo builds its
    condition read-out over them (unless the method is the ablation without it, or there are
    fewer than two).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {list(METHODS)}")
    model_name, flags = METHODS[method]
    mods = modality_specs(pipeline)
    n_labels = len(pipeline.labels)
    input_clip = pipeline.config.model.input_clip
    torch.manual_seed(settings.seed)
    if model_name == "helo":
        flags = dict(flags)
        names = tuple(sorted({str(c) for c in conditions if str(c)}))
        if not flags.pop("use_conditions", True) or len(names) < 2:
            names = ()
        config = HeLoConfig(
            modalities=mods,
            n_labels=n_labels,
            d_model=settings.d_model,
            conditions=names,
            input_clip=input_clip,
            **flags,
        )
        return HeLo(config), model_name, config.to_dict()
    if model_name == "tailor":
        tailor_config = TailorConfig.from_settings(
            settings.tailor_settings, modalities=mods, n_labels=n_labels, input_clip=input_clip
        )
        return Tailor(tailor_config), model_name, tailor_config.to_dict()
    mlp_config = MLPConfig(
        modalities=mods, n_labels=n_labels, hidden=settings.hidden, input_clip=input_clip
    )
    return LateFusionMLP(mlp_config), model_name, mlp_config.to_dict()


def _stack(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def fit_normalizer(subjects: Sequence[SubjectData], pipeline: Pipeline) -> FeatureNormalizer:
    """Population statistics from every window (labelled or not) of the training subjects,
    with the pipeline's per-subject rule (``model.calibration_s``, ``model.normalization``)."""
    raw = _stack([s.session.table.features for s in subjects])
    model = pipeline.config.model
    return FeatureNormalizer.fit_population(
        raw, calibration_s=model.calibration_s, mode=model.normalization
    )


def training_arrays(
    subjects: Sequence[SubjectData], normalizer: FeatureNormalizer, *, stride: int = 1
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """``(features, present, targets, groups, conditions)`` of the labelled windows.

    Each session is z-scored whole and in time order before its labelled windows are picked,
    so the calibration statistics come from the session's start, as they would live.
    """
    feats, pres, targets, groups, conds = [], [], [], [], []
    for s in subjects:
        session = s.session
        z = session.normalized_features(normalizer)
        idx = np.flatnonzero(session.labelled)[::stride]
        feats.append({name: arr[idx] for name, arr in z.items()})
        pres.append({name: arr[idx] for name, arr in session.table.present.items()})
        targets.append(session.targets[idx])
        groups.append(np.full(len(idx), s.subject, dtype=object))
        conds.append(session.condition[idx].astype(str))
    return (
        _stack(feats),
        _stack(pres),
        np.concatenate(targets),
        np.concatenate(groups),
        np.concatenate(conds),
    )


def multilabel_targets(
    subjects: Sequence[SubjectData], labels: Sequence[str], *, min_rating: int
) -> dict[str, np.ndarray]:
    """``subject -> (N, L)`` bool presence targets of every window (False where unlabelled).

    Read once from the recordings (see
    :func:`~helo_stream.datasets.multilabel.subject_multilabel_targets`) and handed to every
    fit, so a LOSO run reads each recording's ratings only once.
    """
    from helo_stream.datasets.multilabel import subject_multilabel_targets

    return {
        s.subject: subject_multilabel_targets(s, labels, min_rating=min_rating)
        for s in subjects
        if s.usable
    }


def _presence_rows(
    subjects: Sequence[SubjectData], multilabel: Mapping[str, np.ndarray], *, stride: int
) -> np.ndarray:
    """Presence targets of the same windows, in the same order, as :func:`training_arrays`."""
    missing = [s.subject for s in subjects if s.subject not in multilabel]
    if missing:
        raise ValueError(f"no presence targets for subjects {missing}")
    rows = []
    for s in subjects:
        y = np.asarray(multilabel[s.subject], dtype=bool)
        if y.shape[0] != len(s.session):
            raise ValueError(
                f"presence targets of {s.subject} have {y.shape[0]} rows, "
                f"the session {len(s.session)} windows"
            )
        rows.append(y[np.flatnonzero(s.session.labelled)[::stride]])
    return np.concatenate(rows)


def predict_session(
    predictor: Predictor, session: Any, *, labelled_only: bool = True, scores: bool = False
) -> np.ndarray:
    """``(N, L)`` distributions for a session's windows, as the live pipeline computes them.

    A fresh normaliser from the predictor streams through the whole session (calibrating on
    its first ``calibration_s`` seconds), then the windows are predicted in batches. With
    ``scores`` a multi-label model's per-label presence probabilities are returned instead.
    """
    z = session.normalized_features(predictor.new_normalizer())
    idx = np.flatnonzero(session.labelled) if labelled_only else np.arange(len(session))
    predict = predictor.predict_scores_batch if scores else predictor.predict_batch
    out = []
    for start in range(0, len(idx), 4096):
        rows = idx[start : start + 4096]
        out.append(
            predict(
                {name: arr[rows] for name, arr in z.items()},
                {name: arr[rows] for name, arr in session.table.present.items()},
            )
        )
    labels = len(predictor.labels)
    return np.concatenate(out) if out else np.empty((0, labels))


def fit_model(
    method: str,
    subjects: Sequence[SubjectData],
    pipeline: Pipeline,
    *,
    settings: FitSettings,
    progress: bool = False,
    checkpoint_dir: Path | None = None,
    multilabel: Mapping[str, np.ndarray] | None = None,
) -> FittedModel:
    """Train ``method`` on the labelled windows of ``subjects`` (see the module notes).

    Parameters
    ----------
    multilabel
        ``subject -> (N, L)`` presence targets of every window (:func:`multilabel_targets`),
        needed by multi-label methods; read from the recordings when None.

    Raises
    ------
    ValueError
        No subject with labelled windows.
    """
    usable = [s for s in subjects if s.usable]
    if not usable:
        raise ValueError("no training subject has labelled windows")
    start = time.perf_counter()
    normalizer = fit_normalizer(usable, pipeline)
    feats, present, targets, groups, conds = training_arrays(
        usable, normalizer, stride=settings.train_stride
    )
    # References from every labelled training window (not thinned).
    _, _, all_targets, _, all_conds = training_arrays(usable, normalizer, stride=1)
    means = condition_means(all_targets, all_conds)
    model, model_name, model_config = build_model(method, pipeline, settings, conditions=conds)
    if isinstance(model, HeLo):
        model.set_condition_means(means)
    # Whole training subjects are held out for validation when there are at least three.
    validation = len(usable) >= 3
    extra: dict[str, Any] = {}
    result: Any
    if method in MULTILABEL_METHODS:
        tailor = settings.tailor_settings
        min_rating = tailor.present_min_rating
        if multilabel is None:
            multilabel = multilabel_targets(usable, pipeline.labels, min_rating=min_rating)
        presence = _presence_rows(usable, multilabel, stride=settings.train_stride)
        result = train_tailor(
            model,  # type: ignore[arg-type]
            features=feats,
            present=present,
            targets=presence,
            config=TailorTrainConfig.from_settings(settings, tailor, validation=validation),
            groups=groups.astype(str),
            checkpoint_dir=checkpoint_dir,
        )
        # The checkpoint stores the threshold in effect (possibly chosen on validation).
        model_config = model.config.to_dict()  # type: ignore[union-attr]
        # Presence references from every labelled training window (not thinned).
        all_presence = _presence_rows(usable, multilabel, stride=1)
        extra = {
            "present_min_rating": min_rating,
            "label_prevalence": all_presence.mean(axis=0),
            "condition_label_prevalence": {
                str(c): all_presence[all_conds == c].mean(axis=0) for c in sorted(set(all_conds))
            },
        }
    else:
        # HeLo: ``ensemble`` networks, member k seeded with seed + k (initial weights, batch
        # order and its own validation subjects), averaged (helo_stream.models.ensemble).
        members = settings.ensemble if isinstance(model, HeLo) else 1
        nets, results = [model], []
        for k in range(members):
            member_settings = replace(settings, seed=settings.seed + k)
            if k:
                net, _, _ = build_model(method, pipeline, member_settings, conditions=conds)
                net.set_condition_means(means)  # type: ignore[operator]
                nets.append(net)
            results.append(
                train_model(
                    nets[k],
                    features=feats,
                    present=present,
                    targets=targets,
                    config=TrainConfig.from_settings(member_settings, validation=validation),
                    groups=groups.astype(str),
                    conditions=conds,
                    progress=progress,
                    checkpoint_dir=checkpoint_dir
                    if checkpoint_dir is None or members == 1
                    else Path(checkpoint_dir) / f"member{k}",
                )
            )
        result = results[0]
        if members > 1:
            ensemble = HeLoEnsemble(HeLoEnsembleConfig(member=model.config, members=members))
            for slot, net in zip(ensemble.members, nets, strict=True):
                slot.load_state_dict(net.state_dict())
            model, model_config = ensemble.eval(), ensemble.config.to_dict()
            extra["members"] = [
                {
                    "seed": settings.seed + k,
                    "val_subjects": [str(g) for g in r.val_groups],
                    "best_epoch": r.best_epoch,
                    "epochs_run": len(r.history),
                }
                for k, r in enumerate(results)
            ]
    featurizer = WindowFeaturizer.from_pipeline(pipeline)
    predictor = Predictor(
        model=model,
        model_name=model_name,
        labels=pipeline.labels,
        feature_names=featurizer.feature_names,
        normalizer=normalizer.to_dict(),
        metadata={},
        checkpoint_sha256="",
    )
    return FittedModel(
        method=method,
        predictor=predictor,
        normalizer=normalizer,
        result=result,
        model_config=model_config,
        population_mean=population_mean(all_targets),
        condition_means=means,
        train_subjects=tuple(s.subject for s in usable),
        n_train_windows=len(targets),
        seconds=time.perf_counter() - start,
        extra=extra,
    )
