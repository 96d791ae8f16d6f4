"""ZeroMQ PUB/SUB over real tcp sockets."""

from __future__ import annotations

import threading
import time

import pytest
import zmq

from helo_stream.receivers.zmq_subscriber import ZmqSubscriber
from helo_stream.sinks.message import validate_message
from helo_stream.sinks.zmq_publisher import PublisherError, ZmqPublisher


def _connected(pub: ZmqPublisher, sub: ZmqSubscriber, make_message, timeout: float = 5.0):
    """Publish until the subscriber has joined (PUB drops messages sent before that)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pub.publish(make_message(seq=0))
        if sub.recv(0.05) is not None:
            while sub.recv(0.05) is not None:  # drain the warm-up messages
                pass
            return
    raise AssertionError("subscriber never received the warm-up message")


def test_round_trip_over_tcp_on_a_free_port(make_message) -> None:
    with ZmqPublisher(address="tcp://127.0.0.1:*", topic="helo/emotion") as pub:
        endpoint = pub.endpoint
        assert endpoint.startswith("tcp://127.0.0.1:") and not endpoint.endswith("*")
        with ZmqSubscriber(address=endpoint, topic="helo/emotion") as sub:
            _connected(pub, sub, make_message)
            sent = [make_message(seq=i, subject="S9") for i in range(1, 6)]
            for msg in sent:
                pub.publish(msg)
            got = [sub.recv(2.0) for _ in sent]
    assert all(g is not None for g in got)
    assert [g[0] for g in got] == ["helo/emotion"] * 5  # type: ignore[index]
    assert [g[1] for g in got] == sent  # type: ignore[index]
    for _, msg in got:  # type: ignore[misc]
        validate_message(msg)
    assert sub.n_missed == 0


def test_wire_format_is_two_frames_topic_and_json(make_message) -> None:
    with ZmqPublisher(address="tcp://127.0.0.1:*", topic="t/x") as pub:
        raw = zmq.Context.instance().socket(zmq.SUB)
        raw.setsockopt(zmq.LINGER, 0)
        raw.setsockopt(zmq.SUBSCRIBE, b"")
        raw.connect(pub.endpoint)
        try:
            deadline = time.monotonic() + 5.0
            while not raw.poll(50):
                assert time.monotonic() < deadline
                pub.publish(make_message())
            frames = raw.recv_multipart()
        finally:
            raw.close(linger=0)
    assert len(frames) == 2 and frames[0] == b"t/x"
    assert frames[1].startswith(b"{") and b"\n" not in frames[1]


def test_topic_filter(make_message) -> None:
    with (
        ZmqPublisher(address="tcp://127.0.0.1:*", topic="helo/emotion") as pub,
        ZmqSubscriber(address=pub.endpoint, topic="other") as sub,
    ):
        for _ in range(20):
            pub.publish(make_message())
            time.sleep(0.01)
        started = time.monotonic()
        assert sub.recv(0.2) is None
        assert 0.15 < time.monotonic() - started < 2.0


def test_address_in_use_is_a_clear_error() -> None:
    with (
        ZmqPublisher(address="tcp://127.0.0.1:*") as first,
        pytest.raises(PublisherError, match="already in use"),
    ):
        ZmqPublisher(address=first.endpoint)


def test_bad_address_is_a_publisher_error() -> None:
    with pytest.raises(PublisherError):
        ZmqPublisher(address="tcp://not a host:1")


def test_a_subscriber_that_never_reads_does_not_block_10000_messages(make_message) -> None:
    msg = make_message()
    with ZmqPublisher(address="tcp://127.0.0.1:*", send_hwm=10) as pub:
        lazy = zmq.Context.instance().socket(zmq.SUB)
        lazy.setsockopt(zmq.LINGER, 0)
        lazy.setsockopt(zmq.RCVHWM, 10)
        lazy.setsockopt(zmq.RCVBUF, 4096)
        lazy.setsockopt(zmq.SUBSCRIBE, b"")
        lazy.connect(pub.endpoint)
        time.sleep(0.2)  # let it join, so that messages queue (and overflow) for it
        done = threading.Event()
        errors: list[BaseException] = []

        def publish_all() -> None:
            try:
                for i in range(10_000):
                    msg["seq"] = i
                    pub.publish(msg)
            except BaseException as err:
                errors.append(err)
            done.set()

        started = time.monotonic()
        thread = threading.Thread(target=publish_all, daemon=True)
        thread.start()
        finished = done.wait(timeout=20.0)
        elapsed = time.monotonic() - started
        lazy.close(linger=0)
    assert finished, "publishing blocked on a subscriber that does not read"
    assert not errors
    assert pub.n_sent + pub.n_dropped == 10_000
    assert elapsed < 20.0


def test_publish_after_close_and_bad_payload(make_message) -> None:
    pub = ZmqPublisher(address="tcp://127.0.0.1:*")
    with pytest.raises(ValueError):
        pub.publish({"x": float("nan")})
    pub.close()
    pub.close()
    assert pub.closed
    with pytest.raises(RuntimeError, match="closed"):
        pub.publish(make_message())


def test_subscriber_skips_malformed_and_counts_missed(make_message) -> None:
    ctx = zmq.Context.instance()
    raw = ctx.socket(zmq.PUB)
    raw.setsockopt(zmq.LINGER, 0)
    port = raw.bind_to_random_port("tcp://127.0.0.1")
    try:
        with ZmqSubscriber(address=f"tcp://127.0.0.1:{port}", topic="helo") as sub:
            import json

            deadline = time.monotonic() + 5.0
            while sub.recv(0.05) is None:  # join
                assert time.monotonic() < deadline
                raw.send_multipart([b"helo/emotion", json.dumps(make_message(seq=0)).encode()])
            while sub.recv(0.05) is not None:
                pass
            raw.send_multipart([b"helo/emotion", b"not json"])
            raw.send_multipart([b"helo/emotion"])
            raw.send_multipart([b"helo/emotion", b"[1, 2]"])
            for seq in (10, 11, 15):
                raw.send_multipart([b"helo/emotion", json.dumps(make_message(seq=seq)).encode()])
            got = [sub.recv(2.0) for _ in range(3)]
            assert [g[1]["seq"] for g in got] == [10, 11, 15]  # type: ignore[index]
            assert sub.n_malformed == 3
            assert sub.n_missed == 9 + 3  # 1..9 and 12..14
    finally:
        raw.close(linger=0)
