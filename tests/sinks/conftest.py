"""Helpers for the sink tests: a valid message factory."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from helo_stream.sinks.message import build_emotion_message

LABELS = ("neutral", "amusement", "stress", "calm", "sad", "angry")


@pytest.fixture
def make_message() -> Callable[..., dict[str, Any]]:
    """A valid message; keyword arguments override the builder's inputs."""

    def make(**overrides: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "pipeline": "wesad-e4",
            "subject": "S2",
            "seq": 0,
            "window_start_lsl": 1000.0,
            "window_end_lsl": 1060.0,
            "labels": LABELS,
            "distribution": np.array([0.1, 0.2, 0.4, 0.1, 0.1, 0.1]),
            "modalities": {"bvp": "ok", "eda": "stale", "acc": "missing"},
            "latency_ms": {"window_to_publish": 3.5, "model": 1.0},
            "model_name": "helo",
            "checkpoint_sha256": hashlib.sha256(b"checkpoint").hexdigest(),
            "published_lsl": 1060.004,
            "published_unix": time.time(),
        }
        kwargs.update(overrides)
        return build_emotion_message(**kwargs)

    return make
