"""The live loop sleeps until a window can be complete instead of polling the inlets."""

from __future__ import annotations

import time

import pylsl
import pytest

pytestmark = pytest.mark.timeout(120)


def test_each_stream_is_pulled_about_once_per_window(simulator, live) -> None:
    simulator()  # real-time E4 outlets, pushed every 20 ms
    run = live()
    run.collect_until(lambda m: set(m["modalities"].values()) == {"ok"}, timeout_s=30)
    pulls = dict.fromkeys(run.runner.sources, 0)
    for name, source in run.runner.sources.items():
        pull = source.pull

        def counted(timeout: float = 0.0, name: str = name, pull=pull) -> int:
            pulls[name] += 1
            return pull(timeout)

        source.pull = counted  # type: ignore[method-assign]
    t0 = time.monotonic()
    got = run.collect_for(4.0)
    elapsed = time.monotonic() - t0
    lags = [pylsl.local_clock() - m["window"]["end"] for m in got[-1:]]
    assert len(got) >= 0.8 * elapsed / 0.25, "windows were missed"
    # 4 windows a second and about 3 pulls each (the wait on the late stream, the pull of the
    # others, the next wake); polling every 2 ms would be ~500 pulls a second per stream, and
    # the 20 ms sleeps of a polling loop ~50
    for name, n in pulls.items():
        assert n / elapsed <= 20, f"{name} pulled {n / elapsed:.0f} times a second"
    # and still on time: the newest message is about one step behind the stream, not more
    assert lags[0] < 0.75
    # the loop waited on data arrivals, so a window is published soon after its last sample
    w2p = sorted(m["latency_ms"]["window_to_publish"] for m in got)
    assert w2p[len(w2p) // 2] < 100.0
