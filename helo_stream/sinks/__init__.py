"""Sinks: the ``helo-stream/emotion/1`` message and its ZeroMQ transport."""

from helo_stream.sinks.message import (
    SCHEMA_ID,
    InvalidMessageError,
    build_emotion_message,
    load_schema,
    validate_message,
)
from helo_stream.sinks.zmq_publisher import PublisherError, ZmqPublisher
from helo_stream.sinks.zmq_subscriber import ZmqSubscriber

__all__ = [
    "SCHEMA_ID",
    "InvalidMessageError",
    "PublisherError",
    "ZmqPublisher",
    "ZmqSubscriber",
    "build_emotion_message",
    "load_schema",
    "validate_message",
]
