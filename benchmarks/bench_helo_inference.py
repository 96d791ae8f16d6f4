"""Single-window inference latency of HeLo next to the late-fusion MLP baseline (JSON on stdout).

One window (batch 1) of the WESAD wrist modality set (bvp 6, eda 5, temp 3 features;
acc 7 behavioural; 24 labels), one torch thread, eval mode, ``torch.inference_mode()``. The two
models run interleaved, window by window, so that both see the same load on a shared machine.
Also timed: ``Predictor.predict`` of a saved HeLo checkpoint, which is what the live pipeline
calls (NumPy in, float64 probabilities out), the same for the shipped checkpoint
(``checkpoints/helo_wesad_e4.pt``, an ensemble of HeLo networks with the condition read-out;
its own feature counts), and one tiny torch op (``x + 1``) as a yardstick of the machine's
per-op overhead, which dominates at this size. Target: HeLo median <= 2 ms.

Usage: ``python benchmarks/bench_helo_inference.py [--runs 1000] [--ot-method sinkhorn]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from helo_stream.models.checkpoint import load_checkpoint, save_checkpoint
from helo_stream.models.helo import HeLo, HeLoConfig, ModalitySpec
from helo_stream.models.mlp import LateFusionMLP, MLPConfig
from helo_stream.models.normalization import FeatureNormalizer

TARGET_MS = 2.0
WRIST = (
    ModalitySpec("bvp", "physiological", 6),
    ModalitySpec("eda", "physiological", 5),
    ModalitySpec("temp", "physiological", 3),
    ModalitySpec("acc", "behavioral", 7),
)
N_LABELS = 24


def _summary(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {
        "median_ms": round(float(np.median(ms)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "mean_ms": round(float(ms.mean()), 4),
        "min_ms": round(float(ms.min()), 4),
    }


def _interleaved(calls: dict[str, Callable[[], object]], *, runs: int, warmup: int) -> dict:
    times: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(warmup + runs):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            elapsed = time.perf_counter() - start
            if i >= warmup:
                times[name].append(elapsed)
    return {name: _summary(values) for name, values in times.items()}


def main() -> None:
    """Build both models, time them and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="timed windows (>= 500)")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--ot-method", choices=("sinkhorn", "gromov"), default="sinkhorn")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.runs < 500:
        parser.error("--runs must be >= 500")
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    helo = HeLo(HeLoConfig(modalities=WRIST, n_labels=N_LABELS, ot_method=args.ot_method)).eval()
    mlp = LateFusionMLP(MLPConfig(modalities=WRIST, n_labels=N_LABELS)).eval()
    rng = np.random.default_rng(args.seed)
    window = {m.name: rng.standard_normal(m.n_features).astype(np.float32) for m in WRIST}
    batch = {name: torch.from_numpy(x)[None] for name, x in window.items()}

    with tempfile.TemporaryDirectory() as tmp:
        normalizer = FeatureNormalizer(
            population_mean={m.name: np.zeros(m.n_features) for m in WRIST},
            population_std={m.name: np.ones(m.n_features) for m in WRIST},
        )
        path = Path(tmp) / "helo.pt"
        save_checkpoint(
            path,
            model=helo,
            model_name="helo",
            model_config=helo.config.to_dict(),
            labels=[f"label_{i}" for i in range(N_LABELS)],
            feature_names={m.name: [f"f{j}" for j in range(m.n_features)] for m in WRIST},
            normalizer=normalizer,
            metadata={"purpose": "benchmark"},
        )
        predictor = load_checkpoint(path)
    shipped_path = Path(__file__).resolve().parents[1] / "checkpoints" / "helo_wesad_e4.pt"
    shipped = load_checkpoint(shipped_path) if shipped_path.is_file() else None
    shipped_window = (
        {}
        if shipped is None
        else {
            name: rng.standard_normal(len(names)).astype(np.float32)
            for name, names in shipped.feature_names.items()
        }
    )

    def run_helo() -> object:
        with torch.inference_mode():
            return helo(batch)

    def run_mlp() -> object:
        with torch.inference_mode():
            return mlp(batch)

    tiny = torch.zeros(1, 32)

    def one_op() -> object:
        with torch.inference_mode():
            return tiny + 1.0

    results = _interleaved(
        {
            "helo": run_helo,
            "mlp": run_mlp,
            "helo_predict": lambda: predictor.predict(window),
            **(
                {"shipped_checkpoint_predict": lambda: shipped.predict(shipped_window)}
                if shipped is not None
                else {}
            ),
            "reference_single_add": one_op,
        },
        runs=args.runs,
        warmup=args.warmup,
    )
    for name, model in (("helo", helo), ("mlp", mlp)):
        results[name]["parameters"] = sum(p.numel() for p in model.parameters())
    if shipped is not None:
        results["shipped_checkpoint_predict"]["model"] = type(shipped.model).__name__
        results["shipped_checkpoint_predict"]["members"] = getattr(
            shipped.model.config, "members", 1
        )
    report = {
        "benchmark": "single-window inference, batch 1, eval, inference_mode",
        "modalities": {m.name: m.n_features for m in WRIST},
        "n_labels": N_LABELS,
        "ot_method": args.ot_method,
        "runs": args.runs,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "target_ms": TARGET_MS,
        "helo_meets_target": results["helo"]["median_ms"] <= TARGET_MS,
        **results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
