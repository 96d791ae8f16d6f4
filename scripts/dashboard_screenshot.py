"""Take docs/dashboard.png: the real dashboard fed by two real replays of the demo recording.

Starts ``helo-stream dashboard`` and two ``helo-stream run ... --replay`` pipelines (two
subjects, two publisher ports), lets them run, and screenshots the page in headless Chromium
(Debian's ``/usr/bin/chromium`` through Playwright)::

    python scripts/dashboard_screenshot.py [--seconds 45] [--out docs/dashboard.png]
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "pipelines" / "wesad_live.yaml"
DEMO = REPO / "recordings" / "demo" / "S0"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _cli(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "helo_stream", *args],
        cwd=REPO,
        text=True,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )  # type: ignore[call-overload]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=45.0, help="Live time before the shot.")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "dashboard.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="helo-shot-"))
    config = yaml.safe_load(PIPELINE.read_text())
    config["window"].update(length_s=20.0)
    config["model"]["checkpoint"] = str((PIPELINE.parent / config["model"]["checkpoint"]).resolve())
    config["devices"]["wrist"]["profile"] = str(REPO / "devices" / "empatica_e4.yaml")
    pipeline = tmp / "wesad_live.yaml"
    pipeline.write_text(yaml.safe_dump(config))
    addresses = ["tcp://127.0.0.1:5601", "tcp://127.0.0.1:5602"]
    dashboard = _cli(
        "dashboard",
        "--connect",
        addresses[0],
        "--connect",
        addresses[1],
        "--port",
        "0",
        "--history",
        "60",
        stderr=subprocess.PIPE,
    )
    runs = [
        _cli(
            "run",
            str(pipeline),
            "--replay",
            str(DEMO),
            "--speed",
            "2",
            "--loop",
            "--start",
            str(start),
            "--subject",
            subject,
            "--address",
            address,
            "--quiet",
            stderr=(tmp / f"{subject}.log").open("w"),
        )
        for subject, address, start in (("P01", addresses[0], 120), ("P02", addresses[1], 240))
    ]
    try:
        assert dashboard.stderr is not None
        url = re.search(r"http://\S+", dashboard.stderr.readline())
        if url is None:
            raise SystemExit("the dashboard did not start")
        for _ in tqdm(range(int(args.seconds)), desc="letting the pipelines run", unit="s"):
            time.sleep(1.0)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            page.goto(url.group(0))
            try:
                page.wait_for_selector(".subject .bar[data-p]", timeout=30_000)
            except Exception:
                logs = "".join(p.read_text()[-2000:] for p in sorted(tmp.glob("*.log")))
                raise SystemExit(f"no message reached the dashboard; logs:\n{logs}") from None
            time.sleep(1.0)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
        print(f"wrote {args.out}")
    finally:
        for proc in [*runs, dashboard]:
            proc.send_signal(signal.SIGINT)
        for proc in [*runs, dashboard]:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
