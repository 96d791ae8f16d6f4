"""The dashboard in a real headless Chromium, fed by a real replay through the real pipeline.

Three child processes, exactly as a user starts them: ``helo-stream dashboard``, then
``helo-stream run ... --replay`` (which starts ``helo-stream replay``). The page must show the
pipeline's 24 labels as bars that move, the modalities' health, and, once the replay has ended
(the pipeline then publishes nothing: with every stream gone no window is cut), the subject as
offline with its modalities missing. Finally the dashboard restarts and the page reconnects.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

OFFLINE_AFTER_S = 3.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bar_values(page: object, selector: str) -> dict[str, float]:
    return page.eval_on_selector_all(  # type: ignore[attr-defined]
        f"{selector} .bar",
        "bars => Object.fromEntries(bars.map(b => [b.dataset.label, Number(b.dataset.p)]))",
    )


def test_dashboard_shows_a_live_replay(
    browser: object, spawn: Callable, fast_pipeline: Path, demo: Path, labels: list[str]
) -> None:
    subject = f"dash-{uuid.uuid4().hex[:8]}"
    address = f"tcp://127.0.0.1:{_free_port()}"
    dashboard = spawn(
        "dashboard",
        "--connect",
        address,
        "--port",
        "0",
        "--offline-after",
        str(OFFLINE_AFTER_S),
        "--history",
        "60",
    )
    run = spawn(
        "run",
        str(fast_pipeline),
        "--replay",
        str(demo),
        "--speed",
        "5",
        "--duration",
        "40",
        "--subject",
        subject,
        "--address",
        address,
        "--quiet",
    )
    url = dashboard.wait_for_line(r"(http://\S+)", timeout_s=20).group(1)
    page = browser.new_page(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
    page.goto(url)
    page.wait_for_selector("#connection[data-state='open']", timeout=10_000)
    panel = f".subject[data-subject='{subject}']"
    # the pipeline loads its model and resolves the replay's streams first
    page.wait_for_selector(f"{panel} .bar[data-p]", timeout=45_000)

    shown_labels = page.eval_on_selector_all(f"{panel} .bar", "bs => bs.map(b => b.dataset.label)")
    assert shown_labels == labels
    shown = page.eval_on_selector_all(f"{panel} .bar-label", "ls => ls.map(l => l.textContent)")
    assert shown == shown_labels
    first = _bar_values(page, panel)
    assert sum(first.values()) == pytest.approx(1.0, abs=1e-3)
    top = page.text_content(f"{panel} .top")
    assert top == max(first, key=first.get)

    time.sleep(1.5)
    second = _bar_values(page, panel)
    assert second != first, "the bars did not change over 1.5 s of a 5x replay"
    widths = page.eval_on_selector_all(
        f"{panel} .bar-fill", "fs => fs.map(f => parseFloat(f.style.width))"
    )
    assert len(widths) == 24 and max(widths) > 0
    assert page.get_attribute(panel, "data-status") == "live"
    states = page.eval_on_selector_all(
        f"{panel} .modality", "ms => ms.map(m => [m.dataset.modality, m.dataset.state])"
    )
    assert sorted(name for name, _ in states) == ["acc", "bvp", "eda", "temp"]
    assert {state for _, state in states} <= {"ok", "stale"}
    rate = page.text_content(f"{panel} [data-stat='rate'] b")
    assert rate is not None and float(rate.split()[0]) > 1.0
    latency = page.text_content(f"{panel} [data-stat='latency'] b")
    assert latency is not None and float(latency.split()[0]) > 0
    history = page.evaluate(
        f"window.heloDashboard.subjects.get({page.get_attribute(panel, 'data-key')!r})"
        ".history.t.length"
    )
    assert history >= 2
    if os.environ.get("HELO_DASHBOARD_SCREENSHOT"):
        page.screenshot(path=os.environ["HELO_DASHBOARD_SCREENSHOT"], full_page=True)

    # The replay ends (40 s of recording at 5x), the pipeline exits; nothing is published.
    run.proc.wait(timeout=30)
    assert run.proc.returncode == 0, "".join(run.log)
    page.wait_for_selector(f"{panel}[data-status='offline']", timeout=(OFFLINE_AFTER_S + 5) * 1000)
    assert "offline" in (page.text_content(f"{panel} .status") or "")
    states = page.eval_on_selector_all(f"{panel} .modality", "ms => ms.map(m => m.dataset.state)")
    assert states == ["missing"] * 4

    # The dashboard restarts on the same port: the page reconnects by itself.
    port = url.rstrip("/").rsplit(":", 1)[1]
    dashboard.stop()
    page.wait_for_selector("#connection[data-state='closed']", timeout=5_000)
    dashboard = spawn("dashboard", "--connect", address, "--port", port)
    dashboard.wait_for_line(r"http://", timeout_s=20)
    page.wait_for_selector("#connection[data-state='open']", timeout=10_000)
    assert page.evaluate("window.heloDashboard.stats.connects") == 2
    page.wait_for_selector("#empty:not([hidden])", timeout=5_000)  # a fresh server: empty
