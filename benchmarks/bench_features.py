"""Per-window feature cost: the incremental engine next to the per-window (batch) engine.

Both engines are fed the same streams the way the live pipeline feeds them: each stream is
filtered by the pipeline's causal filter and handed over in 0.25 s chunks, and after every chunk
the features of the 60 s window ending there are computed (a 0.25 s step). The two engines run
interleaved, window by window, so they see the same load. Per modality and for the whole
profile, the cost of one step (taking in the chunk + computing the window) is reported.

Profiles: the E4 (``pipelines/wesad_live.yaml``) on real WESAD S2 wrist data, and
RespiBAN+E4 (``pipelines/wesad_chest_live.yaml``): there is no real chest data here, so its
chest streams are NeuroKit2 simulations at 700 Hz (ECG at 70 bpm, RESP at 15 breaths/min, EDA
with SCRs, EMG bursts, a slow temperature drift, 3-axis ACC noise), its wrist streams the same
real S2 data.

Usage: ``python benchmarks/bench_features.py [--minutes 6] [--out FILE.json]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_latency import emit_result, loadavg, machine  # this folder is not a package

from helo_stream.config import PIPELINES_DIR, load_pipeline
from helo_stream.pipeline.features import WindowFeaturizer
from helo_stream.pipeline.offline import recording_streams
from helo_stream.recordings import load_recording

REPO = Path(__file__).resolve().parents[1]
WESAD = REPO.parent / "shared" / "data" / "wesad_e4"
STEP_S = 0.25
START_S = 1500.0  # well into the S2 session (baseline condition, sensors settled)

Streams = dict[str, tuple[np.ndarray, np.ndarray]]


def wrist_streams(pipeline_name: str, minutes: float) -> Streams:
    """Real S2 E4 streams (recording clock) mapped to a pipeline's wrist modalities."""
    pipeline = load_pipeline(PIPELINES_DIR / "wesad_live.yaml", check_checkpoint=False)
    streams = recording_streams(load_recording(WESAD / "S2"), pipeline)
    t_start = min(ts[0] for _, ts in streams.values()) + START_S
    out = {}
    for name, (x, ts) in streams.items():
        keep = (ts >= t_start) & (ts < t_start + 60.0 * minutes)
        out[name] = (np.asarray(x, dtype=np.float64)[keep], ts[keep])
    if pipeline_name == "wesad_chest_live.yaml":
        out = {f"wrist_{k}" if k in ("eda", "temp", "acc") else k: v for k, v in out.items()}
    return out


def chest_streams(minutes: float, t0: float) -> Streams:
    """Simulated RespiBAN streams at 700 Hz (NeuroKit2), one per chest modality."""
    import neurokit2 as nk

    fs = 700
    duration = int(60 * minutes)
    n = duration * fs
    ts = t0 + np.arange(n) / fs
    rng = np.random.default_rng(0)
    ecg = nk.ecg_simulate(duration=duration, sampling_rate=fs, heart_rate=70, random_state=1)
    resp = nk.rsp_simulate(duration=duration, sampling_rate=fs, respiratory_rate=15, random_state=1)
    eda = nk.eda_simulate(
        duration=duration, sampling_rate=fs, scr_number=duration // 20, random_state=1
    )
    emg = nk.emg_simulate(duration=duration, sampling_rate=fs, burst_number=duration // 10)
    temp = 34.0 + 0.3 * np.sin(np.arange(n) / (fs * 120.0)) + 0.01 * rng.standard_normal(n)
    acc = np.array([0.0, 0.0, 1.0]) + 0.02 * rng.standard_normal((n, 3))
    column = {"ecg": ecg, "chest_eda": eda + 2.0, "emg": emg, "resp": resp, "chest_temp": temp}
    out: Streams = {name: (x[:n, None], ts) for name, x in column.items()}
    out["chest_acc"] = (acc, ts)
    return out


def profile_streams(pipeline_name: str, minutes: float) -> Streams:
    streams = wrist_streams(pipeline_name, minutes)
    if pipeline_name == "wesad_chest_live.yaml":
        t0 = min(ts[0] for _, ts in streams.values())
        streams.update(chest_streams(minutes, t0))
    return streams


def _summary(ms: np.ndarray) -> dict[str, float]:
    return {
        "mean_ms": round(float(ms.mean()), 4),
        "median_ms": round(float(np.median(ms)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "max_ms": round(float(ms.max()), 4),
    }


def bench_profile(pipeline_name: str, minutes: float) -> dict:
    """Step cost of each engine, per modality and in total, on one profile's streams."""
    pipeline = load_pipeline(PIPELINES_DIR / pipeline_name, check_checkpoint=False)
    streams = profile_streams(pipeline_name, minutes)
    engines = ("incremental", "batch")
    featurizers = {e: WindowFeaturizer.from_pipeline(pipeline, engine=e) for e in engines}
    trackers = {e: f.new_tracker() for e, f in featurizers.items()}
    length = featurizers["incremental"].length_s
    filtered: Streams = {}
    for name, stage in featurizers["incremental"].stages.items():
        x, ts = streams[name]
        filt = stage.make_filter()
        filtered[name] = (filt.process(x) if filt is not None else x, ts)
    t_first = max(ts[0] for _, ts in filtered.values())
    t_last = min(ts[-1] for _, ts in filtered.values())
    ends = np.arange(t_first + STEP_S, t_last, STEP_S)
    bounds = {name: np.searchsorted(ts, ends, side="right") for name, (_, ts) in filtered.items()}
    costs = {e: {name: [] for name in filtered} for e in engines}
    fed = dict.fromkeys(filtered, 0)
    for k, end in enumerate(ends):
        timed = end >= t_first + length
        for name, (x, ts) in filtered.items():
            lo, hi = fed[name], int(bounds[name][k])
            fed[name] = hi
            for engine in engines:
                tracker = trackers[engine]
                start = time.perf_counter()
                if hi > lo:
                    tracker.ingest(name, x[lo:hi], ts[lo:hi])
                if timed:
                    tracker.extractors[name].compute(end - length, end)
                elapsed = time.perf_counter() - start
                if timed:
                    costs[engine][name].append(elapsed * 1e3)
    result: dict = {"pipeline": pipeline_name, "windows": len(costs["incremental"]["bvp"])}
    for engine in engines:
        per = {name: np.asarray(v) for name, v in costs[engine].items()}
        total = np.sum(np.stack(list(per.values())), axis=0)
        result[engine] = {
            "per_modality": {name: _summary(v) for name, v in per.items()},
            "whole_profile": _summary(total),
        }
    inc = result["incremental"]["whole_profile"]["mean_ms"]
    bat = result["batch"]["whole_profile"]["mean_ms"]
    result["speedup_mean"] = round(bat / inc, 1)
    result["per_modality_speedup_mean"] = {
        name: round(
            result["batch"]["per_modality"][name]["mean_ms"]
            / result["incremental"]["per_modality"][name]["mean_ms"],
            1,
        )
        for name in filtered
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=6.0, help="stream length per profile")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    if not WESAD.is_dir():
        raise SystemExit(f"real WESAD E4 data not found at {WESAD}")
    info = {**machine(), "loadavg_start": loadavg()}
    result = {
        "benchmark": "features",
        "step_s": STEP_S,
        "window_s": 60.0,
        "what": "ms per 0.25 s step and modality: take in the chunk + compute the 60 s window",
        "machine": info,
        "profiles": {
            "e4": bench_profile("wesad_live.yaml", args.minutes),
            "respiban_e4": bench_profile("wesad_chest_live.yaml", args.minutes),
        },
    }
    info["loadavg_end"] = loadavg()
    emit_result(result, args.out)


if __name__ == "__main__":
    main()
