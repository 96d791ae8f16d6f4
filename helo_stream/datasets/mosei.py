"""CMU-MOSEI features in the layout of the TAILOR authors' aligned data file.

The file is one ``torch.save`` of ``{split: {...}}`` with ``split`` in ``train``, ``valid``,
``test`` and, per split, ``src-text`` ``(N, T, 300)`` (GloVe), ``src-visual`` ``(N, T, 35)``
(Facet), ``src-audio`` ``(N, T, 74)`` (COVAREP) and ``tgt``: one token-id sequence per sample,
``[BOS, e_1, ..., e_k, EOS]`` with emotion ids 4-9 = happy, sad, anger, surprise, disgust,
fear (ids 0-3 are the special tokens PAD, UNK, BOS, EOS). The authors' loader keeps
``tgt[1:-1]`` and maps id ``4 + j`` to label ``j``; it accepts any first and last token. This
loader checks the layout instead: the first token must be special, emotion ids follow, and the
first special token after them ends the set (anything after it must be special too, so a
padded 2-D ``tgt`` array also works).

The authors feed every step as real (all-ones masks). Here a step is padding when all its
values are zero (the aligned features are zero-padded) or none is finite, and ``-inf``/NaN
values (the audio has ``-inf``) become 0, as the authors do.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from helo_stream.models.helo import ModalitySpec

__all__ = [
    "EMOTION_IDS",
    "MOSEI_DIMS",
    "MOSEI_LABELS",
    "MoseiError",
    "MoseiSplit",
    "load_mosei",
    "mosei_modalities",
    "tgt_to_multihot",
]

MOSEI_LABELS: tuple[str, ...] = ("happy", "sad", "anger", "surprise", "disgust", "fear")
#: Token id of each label in ``tgt``.
EMOTION_IDS: dict[int, int] = {4 + j: j for j in range(len(MOSEI_LABELS))}
#: Feature width per modality, keyed by our modality name; the file key is ``src-<name>``.
MOSEI_DIMS: dict[str, int] = {"text": 300, "visual": 35, "audio": 74}
_N_SPECIAL = 4
SPLITS = ("train", "valid", "test")


class MoseiError(ValueError):
    """A CMU-MOSEI feature file is missing, unreadable or not in the expected layout."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        super().__init__(f"{path}: {message}" if path is not None else message)
        self.path = None if path is None else Path(path)


@dataclass(frozen=True)
class MoseiSplit:
    """One split, ready for :class:`~helo_stream.models.tailor.Tailor` (``inputs="sequence"``).

    Attributes
    ----------
    features
        ``name -> (N, T, D)`` float32, non-finite values replaced by 0.
    padding
        ``name -> (N, T)`` bool, True at padded steps.
    present
        ``name -> (N,)`` bool, False where a sample has no real step of that modality.
    targets
        ``(N, 6)`` bool multi-hot, columns in :data:`MOSEI_LABELS` order.
    labels
        :data:`MOSEI_LABELS`.
    """

    features: dict[str, np.ndarray]
    padding: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    targets: np.ndarray
    labels: tuple[str, ...] = MOSEI_LABELS

    def __len__(self) -> int:
        return int(self.targets.shape[0])


def mosei_modalities() -> tuple[ModalitySpec, ...]:
    """Modality specs for a sequence-input TAILOR on CMU-MOSEI (text first: descent order)."""
    return tuple(ModalitySpec(name, "behavioral", dim) for name, dim in MOSEI_DIMS.items())


def tgt_to_multihot(tgt: Sequence[int] | np.ndarray, *, n_labels: int = 6) -> np.ndarray:
    """``(n_labels,)`` bool from one ``[BOS, ids..., EOS(, PAD...)]`` token sequence.

    Raises ``ValueError`` for a sequence that does not follow the layout (see module docstring).
    """
    tokens = [int(t) for t in np.asarray(tgt).reshape(-1)]
    if len(tokens) < 2:
        raise ValueError(f"tgt sequence {tokens} is shorter than [BOS, EOS]")
    if tokens[0] >= _N_SPECIAL:
        raise ValueError(f"tgt sequence {tokens} does not start with a special (BOS) token")
    out = np.zeros(n_labels, dtype=bool)
    rest = tokens[1:]
    end = next((i for i, t in enumerate(rest) if t < _N_SPECIAL), None)
    if end is None:
        raise ValueError(f"tgt sequence {tokens} has no end (EOS) token")
    if any(t >= _N_SPECIAL for t in rest[end:]):
        raise ValueError(f"tgt sequence {tokens} has emotion ids after its end token")
    for t in rest[:end]:
        if t - _N_SPECIAL >= n_labels or t < 0:
            raise ValueError(f"tgt sequence {tokens} holds unknown token id {t}")
        out[t - _N_SPECIAL] = True
    return out


def _array(value: Any, key: str, path: Path) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise MoseiError(f"{key!r} is not a numeric array: {err}", path) from err
    return arr


def _read(path: Path, trusted: bool) -> Any:
    if not path.is_file():
        raise MoseiError("file not found", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" not in str(err).lower():
            raise MoseiError(f"not a readable torch file: {err}", path) from err
        if not trusted:
            raise MoseiError(
                "the file holds objects other than tensors (e.g. numpy arrays); loading it "
                "runs pickled code, so pass trusted=True only for a file you trust",
                path,
            ) from err
    except Exception as err:  # any other failure of the reader means a bad file
        raise MoseiError(f"not a readable torch file: {err!r}", path) from err
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise MoseiError(f"not a readable torch file: {err!r}", path) from err


def load_mosei(
    path: str | Path,
    split: str,
    *,
    trusted: bool = False,
    dims: Mapping[str, int] | None = None,
) -> MoseiSplit:
    """Read one split (``train``, ``valid`` or ``test``) of an aligned CMU-MOSEI file.

    Parameters
    ----------
    path
        The ``torch.save`` file.
    split
        Which split.
    trusted
        Allow full unpickling (needed when the file stores numpy arrays, as the authors' does).
    dims
        Expected feature width per modality (default :data:`MOSEI_DIMS`).
    """
    path = Path(path)
    if split not in SPLITS:
        raise MoseiError(f"split must be one of {list(SPLITS)}, got {split!r}")
    dims = dict(MOSEI_DIMS if dims is None else dims)
    data = _read(path, trusted)
    if not isinstance(data, Mapping):
        raise MoseiError(f"top level must be a dict of splits, got {type(data).__name__}", path)
    if split not in data:
        raise MoseiError(f"split {split!r} not found; the file has {sorted(data)}", path)
    part = data[split]
    if not isinstance(part, Mapping):
        raise MoseiError(f"split {split!r} must be a dict, got {type(part).__name__}", path)
    keys = [f"src-{name}" for name in dims] + ["tgt"]
    lacking = [k for k in keys if k not in part]
    if lacking:
        raise MoseiError(f"split {split!r} lacks {lacking}; it has {sorted(part)}", path)

    tgt = part["tgt"]
    if isinstance(tgt, torch.Tensor):
        tgt = tgt.cpu().numpy()
    try:
        n = len(tgt)
    except TypeError as err:
        raise MoseiError(f"'tgt' must be a sequence of token sequences: {err}", path) from err
    features: dict[str, np.ndarray] = {}
    padding: dict[str, np.ndarray] = {}
    present: dict[str, np.ndarray] = {}
    for name, dim in dims.items():
        key = f"src-{name}"
        x = _array(part[key], key, path)
        if x.ndim != 3 or x.shape[2] != dim:
            raise MoseiError(f"{key!r} must have shape (N, T, {dim}), got {x.shape}", path)
        if x.shape[0] != n:
            raise MoseiError(f"{key!r} has {x.shape[0]} samples, 'tgt' has {n}", path)
        finite = np.isfinite(x)
        x = np.where(finite, x, np.float32(0.0))
        pad = ~np.any(x != 0.0, axis=2)
        features[name] = x
        padding[name] = pad
        present[name] = ~pad.all(axis=1)
    targets = np.zeros((n, len(MOSEI_LABELS)), dtype=bool)
    for i, seq in enumerate(tgt):
        try:
            targets[i] = tgt_to_multihot(seq, n_labels=len(MOSEI_LABELS))
        except (ValueError, TypeError) as err:
            raise MoseiError(f"'tgt' of sample {i}: {err}", path) from err
    return MoseiSplit(features=features, padding=padding, present=present, targets=targets)
