"""WESAD ``SX_quest.csv``: the protocol schedule and the self-reports given after each condition.

The file is ``;``-separated. The lines used here are ``# ORDER`` (condition names in the order
they were run), ``# START``/``# END`` (``minutes.seconds`` counted from the RespiBAN chest-strap
start) and five ``# PANAS`` lines, one per condition in ``ORDER`` (the reading tasks ``bRead``,
``sRead`` and ``fRead`` are not conditions and have no questionnaire). STAI, SAM and SSSQ lines
are not used.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from helo_stream.recordings.base import LABELS_WESAD, RecordingError, RecordingWarning

#: ``ORDER`` names -> protocol condition. Names not listed (the reading tasks) are skipped.
CONDITION_NAMES: dict[str, str] = {
    "Base": "baseline",
    "TSST": "stress",
    "Fun": "amusement",
    "Medi 1": "meditation",
    "Medi 2": "meditation",
}
IGNORED_NAMES: frozenset[str] = frozenset({"bRead", "sRead", "fRead"})

#: Positions of Angry and Irritated in the 26-item line given after the stress condition.
_STRESS_ONLY_ITEMS = (23, 24)
_MINSEC = re.compile(r"^(\d+)(?:\.(\d{1,2}))?$")


@dataclass(frozen=True)
class QuestCondition:
    """One protocol condition, in seconds after the chest-strap start."""

    name: str  # as written in ORDER, e.g. "Medi 2"
    condition: str  # baseline | stress | amusement | meditation
    start_s: float
    end_s: float
    ratings: dict[str, int] | None


@dataclass(frozen=True)
class Quest:
    """The protocol of one WESAD subject, conditions in the order they were run."""

    subject: str
    path: Path
    conditions: tuple[QuestCondition, ...]

    @property
    def end_s(self) -> float:
        """End of the last condition (seconds after the chest start)."""
        return max(c.end_s for c in self.conditions)


def parse_minutes_seconds(text: str) -> float:
    """``"7.08"`` -> 428 s. Spreadsheet export drops trailing zeros: ``"50.3"`` is 50 min 30 s.

    WESAD writes times as ``minutes.seconds``; a one-digit fraction can only be a tens digit
    whose zero was dropped (``50.30`` stored as a number), so it is padded on the right.
    """
    match = _MINSEC.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a time in minutes.seconds")
    minutes = int(match.group(1))
    seconds = int(match.group(2).ljust(2, "0")) if match.group(2) else 0
    if seconds >= 60:
        raise ValueError(f"{text!r}: {seconds} seconds is not below 60")
    return float(minutes * 60 + seconds)


def _fields(line: str) -> list[str]:
    parts = [p.strip() for p in line.split(";")]
    while parts and parts[-1] == "":
        parts.pop()
    return parts[1:]


def _panas(values: list[str], *, line_no: int, path: Path) -> dict[str, int] | None:
    if len(values) == 26:
        values = [v for i, v in enumerate(values) if i not in _STRESS_ONLY_ITEMS]
    if len(values) != len(LABELS_WESAD):
        raise RecordingError(
            f"line {line_no}: a PANAS line must have 24 items (26 after the stress condition), "
            f"got {len(values)}",
            path=path,
        )
    ratings: dict[str, int] = {}
    missing = []
    for label, value in zip(LABELS_WESAD, values, strict=True):
        if value.lower() in {"nan", ""}:
            missing.append(label)
            continue
        try:
            rating = int(value)
        except ValueError:
            raise RecordingError(
                f"line {line_no}: PANAS item {label!r} is {value!r}, not a rating 1-5", path=path
            ) from None
        if not 1 <= rating <= 5:
            raise RecordingError(
                f"line {line_no}: PANAS item {label!r} is {rating}, outside 1-5", path=path
            )
        ratings[label] = rating
    if missing:
        # A partial self-report would bias a normalised target distribution; leave it out.
        warnings.warn(
            f"{path}: line {line_no}: PANAS item(s) {missing} not answered; that condition's "
            "ratings are left out",
            RecordingWarning,
            stacklevel=3,
        )
        return None
    return ratings


def read_quest(path: str | Path) -> Quest:
    """Parse ``SX_quest.csv`` into the conditions run and the PANAS given after each.

    Raises
    ------
    RecordingError
        Missing lines, unknown condition names, malformed times, PANAS lines whose count does
        not match the conditions, or ratings outside 1-5.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="strict")
    except (OSError, UnicodeDecodeError) as err:
        raise RecordingError(f"cannot read questionnaire file: {err}", path=path) from err
    rows: dict[str, list[str]] = {}
    subject = ""
    panas: list[tuple[int, list[str]]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        head = line.split(";", 1)[0].strip()
        if head in {"# ORDER", "# START", "# END"}:
            rows[head[2:]] = _fields(line)
        elif head == "# PANAS":
            panas.append((line_no, _fields(line)))
        elif head.startswith("# Subj"):
            fields = _fields(line)
            subject = fields[0] if fields else ""
    missing = [k for k in ("ORDER", "START", "END") if k not in rows]
    if missing:
        raise RecordingError(
            f"not a WESAD questionnaire file: no '# {'/# '.join(missing)}' line", path=path
        )
    order, starts, ends = rows["ORDER"], rows["START"], rows["END"]
    if not (len(order) == len(starts) == len(ends)):
        raise RecordingError(
            f"ORDER has {len(order)} entries but START {len(starts)} and END {len(ends)}",
            path=path,
        )
    picked: list[tuple[str, float, float]] = []
    for name, start, end in zip(order, starts, ends, strict=True):
        if name in IGNORED_NAMES:
            continue
        if name not in CONDITION_NAMES:
            raise RecordingError(
                f"unknown condition {name!r} in ORDER (known: {sorted(CONDITION_NAMES)})",
                path=path,
            )
        try:
            start_s, end_s = parse_minutes_seconds(start), parse_minutes_seconds(end)
        except ValueError as err:
            raise RecordingError(f"condition {name!r}: {err}", path=path) from None
        if end_s <= start_s:
            raise RecordingError(
                f"condition {name!r} ends ({end}) before it starts ({start})", path=path
            )
        picked.append((name, start_s, end_s))
    if not picked:
        raise RecordingError("ORDER lists no protocol condition", path=path)
    if len(panas) not in (0, len(picked)):
        raise RecordingError(
            f"{len(panas)} PANAS line(s) for {len(picked)} conditions; expected one per condition",
            path=path,
        )
    conditions = []
    for i, (name, start_s, end_s) in enumerate(picked):
        ratings = _panas(panas[i][1], line_no=panas[i][0], path=path) if panas else None
        conditions.append(QuestCondition(name, CONDITION_NAMES[name], start_s, end_s, ratings))
    subject = subject or path.stem.split("_")[0]
    return Quest(subject=subject, path=path, conditions=tuple(conditions))
