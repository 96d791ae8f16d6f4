"""Signal stage: causal streaming filters and per-modality window features."""

from helo_stream.signal.features import FEATURE_EXTRACTORS, ModalityFeatures, make_extractor
from helo_stream.signal.filters import CausalSosFilter

__all__ = ["FEATURE_EXTRACTORS", "CausalSosFilter", "ModalityFeatures", "make_extractor"]
