"""Training and evaluation datasets, cut from recordings by the live pipeline's own stages."""

from helo_stream.datasets.session import (
    SessionDataset,
    build_session_dataset,
    label_windows,
    load_session_dataset,
    ratings_distribution,
)
from helo_stream.datasets.subjects import (
    SubjectData,
    alignment_rows,
    default_cache_dir,
    find_subject_folders,
    load_subject,
    load_subjects,
)

__all__ = [
    "SessionDataset",
    "SubjectData",
    "alignment_rows",
    "build_session_dataset",
    "default_cache_dir",
    "find_subject_folders",
    "label_windows",
    "load_session_dataset",
    "load_subject",
    "load_subjects",
    "ratings_distribution",
]
