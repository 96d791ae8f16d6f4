"""Multi-label messages: scores, threshold and present are optional, together, and consistent."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console

from helo_stream.dashboard.hub import _compact
from helo_stream.receivers.terminal_view import render_live
from helo_stream.sinks.message import InvalidMessageError, validate_message

SCORES = np.array([0.9, 0.2, 0.55, 0.1, 0.5, 0.05])


def test_scores_give_present_labels_in_label_order(make_message) -> None:
    msg = make_message(scores=SCORES, threshold=0.5, distribution=SCORES)
    validate_message(msg)
    assert msg["scores"] == pytest.approx(SCORES.tolist())
    assert msg["present"] == ["neutral", "stress", "sad"]  # 0.5 itself is present
    assert msg["threshold"] == 0.5
    assert sum(msg["distribution"]) == pytest.approx(1.0)


def test_distribution_messages_carry_no_presence_fields(make_message) -> None:
    msg = make_message()
    assert not {"scores", "present", "threshold"} & set(msg)
    validate_message(msg)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scores": SCORES},
        {"threshold": 0.5},
        {"scores": SCORES[:3], "threshold": 0.5},
        {"scores": np.append(SCORES[:-1], 1.5), "threshold": 0.5},
        {"scores": SCORES, "threshold": 1.0},
    ],
)
def test_builder_rejects_bad_presence_inputs(make_message, kwargs) -> None:
    with pytest.raises(ValueError):
        make_message(**kwargs)


def test_validation_catches_inconsistent_presence(make_message) -> None:
    msg = make_message(scores=SCORES, threshold=0.5)
    for drop in ("scores", "present", "threshold"):
        broken = {k: v for k, v in msg.items() if k != drop}
        with pytest.raises(InvalidMessageError):
            validate_message(broken)
    with pytest.raises(InvalidMessageError, match="present"):
        validate_message({**msg, "present": ["neutral"]})
    with pytest.raises(InvalidMessageError, match="scores"):
        validate_message({**msg, "scores": msg["scores"][:-1]})
    with pytest.raises(InvalidMessageError):
        validate_message({**msg, "present": ["unknown", "neutral"]})


def test_terminal_view_shows_scores_and_present(make_message) -> None:
    msg = make_message(scores=SCORES, threshold=0.5)
    out = io.StringIO()
    Console(file=out, width=120, force_terminal=False).print(
        render_live({"S2": msg}, received=1, top=None)
    )
    text = out.getvalue()
    assert "present (≥ 50%): neutral, stress, sad" in text
    assert "90.0% ✓" in text and "20.0%  " in text and "top:" not in text


def test_dashboard_compact_keeps_presence_fields(make_message) -> None:
    plain = _compact(make_message())
    assert "scores" not in plain
    compact = _compact(make_message(scores=SCORES, threshold=0.5))
    assert compact["present"] == ["neutral", "stress", "sad"]
    assert compact["scores"] == pytest.approx(SCORES.tolist())
    assert compact["threshold"] == 0.5
