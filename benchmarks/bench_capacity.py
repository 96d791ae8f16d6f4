"""Capacity: how many replayed subjects one pipeline process keeps in real time on this machine.

Per trial, N subjects stream at 1x: one replay process plays N copies of a session under N
subject names (one :class:`~helo_stream.replay.RecordingPlayer` each, 0.05 s chunks, a lead of
one window + 2 s so every subject's windows start at once), and one ``helo-stream run P
--subject S1 ... --subject SN`` serves them all (inference batched across subjects). After a
warm-up, every message is stamped on receipt at a ZeroMQ SUB, as in ``bench_latency.py``.

A trial passes when the machine keeps up:

* no growing backlog: per subject, the lag (receipt clock - window end; both on the LSL clock,
  which the 1x replay follows) grows by less than ``--max-growth`` (0.25 s) from the first to
  the last third of the measured interval, and >= 95 % of the expected messages arrived;
* p99 latency < 100 ms: the pipeline's own ``window_to_publish`` (from the pull of the sample
  that completed the window to publish). The end-to-end figures from the pushes (see
  bench_latency.py) are reported next to it.

N goes up until the first failure. Profiles:

* E4: ``pipelines/wesad_live.yaml`` (BVP 64 Hz, EDA/TEMP 4 Hz, ACC 32 Hz), the real WESAD S2
  session, the shipped checkpoint;
* RespiBAN+E4: ``pipelines/wesad_chest_live.yaml``. There is no real chest data and no chest
  checkpoint here, so ECG/RESP/EDA/EMG are NeuroKit2 simulations at 700 Hz next to the real E4
  streams, and the checkpoint is the same HeLo architecture with untrained (seeded random)
  weights: the compute per window is identical, the distributions are meaningless.

Baseline in the same run: at ``--baseline-n`` E4 subjects, one pipeline process per subject
instead of one for all (total CPU and p99), which answers "one process or one per subject".

Usage: ``python benchmarks/bench_capacity.py [--measure 90] [--e4 8 16 24 32 40 48]
[--chest 2 4 8 12 16] [--out benchmarks/results/capacity.json]``. The defaults (a coarser
search stops at the first failure) take about 2.5 min per trial.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_latency import (  # this folder is not a package: found through sys.path
    DEFAULT_SESSION,
    E4_PIPELINE,
    REPO,
    emit_result,
    loadavg,
    machine,
    run_trial,
    summarize,
    write_lsl_config,
)

CHEST_PIPELINE = REPO / "pipelines" / "wesad_chest_live.yaml"
P99_LIMIT_MS = 100.0
MIN_DELIVERED = 0.95


def chest_pipeline_with_untrained_checkpoint(workdir: Path) -> Path:
    """A copy of the chest pipeline pointing at a freshly written, untrained HeLo checkpoint.

    The architecture (token width, heads, OT settings) is the shipped E4 checkpoint's, with the
    chest pipeline's modalities and feature counts: per-window compute is what a trained chest
    model would cost.
    """
    import torch
    import yaml

    from helo_stream.config import load_pipeline
    from helo_stream.models.checkpoint import load_checkpoint, save_checkpoint
    from helo_stream.models.helo import HeLo, ModalitySpec
    from helo_stream.models.normalization import FeatureNormalizer
    from helo_stream.pipeline.features import WindowFeaturizer

    pipeline = load_pipeline(CHEST_PIPELINE, check_checkpoint=False)
    names = WindowFeaturizer.from_pipeline(pipeline).feature_names
    e4 = load_checkpoint(REPO / "checkpoints" / "helo_wesad_e4.pt")
    specs = tuple(
        ModalitySpec(name, pipeline.modalities[name].stream.role, len(names[name]))
        for name in names
    )
    torch.manual_seed(0)
    config = dataclasses.replace(e4.model.config, modalities=specs)
    model = HeLo(config).eval()
    checkpoint = workdir / "helo_wesad_chest_untrained.pt"
    save_checkpoint(
        checkpoint,
        model=model,
        model_name="helo",
        model_config=config.to_dict(),
        labels=list(pipeline.config.model.labels),
        feature_names={k: list(v) for k, v in names.items()},
        normalizer=FeatureNormalizer(
            population_mean={k: np.zeros(len(v)) for k, v in names.items()},
            population_std={k: np.ones(len(v)) for k, v in names.items()},
            calibration_s=float(pipeline.config.model.calibration_s),
        ),
        metadata={"dataset": "none: untrained weights for bench_capacity.py"},
    )
    raw = yaml.safe_load(CHEST_PIPELINE.read_text())
    raw["model"]["checkpoint"] = str(checkpoint)
    path = workdir / "wesad_chest_live.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def verdict(summary: dict[str, Any], max_growth: float) -> tuple[bool, str]:
    """Pass/fail of a trial against the real-time criteria, and why.

    Errors at shutdown (after the measured interval) are reported, not judged: whether the
    pipeline kept publishing is what the delivered fraction checks.
    """
    p99 = summary["pipeline_window_to_publish"].get("p99_ms", np.inf)
    growth = summary["max_lag_growth_s"]
    delivered = summary["messages"] / max(summary["messages_expected"], 1)
    reasons = []
    if not p99 < P99_LIMIT_MS:
        reasons.append(f"p99 {p99} ms >= {P99_LIMIT_MS:g}")
    if growth is None or not growth < max_growth:
        reasons.append(f"lag grew {growth} s")
    if delivered < MIN_DELIVERED:
        reasons.append(f"only {delivered:.0%} of the messages")
    return not reasons, "; ".join(reasons) or "real time"


def trial(
    profile: str, pipeline: Path, n: int, args: argparse.Namespace, *, per_subject: bool = False
) -> dict[str, Any]:
    """One N: replay, serve, measure, summarise, judge."""
    tag = uuid.uuid4().hex[:5]
    subjects = [f"c{tag}{i:02d}" for i in range(n)]
    print(
        f"[capacity] {profile} N={n}{' per-subject' if per_subject else ''} ...",
        file=sys.stderr,
        flush=True,
    )
    try:
        t = run_trial(
            profile=profile,
            pipeline=pipeline,
            subjects=subjects,
            measure_s=args.measure,
            warmup_s=args.warmup,
            start_s=args.start,
            session=args.session,
            one_process_per_subject=per_subject,
            chunk_s=0.05,
        )
    except RuntimeError as err:
        return {"n_subjects": n, "ok": False, "why": str(err)}
    s = summarize(t)
    ok, why = verdict(s, args.max_growth)
    row = {"n_subjects": n, "ok": ok, "why": why, **s}
    print(
        json.dumps(
            {k: row[k] for k in ("n_subjects", "ok", "why")}
            | {
                "p99_ms": s["end_to_end_from_completing_push"].get("p99_ms"),
                "cpu": s["pipeline_cpu_pct_of_one_core"],
            }
        ),
        file=sys.stderr,
        flush=True,
    )
    return row


def search(profile: str, pipeline: Path, ns: list[int], args: argparse.Namespace) -> dict[str, Any]:
    """Trials upward until the first failure; the largest passing N is the capacity."""
    rows = []
    for n in ns:
        row = trial(profile, pipeline, n, args)
        rows.append(row)
        if not row["ok"]:
            break
    passed = [r["n_subjects"] for r in rows if r["ok"]]
    return {"capacity": max(passed) if passed else 0, "trials": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", type=float, default=90.0, help="seconds per trial")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds after 1st message")
    parser.add_argument("--e4", type=int, nargs="*", default=[8, 16, 24, 32, 40, 48])
    parser.add_argument("--chest", type=int, nargs="*", default=[2, 4, 8, 12, 16])
    parser.add_argument("--baseline-n", type=int, default=8)
    parser.add_argument("--max-growth", type=float, default=0.25, help="seconds of lag growth")
    parser.add_argument("--session", type=Path, default=DEFAULT_SESSION)
    parser.add_argument("--start", type=float, default=1800.0, help="seconds into the session")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    write_lsl_config()
    workdir = Path(tempfile.mkdtemp(prefix="helo-capacity-"))
    result: dict[str, Any] = {
        "benchmark": "capacity: simultaneous 1x subjects served in real time by one process",
        "machine": machine(),
        "setup": {
            "measured_s_per_trial": args.measure,
            "warmup_s": args.warmup,
            "replay": "one process, one RecordingPlayer per subject, chunk 0.05 s, lead 62 s",
            "pipeline": "one `helo-stream run --subject ... --quiet --address` for all N",
            "criteria": f"p99 pipeline window_to_publish < {P99_LIMIT_MS:g} ms, lag growth < "
            f"{args.max_growth} s, >= {MIN_DELIVERED:.0%} of messages",
            "e4": f"{E4_PIPELINE.relative_to(REPO)}, real WESAD S2 from {args.start:g} s",
            "chest": f"{CHEST_PIPELINE.relative_to(REPO)}: RespiBAN streams simulated with "
            "NeuroKit2 at 700 Hz + real E4 S2; HeLo checkpoint of the shipped "
            "architecture with untrained weights (same compute per window)",
        },
        "targets": {"e4_subjects": 32, "respiban_e4_subjects": 8},
        "loadavg_start": loadavg(),
    }
    if args.e4:
        result["e4"] = search("e4", E4_PIPELINE, args.e4, args)
    if args.chest:
        chest = chest_pipeline_with_untrained_checkpoint(workdir)
        result["respiban_e4"] = search("chest", chest, args.chest, args)
    if args.baseline_n:
        one = trial("e4", E4_PIPELINE, args.baseline_n, args)
        many = trial("e4", E4_PIPELINE, args.baseline_n, args, per_subject=True)
        result["baseline_one_vs_per_subject"] = {
            "n_subjects": args.baseline_n,
            "one_process": one,
            "one_process_per_subject": many,
        }
    result["loadavg_end"] = loadavg()
    emit_result(result, args.out)


if __name__ == "__main__":
    main()
