"""Presence targets of a session's windows come from the recording's ratings, not from the
normalised distribution (which loses the rating scale)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from helo_stream.datasets.multilabel import session_multilabel_targets

LABELS = ["happy", "sad", "stressed"]


def session(rows: list[tuple[str, list[float] | None]]) -> SimpleNamespace:
    targets = np.array([np.full(3, np.nan) if t is None else t for _, t in rows], dtype=float)
    return SimpleNamespace(
        subject="S1",
        targets=targets,
        condition=np.array([c for c, _ in rows], dtype=object),
        labelled=np.array([t is not None for _, t in rows]),
    )


def cond(name: str, happy: int, sad: int, stressed: int) -> SimpleNamespace:
    return SimpleNamespace(
        condition=name, ratings={"happy": happy, "sad": sad, "stressed": stressed, "other": 5}
    )


def norm(*r: int) -> list[float]:
    return (np.array(r, dtype=float) / sum(r)).tolist()


def test_same_distribution_different_scale_gives_different_presence() -> None:
    # (1, 1, 2) and (2, 2, 4) normalise alike; only the ratings tell "stressed" from "all".
    low = [cond("baseline", 1, 1, 2)]
    high = [cond("baseline", 2, 2, 4)]
    s = session([("", None), ("baseline", norm(1, 1, 2)), ("baseline", norm(1, 1, 2))])
    assert session_multilabel_targets(s, low, LABELS).tolist() == [
        [False, False, False],
        [False, False, False],
        [False, False, False],
    ]
    assert session_multilabel_targets(s, high, LABELS)[1:].tolist() == [[False, False, True]] * 2
    assert session_multilabel_targets(s, high, LABELS, min_rating=2)[1].tolist() == [True] * 3


def test_windows_match_their_own_condition_and_ratings() -> None:
    conditions = [
        cond("baseline", 4, 1, 1),
        cond("stress", 1, 3, 5),
        cond("meditation", 3, 1, 1),
        cond("meditation", 1, 1, 1),
        SimpleNamespace(condition="amusement", ratings=None),
    ]
    s = session(
        [
            ("baseline", norm(4, 1, 1)),
            ("stress", norm(1, 3, 5)),
            ("meditation", norm(1, 1, 1)),
            ("meditation", norm(3, 1, 1)),
            ("amusement", None),
        ]
    )
    out = session_multilabel_targets(s, conditions, LABELS)
    assert out.tolist() == [
        [True, False, False],
        [False, True, True],
        [False, False, False],
        [True, False, False],
        [False, False, False],
    ]


def test_unmatched_or_ambiguous_windows_are_errors() -> None:
    s = session([("stress", norm(1, 3, 5))])
    with pytest.raises(ValueError, match="matches no rated condition"):
        session_multilabel_targets(s, [cond("baseline", 1, 3, 5)], LABELS)
    with pytest.raises(ValueError, match="disagreeing"):
        session_multilabel_targets(
            session([("stress", norm(1, 1, 1))]),
            [cond("stress", 1, 1, 1), cond("stress", 4, 4, 4)],
            LABELS,
        )
