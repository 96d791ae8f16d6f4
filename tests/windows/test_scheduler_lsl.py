"""WindowScheduler over real LSL outlets and LSLSources (3 streams of different rates)."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pylsl

from helo_stream.sources.lsl_source import LSLSource
from helo_stream.windows.scheduler import WindowScheduler

RATES = {"bvp": (64.0, 1), "eda": (4.0, 1), "acc": (32.0, 3)}


def _open(uid: str, **stale: dict[str, float]):
    outlets, sources = {}, {}
    for name, (srate, n_ch) in RATES.items():
        sid = f"win-{name}-{uid}"
        outlets[name] = pylsl.StreamOutlet(
            pylsl.StreamInfo(f"W{name}-{uid}", "TEST", n_ch, srate, "float32", sid)
        )
    for name in RATES:
        sid = f"win-{name}-{uid}"
        info = pylsl.resolve_bypred(f"source_id='{sid}'", 1, 5.0)[0]
        kw = stale.get(name, {})
        sources[name] = LSLSource(
            info=info, modality=name, buffer_s=30.0, processing_flags=(), **kw
        )
        sources[name].open(timeout=5.0)
        assert outlets[name].wait_for_consumers(5.0)
    return outlets, sources


def _push(outlet, srate: float, n_ch: int, t_from: float, t_to: float) -> tuple:
    """Samples k/srate in [t_from, t_to); values encode their own timestamp."""
    k = np.arange(np.ceil(t_from * srate - 1e-9), np.ceil(t_to * srate - 1e-9))
    ts = k / srate
    data = np.repeat((ts - np.floor(t_from))[:, None], n_ch, axis=1).astype(np.float32)
    outlet.push_chunk(data, ts.tolist())
    return data, ts


def _pull_until(sources, t_lsl: float, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while any((s.buffer.latest_timestamp or -np.inf) < t_lsl for s in sources):
        assert time.monotonic() < deadline, "samples did not arrive"
        for s in sources:
            s.pull()
        time.sleep(0.005)


def test_aligned_windows_from_three_real_streams() -> None:
    uid = uuid.uuid4().hex[:10]
    outlets, sources = _open(uid)
    base = np.floor(pylsl.local_clock()) - 20.0
    offsets = {"bvp": 0.013, "eda": 0.26, "acc": 0.1}
    sent = {}
    for name, (srate, n_ch) in RATES.items():
        sent[name] = _push(outlets[name], srate, n_ch, base + offsets[name], base + 8.0)
    _pull_until(sources.values(), base + 7.75)
    sched = WindowScheduler(sources=sources, length_s=3.0, step_s=0.25, required=list(sources))
    windows = sched.poll()
    t0 = max(float(sent[n][1][0]) for n in RATES) + 3.0
    assert sched.first_end_lsl == t0
    last_common = min(float(sent[n][1][-1]) for n in RATES)
    n_expected = int(np.floor((last_common - t0) / 0.25 + 1e-9)) + 1
    assert [w.seq for w in windows] == list(range(n_expected))
    np.testing.assert_array_equal([w.end_lsl for w in windows], t0 + 0.25 * np.arange(n_expected))
    for w in windows:
        assert w.status == {"bvp": "ok", "eda": "ok", "acc": "ok"}
        for name, (data, ts) in w.data.items():
            sent_data, sent_ts = sent[name]
            mask = (sent_ts > w.start_lsl) & (sent_ts <= w.end_lsl)
            np.testing.assert_allclose(ts, sent_ts[mask], rtol=0, atol=1e-9)
            np.testing.assert_array_equal(data, sent_data[mask].astype(np.float64))
        assert w.completed_local <= pylsl.local_clock()
    for s in sources.values():
        s.close()


def test_a_real_stream_going_silent_is_marked_and_windows_continue() -> None:
    uid = uuid.uuid4().hex[:10]
    quick = {"stale_after_s": 0.3, "missing_after_s": 0.8}
    outlets, sources = _open(uid, eda=quick)
    base = np.floor(pylsl.local_clock()) - 20.0
    for name, (srate, n_ch) in RATES.items():
        _push(outlets[name], srate, n_ch, base, base + 5.0)
    _pull_until(sources.values(), base + 4.75)
    sched = WindowScheduler(sources=sources, length_s=2.0, step_s=0.5, required=list(sources))
    before = sched.poll()
    assert before and before[-1].end_lsl == base + 4.5
    # eda stops; bvp and acc keep delivering, in real time, for ~1.2 s wall.
    t = base + 5.0
    statuses: list[str] = []
    after = []
    wall_end = time.monotonic() + 1.2
    while time.monotonic() < wall_end:
        for name in ("bvp", "acc"):
            srate, n_ch = RATES[name]
            _push(outlets[name], srate, n_ch, t, t + 0.1)
        t += 0.1
        time.sleep(0.05)
        for s in sources.values():
            s.pull()
        new = sched.poll()
        after += new
        statuses += [w.status["eda"] for w in new]
    assert sources["eda"].health.state == "missing"
    assert after, "windows must continue without eda"
    assert "stale" in statuses and statuses[-1] == "missing"
    assert all(w.status["bvp"] == "ok" for w in after)
    seqs = [w.seq for w in before + after]
    assert seqs == list(range(len(seqs)))
    assert after[-1].end_lsl >= t - 0.7
    assert len(after[-1].data["eda"][1]) == 0 or after[-1].data["eda"][1][-1] < base + 5.0
    for s in sources.values():
        s.close()
