"""The wheel installs anywhere: built from the checkout, installed into a fresh venv outside it,
``helo-stream run wesad_live --replay demo`` runs from an empty folder on the packaged pipeline,
device profile, demo recording and checkpoint.

Nothing is downloaded: the wheel is built without build isolation (setuptools and wheel come
from this venv) and installed with ``--no-index --no-deps``; the project's dependencies come
from this venv's site-packages through a ``.pth`` file pointing at a folder of links to every
entry there except helo-stream itself (its editable finder and metadata), so the fresh venv
can only import the helo_stream it installed from the wheel.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import textwrap
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
#: Top-level entries of the checkout a wheel build does not need.
SKIP_AT_ROOT = {
    ".git",
    ".venv",
    ".hypothesis",
    ".pytest_cache",
    ".ruff_cache",
    "build",
    "dist",
    "tests",
    "benchmarks",
    "docs",
    "scripts",
    "out",
    ".whl",
    ".gl",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(cmd: list[str], *, timeout: float = 120, **kwargs: object) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


def _copy_source(dest: Path) -> Path:
    """The checkout without its venv, caches and build outputs: a stale ``build/lib`` (modules
    since moved) must not leak into the wheel, and the build must not write into the checkout."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
        if Path(folder) == REPO:
            skipped |= SKIP_AT_ROOT & set(names)
        return skipped

    shutil.copytree(REPO, dest, ignore=ignore, symlinks=True)
    return dest


def _dependencies_without_helo_stream(dest: Path) -> Path:
    """Links to this venv's site-packages entries, less every trace of helo-stream."""
    dest.mkdir()
    own = ("helo_stream", "__editable__", "__editable___helo_stream")
    for site in dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]):
        for entry in Path(site).iterdir():
            if entry.name.startswith(own) or entry.suffix == ".pth":
                continue
            if not (dest / entry.name).exists():
                (dest / entry.name).symlink_to(entry)
    return dest


def test_wheel_installs_and_runs_the_packaged_demo(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONNOUSERSITE="1", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")

    # 1. the wheel, built from a copy of the checkout
    source = _copy_source(tmp_path / "src")
    dist = tmp_path / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(dist),
            str(source),
        ],
        env=env,
    )
    (wheel,) = dist.glob("helo_stream-*.whl")

    # 2. a fresh venv outside the checkout that sees the dependencies but not helo_stream
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=env)
    python = venv / "bin" / "python"
    purelib = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            env=env,
        ).stdout.strip()
    )
    deps = _dependencies_without_helo_stream(tmp_path / "deps")
    (purelib / "helo_stream_test_deps.pth").write_text(f"{deps}\n")
    before = subprocess.run(
        [str(python), "-c", "import helo_stream"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert before.returncode != 0 and "No module named 'helo_stream'" in before.stderr, (
        "the fresh venv imports a helo_stream before the wheel is installed: " + before.stderr
    )

    # 3. the wheel, installed without the index and without dependencies
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        env=env,
    )

    # 4. from an empty folder: the package, its resources and a pipeline of the user's own
    work = tmp_path / "work"
    work.mkdir()
    own_pipeline = work / "mine.yaml"
    own_pipeline.write_text(
        textwrap.dedent(
            """\
            name: mine
            devices: {wrist: {profile: empatica_e4}}
            modalities:
              bvp: {device: wrist, stream: bvp}
              acc: {device: wrist, stream: acc}
            model: {checkpoint: model.pt, labels: [a, b]}
            """
        )
    )
    (work / "model.pt").write_bytes(b"x")
    probe = textwrap.dedent(
        """\
        import json, helo_stream
        from helo_stream.config import DEVICES_DIR, find_recording, load_pipeline
        shipped = load_pipeline("wesad_live")
        mine = load_pipeline("mine.yaml")
        print(json.dumps({
            "module": helo_stream.__file__,
            "devices": str(DEVICES_DIR),
            "pipeline": str(shipped.path),
            "checkpoint": str(shipped.checkpoint_path),
            "demo": str(find_recording("demo")),
            "mine_profile": mine.profiles["wrist"].name,
        }))
        """
    )
    paths = json.loads(_run([str(python), "-c", probe], cwd=work, env=env).stdout)
    installed = (purelib / "helo_stream").resolve()
    for key in ("module", "devices", "pipeline", "checkpoint", "demo"):
        assert Path(paths[key]).resolve().is_relative_to(installed), (key, paths[key])
    assert paths["mine_profile"] == "empatica_e4"
    assert Path(paths["checkpoint"]).is_file()

    # 5. the packaged demo, end to end over loopback LSL and ZeroMQ
    lsl_cfg = tmp_path / "lsl_api.cfg"
    lsl_cfg.write_text("[multicast]\nResolveScope = machine\n[lab]\nKnownPeers = {127.0.0.1}\n")
    subject = f"wheel-{uuid.uuid4().hex[:8]}"  # never another test's replay of S0
    run = subprocess.run(
        [
            str(venv / "bin" / "helo-stream"),
            "run",
            "wesad_live",
            "--replay",
            "demo",
            "--speed",
            "20",
            "--duration",
            "70",
            "--subject",
            subject,
            "--json",
            "--address",
            f"tcp://127.0.0.1:{_free_port()}",
        ],
        cwd=work,
        env={**env, "LSLAPICFG": str(lsl_cfg)},
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert run.returncode == 0, run.stderr
    messages = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    # 70 s of recording, 60 s windows every 0.25 s: about 40 windows
    assert len(messages) >= 10, run.stdout[-2000:] + run.stderr[-2000:]
    assert f"published {len(messages)} message(s)" in run.stderr
    assert {m["pipeline"] for m in messages} == {"wesad_live"}
    assert {m["subject"] for m in messages} == {subject}
    shipped_sha = hashlib.sha256((REPO / "checkpoints" / "helo_wesad_e4.pt").read_bytes())
    assert {m["model"]["checkpoint_sha256"] for m in messages} == {shipped_sha.hexdigest()}
