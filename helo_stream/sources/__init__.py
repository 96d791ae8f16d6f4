"""LSL sources: resolving a pipeline's streams, inlets into ring buffers, stream health."""

from helo_stream.sources.conditioning import SampleConditioner, SupportsProcess
from helo_stream.sources.discovery import StreamDescription, describe_stream, list_streams
from helo_stream.sources.health import HealthTracker, StreamHealth, StreamState
from helo_stream.sources.lsl_source import LSLSource, open_sources, processing_flags_mask
from helo_stream.sources.resolve import (
    AmbiguousStreamsError,
    ExpectedStream,
    StreamMismatchError,
    StreamResolutionError,
    StreamsNotFoundError,
    expected_streams,
    resolve_pipeline_streams,
    subject_from_source_id,
)

__all__ = [
    "AmbiguousStreamsError",
    "ExpectedStream",
    "HealthTracker",
    "LSLSource",
    "SampleConditioner",
    "StreamDescription",
    "StreamHealth",
    "StreamMismatchError",
    "StreamResolutionError",
    "StreamState",
    "StreamsNotFoundError",
    "SupportsProcess",
    "describe_stream",
    "expected_streams",
    "list_streams",
    "open_sources",
    "processing_flags_mask",
    "resolve_pipeline_streams",
    "subject_from_source_id",
]
