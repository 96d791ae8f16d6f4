"""Test-wide setup: keep LSL discovery on this machine and locate the shared real data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
