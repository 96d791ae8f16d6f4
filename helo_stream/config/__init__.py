"""Typed configuration: device profiles and pipelines, validated before anything starts."""

from helo_stream.config.device import ChannelSpec, DeviceProfile, StreamSpec
from helo_stream.config.errors import ConfigError, ConfigProblem
from helo_stream.config.loader import (
    CHECKPOINTS_DIR,
    DEVICES_DIR,
    NAMED_RECORDINGS,
    PIPELINES_DIR,
    PROJECT_ROOT,
    RECORDINGS_DIR,
    Pipeline,
    ResolvedModality,
    find_pipeline,
    find_recording,
    load_device_profile,
    load_pipeline,
    resource_dir,
)
from helo_stream.config.pipeline import PipelineConfig

__all__ = [
    "CHECKPOINTS_DIR",
    "DEVICES_DIR",
    "NAMED_RECORDINGS",
    "PIPELINES_DIR",
    "PROJECT_ROOT",
    "RECORDINGS_DIR",
    "ChannelSpec",
    "ConfigError",
    "ConfigProblem",
    "DeviceProfile",
    "Pipeline",
    "PipelineConfig",
    "ResolvedModality",
    "StreamSpec",
    "find_pipeline",
    "find_recording",
    "load_device_profile",
    "load_pipeline",
    "resource_dir",
]
