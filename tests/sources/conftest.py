"""LSL test helpers: machine-local discovery, unique outlets, waiting for pulled samples."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

# Before pylsl is imported anywhere: resolve only on this machine.
if "LSLAPICFG" not in os.environ:
    _cfg = Path(tempfile.gettempdir()) / "helo-stream-tests-lsl_api.cfg"
    _cfg.write_text("[multicast]\nResolveScope = machine\n[lab]\nKnownPeers = {127.0.0.1}\n")
    os.environ["LSLAPICFG"] = str(_cfg)

import pylsl
import pytest


@pytest.fixture
def uid() -> str:
    """A short unique token for stream names and source_ids."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def make_outlet() -> Iterator[Callable[..., pylsl.StreamOutlet]]:
    """Create LSL outlets that live until the end of the test."""
    outlets: list[pylsl.StreamOutlet] = []

    def make(
        *,
        name: str,
        type: str = "TEST",
        n_channels: int = 1,
        srate: float = 100.0,
        fmt: str = "float32",
        source_id: str,
    ) -> pylsl.StreamOutlet:
        info = pylsl.StreamInfo(name, type, n_channels, srate, fmt, source_id)
        outlet = pylsl.StreamOutlet(info, chunk_size=0, max_buffered=60)
        outlets.append(outlet)
        return outlet

    yield make
    outlets.clear()


@pytest.fixture
def resolve_one() -> Callable[[str], pylsl.StreamInfo]:
    """Resolve the single stream with a given source_id (fails the test if absent)."""

    def resolve(source_id: str, timeout: float = 5.0) -> pylsl.StreamInfo:
        found = pylsl.resolve_bypred(f"source_id='{source_id}'", 1, timeout)
        assert found, f"stream {source_id!r} not visible"
        return found[0]

    return resolve


@pytest.fixture
def pull_until() -> Callable[..., int]:
    """Pull ``source`` until its health counts ``n_samples`` accepted samples or time runs out."""

    def pull(source, n_samples: int, timeout: float = 5.0) -> int:
        deadline = time.monotonic() + timeout
        calls = 0
        while source.health.n_samples + source.health.n_dropped < n_samples:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"only {source.health.n_samples} of {n_samples} samples arrived"
                )
            if source.pull() == 0:
                time.sleep(0.005)
            calls += 1
        return calls

    return pull
