"""Test-wide setup: keep LSL discovery on this machine and locate the shared real data."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()

# Before anything imports pylsl: resolve only on this machine, so tests never see (or disturb)
# other hosts' streams. Subprocesses (the replay child) inherit it.
if "LSLAPICFG" not in os.environ:
    _cfg = Path(tempfile.gettempdir()) / "helo-stream-tests-lsl_api.cfg"
    _cfg.write_text(
        "[multicast]\nResolveScope = machine\n[lab]\nKnownPeers = {127.0.0.1}\n"
        "[ports]\nPortRange = 512\n"  # many outlets at once: 4 ports each
    )
    os.environ["LSLAPICFG"] = str(_cfg)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real recordings not available: {SHARED_DATA} does not exist")
    return SHARED_DATA


@pytest.fixture(scope="session")
def wesad_e4(shared_data: Path) -> Path:
    path = shared_data / "wesad_e4"
    if not (path / "S2" / "S2_E4_Data").is_dir():
        pytest.skip(f"WESAD E4 data not available at {path}")
    return path


@pytest.fixture
def make_message() -> Callable[..., dict[str, Any]]:
    """A valid message; keyword arguments override the builder's inputs."""

    import hashlib
    import time

    import numpy as np

    from helo_stream.sinks.message import build_emotion_message

    def make(**overrides: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "pipeline": "wesad-e4",
            "subject": "S2",
            "seq": 0,
            "window_start_lsl": 1000.0,
            "window_end_lsl": 1060.0,
            "labels": ("neutral", "amusement", "stress", "calm", "sad", "angry"),
            "distribution": np.array([0.1, 0.2, 0.4, 0.1, 0.1, 0.1]),
            "modalities": {"bvp": "ok", "eda": "stale", "acc": "missing"},
            "latency_ms": {"window_to_publish": 3.5, "model": 1.0},
            "model_name": "helo",
            "checkpoint_sha256": hashlib.sha256(b"checkpoint").hexdigest(),
            "published_lsl": 1060.004,
            "published_unix": time.time(),
        }
        kwargs.update(overrides)
        return build_emotion_message(**kwargs)

    return make


@pytest.fixture
def dmer_files() -> Any:
    """Writers of DMER per-subject ``.mat`` files in the released layout (``feas`` with the
    EEG/GSR/PPG/video column blocks, ``vids``, ``dis_label``), shared by the reader, dataset and
    end-to-end tests: ``layout(rows=..., n_cols=913, seed=0)`` gives the arrays,
    ``save(folder, name, **arrays)`` writes them and returns the path."""
    from types import SimpleNamespace

    import numpy as np
    import scipy.io

    def layout(
        *, rows: dict[int, int] | None = None, n_cols: int = 913, seed: int = 0
    ) -> dict[str, Any]:
        rows = {0: 6, 3: 4, 1: 5} if rows is None else rows  # clip id -> rows, in file order
        rng = np.random.default_rng(seed)
        vids = np.concatenate([np.full(n, clip, dtype=np.float64) for clip, n in rows.items()])
        feas = rng.normal(size=(vids.size, n_cols))
        feas[:, :90] += 10.0 * np.arange(90)  # column k of EEG is recognisable: ~10 k
        dis_label = rng.integers(1, 6, size=(32, 10)).astype(np.float64)
        return {"feas": feas, "vids": vids[:, None], "dis_label": dis_label}

    def save(folder: Path, name: str, **arrays: Any) -> Path:
        path = Path(folder) / f"{name}.mat"
        scipy.io.savemat(path, arrays)
        return path

    return SimpleNamespace(layout=layout, save=save)


@pytest.fixture
def one_torch_thread():
    """Small tensors: one torch thread is fastest and keeps the shared machine free."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
