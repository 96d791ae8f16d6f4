"""The ``helo-stream/emotion/1`` message: built, checked and described by a JSON Schema.

The schema file (``sinks/schema/emotion-1.json``) is the contract with consumers (dashboards,
other labs' software); :func:`build_emotion_message` produces exactly its fields and
:func:`validate_message` checks both the schema and what a schema cannot express (one
probability per label, summing to 1, ``top`` being the most probable label).

Multi-label models (TAILOR) add three optional fields: ``scores`` (each label's presence
probability), ``threshold`` and ``present`` (the labels scoring at least ``threshold``), while
``distribution`` holds the scores normalised to sum 1, so consumers written for distributions
keep working unchanged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any, get_args

import numpy as np

from helo_stream.sources.health import StreamState

__all__ = [
    "MODALITY_STATES",
    "SCHEMA_ID",
    "InvalidMessageError",
    "build_emotion_message",
    "checked_distributions",
    "load_schema",
    "validate_message",
]

SCHEMA_ID = "helo-stream/emotion/1"
SCHEMA_RESOURCE = "emotion-1.json"
#: The states a message reports per modality: its stream's health state.
MODALITY_STATES: tuple[str, ...] = get_args(StreamState)
#: Tolerance of the sum of a received distribution (JSON floats round-trip exactly, but other
#: producers may round).
_SUM_TOLERANCE = 1e-6


class InvalidMessageError(ValueError):
    """A message does not follow the schema; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        body = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"invalid {SCHEMA_ID} message ({len(self.errors)} problem(s)):\n{body}")


def checked_distributions(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows normalised to sum 1, and which rows are distributions at all.

    The one guard of the invariant every subscriber relies on: a row that is not finite, has a
    negative entry or sums to zero is not a distribution; it comes back NaN, ``valid`` False,
    and must not be published.

    >>> p, valid = checked_distributions(np.array([[1.0, 3.0], [np.nan, 1.0], [0.0, 0.0]]))
    >>> p[0].tolist(), valid.tolist()
    ([0.25, 0.75], [True, False, False])
    """
    p = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        totals = p.sum(axis=1)
        valid = np.all(np.isfinite(p), axis=1) & ~np.any(p < 0, axis=1) & (totals > 0)
        out = np.where(valid[:, None], p / np.where(valid, totals, 1.0)[:, None], np.nan)
    return out, valid


def _normalised(distribution: np.ndarray, n_labels: int) -> list[float]:
    p = np.asarray(distribution, dtype=np.float64).reshape(-1)
    if p.shape[0] != n_labels:
        raise ValueError(f"distribution has {p.shape[0]} values for {n_labels} labels")
    normalised, valid = checked_distributions(p)
    if not valid[0]:
        if not np.all(np.isfinite(p)):
            raise ValueError(f"distribution must be finite, got {p.tolist()}")
        if np.any(p < 0):
            raise ValueError(f"distribution must not be negative, got {p.tolist()}")
        raise ValueError("distribution is all zero; it cannot be normalised")
    return [float(v) for v in np.clip(normalised[0], 0.0, 1.0)]


def build_emotion_message(
    *,
    pipeline: str,
    subject: str,
    seq: int,
    window_start_lsl: float,
    window_end_lsl: float,
    labels: Sequence[str],
    distribution: np.ndarray,
    modalities: Mapping[str, str],
    latency_ms: Mapping[str, float],
    model_name: str,
    checkpoint_sha256: str,
    published_lsl: float,
    published_unix: float,
    quality: Mapping[str, Sequence[str]] | None = None,
    scores: np.ndarray | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """A message dict ready for ``json.dumps``, following ``emotion-1.json``.

    ``distribution`` is renormalised to sum to 1. ``quality`` (modality -> flags of the window,
    see :mod:`helo_stream.windows.quality`) is included only when some modality has a flag.
    ``scores`` (per-label presence probabilities of a multi-label model, in ``labels`` order)
    and ``threshold`` go together: the message then also lists the ``present`` labels.

    Raises
    ------
    ValueError
        Non-finite, negative or all-zero distribution; a length differing from ``labels``;
        duplicate labels; an unknown modality state; a missing, non-finite or negative
        ``window_to_publish`` latency; ``window_start_lsl > window_end_lsl``; ``scores`` without
        ``threshold`` (or the reverse), of the wrong length or outside [0, 1]; a threshold
        outside (0, 1).
    """
    labels = [str(label) for label in labels]
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must be unique, got {labels}")
    probabilities = _normalised(distribution, len(labels))
    bad_states = {k: v for k, v in modalities.items() if v not in MODALITY_STATES}
    if bad_states:
        raise ValueError(f"modality states must be one of {MODALITY_STATES}, got {bad_states}")
    if "window_to_publish" not in latency_ms:
        raise ValueError("latency_ms must contain 'window_to_publish'")
    latency = {str(k): float(v) for k, v in latency_ms.items()}
    bad_latency = {k: v for k, v in latency.items() if not math.isfinite(v) or v < 0}
    if bad_latency:
        raise ValueError(f"latencies must be finite and non-negative, got {bad_latency}")
    if not window_start_lsl <= window_end_lsl:
        raise ValueError(f"window start {window_start_lsl} is after its end {window_end_lsl}")
    message: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "pipeline": str(pipeline),
        "subject": str(subject),
        "seq": int(seq),
        "window": {"start": float(window_start_lsl), "end": float(window_end_lsl)},
        "published_lsl": float(published_lsl),
        "published_unix": float(published_unix),
        "labels": labels,
        "distribution": probabilities,
        "top": labels[int(np.argmax(probabilities))],
        "modalities": {str(k): str(v) for k, v in modalities.items()},
        "latency_ms": latency,
        "model": {"name": str(model_name), "checkpoint_sha256": str(checkpoint_sha256)},
    }
    if (scores is None) != (threshold is None):
        raise ValueError("scores and threshold must be given together")
    if scores is not None and threshold is not None:
        values = np.asarray(scores, dtype=np.float64).reshape(-1)
        if values.shape[0] != len(labels):
            raise ValueError(f"scores has {values.shape[0]} values for {len(labels)} labels")
        if not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values > 1):
            raise ValueError(f"scores must be finite probabilities in [0, 1], got {values}")
        if not 0.0 < float(threshold) < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
        message["scores"] = [float(v) for v in values]
        message["threshold"] = float(threshold)
        message["present"] = [
            label for label, v in zip(labels, message["scores"], strict=True) if v >= threshold
        ]
    flagged = {str(k): [str(f) for f in v] for k, v in (quality or {}).items() if v}
    if flagged:
        message["quality"] = flagged
    return message


@cache
def _schema_text() -> str:
    return (resources.files("helo_stream.sinks") / "schema" / SCHEMA_RESOURCE).read_text(
        encoding="utf-8"
    )


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``helo-stream/emotion/1`` messages (a fresh copy)."""
    return json.loads(_schema_text())


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _presence_errors(msg: Mapping[str, Any]) -> list[str]:
    """What the schema cannot say about ``scores``/``present``: lengths, order, the threshold."""
    labels, scores = msg["labels"], msg["scores"]
    if len(scores) != len(labels):
        return [f"$.scores: {len(scores)} values for {len(labels)} labels"]
    expected = [lab for lab, v in zip(labels, scores, strict=True) if v >= msg["threshold"]]
    if list(msg["present"]) != expected:
        return [
            f"$.present: {list(msg['present'])} differs from the labels scoring at least "
            f"{msg['threshold']} in label order, {expected}"
        ]
    return []


def validate_message(msg: Mapping[str, Any]) -> None:
    """Check ``msg`` against the schema and the cross-field rules.

    Raises
    ------
    InvalidMessageError
        Listing every problem, each with its JSON path.
    """
    errors = [
        f"{e.json_path}: {e.message}"
        for e in sorted(_validator().iter_errors(msg), key=lambda e: list(e.absolute_path))
    ]
    if not errors:
        labels, probabilities = msg["labels"], msg["distribution"]
        if len(labels) != len(probabilities):
            errors.append(f"$.distribution: {len(probabilities)} values for {len(labels)} labels")
        else:
            total = math.fsum(probabilities)
            if abs(total - 1.0) > _SUM_TOLERANCE:
                errors.append(f"$.distribution: sums to {total!r}, not 1")
            best = max(probabilities)
            top_ok = any(
                lab == msg["top"] and p == best
                for lab, p in zip(labels, probabilities, strict=True)
            )
            if not top_ok:
                errors.append(f"$.top: {msg['top']!r} is not the most probable label")
        if "scores" in msg:
            errors += _presence_errors(msg)
    if errors:
        raise InvalidMessageError(errors)
