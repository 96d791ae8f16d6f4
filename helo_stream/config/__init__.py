"""Typed configuration: device profiles and pipelines, validated before anything starts."""

from helo_stream.config.device import ChannelSpec, DeviceProfile, StreamSpec
from helo_stream.config.errors import ConfigError, ConfigProblem
from helo_stream.config.loader import (
    DEVICES_DIR,
    PIPELINES_DIR,
    PROJECT_ROOT,
    Pipeline,
    ResolvedModality,
    load_device_profile,
    load_pipeline,
)
from helo_stream.config.pipeline import PipelineConfig

__all__ = [
    "DEVICES_DIR",
    "PIPELINES_DIR",
    "PROJECT_ROOT",
    "ChannelSpec",
    "ConfigError",
    "ConfigProblem",
    "DeviceProfile",
    "Pipeline",
    "PipelineConfig",
    "ResolvedModality",
    "StreamSpec",
    "load_device_profile",
    "load_pipeline",
]
