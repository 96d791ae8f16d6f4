"""Sinks, the publishing side: the ``helo-stream/emotion/1`` message and its ZeroMQ transport.

The subscribing side (what dashboards and experiment software run) is
:mod:`helo_stream.receivers`.
"""

from helo_stream.sinks.message import (
    SCHEMA_ID,
    InvalidMessageError,
    build_emotion_message,
    checked_distributions,
    load_schema,
    validate_message,
)
from helo_stream.sinks.zmq_publisher import PublisherError, ZmqPublisher

__all__ = [
    "SCHEMA_ID",
    "InvalidMessageError",
    "PublisherError",
    "ZmqPublisher",
    "build_emotion_message",
    "checked_distributions",
    "load_schema",
    "validate_message",
]
