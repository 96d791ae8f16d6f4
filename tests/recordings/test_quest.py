"""``SX_quest.csv``: protocol times in minutes.seconds and the PANAS after each condition."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from helo_stream.recordings import LABELS_WESAD, RecordingError, RecordingWarning
from helo_stream.recordings.quest import parse_minutes_seconds, read_quest


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7.08", 428), ("50.3", 3030), ("48", 2880), ("2.5", 170), ("0.05", 5), ("100.15", 6015)],
)
def test_minutes_seconds(text: str, seconds: float) -> None:
    assert parse_minutes_seconds(text) == seconds


@pytest.mark.parametrize("text", ["7.60", "abc", "7.123", "-1.0", ""])
def test_minutes_seconds_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_minutes_seconds(text)


def test_labels() -> None:
    assert len(LABELS_WESAD) == 24
    assert LABELS_WESAD[:3] == ("active", "distressed", "interested")
    assert LABELS_WESAD[-4:] == ("stressed", "frustrated", "happy", "sad")
    assert "angry" not in LABELS_WESAD and "irritated" not in LABELS_WESAD


def test_read_quest(tmp_path: Path, wf: SimpleNamespace) -> None:
    path = tmp_path / "S7_quest.csv"
    path.write_text(wf.quest_text())
    quest = read_quest(path)
    assert [c.name for c in quest.conditions] == ["Base", "TSST", "Medi 1", "Fun", "Medi 2"]
    assert [c.condition for c in quest.conditions] == [
        "baseline",
        "stress",
        "meditation",
        "amusement",
        "meditation",
    ]
    assert [(c.start_s, c.end_s) for c in quest.conditions] == [
        (10, 30),
        (40, 55),
        (65, 80),
        (85, 100),
        (105, 120),
    ]
    stress = quest.conditions[1].ratings
    assert stress is not None and list(stress) == list(LABELS_WESAD)
    # the 26-item line: Angry (2) and Irritated (3) are dropped, Sad is the last value (1)
    assert stress["happy"] == 1 and stress["sad"] == 1 and stress["alert"] == 5
    assert quest.conditions[0].ratings == dict(
        zip(LABELS_WESAD, map(int, wf.PANAS_24.split(";")), strict=True)
    )
    assert quest.end_s == 120


def test_unanswered_item_drops_that_report(tmp_path: Path, wf: SimpleNamespace) -> None:
    path = tmp_path / "S5_quest.csv"
    p24 = wf.PANAS_24
    broken = p24.replace("3;1;2;3", "3;Nan;2;3", 1)  # item 16, Nervous, as in S5
    path.write_text(wf.quest_text(panas=(p24, wf.PANAS_26, broken, p24, p24)))
    with pytest.warns(RecordingWarning, match="nervous"):
        quest = read_quest(path)
    assert quest.conditions[2].ratings is None
    assert quest.conditions[0].ratings is not None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (None, "no '# ORDER"),
        ({"start": ("0.10", "0.40", "1.05", "1.25", "1.45")}, "START 5"),
        ({"order": ("Base", "Party", "Medi 1", "Fun", "Medi 2", "sRead")}, "Party"),
        ({"end": ("0.05", "0.55", "1.2", "1.4", "2", "0.38")}, "ends"),
        ({"start": ("0.10", "0.75", "1.05", "1.25", "1.45", "0.35")}, "below 60"),
        ({"panas": ("P24",) * 4}, "4 PANAS line"),
        ({"panas": ("P24[:-2]",) * 5}, "24 items"),
        ({"panas": ("P24:3>7",) * 5}, "outside 1-5"),
        ({"panas": ("P24:3>x",) * 5}, "not a rating"),
    ],
)
def test_bad_quest_files(
    tmp_path: Path, wf: SimpleNamespace, kwargs: dict | None, match: str
) -> None:
    variants = {
        "P24": wf.PANAS_24,
        "P24[:-2]": wf.PANAS_24[:-2],
        "P24:3>7": wf.PANAS_24.replace("3", "7"),
        "P24:3>x": wf.PANAS_24.replace("3", "x"),
    }
    if kwargs is not None and "panas" in kwargs:
        kwargs = {"panas": tuple(variants[p] for p in kwargs["panas"])}
    path = tmp_path / "S1_quest.csv"
    path.write_text("just some text\n" if kwargs is None else wf.quest_text(**kwargs))
    with pytest.raises(RecordingError, match=match) as err:
        read_quest(path)
    assert str(path) in str(err.value)


def test_missing_quest_file(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot read"):
        read_quest(tmp_path / "nope.csv")
