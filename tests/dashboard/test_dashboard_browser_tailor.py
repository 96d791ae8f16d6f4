"""The dashboard's multi-label view in a real headless Chromium: a TAILOR pipeline replaying the
demo recording. Each bar must show a label's presence score on a fixed 0-100 % scale (the scores
need not sum to 1), the labels over the threshold must be marked present and named at the top.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
TAILOR = REPO / "pipelines" / "wesad_tailor.yaml"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fast_tailor(tmp_path: Path) -> Path:
    """wesad_tailor.yaml with 10 s windows; a threshold every demo window crosses for some label
    would depend on the model, so the test reads the threshold back from the page instead."""
    config = yaml.safe_load(TAILOR.read_text())
    config["window"].update(length_s=10.0, step_s=0.25, stale_after_s=1.0, missing_after_s=2.0)
    checkpoint = (TAILOR.parent / config["model"]["checkpoint"]).resolve()
    if not checkpoint.is_file():
        pytest.fail(f"{checkpoint} is missing: train it (see checkpoints/MODEL_CARD.md)")
    config["model"]["checkpoint"] = str(checkpoint)
    config["devices"]["wrist"]["profile"] = str(REPO / "devices" / "empatica_e4.yaml")
    path = tmp_path / "fast_tailor.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_dashboard_shows_presence_scores(
    browser: object, spawn: Callable, fast_tailor: Path, demo: Path, labels: list[str]
) -> None:
    subject = f"tailor-{uuid.uuid4().hex[:8]}"
    address = f"tcp://127.0.0.1:{_free_port()}"
    dashboard = spawn("dashboard", "--connect", address, "--port", "0")
    spawn(
        "run",
        str(fast_tailor),
        "--replay",
        str(demo),
        "--speed",
        "5",
        "--duration",
        "30",
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
    page.wait_for_selector(f"{panel}[data-multilabel='true'] .bar[data-score]", timeout=45_000)

    bars = page.eval_on_selector_all(
        f"{panel} .bar",
        """bs => bs.map(b => ({label: b.dataset.label, score: Number(b.dataset.score),
                              present: b.classList.contains('is-present'),
                              width: parseFloat(b.querySelector('.bar-fill').style.width)}))""",
    )
    assert [b["label"] for b in bars] == labels
    scale = page.text_content(f"{panel} .scale")
    threshold = float(scale.split("≥")[1].strip().rstrip("%")) / 100
    for b in bars:
        assert 0.0 < b["score"] < 1.0
        # fixed scale: a bar is as wide as its score, not rescaled to the largest
        assert b["width"] == pytest.approx(100 * b["score"], abs=0.02)
        assert b["present"] == (b["score"] >= threshold - 5e-6)
    present = [b["label"] for b in bars if b["present"]]
    top = page.text_content(f"{panel} .top")
    if present:
        assert top == "present: " + ", ".join(present)
    else:
        assert top == "present: none over the threshold"
    # independent per-label scores, not a distribution
    assert sum(b["score"] for b in bars) != pytest.approx(1.0, abs=1e-3)
