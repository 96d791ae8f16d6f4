"""Point 7: who may listen. Loopback by default; anything else only with CURVE and listed keys.

Every socket here binds 127.0.0.1 (CURVE is enabled on loopback for the test).
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from helo_stream.cli import main
from helo_stream.config import ConfigError, load_pipeline
from helo_stream.receivers.zmq_subscriber import ZmqSubscriber
from helo_stream.sinks.zmq_publisher import PublisherError, ZmqPublisher

from .conftest import free_address, write_pipeline

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    result = CliRunner().invoke(
        main, ["keys", str(directory), "--name", "server", "--name", "client", "--name", "intruder"]
    )
    assert result.exit_code == 0, result.output
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    shutil.copy(directory / "client.key", allowed / "client.key")
    again = CliRunner().invoke(main, ["keys", str(directory), "--name", "client"])
    assert again.exit_code != 0 and "not overwriting" in again.output
    return directory


def _publish_while(pub: ZmqPublisher, make_message, stop: threading.Event) -> threading.Thread:
    def loop() -> None:
        seq = 0
        while not stop.is_set():
            pub.publish(make_message(seq=seq))
            seq += 1
            time.sleep(0.02)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def test_only_listed_clients_receive(keys: Path, make_message) -> None:
    address = free_address()
    pub = ZmqPublisher(
        address=address,
        curve_secret_key=keys / "server.key_secret",
        curve_allowed_clients=[keys.parent / "allowed"],
    )
    stop = threading.Event()
    thread = _publish_while(pub, make_message, stop)
    subs = {
        "allowed": ZmqSubscriber(
            address=address,
            curve_secret_key=keys / "client.key_secret",
            curve_server_key=keys / "server.key",
        ),
        "intruder": ZmqSubscriber(
            address=address,
            curve_secret_key=keys / "intruder.key_secret",
            curve_server_key=keys / "server.key",
        ),
        "plain": ZmqSubscriber(address=address),
    }
    try:
        assert subs["allowed"].recv(5.0) is not None
        assert subs["intruder"].recv(1.5) is None
        assert subs["plain"].recv(0.5) is None
    finally:
        stop.set()
        thread.join()
        for sub in subs.values():
            sub.close()
        pub.close()


def test_pipeline_curve_config_and_listen(keys: Path, tmp_path: Path, simulator, live) -> None:
    simulator()

    def curve(config: dict) -> None:
        config["publisher"]["curve_secret_key"] = str(keys / "server.key_secret")
        config["publisher"]["curve_allowed_clients"] = [str(tmp_path / "allowed")]

    run = live(update=curve)
    run.sub.close()  # the fixture's plain subscriber cannot listen here
    assert run.runner._publisher is not None and run.runner._publisher.curve
    result = CliRunner().invoke(
        main,
        [
            "listen",
            "--address",
            run.address,
            "--count",
            "1",
            "--timeout",
            "20",
            "--curve-secret-key",
            str(keys / "client.key_secret"),
            "--curve-server-key",
            str(keys / "server.key"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"distribution"' in result.output
    denied = CliRunner().invoke(
        main,
        [
            "listen",
            "--address",
            run.address,
            "--count",
            "1",
            "--timeout",
            "1.5",
            "--curve-secret-key",
            str(keys / "intruder.key_secret"),
            "--curve-server-key",
            str(keys / "server.key"),
        ],
    )
    assert denied.exit_code == 1 and '"distribution"' not in denied.output


def test_non_loopback_needs_curve(tmp_path: Path, keys: Path) -> None:
    def open_address(config: dict) -> None:
        config["publisher"]["address"] = "tcp://0.0.0.0:5599"

    path = write_pipeline(tmp_path, subject=None, address="tcp://0.0.0.0:5599")
    with pytest.raises(ConfigError, match="needs CURVE"):
        load_pipeline(path)
    path = write_pipeline(
        tmp_path,
        subject=None,
        address="tcp://127.0.0.1:5599",
        update=lambda c: c["publisher"].update(curve_secret_key=str(keys / "server.key_secret")),
    )
    with pytest.raises(ConfigError, match="together"):
        load_pipeline(path)
    ok = write_pipeline(
        tmp_path,
        subject=None,
        address="tcp://0.0.0.0:5599",
        update=lambda c: c["publisher"].update(
            curve_secret_key=str(keys / "server.key_secret"),
            curve_allowed_clients=[str(keys / "client.key")],
        ),
    )
    assert load_pipeline(ok).config.publisher.curve_secret_key is not None  # not bound here
    with pytest.raises(PublisherError, match="secret"):
        ZmqPublisher(
            address=free_address(),
            curve_secret_key=keys / "server.key",
            curve_allowed_clients=[keys / "client.key"],
        )
