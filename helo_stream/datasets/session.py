"""One recorded session turned into windows, features and target distributions.

Windows come from :func:`helo_stream.pipeline.offline.featurize_recording`, the path that
``helo-stream process`` takes too: the live pipeline's conditioning, scheduler and per-window
rules (:class:`~helo_stream.pipeline.processor.WindowProcessor`), so a model is trained on the
windows, and only the windows, the live pipeline publishes. Targets follow HeLo: the
self-report ratings given after a protocol condition, normalised to sum to one, are the target
distribution of every window that lies wholly inside that condition.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from helo_stream.config import Pipeline
from helo_stream.pipeline.features import FeatureTable
from helo_stream.pipeline.offline import featurize_recording
from helo_stream.pipeline.processor import WindowProcessor
from helo_stream.recordings.base import Recording, RecordingError

if TYPE_CHECKING:
    from helo_stream.models.normalization import FeatureNormalizer

#: Bumped whenever the feature computation changes, so stale caches are never reused.
CACHE_VERSION = 4  # 3: incremental feature engine; 4: the live scheduler and window rules


@dataclass(frozen=True)
class SessionDataset:
    """Every window of one session; ``labelled`` marks those inside a rated condition.

    All windows are kept, in time order, because per-subject normalisation is computed from the
    start of the session (what a live system has), not only from the labelled part.
    """

    subject: str
    table: FeatureTable
    targets: np.ndarray
    condition: np.ndarray
    labelled: np.ndarray

    def __len__(self) -> int:
        return len(self.table)

    @property
    def window_end(self) -> np.ndarray:
        """End time of every window (recording clock, seconds)."""
        return self.table.window_end

    @property
    def n_labelled(self) -> int:
        return int(self.labelled.sum())

    def normalized_features(self, normalizer: FeatureNormalizer) -> dict[str, np.ndarray]:
        """Every window z-scored as the live pipeline would have z-scored it.

        The session is streamed through a fresh copy of ``normalizer`` in time order from its
        first window: population statistics until ``calibration_s`` have passed, then the
        subject's own statistics (of every window so far, or of the calibration windows only,
        by the normaliser's ``mode``). No later window (and no condition label) influences a
        window's z-scores, so a test subject's z-scores use only what a live system would know.
        """
        return normalizer.transform_session(self.table.features, self.table.window_end)


def ratings_distribution(ratings: dict[str, int], labels: Sequence[str]) -> np.ndarray:
    """Self-report ratings (1-5) of the given labels, normalised to sum to one."""
    missing = [label for label in labels if label not in ratings]
    if missing:
        raise RecordingError(f"self-report lacks item(s) {missing}")
    values = np.array([float(ratings[label]) for label in labels])
    if not np.all(np.isfinite(values)) or values.sum() <= 0:
        raise RecordingError(f"self-report ratings are not usable: {values}")
    return values / values.sum()


def build_session_dataset(
    recording: Recording,
    pipeline: Pipeline,
    *,
    step_s: float | None = None,
    processor: WindowProcessor | None = None,
    progress: bool = False,
) -> SessionDataset:
    """Cut one recording into windows with features, targets and condition names."""
    processor = processor or WindowProcessor.from_pipeline(pipeline, with_model=False)
    step = step_s if step_s is not None else pipeline.config.training.step_s
    table = featurize_recording(
        recording, pipeline, step_s=step, processor=processor, progress=progress
    )
    return label_windows(recording, pipeline.labels, table, length_s=processor.featurizer.length_s)


def label_windows(
    recording: Recording, labels: Sequence[str], table: FeatureTable, *, length_s: float
) -> SessionDataset:
    """Attach each condition's rating distribution to the windows that lie inside it.

    A window lies inside a condition when it does wherever within the alignment's uncertainty
    the conditions really are: with an E4/chest-strap alignment of ``uncertainty_s`` = u, a
    window must start at least u after the condition's start and end at least u before its end.
    The margin comes from the alignment alone (none without one, or with u = 0), so a loosely
    aligned subject loses the windows whose condition is in doubt and a tightly aligned one
    keeps (nearly) all of them.
    """
    n = len(table)
    targets = np.full((n, len(labels)), np.nan)
    condition = np.full(n, "", dtype=object)
    labelled = np.zeros(n, dtype=bool)
    starts = table.window_end - length_s
    alignment = recording.alignment
    margin = 0.0
    if alignment is not None and alignment.uncertainty_s is not None:
        margin = max(0.0, float(alignment.uncertainty_s))
    for interval in recording.conditions:
        inside = (starts >= interval.start + margin) & (table.window_end <= interval.end - margin)
        condition[inside] = interval.condition
        if interval.ratings is None:
            continue
        targets[inside] = ratings_distribution(interval.ratings, labels)
        labelled |= inside
    return SessionDataset(recording.subject, table, targets, condition, labelled)


def cache_key(recording: Recording, pipeline: Pipeline, step_s: float) -> str:
    """Identifies a session's features: the files, the stages and the step."""
    stages = {
        name: {
            "stream": f"{m.profile.name}.{m.stream_key}",
            "filter": m.config.filter.model_dump() if m.config.filter else None,
            "features": list(m.config.features) if m.config.features else None,
            "required": m.config.required,
        }
        for name, m in pipeline.modalities.items()
    }
    files = sorted(
        (str(p.relative_to(recording.path)), p.stat().st_size, int(p.stat().st_mtime))
        for p in ([recording.path] if recording.path.is_file() else recording.path.rglob("*"))
        if p.is_file()
    )
    blob = json.dumps(
        {
            "v": CACHE_VERSION,
            "stages": stages,
            "window": pipeline.config.window.model_dump(mode="json"),
            "step": step_s,
            "files": files,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def load_session_dataset(
    recording: Recording,
    pipeline: Pipeline,
    *,
    step_s: float | None = None,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> SessionDataset:
    """:func:`build_session_dataset`, with the feature table cached on disk when asked."""
    step = step_s if step_s is not None else pipeline.config.training.step_s
    processor = WindowProcessor.from_pipeline(pipeline, with_model=False)
    featurizer = processor.featurizer
    if cache_dir is None:
        return build_session_dataset(
            recording, pipeline, step_s=step, processor=processor, progress=progress
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{recording.subject}-{cache_key(recording, pipeline, step)}.npz"
    names = featurizer.feature_names
    if path.is_file():
        with np.load(path) as data:
            table = FeatureTable(
                window_end=data["window_end"],
                features={m: data[f"x_{m}"] for m in names},
                present={m: data[f"p_{m}"] for m in names},
                feature_names=names,
            )
    else:
        table = featurize_recording(
            recording, pipeline, step_s=step, processor=processor, progress=progress
        )
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            window_end=table.window_end,
            **{f"x_{m}": table.features[m] for m in names},
            **{f"p_{m}": table.present[m] for m in names},
        )
        tmp.replace(path)
    return label_windows(recording, pipeline.labels, table, length_s=featurizer.length_s)
