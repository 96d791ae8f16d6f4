"""CMU-MOSEI loader on small files written in the TAILOR authors' aligned layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helo_stream.datasets.mosei import (
    MOSEI_LABELS,
    MoseiError,
    load_mosei,
    mosei_modalities,
    tgt_to_multihot,
)
from helo_stream.models.tailor import Tailor, TailorConfig

BOS, EOS, PAD = 2, 3, 0
DIMS = {"text": 300, "visual": 35, "audio": 74}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """One torch thread (the root conftest's fixture) for every test here."""


def split_data(n: int, steps: int = 8, seed: int = 0, as_numpy: bool = False) -> dict:
    """Zero-padded at the start (as the aligned CMU-MOSEI features), -inf in the audio."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, dim in DIMS.items():
        x = rng.standard_normal((n, steps, dim)).astype(np.float32)
        for i in range(n):
            x[i, : i % 3] = 0.0  # sample i has i % 3 padded steps
        out[f"src-{name}"] = x if as_numpy else torch.from_numpy(x)
    out["src-audio"][0, 5, 3] = -np.inf
    out["tgt"] = [[BOS, 4 + (i % 6), *([9] if i % 2 else []), EOS] for i in range(n)]
    return out


def write(tmp_path: Path, data: dict, name: str = "mosei.pt") -> Path:
    path = tmp_path / name
    torch.save(data, path)
    return path


def test_round_trip(tmp_path: Path) -> None:
    data = {
        s: split_data(n, seed=k)
        for k, (s, n) in enumerate([("train", 6), ("valid", 3), ("test", 4)])
    }
    path = write(tmp_path, data)
    train = load_mosei(path, "train")
    assert len(train) == 6 and train.labels == MOSEI_LABELS
    for name, dim in DIMS.items():
        assert train.features[name].shape == (6, 8, dim)
        assert train.features[name].dtype == np.float32
        assert train.padding[name].shape == (6, 8)
        # Sample i has i % 3 zero steps at the start.
        assert train.padding[name].sum(axis=1).tolist() == [i % 3 for i in range(6)]
        assert train.present[name].all()
    expected = np.zeros((6, 6), dtype=bool)
    for i in range(6):
        expected[i, i % 6] = True
        if i % 2:
            expected[i, 5] = True
    np.testing.assert_array_equal(train.targets, expected)
    audio = data["train"]["src-audio"].numpy().copy()
    audio[0, 5, 3] = 0.0  # -inf -> 0, as the authors do
    np.testing.assert_array_equal(train.features["audio"], audio)
    assert np.isfinite(train.features["audio"]).all()
    assert len(load_mosei(path, "valid")) == 3 and len(load_mosei(path, "test")) == 4


def test_numpy_file_needs_trust_and_padded_tgt_array(tmp_path: Path) -> None:
    data = split_data(4, as_numpy=True)
    data["tgt"] = np.array(
        [[BOS, 5, EOS, PAD], [BOS, 6, 7, EOS], [BOS, 8, EOS, PAD], [BOS, EOS, PAD, PAD]]
    )
    path = write(tmp_path, {"train": data})
    with pytest.raises(MoseiError, match="trusted=True"):
        load_mosei(path, "train")
    split = load_mosei(path, "train", trusted=True)
    assert split.targets.astype(int).tolist() == [
        [0, 1, 0, 0, 0, 0],
        [0, 0, 1, 1, 0, 0],
        [0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0],
    ]


def test_loaded_split_feeds_tailor(tmp_path: Path) -> None:
    data = split_data(3)
    data["src-visual"][1] = 0.0  # no face at all in sample 1: visual absent
    split = load_mosei(write(tmp_path, {"test": data}), "test")
    assert split.present["visual"].tolist() == [True, False, True]
    torch.manual_seed(0)
    model = Tailor(
        TailorConfig(modalities=mosei_modalities(), n_labels=6, inputs="sequence", d_model=16)
    ).eval()
    feats = {k: torch.from_numpy(v) for k, v in split.features.items()}
    pads = {k: torch.from_numpy(v) for k, v in split.padding.items()}
    out = model(feats, {k: torch.from_numpy(v) for k, v in split.present.items()}, padding=pads)
    assert out.logits.shape == (3, 6) and torch.isfinite(out.logits).all()
    assert out.present[:, 1].tolist() == [True, False, True]


def test_tgt_layout_checks() -> None:
    assert tgt_to_multihot([BOS, 4, 9, EOS]).tolist() == [True, False, False, False, False, True]
    assert tgt_to_multihot([BOS, EOS]).sum() == 0
    with pytest.raises(ValueError, match="start"):
        tgt_to_multihot([4, 5, EOS])
    with pytest.raises(ValueError, match="no end"):
        tgt_to_multihot([BOS, 4, 5])
    with pytest.raises(ValueError, match="after its end"):
        tgt_to_multihot([BOS, 4, EOS, 6])
    with pytest.raises(ValueError, match="unknown token"):
        tgt_to_multihot([BOS, 10, EOS])
    with pytest.raises(ValueError, match="shorter"):
        tgt_to_multihot([BOS])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("train"), "split 'train' not found"),
        (lambda d: d["train"].pop("src-visual"), "lacks \\['src-visual'\\]"),
        (lambda d: d["train"].__setitem__("src-text", torch.zeros(4, 8, 200)), "300"),
        (lambda d: d["train"].__setitem__("src-audio", torch.zeros(4, 74)), "\\(N, T, 74\\)"),
        (lambda d: d["train"].__setitem__("src-visual", torch.zeros(5, 8, 35)), "5 samples"),
        (lambda d: d["train"]["tgt"].__setitem__(2, [BOS, 12, EOS]), "sample 2"),
        (lambda d: d.__setitem__("train", [1, 2]), "must be a dict"),
    ],
)
def test_wrong_layouts(tmp_path: Path, mutate, message: str) -> None:
    data = {"train": split_data(4)}
    mutate(data)
    with pytest.raises(MoseiError, match=message):
        load_mosei(write(tmp_path, data), "train")


def test_bad_files_and_arguments(tmp_path: Path) -> None:
    with pytest.raises(MoseiError, match="not found"):
        load_mosei(tmp_path / "nope.pt", "train")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a torch file")
    with pytest.raises(MoseiError, match="readable"):
        load_mosei(junk, "train")
    with pytest.raises(MoseiError, match="split must be"):
        load_mosei(junk, "dev")
    with pytest.raises(MoseiError, match="dict of splits"):
        load_mosei(write(tmp_path, [1, 2, 3], "list.pt"), "train")
    assert issubclass(MoseiError, ValueError)
