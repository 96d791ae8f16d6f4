"""Every subject of a dataset folder as a :class:`SessionDataset`, with its alignment on record.

A dataset is a folder of recordings, one per subject, in any format
:func:`helo_stream.recordings.detect_format` knows (a WESAD download's ``S2/``, ``S3/``, ...,
DMER's ``.mat`` files, XDF files); training and evaluation also accept a single recording. Each
subject is read with :func:`helo_stream.recordings.load_recording`, which for WESAD places the
protocol conditions on the E4 clock by the chest-strap alignment. A subject whose alignment
failed keeps its windows (they are valid sensor data) but has no labelled window, and
:class:`SubjectData` says why, so reports can list it instead of silently dropping it.

Features are expensive (minutes per 2-hour session), so they are cached on disk outside the
repository: ``$HELO_STREAM_CACHE`` or ``~/.cache/helo-stream``.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from helo_stream.config import Pipeline, load_pipeline
from helo_stream.datasets.session import SessionDataset, load_session_dataset
from helo_stream.recordings import detect_format, load_recording
from helo_stream.recordings.base import RecordingError
from helo_stream.sources.resolve import select_modality_inputs

__all__ = [
    "SubjectData",
    "alignment_rows",
    "default_cache_dir",
    "find_subject_folders",
    "load_subject",
    "load_subjects",
]


def default_cache_dir() -> Path:
    """Where feature tables are cached: ``$HELO_STREAM_CACHE/features`` or the user cache."""
    root = os.environ.get("HELO_STREAM_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "helo-stream"
    return base / "features"


def _natural_key(path: Path) -> tuple[Any, ...]:
    """``S2`` before ``S10``: digits compare as numbers."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.name))


def _is_recording(path: Path) -> bool:
    try:
        detect_format(path)
    except RecordingError:
        return False
    return True


def find_subject_folders(path: str | Path) -> list[Path]:
    """One recording (``path`` itself) or every recording directly inside ``path``.

    Raises
    ------
    RecordingError
        ``path`` is neither a recording nor a folder holding any.
    """
    path = Path(path)
    if not path.exists():
        raise RecordingError("no such file or folder", path=path)
    if _is_recording(path):
        return [path]
    if path.is_dir():
        found = sorted((p for p in path.iterdir() if _is_recording(p)), key=_natural_key)
        if found:
            return found
    raise RecordingError(
        "neither a recording (e.g. a WESAD subject folder SX/ with SX_E4_Data/) nor a folder "
        "of recordings",
        path=path,
    )


@dataclass(frozen=True)
class SubjectData:
    """One subject's windows plus what the report must say about how they were labelled.

    Attributes
    ----------
    subject, path
        Subject id and recording folder.
    session
        All windows of the session (features, targets, conditions).
    alignment
        ``E4Alignment`` as a plain dict (None for formats without one).
    notes
        Warnings raised while reading (failed alignment, unanswered questionnaire items).
    """

    subject: str
    path: Path
    session: SessionDataset
    alignment: dict[str, Any] | None
    notes: tuple[str, ...] = field(default=())

    @property
    def usable(self) -> bool:
        """True when the subject has labelled windows (alignment fine, ratings present)."""
        return self.session.n_labelled > 0

    @property
    def excluded_reason(self) -> str | None:
        """Why the subject cannot be used for training or evaluation, or None."""
        if self.usable:
            return None
        if self.alignment is not None and not self.alignment["ok"]:
            return f"E4/chest-strap alignment failed: {self.alignment['reason']}"
        return "no window lies inside a rated protocol condition"


def _alignment_dict(recording: Any) -> dict[str, Any] | None:
    a = recording.alignment
    if a is None:
        return None
    return {
        "ok": bool(a.ok),
        "method": a.method,
        "offset_s": a.offset_s,
        "confidence": float(a.confidence),
        "uncertainty_s": a.uncertainty_s,
        "protocol_offset_s": a.protocol_offset_s,
        "protocol_confidence": a.protocol_confidence,
        "tap_time_s": a.tap_time_s,
        "e4_end_after_protocol_s": a.e4_end_after_protocol_s,
        "decided_by": a.decided_by,
        "evidence": list(a.evidence),
        "reason": a.reason,
    }


def load_subject(
    path: str | Path,
    pipeline: Pipeline,
    *,
    step_s: float | None = None,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> SubjectData:
    """Read one recording and cut it into a labelled :class:`SessionDataset`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recording = load_recording(path)
        # A recording of per-second features (DMER) feeds the modalities' features streams.
        fed = select_modality_inputs(pipeline, available=recording.streams)
        session = load_session_dataset(
            recording, fed, step_s=step_s, cache_dir=cache_dir, progress=progress
        )
    messages = (str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning))
    notes = tuple(dict.fromkeys(messages))
    return SubjectData(recording.subject, Path(path), session, _alignment_dict(recording), notes)


def _load_worker(
    path: Path, pipeline_path: Path, step_s: float | None, cache_dir: Path | None
) -> SubjectData:
    pipeline = load_pipeline(pipeline_path, check_checkpoint=False)
    return load_subject(path, pipeline, step_s=step_s, cache_dir=cache_dir)


def load_subjects(
    path: str | Path,
    pipeline: Pipeline,
    *,
    step_s: float | None = None,
    cache_dir: Path | None = None,
    jobs: int = 1,
    progress: bool = False,
) -> list[SubjectData]:
    """Every recording at ``path`` (one, or a folder of them), in natural subject order.

    Parameters
    ----------
    step_s
        Window step; the pipeline's ``training.step_s`` when None.
    cache_dir
        Feature cache; None computes features without caching.
    jobs
        Worker processes (features of different subjects are independent).
    progress
        Show a per-subject progress bar (stderr).
    """
    from tqdm.auto import tqdm

    folders = find_subject_folders(path)
    if jobs <= 1 or len(folders) == 1:
        return [
            load_subject(f, pipeline, step_s=step_s, cache_dir=cache_dir)
            for f in tqdm(folders, desc="subjects", unit="subj", disable=not progress)
        ]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_load_worker, f, pipeline.path, step_s, cache_dir) for f in folders]
        return [
            fut.result()
            for fut in tqdm(futures, desc="subjects", unit="subj", disable=not progress)
        ]


def alignment_rows(subjects: Sequence[SubjectData]) -> list[dict[str, Any]]:
    """One JSON-ready row per subject: the alignment found, and whether the subject was used.

    ``decided_by`` names the evidence that accepted or rejected the alignment and ``evidence``
    lists the outcome of every alignment criterion (see :mod:`helo_stream.recordings.e4_sync`).
    """
    rows = []
    for s in subjects:
        a = s.alignment or {}
        rated = sorted(
            {str(c) for c in s.session.condition[s.session.labelled]},
        )
        rows.append(
            {
                "subject": s.subject,
                "used": s.usable,
                "method": a.get("method"),
                "offset_s": a.get("offset_s"),
                "confidence": a.get("confidence"),
                "uncertainty_s": a.get("uncertainty_s"),
                "alignment_ok": a.get("ok"),
                "e4_end_after_protocol_s": a.get("e4_end_after_protocol_s"),
                "n_windows": len(s.session),
                "n_labelled": s.session.n_labelled,
                "rated_conditions": rated,
                "reason": a.get("reason"),
                "decided_by": a.get("decided_by"),
                "evidence": list(a.get("evidence") or ()),
                "excluded_reason": s.excluded_reason,
                "notes": list(s.notes),
            }
        )
    return rows
