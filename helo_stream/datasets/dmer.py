"""DMER for training and evaluation: every participant's ``.mat`` file as labelled windows.

A DMER folder holds one released feature file per participant (``1.mat``, ``2.mat``, ...;
:func:`helo_stream.recordings.dmer.load_dmer`). Each is read as a recording of 1 Hz feature
streams with one condition per film clip, and cut into windows by the pipeline's own
featurizer with every modality fed by its ``features_stream``
(:func:`helo_stream.sources.resolve.select_modality_inputs`): a window's features are the mean
of the per-second rows it holds, exactly what the live pipeline computes from raw signals. A
window lying wholly inside a clip gets that clip's 10 PANAS ratings normalised to sum to one
(:data:`~helo_stream.recordings.dmer.LABELS_DMER`) as its target distribution; windows across
the gaps between clips are kept unlabelled (they still feed per-subject normalisation).

Reading goes through :func:`helo_stream.datasets.subjects.load_subjects`, which detects the layout;
this module adds what is particular to DMER. One file is one participant, so the
subject-independent folds of ``helo-stream evaluate --loso``
(and the validation split of ``train``) are grouped by participant: no participant's windows are
ever on both sides of a split.
"""

from __future__ import annotations

from pathlib import Path

from helo_stream.datasets.subjects import find_subject_folders
from helo_stream.recordings import detect_format
from helo_stream.recordings.base import RecordingError

__all__ = ["dmer_provenance", "is_dmer_data"]


def is_dmer_data(path: str | Path) -> bool:
    """Whether ``path`` is DMER data, by the same layout detection the dataset reader uses."""
    try:
        recordings = find_subject_folders(path)
    except RecordingError:
        return False
    return any(detect_format(p) == "dmer" for p in recordings)


def dmer_provenance(
    path: str | Path, *, present_min_rating: float | None = None
) -> dict[str, str] | None:
    """What a checkpoint trained on ``path`` should name as its dataset and labels, if DMER.

    The dataset reader picks the recording reader by the data's layout, so the provenance
    written into a checkpoint must follow the same test; otherwise a DMER model would claim
    WESAD's labels.

    Parameters
    ----------
    path
        The training data (``--data``).
    present_min_rating
        For multi-label training: the rating from which an item counts as present.

    Returns
    -------
    dict or None
        ``dataset`` and ``labels_source`` for DMER data, None for any other layout.
    """
    if not is_dmer_data(path):
        return None
    if present_min_rating is None:
        labels = "DMER's 10 PANAS ratings (1-5) per film clip, normalised to sum 1"
    else:
        labels = (
            "DMER's 10 PANAS ratings (1-5) per film clip; an item is present in every window "
            f"of a clip when rated >= {present_min_rating}"
        )
    return {
        "dataset": "DMER (Yang et al., Scientific Data 2024), released per-second EEG, GSR, "
        "PPG and LBP-TOP features",
        "labels_source": labels,
    }
