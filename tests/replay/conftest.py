"""Replay test helpers: machine-local LSL discovery, unique subjects, small recordings."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

# Before pylsl is imported anywhere: resolve only on this machine (subprocesses inherit it).
# Discovery through KnownPeers only probes liblsl's port range, and every outlet takes four
# ports of it (v4/v6 data and service): the default 32 fit eight outlets on the machine, so a
# wider range keeps streams findable while other tests' outlets are alive.
if "LSLAPICFG" not in os.environ:
    _cfg = Path(tempfile.gettempdir()) / "helo-stream-replay-tests-lsl_api.cfg"
    _cfg.write_text(
        "[multicast]\nResolveScope = machine\n[lab]\nKnownPeers = {127.0.0.1}\n"
        "[ports]\nPortRange = 512\n"
    )
    os.environ["LSLAPICFG"] = str(_cfg)

import contextlib

import numpy as np
import pylsl
import pytest

from helo_stream.recordings.base import (
    ConditionInterval,
    Recording,
    profile_stream,
    regular_timestamps,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
XDF_DIR = (REPO_ROOT / ".." / "shared" / "data" / "xdf").resolve()

#: Profile streams used by default: (device, key, rate, channels).
DEFAULT_STREAMS = (
    ("empatica_e4", "bvp", 64, 1),
    ("empatica_e4", "acc", 32, 3),
    ("empatica_e4", "eda", 4, 1),
    ("respiban", "ecg", 700, 1),
)


def build_recording(
    subject: str,
    seconds: float,
    *,
    streams: tuple[tuple[str, str, int, int], ...] = DEFAULT_STREAMS,
    t0: float = 1_600_000_000.0,
    conditions: list[tuple[str, float, float]] | None = None,
) -> Recording:
    """A recording whose samples encode their own index, so any mix-up shows."""
    rng = np.random.default_rng(11)
    recorded = {}
    for device, key, rate, channels in streams:
        n = round(seconds * rate)
        data = np.arange(n)[:, None] * 10.0 + np.arange(channels)[None, :]
        data = data + np.round(rng.normal(0, 1, (n, channels)), 2)
        recorded[f"{device}.{key}"] = profile_stream(
            device,
            key,
            subject=subject,
            data=data,
            timestamps=regular_timestamps(n, rate, t0),
            path=Path("memory"),
        )
    intervals = [ConditionInterval(c, t0 + s, t0 + e) for c, s, e in (conditions or [])]
    return Recording(subject, Path("memory"), "wesad_e4", recorded, intervals)


@pytest.fixture
def subject() -> str:
    """A unique subject, so streams of parallel or earlier tests never collide."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_recording() -> Callable[..., Recording]:
    return build_recording


def resolve_one(source_id: str, timeout: float = 5.0) -> pylsl.StreamInfo:
    found = pylsl.resolve_byprop("source_id", source_id, timeout=timeout)
    assert found, f"no LSL stream with source_id {source_id!r}"
    return found[0]


def resolve_all(source_ids: list[str], timeout: float = 5.0) -> dict[str, pylsl.StreamInfo]:
    """Resolve several streams with one query (one round of discovery instead of many)."""
    pred = " or ".join(f"source_id='{sid}'" for sid in source_ids)
    found = pylsl.resolve_bypred(pred, minimum=len(source_ids), timeout=timeout)
    by_id = {info.source_id(): info for info in found}
    missing = sorted(set(source_ids) - set(by_id))
    assert not missing, f"no LSL stream with source_id {missing}"
    return by_id


@pytest.fixture
def resolve() -> Callable[..., pylsl.StreamInfo]:
    return resolve_one


@pytest.fixture
def resolve_many() -> Callable[..., dict[str, pylsl.StreamInfo]]:
    return resolve_all


@pytest.fixture
def open_inlets() -> Iterator[Callable[..., dict[str, pylsl.StreamInlet]]]:
    """``open_inlets({key: source_id})`` -> subscribed inlets, so no sample is missed."""
    inlets: list[pylsl.StreamInlet] = []

    def make(source_ids: dict[str, str]) -> dict[str, pylsl.StreamInlet]:
        infos = resolve_all(list(source_ids.values()))
        opened = {}
        for key, sid in source_ids.items():
            inlet = pylsl.StreamInlet(infos[sid], max_buflen=60, recover=False)
            inlet.open_stream(timeout=5.0)
            inlets.append(inlet)
            opened[key] = inlet
        return opened

    yield make
    for inlet in inlets:
        with contextlib.suppress(pylsl.util.LostError):
            inlet.close_stream()


def pull_n(
    inlet: pylsl.StreamInlet, n: int, *, timeout: float = 5.0, extra_s: float = 0.05
) -> tuple[list, np.ndarray]:
    """Pull until ``n`` samples arrived (or ``timeout``), then whatever comes in ``extra_s``.

    The extra wait lets a test notice samples beyond the expected ones.
    """
    samples: list = []
    stamps: list[float] = []
    deadline = time.monotonic() + timeout
    while len(stamps) < n and time.monotonic() < deadline:
        chunk, ts = inlet.pull_chunk(timeout=0.05, max_samples=100_000)
        samples.extend(chunk)
        stamps.extend(ts)
    chunk, ts = inlet.pull_chunk(timeout=extra_s, max_samples=100_000)
    samples.extend(chunk)
    stamps.extend(ts)
    return samples, np.asarray(stamps)


@pytest.fixture
def pull() -> Callable[..., tuple[list, np.ndarray]]:
    return pull_n
