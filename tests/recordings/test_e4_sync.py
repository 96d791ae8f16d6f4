"""E4 / chest-strap alignment: double taps, the protocol fit, and the real WESAD subjects."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from helo_stream.recordings import RecordingWarning
from helo_stream.recordings.e4_sync import (
    align_e4_to_protocol,
    e4_detect_sync_tap,
    find_double_taps,
    protocol_fit,
)
from helo_stream.recordings.quest import read_quest

FS = 32.0
#: A schedule like WESAD's, shortened: (start, end) after the chest start.
SCHEDULE = [(60.0, 300.0), (360.0, 480.0), (540.0, 660.0), (700.0, 820.0)]


def _still(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.round(rng.normal(0, 0.5, (n, 3)) + np.array([20, -10, 58]))


def _tap(acc: np.ndarray, t: float, gain: float = 1.0) -> None:
    for s in (t, t + 0.4):
        i = round(s * FS)
        acc[i] += np.round(gain * np.array([-30.0, 18.0, 70.0]))
        acc[i + 1] += np.round(gain * np.array([12.0, -8.0, -28.0]))


def _move(acc: np.ndarray, t0: float, t1: float, rng: np.random.Generator, level: float) -> None:
    """Wrist movement: turning (orientation changes) plus shaking."""
    i0, i1 = int(t0 * FS), int(t1 * FS)
    n = i1 - i0
    turn = np.cumsum(rng.normal(0, 1, (n, 3)), axis=0) * level
    acc[i0:i1] += np.round(turn + rng.normal(0, 3 * level, (n, 3)))


def _session(
    rng: np.random.Generator, *, chest: float, taps: list[tuple[float, float]]
) -> np.ndarray:
    """An E4 ACC: still during the schedule's conditions, moving between them."""
    total = chest + SCHEDULE[-1][1] + 300
    acc = _still(int(total * FS), rng)
    edges = [0.0] + [t for c in SCHEDULE for t in c] + [total - chest]
    for a, b in zip(edges[0::2], edges[1::2], strict=True):  # the gaps between conditions
        lo, hi = chest + a + 3, chest + b - 3
        if chest + a < 8:
            lo = 8  # keep the chest start quiet for its tap
        if hi > lo:
            _move(acc, lo, hi, rng, 1.0)
    _move(acc, 0.5, chest - 8, rng, 1.0)  # putting the devices on
    for t, gain in taps:
        _tap(acc, t, gain)
    return acc


def test_double_tap_beats_movements() -> None:
    rng = np.random.default_rng(1)
    acc = _still(int(120 * FS), rng)
    _move(acc, 10, 30, rng, 1.0)  # turning the wrist about
    _move(acc, 80, 81, rng, 3.0)  # a single sharp gesture
    # walking: arm swing plus a heel strike every 0.5 s (a bump over a few samples)
    t = np.arange(int(40 * FS), int(60 * FS))
    acc[t] += np.round(np.outer(np.sin(2 * np.pi * t / FS), [8, 4, 2])
                       + rng.normal(0, 2, (len(t), 3)))
    for step in t[::16]:
        acc[step:step + 3] += [[0, 0, 20], [0, 0, 35], [0, 0, 15]]
    _tap(acc, 70.0)
    cands = find_double_taps(acc, FS)
    assert cands[0].time_s == pytest.approx(70.0, abs=2 / FS)
    assert cands[0].gap_s == pytest.approx(0.4, abs=2 / FS)
    assert cands[0].turn_g < 0.1
    assert all(c.score < cands[0].score / 3 for c in cands[1:])
    al = e4_detect_sync_tap(acc, FS, e4_start_unix=1000.0)
    assert al.ok and al.method == "tap_only" and al.confidence > 0.6
    assert al.chest_start_unix == pytest.approx(1070.0, abs=2 / FS)
    # the search range is honoured
    assert e4_detect_sync_tap(acc, FS, search_s=(0, 65)).offset_s != al.offset_s


def test_no_tap_in_noise() -> None:
    rng = np.random.default_rng(2)
    acc = _still(int(60 * FS), rng)
    al = e4_detect_sync_tap(acc, FS)
    assert not al.ok and al.offset_s is None and al.chest_start_unix is None
    assert "no double tap" in al.reason


def test_protocol_fit_finds_the_schedule() -> None:
    rng = np.random.default_rng(3)
    acc = _session(rng, chest=400.0, taps=[])
    fit = protocol_fit(acc, FS, SCHEDULE, search_s=(0, 600))
    assert fit.offset_s == pytest.approx(400.0, abs=3.0)
    assert fit.low_s <= 400.0 <= fit.high_s
    assert fit.confidence > 0.3


def test_alignment_prefers_the_tap_at_the_protocol_over_a_firmer_later_one() -> None:
    # like S2: a faint double tap at the chest start and a firm one two minutes later
    rng = np.random.default_rng(4)
    acc = _session(rng, chest=400.0, taps=[(400.0, 0.5), (530.0, 1.5)])
    alone = e4_detect_sync_tap(acc, FS, search_s=(0, 600))
    assert alone.offset_s == pytest.approx(530.0, abs=0.1)  # the tap alone is fooled
    al = align_e4_to_protocol(acc, FS, SCHEDULE, e4_start_unix=0.0)
    assert al.ok and al.method == "tap", al.reason
    assert al.offset_s == pytest.approx(400.0, abs=2 / FS)
    assert al.strongest_tap_s == pytest.approx(530.0, abs=0.1)
    assert "later" in al.reason


def test_alignment_without_a_tap_uses_the_fit() -> None:
    rng = np.random.default_rng(5)
    acc = _session(rng, chest=250.0, taps=[])
    al = align_e4_to_protocol(acc, FS, SCHEDULE, e4_start_unix=1e9)
    assert al.ok and al.method == "protocol" and al.tap_time_s is None, al.reason
    assert al.offset_s == pytest.approx(250.0, abs=3.0)
    assert al.uncertainty_s is not None and al.uncertainty_s >= 5.0


def test_alignment_of_a_motionless_wrist_is_not_ok() -> None:
    rng = np.random.default_rng(6)
    acc = _still(int(1500 * FS), rng)
    al = align_e4_to_protocol(acc, FS, SCHEDULE)
    assert not al.ok and al.method == "protocol"
    assert "ambiguous" in al.reason


#: S2's RespiBAN start is public (2017-05-22 07:39:01 UTC): 1416 s after its E4 start.
S2_KNOWN_OFFSET_S = 1416.0


def test_alignment_table_of_the_real_subjects(wesad_root: Path) -> None:
    """All 12 subjects: the table is printed (``pytest -s``); S2 must match its known start."""
    rows = []
    for folder in sorted(wesad_root.glob("S*"), key=lambda p: int(p.name[1:])):
        acc = np.loadtxt(folder / f"{folder.name}_E4_Data" / "ACC.csv", delimiter=",",
                         skiprows=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RecordingWarning)  # S5 has an unanswered item
            quest = read_quest(folder / f"{folder.name}_quest.csv")
        al = align_e4_to_protocol(acc, FS, [(c.start_s, c.end_s) for c in quest.conditions])
        rows.append((folder.name, al))
    print("\nsubject  offset_s  +-s   method    confidence  ok     fit_s   strongest_tap_s")
    for name, al in rows:
        strongest = f"{al.strongest_tap_s:.1f}" if al.strongest_tap_s is not None else "-"
        print(f"{name:<7} {al.offset_s:9.2f}  {al.uncertainty_s:4.1f}  {al.method:<8}  "
              f"{al.confidence:10.2f}  {al.ok!s:<5} {al.protocol_offset_s:8.1f}  {strongest}")
    assert len(rows) == 12
    s2 = dict(rows)["S2"]
    assert s2.ok, s2.reason
    assert abs(s2.offset_s - S2_KNOWN_OFFSET_S) <= 5.0
    for name, al in rows:
        assert al.offset_s is not None and 0 <= al.offset_s <= 3600, name
        assert al.ok == (al.method == "tap" or al.confidence >= 0.2), name

