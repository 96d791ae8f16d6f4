"""Read YAML into typed, cross-checked configuration, reporting every problem with its field."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from helo_stream.config.device import DeviceProfile, StreamSpec
from helo_stream.config.errors import ConfigError, ConfigProblem
from helo_stream.config.pipeline import ModalityConfig, PipelineConfig

#: The source checkout this module lies in (``helo_stream/config/loader.py`` -> the folder of
#: ``pyproject.toml``); meaningless in an installed wheel, where :func:`resource_dir` is used.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: The folders shipped with helo-stream. In the repository they are the top-level ``devices/``,
#: ``pipelines/``, ``recordings/`` and ``checkpoints/`` (the single source of truth); a wheel
#: carries them as package data under ``helo_stream/_resources/`` (pyproject.toml and setup.py
#: map each folder to a sub-package ``helo_stream._resources.<kind>``).
RESOURCE_KINDS = ("devices", "pipelines", "recordings", "checkpoints")


def resource_dir(kind: str) -> Path:
    """The folder of shipped ``kind`` files (one of :data:`RESOURCE_KINDS`).

    An installed wheel has them inside the package (``importlib.resources``); a source checkout,
    installed editable (``pip install -e .``) or only on ``PYTHONPATH``, has them at the top of
    the checkout, where the wheel's package data is built from. The package wins when it has the
    folder, so an installed wheel never reads a checkout it happens to run from.
    """
    if kind not in RESOURCE_KINDS:
        raise ValueError(f"unknown resource kind {kind!r}; expected one of {RESOURCE_KINDS}")
    packaged = resources.files("helo_stream") / "_resources" / kind
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return PROJECT_ROOT / kind


DEVICES_DIR = resource_dir("devices")
PIPELINES_DIR = resource_dir("pipelines")
RECORDINGS_DIR = resource_dir("recordings")
CHECKPOINTS_DIR = resource_dir("checkpoints")

#: Recordings a command accepts by name (``helo-stream run wesad_live --replay demo``).
NAMED_RECORDINGS = {"demo": RECORDINGS_DIR / "demo" / "S0"}

_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class ResolvedModality:
    """A modality with the device profile and stream spec it reads from."""

    name: str
    device: str
    profile: DeviceProfile
    stream_key: str
    stream: StreamSpec
    config: ModalityConfig

    @property
    def role(self) -> str:
        return self.stream.role

    @property
    def kind(self) -> str:
        return self.stream.modality


@dataclass(frozen=True)
class Pipeline:
    """A validated pipeline: the config plus everything it refers to, resolved."""

    path: Path
    config: PipelineConfig
    profiles: dict[str, DeviceProfile]
    modalities: dict[str, ResolvedModality]
    checkpoint_path: Path

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.model.labels


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError([ConfigProblem(path, "", "file not found")])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([ConfigProblem(path, "", f"cannot read file: {err}")]) from err
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError([ConfigProblem(path, "", f"malformed YAML{where}: {problem}")]) from err


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-"))]
    return ".".join(parts)


def _describe(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (not part of the schema)"
    if kind == "missing":
        return "required field is missing"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if "input" in error and kind not in ("model_type", "dict_type"):
        given = error["input"]
        shown = repr(given) if not isinstance(given, (dict, list)) else type(given).__name__
        return f"{message} (got {shown})"
    return message


def validate_model(model: type[_M], data: Any, *, path: Path) -> _M:
    """Validate ``data`` against ``model``; raise :class:`ConfigError` listing every problem."""
    if not isinstance(data, dict):
        kind = "an empty file" if data is None else type(data).__name__
        raise ConfigError([ConfigProblem(path, "", f"expected a mapping at top level, got {kind}")])
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = [
            ConfigProblem(path, _field_path(e["loc"]), _describe(e))  # type: ignore[arg-type]
            for e in err.errors()
        ]
        raise ConfigError(problems) from None


def _is_name(ref: str | Path) -> bool:
    """A bare name (``wesad_live``), not a path (``./wesad_live``, ``p/x``, ``x.yaml``)."""
    text = str(ref)
    return bool(text) and "/" not in text and "\\" not in text and Path(text).suffix == ""


def find_device_profile(name_or_path: str, *, relative_to: Path | None = None) -> Path:
    """Where a profile lives: a path (relative to ``relative_to``) or a name of a shipped
    profile (``devices/<name>.yaml``, packaged with helo-stream), wherever the pipeline is."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_absolute() and relative_to is not None:
            candidate = relative_to / candidate
        return candidate
    return DEVICES_DIR / f"{name_or_path}.yaml"


def find_pipeline(name_or_path: str | Path) -> Path:
    """A pipeline file: ``name_or_path`` itself when it exists or is a path; a bare name that
    is no file here is a shipped pipeline (``helo-stream run wesad_live`` from any folder)."""
    path = Path(name_or_path)
    if path.exists() or not _is_name(name_or_path):
        return path
    shipped = PIPELINES_DIR / f"{path.name}.yaml"
    return shipped if shipped.is_file() else path


def shipped_pipelines() -> list[str]:
    """The names of the pipelines shipped with helo-stream."""
    return sorted(p.stem for p in PIPELINES_DIR.glob("*.yaml"))


def find_recording(name_or_path: str | Path) -> Path:
    """A recording: ``name_or_path`` itself when it exists or is a path; otherwise a shipped
    recording by name (:data:`NAMED_RECORDINGS`: ``demo``)."""
    path = Path(name_or_path)
    if path.exists() or not _is_name(name_or_path):
        return path
    return NAMED_RECORDINGS.get(str(name_or_path), path)


def load_device_profile(path: str | Path) -> DeviceProfile:
    """Load and validate one device profile."""
    path = Path(path)
    return validate_model(DeviceProfile, _read_yaml(path), path=path)


def load_pipeline(path: str | Path, *, check_checkpoint: bool = True) -> Pipeline:
    """Load a pipeline file and everything it refers to.

    Every problem found is collected into one :class:`ConfigError` so a user fixes the file in
    one pass: schema errors, unknown devices, streams and features, a missing checkpoint.
    ``path`` may also be the name of a shipped pipeline (``wesad_live``, see
    :func:`find_pipeline`); its relative checkpoint path then leads to the shipped checkpoint.
    """
    path = find_pipeline(path)
    if not path.exists() and _is_name(path):
        raise ConfigError(
            [
                ConfigProblem(
                    path,
                    "",
                    f"file not found, and no shipped pipeline is named {str(path)!r} "
                    f"(shipped: {', '.join(shipped_pipelines())})",
                )
            ]
        )
    config = validate_model(PipelineConfig, _read_yaml(path), path=path)
    problems: list[ConfigProblem] = []

    profiles: dict[str, DeviceProfile] = {}
    for key, ref in config.devices.items():
        profile_path = find_device_profile(ref.profile, relative_to=path.parent)
        try:
            profiles[key] = load_device_profile(profile_path)
        except ConfigError as err:
            if not profile_path.is_file():
                problems.append(
                    ConfigProblem(
                        path,
                        f"devices.{key}.profile",
                        f"no device profile {ref.profile!r} (looked for {profile_path})",
                    )
                )
            else:
                problems.extend(err.problems)

    modalities: dict[str, ResolvedModality] = {}
    for name, mod in config.modalities.items():
        profile = profiles.get(mod.device)
        if profile is None:
            continue
        stream = profile.streams.get(mod.stream)
        if stream is None:
            problems.append(
                ConfigProblem(
                    path,
                    f"modalities.{name}.stream",
                    f"device profile {profile.name!r} has no stream {mod.stream!r}; "
                    f"expected one of {sorted(profile.streams)}",
                )
            )
            continue
        problems.extend(_check_stages(path, name, mod, stream))
        problems.extend(_check_features_stream(path, name, mod, profile, stream))
        modalities[name] = ResolvedModality(name, mod.device, profile, mod.stream, stream, mod)

    if modalities and not any(m.role == "physiological" for m in modalities.values()):
        problems.append(
            ConfigProblem(path, "modalities", "at least one physiological modality is required")
        )

    checkpoint = config.model.checkpoint
    if not checkpoint.is_absolute():
        checkpoint = (path.parent / checkpoint).resolve()
    if check_checkpoint and not checkpoint.is_file():
        problems.append(
            ConfigProblem(
                path,
                "model.checkpoint",
                f"checkpoint file not found: {checkpoint} (train one with "
                f"`helo-stream train {path} --data DATA --out DIR`)",
            )
        )

    if problems:
        raise ConfigError(problems)
    return Pipeline(path, config, profiles, modalities, checkpoint)


def _check_stages(
    path: Path, name: str, mod: ModalityConfig, stream: StreamSpec
) -> list[ConfigProblem]:
    """Filter cut-offs below Nyquist and feature names the extractor knows."""
    from helo_stream.signal.features import FEATURE_EXTRACTORS

    problems: list[ConfigProblem] = []
    nyquist = stream.nominal_srate / 2.0
    if mod.filter is not None:
        for field in ("low_hz", "high_hz"):
            value = getattr(mod.filter, field)
            if value is not None and value >= nyquist:
                problems.append(
                    ConfigProblem(
                        path,
                        f"modalities.{name}.filter.{field}",
                        f"{value} Hz is not below the Nyquist frequency ({nyquist} Hz) of "
                        f"stream {stream.name!r} at {stream.nominal_srate} Hz",
                    )
                )
    extractor = FEATURE_EXTRACTORS.get(stream.modality)
    if extractor is None:
        problems.append(
            ConfigProblem(
                path,
                f"modalities.{name}",
                f"no feature extractor for modality kind {stream.modality!r}; "
                f"available: {sorted(FEATURE_EXTRACTORS)}",
            )
        )
    elif mod.features is not None:
        unknown = [f for f in mod.features if f not in extractor.available]
        if unknown:
            problems.append(
                ConfigProblem(
                    path,
                    f"modalities.{name}.features",
                    f"unknown feature(s) {unknown} for {stream.modality!r}; "
                    f"available: {list(extractor.available)}",
                )
            )
    return problems


def _check_features_stream(
    path: Path, name: str, mod: ModalityConfig, profile: DeviceProfile, stream: StreamSpec
) -> list[ConfigProblem]:
    """A ``features_stream`` exists, is of kind ``features`` and carries the modality's
    feature names, so either stream gives the model the same inputs."""
    from helo_stream.signal.features import make_extractor

    if mod.features_stream is None:
        return []
    where = f"modalities.{name}.features_stream"
    alt = profile.streams.get(mod.features_stream)
    if alt is None:
        return [
            ConfigProblem(
                path,
                where,
                f"device profile {profile.name!r} has no stream {mod.features_stream!r}; "
                f"expected one of {sorted(profile.streams)}",
            )
        ]
    if alt.modality != "features":
        return [
            ConfigProblem(
                path,
                where,
                f"stream {mod.features_stream!r} is of kind {alt.modality!r}; a features_stream "
                "must be of kind 'features' (its channels are the feature names)",
            )
        ]
    try:
        names = make_extractor(
            stream.modality,
            srate=stream.nominal_srate,
            features=mod.features,
            channels=stream.channel_labels,
        ).names
    except ValueError:
        return []  # reported by _check_stages
    missing = [n for n in names if n not in alt.channel_labels]
    if missing:
        return [
            ConfigProblem(
                path,
                where,
                f"stream {mod.features_stream!r} lacks feature(s) {missing[:5]}"
                f"{' ...' if len(missing) > 5 else ''} of modality {name!r}; its channel "
                f"labels must include every feature name of the {stream.modality!r} extractor",
            )
        ]
    return []
