"""Wall time of the full leave-one-subject-out HeLo training on WESAD (JSON on stdout).

Trains HeLo once per held-out subject on the others, exactly as ``helo-stream evaluate
--loso`` does (same settings, same data), without the resume cache, so every fold is really
trained. Features come from the feature cache (``helo-stream evaluate`` or ``train`` fills it;
building it is timed separately as ``feature_seconds``). Target: the whole LOSO <= 15 min on a
2-core machine, one process.

Usage::

    python benchmarks/bench_loso.py [--data ../shared/data/wesad_e4] [--jobs 1]
        [--methods helo]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import torch

from helo_stream.config import load_pipeline
from helo_stream.datasets.subjects import default_cache_dir, load_subjects
from helo_stream.evaluation.loso import run_loso
from helo_stream.evaluation.report import summarize
from helo_stream.training.fitting import FitSettings

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 15 * 60


def main() -> None:
    """Run the LOSO training once and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", type=Path, default=ROOT / "pipelines" / "wesad_live.yaml")
    parser.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data" / "wesad_e4")
    parser.add_argument("--methods", default="helo", help="comma-separated trained methods")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    pipeline = load_pipeline(args.pipeline, check_checkpoint=False)
    start = time.perf_counter()
    subjects = load_subjects(
        args.data, pipeline, cache_dir=args.cache_dir or default_cache_dir(), jobs=args.jobs
    )
    feature_s = time.perf_counter() - start
    settings = FitSettings.from_pipeline(pipeline)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    start = time.perf_counter()
    result = run_loso(subjects, pipeline, settings=settings, methods=methods, jobs=args.jobs)
    wall = time.perf_counter() - start
    summary = summarize(result)
    out = {
        "benchmark": "loso_training",
        "methods": methods,
        "folds": len(result.per_subject),
        "subjects_found": len(subjects),
        "subjects_excluded": [s.subject for s in subjects if not s.usable],
        "loso_wall_seconds": round(wall, 1),
        "target_seconds": TARGET_S,
        "within_target": wall <= TARGET_S,
        "fit_seconds_per_fold": {
            m: {k: round(v, 1) for k, v in per.items()}
            for m, per in result.timings["fit_seconds_per_fold"].items()
        },
        "feature_seconds": round(feature_s, 1),
        "feature_cache": "hit" if feature_s < 60 else "built",
        "settings": settings.to_dict(),
        "chebyshev_mean": {m: round(summary[m]["chebyshev"]["mean"], 5) for m in result.methods},
        "jobs": args.jobs,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
