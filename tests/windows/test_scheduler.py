"""WindowScheduler with fake sources: alignment, exact steps, seq, silent streams."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from helo_stream.buffers.ring_buffer import RingBuffer
from helo_stream.windows.scheduler import WindowScheduler


@dataclass
class FakeHealth:
    state: str = "ok"


class FakeSource:
    """What the scheduler reads of a source: a ring buffer and a health state."""

    def __init__(self, srate: float, n_channels: int = 1, capacity: int = 100_000) -> None:
        self.srate = srate
        self.buffer = RingBuffer(n_channels=n_channels, capacity=capacity)
        self.health = FakeHealth()
        self.n_channels = n_channels

    def feed_until(self, t_end: float, *, t_start: float | None = None) -> None:
        """Samples at k/srate (plus the stream's own offset) up to ``t_end``."""
        latest = self.buffer.latest_timestamp
        if t_start is not None:
            first = t_start  # a new start (after a gap)
        else:
            assert latest is not None
            first = latest + 1.0 / self.srate
        n = int(np.floor((t_end - first) * self.srate + 1e-9)) + 1
        if n <= 0:
            return
        ts = first + np.arange(n) / self.srate
        data = np.repeat(ts[:, None], self.n_channels, axis=1)
        self.buffer.push(data, ts)


def _three(start: dict[str, float] | None = None) -> dict[str, FakeSource]:
    start = start or {"bvp": 100.013, "eda": 100.41, "acc": 100.2}
    sources = {"bvp": FakeSource(64.0), "eda": FakeSource(4.0), "acc": FakeSource(32.0, 3)}
    for name, src in sources.items():
        src.feed_until(start[name], t_start=start[name])
    return sources


def test_aligned_windows_across_three_rates_with_exact_steps() -> None:
    sources = _three()
    sched = WindowScheduler(sources=sources, length_s=4.0, step_s=0.25, required=list(sources))
    for src in sources.values():
        src.feed_until(112.0)
    windows = sched.poll()
    t0 = 100.41 + 4.0  # latest first timestamp (eda) + L
    assert sched.first_end_lsl == t0
    assert windows, "expected windows"
    assert [w.seq for w in windows] == list(range(len(windows)))
    ends = np.array([w.end_lsl for w in windows])
    np.testing.assert_array_equal(ends, t0 + np.arange(len(windows)) * 0.25)  # exact, no drift
    min_latest = min(s.buffer.latest_timestamp for s in sources.values())
    assert ends[-1] <= min_latest < ends[-1] + 0.25
    for w in windows:
        assert w.start_lsl == w.end_lsl - 4.0
        assert set(w.data) == set(sources) and set(w.status.values()) == {"ok"}
        for name, (data, ts) in w.data.items():
            assert np.all(ts > w.start_lsl) and np.all(ts <= w.end_lsl)
            assert data.shape == (len(ts), sources[name].n_channels)
            np.testing.assert_array_equal(data[:, 0], ts)
            expected = sources[name].srate * 4.0
            assert abs(len(ts) - expected) <= 1
    assert sched.poll() == []  # nothing new without new samples


def test_incremental_polls_equal_one_big_poll() -> None:
    a, b = _three(), _three()
    sa = WindowScheduler(sources=a, length_s=2.0, step_s=0.1, required=list(a))
    sb = WindowScheduler(sources=b, length_s=2.0, step_s=0.1, required=list(b))
    got_a = []
    for t in np.arange(100.5, 110.0, 0.037):
        for src in a.values():
            src.feed_until(float(t))
        got_a += sa.poll()
    for src in b.values():
        src.feed_until(float(np.arange(100.5, 110.0, 0.037)[-1]))
    got_b = sb.poll()
    assert [w.end_lsl for w in got_a] == [w.end_lsl for w in got_b]
    assert [w.seq for w in got_a] == list(range(len(got_b)))
    for wa, wb in zip(got_a, got_b, strict=True):
        for name in a:
            np.testing.assert_array_equal(wa.data[name][1], wb.data[name][1])


def test_waits_for_the_slowest_ok_stream() -> None:
    sources = _three()
    sched = WindowScheduler(sources=sources, length_s=1.0, step_s=0.5, required=list(sources))
    sources["bvp"].feed_until(105.0)
    sources["acc"].feed_until(105.0)
    sources["eda"].feed_until(102.0)
    assert max(w.end_lsl for w in sched.poll()) <= 102.0
    sources["eda"].feed_until(104.0)
    assert max(w.end_lsl for w in sched.poll()) <= 104.0


def test_silent_stream_becomes_stale_then_missing_and_windows_continue() -> None:
    sources = _three()
    sched = WindowScheduler(sources=sources, length_s=2.0, step_s=0.25, required=list(sources))
    for src in sources.values():
        src.feed_until(104.0)
    before = sched.poll()
    # eda goes silent; the others continue.
    sources["bvp"].feed_until(108.0)
    sources["acc"].feed_until(108.0)
    assert sched.poll() == []  # eda still "ok": windows wait for it
    sources["eda"].health.state = "stale"
    during = sched.poll()
    assert during and during[-1].end_lsl <= 108.0
    assert all(w.status["eda"] == "stale" for w in during)
    assert all(w.status["bvp"] == "ok" for w in during)
    last_eda_ts = sources["eda"].buffer.latest_timestamp
    for w in during:
        eda_ts = w.data["eda"][1]
        assert np.all(eda_ts <= last_eda_ts)  # whatever the buffer holds, maybe empty
    assert len(during[-1].data["eda"][1]) == 0  # 106..108 has no eda samples at all
    sources["eda"].health.state = "missing"
    sources["bvp"].feed_until(109.0)
    sources["acc"].feed_until(109.0)
    missing = sched.poll()
    assert missing and all(w.status["eda"] == "missing" for w in missing)
    seqs = [w.seq for w in before + during + missing]
    assert seqs == list(range(len(seqs)))
    ends = np.array([w.end_lsl for w in before + during + missing])
    np.testing.assert_array_equal(ends, sched.first_end_lsl + 0.25 * np.arange(len(ends)))


def test_no_windows_while_all_required_are_silent_and_outage_is_skipped() -> None:
    sources = _three()
    sched = WindowScheduler(sources=sources, length_s=2.0, step_s=0.5, required=list(sources))
    for src in sources.values():
        src.feed_until(104.0)
    first = sched.poll()
    for src in sources.values():
        src.health.state = "stale"
    assert sched.poll() == []
    for src in sources.values():
        src.health.state = "missing"
    assert sched.poll() == []
    # They come back 30 s later; the first poll sees one sample of each.
    for src in sources.values():
        src.health.state = "ok"
        src.feed_until(134.0, t_start=134.0)
    resumed = sched.poll()
    assert sched.n_skipped == 60  # ends 104.41 .. 133.91 fell into the outage
    for src in sources.values():
        src.feed_until(136.0)
    resumed += sched.poll()
    assert [w.seq for w in first + resumed] == list(range(len(first) + len(resumed)))
    assert [w.end_lsl for w in resumed] == [sched.first_end_lsl + 0.5 * k for k in range(64, 68)]
    k = (np.array([w.end_lsl for w in resumed]) - sched.first_end_lsl) / 0.5
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)  # still on the same grid


def test_does_not_start_until_every_ok_required_stream_has_data() -> None:
    sources = {"a": FakeSource(10.0), "b": FakeSource(10.0)}
    sources["a"].feed_until(20.0, t_start=10.0)
    sched = WindowScheduler(sources=sources, length_s=1.0, step_s=0.5, required=["a", "b"])
    assert sched.poll() == [] and sched.first_end_lsl is None
    sources["b"].health.state = "stale"  # never delivered: give up waiting for it
    windows = sched.poll()
    assert sched.first_end_lsl == 11.0
    assert windows and windows[0].status == {"a": "ok", "b": "stale"}
    assert windows[0].data["b"][0].shape == (0, 1)


def test_optional_stream_is_not_waited_for_but_included() -> None:
    sources = _three()
    sched = WindowScheduler(sources=sources, length_s=1.0, step_s=0.5, required=["bvp", "eda"])
    sources["bvp"].feed_until(105.0)
    sources["eda"].feed_until(105.0)
    sources["acc"].feed_until(102.0)
    windows = sched.poll()
    assert sched.first_end_lsl == 100.41 + 1.0
    assert windows[-1].end_lsl == sched.first_end_lsl + 0.5 * 7  # paced by bvp and eda only
    assert len(windows[-1].data["acc"][1]) == 0 and len(windows[0].data["acc"][1]) > 0
    assert all(w.status["acc"] == "ok" for w in windows)


def test_all_required_silent_from_the_start_gives_nothing() -> None:
    sources = _three()
    for src in sources.values():
        src.feed_until(105.0)
        src.health.state = "missing"
    sched = WindowScheduler(sources=sources, length_s=1.0, step_s=0.5, required=list(sources))
    assert sched.poll() == []


def test_completed_local_comes_from_the_sources_receive_times() -> None:
    class Timed(FakeSource):
        def __init__(self, srate: float, received: float) -> None:
            super().__init__(srate)
            self.received = received
            self.asked: list[float] = []

        def receive_time_local(self, t_lsl: float) -> float | None:
            self.asked.append(t_lsl)
            return self.received

    sources = {"a": Timed(10.0, 5.0), "b": Timed(10.0, 7.0)}
    for src in sources.values():
        src.feed_until(3.0, t_start=0.0)
    sched = WindowScheduler(sources=sources, length_s=1.0, step_s=1.0, required=["a", "b"])
    windows = sched.poll()
    assert [w.end_lsl for w in windows] == [1.0, 2.0, 3.0]
    assert all(w.completed_local == 7.0 for w in windows)  # the later of the two
    # the sample that completes a window may be stamped up to half a period before its end
    assert sources["a"].asked == [0.95, 1.95, 2.95]


def test_a_sample_stamped_just_before_the_end_completes_the_window() -> None:
    """Clock sync moves stamps by microseconds: a 4 Hz sample meant for the window's end but
    stamped 20 µs early must complete it, not leave it waiting 250 ms for the next sample."""
    slow, fast = FakeSource(4.0), FakeSource(64.0)
    slow.feed_until(10.0, t_start=0.0)
    fast.feed_until(10.0, t_start=0.0)
    sched = WindowScheduler(
        sources={"eda": slow, "bvp": fast}, length_s=5.0, step_s=0.25, required=["eda", "bvp"]
    )
    ends = [w.end_lsl for w in sched.poll()]
    assert ends[-1] == 10.0
    fast.feed_until(10.25)
    slow.buffer.push(np.array([[0.0]]), np.array([10.25 - 20e-6]))  # early by 20 µs
    window = sched.poll()
    assert [w.end_lsl for w in window] == [10.25]
    _, ts = window[0].data["eda"]
    assert ts[-1] == 10.25 - 20e-6  # it is in the window it completed
    # ... while a sample more than half a period before the end still holds the window back
    slow.buffer.push(np.array([[0.0]]), np.array([10.25 + 0.1]))
    fast.feed_until(10.75)
    assert sched.poll() == []
    slow.buffer.push(np.array([[0.0]]), np.array([10.5 + 0.1]))
    assert [w.end_lsl for w in sched.poll()] == [10.5]


def test_invalid_arguments() -> None:
    sources = {"a": FakeSource(10.0)}
    with pytest.raises(ValueError, match="no source"):
        WindowScheduler(sources=sources, length_s=1.0, step_s=0.5, required=["b"])
    with pytest.raises(ValueError, match="at least one"):
        WindowScheduler(sources=sources, length_s=1.0, step_s=0.5, required=[])
    with pytest.raises(ValueError):
        WindowScheduler(sources=sources, length_s=0.0, step_s=0.5, required=["a"])


def test_waiting_for_names_the_streams_short_of_the_next_window() -> None:
    sources = {"bvp": FakeSource(64.0), "eda": FakeSource(4.0)}
    sched = WindowScheduler(sources=sources, length_s=4.0, step_s=0.25, required=list(sources))
    assert sched.waiting_for() == {"bvp": None, "eda": None}  # nothing sent yet
    sources["bvp"].feed_until(100.0, t_start=100.0)
    assert sched.waiting_for() == {"eda": None}
    sources["eda"].feed_until(100.0, t_start=100.0)
    assert sched.waiting_for() == {}  # the first end can be fixed: poll now
    assert sched.poll() == [] and sched.next_end_lsl == 104.0
    sources["bvp"].feed_until(104.0)
    sources["eda"].feed_until(103.75)
    # eda is due half a period (0.125 s) before the end; bvp has reached it
    assert sched.waiting_for() == {"eda": 104.0 - 0.125}
    sources["eda"].feed_until(104.0)
    assert sched.waiting_for() == {}
    assert [w.end_lsl for w in sched.poll()] == [104.0]
    due = sched.waiting_for()
    assert set(due) == {"bvp", "eda"}
    assert due["bvp"] == pytest.approx(104.25 - 0.5 / 64.0)
    for src in sources.values():
        src.health.state = "stale"
    assert sched.waiting_for() is None  # nothing delivering: nothing to wait for


def test_cut_data_off_emits_bounds_without_samples() -> None:
    sources = _three()
    sched = WindowScheduler(
        sources=sources, length_s=4.0, step_s=0.25, required=list(sources), cut_data=False
    )
    for src in sources.values():
        src.feed_until(106.0)
    windows = sched.poll()
    assert windows and all(w.data == {} for w in windows)
    assert windows[0].end_lsl == 100.41 + 4.0
