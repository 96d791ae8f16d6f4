"""The model stage: a checkpoint checked against the pipeline that wants to use it."""

from __future__ import annotations

from collections.abc import Mapping

from helo_stream.config import ConfigError, ConfigProblem, Pipeline
from helo_stream.models.checkpoint import CheckpointError, Predictor, load_checkpoint


def checkpoint_problems(
    pipeline: Pipeline, predictor: Predictor, feature_names: Mapping[str, tuple[str, ...]]
) -> list[ConfigProblem]:
    """Everything that makes a checkpoint unusable with this pipeline's labels and features."""
    problems = []
    path = pipeline.path
    if tuple(predictor.labels) != tuple(pipeline.labels):
        problems.append(
            ConfigProblem(
                path,
                "model.labels",
                f"the checkpoint {pipeline.checkpoint_path.name} predicts {list(predictor.labels)}"
                f", the pipeline declares {list(pipeline.labels)}",
            )
        )
    if predictor.model_name != pipeline.config.model.name:
        problems.append(
            ConfigProblem(
                path,
                "model.name",
                f"the checkpoint holds a {predictor.model_name!r} model, "
                f"the pipeline asks for {pipeline.config.model.name!r}",
            )
        )
    want = {name: tuple(names) for name, names in feature_names.items()}
    have = {name: tuple(names) for name, names in predictor.feature_names.items()}
    if set(want) != set(have):
        problems.append(
            ConfigProblem(
                path,
                "modalities",
                f"the checkpoint was trained on modalities {sorted(have)}, "
                f"the pipeline declares {sorted(want)}",
            )
        )
    for name in sorted(set(want) & set(have)):
        if want[name] != have[name]:
            problems.append(
                ConfigProblem(
                    path,
                    f"modalities.{name}.features",
                    f"the checkpoint expects features {list(have[name])}, "
                    f"the pipeline yields {list(want[name])}",
                )
            )
    clip = predictor.model.config.input_clip
    if clip != pipeline.config.model.input_clip:
        problems.append(
            ConfigProblem(
                path,
                "model.input_clip",
                f"the checkpoint {pipeline.checkpoint_path.name} was trained with input_clip "
                f"{clip:g}, the pipeline sets {pipeline.config.model.input_clip:g}",
            )
        )
    return problems


def load_model_stage(pipeline: Pipeline, feature_names: Mapping[str, tuple[str, ...]]) -> Predictor:
    """Load the pipeline's checkpoint; raise :class:`ConfigError` if it does not fit.

    Inference runs on one thread: a single window is far too small for intra-op parallelism,
    whose synchronisation costs ~40x the forward pass when the other core is busy (measured).
    """
    import torch

    torch.set_num_threads(1)
    try:
        predictor = load_checkpoint(pipeline.checkpoint_path)
    except CheckpointError as err:
        raise ConfigError([ConfigProblem(pipeline.path, "model.checkpoint", str(err))]) from err
    problems = checkpoint_problems(pipeline, predictor, feature_names)
    if problems:
        raise ConfigError(problems)
    tailor = pipeline.config.model.tailor
    if predictor.multilabel and tailor is not None and not tailor.threshold_from_validation:
        # A fixed threshold in the pipeline decides what is published as present; the one
        # stored at training time (chosen on validation subjects) applies otherwise.
        predictor.threshold = tailor.threshold
    return predictor
