"""StreamQuality: running counts give exactly what assess_window says of the cut window."""

from __future__ import annotations

import numpy as np
import pytest

from helo_stream.buffers.ring_buffer import RingBuffer
from helo_stream.windows.quality import StreamQuality, assess_window

SRATE = 8.0
LENGTH_S = 5.0


def _stream(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two channels with every fault: NaN rows, out-of-range and pinned values, flat runs,
    a gap in time."""
    rng = np.random.default_rng(seed)
    n = 2000
    x = rng.normal(5.0, 1.0, size=(n, 2))
    x[300:360] = 4.0  # flat on both channels (longer than a window: flat windows)
    x[500:520, 0] = np.nan
    x[700:710, 1] = 50.0  # out of range
    x[900:1000, 0] = 10.0  # pinned at the upper bound (saturated, still in range)
    x[1200:1260] = [3.0, 2.0]
    x[1300] = np.inf
    ts = np.arange(n) / SRATE
    ts[1500:] += 3.0  # a gap: low coverage around it
    return x, ts


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("ranges", [None, [(0.0, 10.0), None]])
def test_running_quality_equals_assess_window(seed: int, ranges: list | None) -> None:
    x, ts = _stream(seed)
    quality = StreamQuality(srate=SRATE, capacity=4096, ranges=ranges)
    buffer = RingBuffer(n_channels=2, capacity=4096)
    rng = np.random.default_rng(seed + 10)
    cuts = np.sort(rng.choice(np.arange(1, len(ts)), size=150, replace=False))
    ends = np.arange(ts[0] + LENGTH_S, ts[-1], 0.25)
    chunks = np.split(np.arange(len(ts)), cuts)
    k = 0
    seen_flags: set[str] = set()
    for idx in chunks:
        quality.push(x[idx], ts[idx])
        buffer.push(x[idx], ts[idx])
        while k < len(ends) and ends[k] <= ts[idx[-1]]:
            end = ends[k]
            expected = assess_window(
                *buffer.window(end - LENGTH_S, end), srate=SRATE, length_s=LENGTH_S, ranges=ranges
            )
            flags, n_usable, usable = quality.assess(
                end - LENGTH_S, end, lambda end=end: buffer.window(end - LENGTH_S, end)
            )
            assert flags == expected.flags, end
            assert n_usable == expected.timestamps_lsl.shape[0], end
            assert usable == expected.usable, end
            seen_flags.update(flags)
            k += 1
    # the stream exercises every flag the ranges allow
    wanted = {"nonfinite", "flat", "low_coverage"}
    if ranges is not None:
        wanted |= {"out_of_range", "saturated"}
    assert wanted <= seen_flags


def test_empty_window_is_low_coverage() -> None:
    quality = StreamQuality(srate=SRATE, capacity=64)
    assert quality.assess(0.0, 1.0, lambda: (np.empty((0, 1)), np.empty(0))) == (
        ("low_coverage",),
        0,
        False,
    )
