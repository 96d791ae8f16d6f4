"""Helpers for the dashboard tests: child processes of the real command line, a browser."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "pipelines" / "wesad_live.yaml"
DEMO = REPO / "recordings" / "demo" / "S0"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(reason: str) -> None:
    """Skip on a developer machine, fail in CI (where .ci/run installs everything)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser test must run in CI)")
    pytest.skip(reason)


class Child:
    """A ``python -m helo_stream ...`` child whose stderr is read line by line in a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "helo_stream", *args],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            self.lines.put(line)

    def wait_for_line(self, pattern: str, *, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r}; stderr:\n{''.join(self.log)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: the command's own clean shutdown
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def spawn() -> Iterator[Callable[..., Child]]:
    """Start ``helo-stream`` children; every one still running is stopped afterwards."""
    children: list[Child] = []

    def start(*args: str) -> Child:
        children.append(Child(*args))
        return children[-1]

    yield start
    for child in reversed(children):
        child.stop()


@pytest.fixture
def fast_pipeline(tmp_path: Path) -> Path:
    """wesad_live.yaml with 10 s windows (the first message after 10 s of recording) and
    streams stale after 1 s, missing after 2 s."""
    config = yaml.safe_load(PIPELINE.read_text())
    config["window"].update(length_s=10.0, step_s=0.25, stale_after_s=1.0, missing_after_s=2.0)
    config["model"]["checkpoint"] = str((PIPELINE.parent / config["model"]["checkpoint"]).resolve())
    config["devices"]["wrist"]["profile"] = str(REPO / "devices" / "empatica_e4.yaml")
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def labels() -> list[str]:
    """The 24 labels of pipelines/wesad_live.yaml, in order."""
    return list(yaml.safe_load(PIPELINE.read_text())["model"]["labels"])


@pytest.fixture(scope="session")
def demo() -> Path:
    return DEMO


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium from the Debian package, driven by Playwright (no downloaded browser)."""
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
