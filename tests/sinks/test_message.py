from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from helo_stream.sinks.message import (
    MODALITY_STATES,
    SCHEMA_ID,
    InvalidMessageError,
    checked_distributions,
    load_schema,
    validate_message,
)


def test_builder_output_is_exactly_the_schema(make_message) -> None:
    msg = make_message()
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    # every property is required except the optional per-window quality flags and the
    # presence fields of multi-label models
    optional = {"quality", "scores", "present", "threshold"}
    assert set(msg) == set(schema["required"]) == set(schema["properties"]) - optional
    assert msg["schema"] == SCHEMA_ID
    assert msg["window"] == {"start": 1000.0, "end": 1060.0}
    assert msg["top"] == "stress"
    assert msg["modalities"] == {"bvp": "ok", "eda": "stale", "acc": "missing"}
    validate_message(msg)
    validate_message(json.loads(json.dumps(msg)))  # survives the wire


def test_quality_flags_are_optional_and_checked(make_message) -> None:
    clean = make_message(quality={"bvp": []})
    assert "quality" not in clean  # only modalities with a flag are reported
    flagged = make_message(quality={"eda": ["nonfinite", "flat"], "bvp": []})
    assert flagged["quality"] == {"eda": ["nonfinite", "flat"]}
    validate_message(flagged)
    bad = copy.deepcopy(flagged)
    bad["quality"]["eda"] = ["on_fire"]
    with pytest.raises(InvalidMessageError):
        validate_message(bad)
    bad["quality"] = {"eda": []}
    with pytest.raises(InvalidMessageError):
        validate_message(bad)


def test_distribution_is_renormalised(make_message) -> None:
    msg = make_message(labels=["a", "b", "c"], distribution=np.array([2.0, 1.0, 1.0]))
    assert msg["distribution"] == [0.5, 0.25, 0.25]
    assert msg["top"] == "a"
    assert all(type(v) is float for v in msg["distribution"])
    validate_message(msg)
    odd = make_message(distribution=np.array([1e-9, 3e-9, 1e-9, 1e-9, 1e-9, 1e-9]))
    assert sum(odd["distribution"]) == pytest.approx(1.0, abs=1e-12)
    assert odd["top"] == "amusement"


@pytest.mark.parametrize(
    "bad",
    [
        [np.nan, 0.5, 0.1, 0.1, 0.1, 0.2],
        [np.inf, 0.5, 0.1, 0.1, 0.1, 0.2],
        [0.0] * 6,
        [-0.1, 0.5, 0.2, 0.2, 0.1, 0.1],
        [0.5, 0.5],
    ],
)
def test_builder_rejects_bad_distributions(make_message, bad: list[float]) -> None:
    with pytest.raises(ValueError):
        make_message(distribution=np.array(bad))


def test_builder_rejects_bad_inputs(make_message) -> None:
    with pytest.raises(ValueError, match="window_to_publish"):
        make_message(latency_ms={"model": 1.0})
    with pytest.raises(ValueError, match="non-negative"):
        make_message(latency_ms={"window_to_publish": -1.0})
    with pytest.raises(ValueError, match="modality states"):
        make_message(modalities={"bvp": "fine"})
    with pytest.raises(ValueError, match="unique"):
        make_message(labels=["a", "a", "b", "c", "d", "e"])
    with pytest.raises(ValueError, match="after its end"):
        make_message(window_start_lsl=2.0, window_end_lsl=1.0)


@pytest.mark.parametrize("field", sorted(load_schema()["required"]))
def test_every_required_field_is_enforced(make_message, field: str) -> None:
    msg = make_message()
    del msg[field]
    with pytest.raises(InvalidMessageError) as info:
        validate_message(msg)
    assert field in str(info.value)


def _mutated(msg: dict, path: list, value: object) -> dict:
    out = copy.deepcopy(msg)
    target = out
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["extra"], 1),
        (["schema"], "helo-stream/emotion/2"),
        (["seq"], -1),
        (["seq"], 1.5),
        (["window", "end"], KeyError),
        (["window", "middle"], 3.0),
        (["distribution", 0], 1.5),
        (["distribution", 0], "0.1"),
        (["modalities", "bvp"], "dead"),
        (["latency_ms", "window_to_publish"], KeyError),
        (["latency_ms", "window_to_publish"], -2.0),
        (["model", "checkpoint_sha256"], "ABC"),
        (["model", "checkpoint_sha256"], "A" * 64),
        (["model", "extra"], "x"),
        (["published_unix"], 0),
        (["labels"], ["only"]),
    ],
)
def test_schema_rejects(make_message, path: list, value: object) -> None:
    with pytest.raises(InvalidMessageError):
        validate_message(_mutated(make_message(), path, value))


def test_cross_field_rules(make_message) -> None:
    msg = make_message()
    with pytest.raises(InvalidMessageError, match="not the most probable"):
        validate_message(_mutated(msg, ["top"], "calm"))
    with pytest.raises(InvalidMessageError, match="sums to"):
        validate_message(_mutated(msg, ["distribution"], [0.5, 0.5, 0.5, 0.0, 0.0, 0.0]))
    with pytest.raises(InvalidMessageError, match="values for"):
        validate_message(_mutated(msg, ["distribution"], [0.5, 0.5]))


def test_load_schema_returns_a_fresh_copy() -> None:
    schema = load_schema()
    schema["required"].clear()
    assert load_schema()["required"]


def test_modality_states_are_the_stream_states_and_the_schema() -> None:
    from typing import get_args

    from helo_stream.sources.health import StreamState

    enum = load_schema()["properties"]["modalities"]["additionalProperties"]["enum"]
    assert MODALITY_STATES == get_args(StreamState) == tuple(enum)


def test_checked_distributions_is_the_builders_guard(make_message) -> None:
    rows = np.array([[2.0, 1.0, 1.0], [np.nan, 1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, 2.0, 1.0]])
    p, valid = checked_distributions(rows)
    assert valid.tolist() == [True, False, False, False]
    assert p[0].tolist() == [0.5, 0.25, 0.25] and np.isnan(p[1:]).all()
    msg = make_message(labels=["a", "b", "c"], distribution=rows[0])
    assert msg["distribution"] == p[0].tolist()
    for row, why in zip(rows[1:], ("finite", "all zero", "negative"), strict=True):
        with pytest.raises(ValueError, match=why):
            make_message(labels=["a", "b", "c"], distribution=row)
