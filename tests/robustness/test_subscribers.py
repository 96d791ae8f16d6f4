"""Point 5: slow or dead subscribers never slow the pipeline; late subscribers get the latest."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import zmq

from helo_stream.receivers.zmq_subscriber import ZmqSubscriber
from helo_stream.sinks.zmq_publisher import ZmqPublisher

from .conftest import free_address

pytestmark = pytest.mark.timeout(120)


def _dead_subscriber(address: str) -> zmq.Socket:
    """Subscribes, then never reads: a hung dashboard with the smallest possible buffers."""
    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 1)
    sock.setsockopt(zmq.RCVBUF, 1024)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(address)
    return sock


def test_dead_subscribers_do_not_slow_the_running_pipeline(simulator, live) -> None:
    simulator()
    address = free_address()
    # Tiny queues and kernel buffers, so the dead subscribers' queues really fill within the
    # test; the queue still holds one batch (windows completed together are sent together).
    pub = ZmqPublisher(address=address, send_hwm=8, socket_options={zmq.SNDBUF: 2048})

    def fast(config: dict) -> None:
        config["window"].update(length_s=3.0, step_s=0.05)
        config["publisher"]["address"] = address

    run = live(update=fast, publisher=pub)
    dead = [_dead_subscriber(run.address) for _ in range(3)]
    try:
        run.collect_until(lambda m: True, timeout_s=30)
        start_published = run.runner.stats.published
        t0 = time.monotonic()
        got = run.collect_for(4.0)
        elapsed = time.monotonic() - t0
        published = run.runner.stats.published - start_published
        # 20 windows a second kept flowing to the live subscriber, none of them lost
        assert published >= 0.8 * elapsed / 0.05
        # (a 4 Hz sample completes 5 windows of this 0.05 s step at once, and they are
        # classified in one batch: that many may still be in flight when the count is taken)
        assert len(got) >= published - 6
        seqs = [m["seq"] for m in run.messages]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        latencies = np.array([m["latency_ms"]["window_to_publish"] for m in got])
        assert np.median(latencies) < 100.0
        # ... while the dead subscribers' queues overflowed and ZeroMQ dropped for them only
        waiting = 0
        deadline = time.monotonic() + 1.0  # what was queued, not what keeps coming
        while time.monotonic() < deadline and dead[0].poll(20):
            dead[0].recv_multipart()
            waiting += 1
        assert waiting < published / 2
    finally:
        for sock in dead:
            sock.close(linger=0)
        pub.close()


def _serve(pub: ZmqPublisher, stop: threading.Event) -> threading.Thread:
    """The pipeline loop's idle duty: answer subscriptions every few milliseconds."""

    def loop() -> None:
        while not stop.is_set():
            pub.serve_subscriptions()
            time.sleep(0.002)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def test_late_subscriber_gets_the_latest_message_at_once(make_message) -> None:
    address = free_address()
    with ZmqPublisher(address=address) as pub:
        for seq in range(10):
            pub.publish(make_message(seq=seq, subject="A"))
        pub.publish(make_message(seq=3, subject="B"))
        stop = threading.Event()
        thread = _serve(pub, stop)
        try:
            with ZmqSubscriber(address=address) as sub:
                t0 = time.monotonic()
                first = sub.recv(2.0)
                second = sub.recv(0.5)
                waited = time.monotonic() - t0
        finally:
            stop.set()
            thread.join()
    assert first is not None and second is not None
    latest = {m["subject"]: m["seq"] for _, m in (first, second)}
    assert latest == {"A": 9, "B": 3}
    assert waited < 1.0
    assert pub.n_resent >= 2


def test_cache_resend_is_not_a_duplicate_for_earlier_subscribers(make_message) -> None:
    address = free_address()
    with ZmqPublisher(address=address) as pub, ZmqSubscriber(address=address) as early:
        deadline = time.monotonic() + 5
        seq = 0
        while early.recv(0.05) is None:  # until the early subscriber is connected
            assert time.monotonic() < deadline
            seq += 1
            pub.publish(make_message(seq=seq))
        stop = threading.Event()
        thread = _serve(pub, stop)
        try:
            with ZmqSubscriber(address=address) as late:
                assert late.recv(2.0) is not None
            assert early.recv(0.3) is None  # the re-send reached it too, and was skipped
            assert early.n_duplicates >= 1 and early.n_missed == 0
        finally:
            stop.set()
            thread.join()


def test_late_subscriber_to_the_running_pipeline(simulator, live) -> None:
    simulator()
    run = live(update=lambda c: c["window"].update(length_s=3.0, step_s=2.0))
    run.collect_until(lambda m: True, timeout_s=30)
    time.sleep(0.3)  # between two windows
    with ZmqSubscriber(address=run.address) as late:
        t0 = time.monotonic()
        got = late.recv(1.0)
        waited = time.monotonic() - t0
    assert got is not None, "the late subscriber had to wait for the next window"
    assert waited < 1.0
    assert got[1]["seq"] in (run.runner.stats.published - 1, run.runner.stats.published - 2)
