"""Generate the shipped demo recording: a short simulated session in the WESAD E4 folder layout.

The demo lets anyone run ``helo-stream replay recordings/demo/S0`` (and the pipeline behind
it) without WESAD. It is simulated, not recorded: BVP with NeuroKit2's ``ppg_simulate``, EDA
with ``eda_simulate``, skin temperature as a slow random walk, and the accelerometer as gravity
turned by slow posture changes plus sensor noise and movement bursts. Four protocol conditions
(baseline, stress, amusement, meditation) differ the way WESAD's do: faster heart rate, more
skin conductance responses and more movement under stress, a slow heart rate and stillness in
meditation. The E4 hand double-taps the chest strap at the chest start, so the E4/chest
alignment finds it like on the real data.

Deterministic (fixed seeds). Run from the repository root::

    python scripts/make_demo_recording.py            # writes recordings/demo/S0/
    python scripts/make_demo_recording.py --out DIR  # somewhere else
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import neurokit2 as nk
import numpy as np

SUBJECT = "S0"
SEED = 20240601
E4_START_UNIX = 1717228800  # 2024-06-01 08:00:00 UTC
#: The chest strap is started (and tapped) this long after the E4 start.
CHEST_START_S = 30.0
#: The E4 keeps recording this long after the last condition.
TAIL_S = 10.0
ACC_HZ, BVP_HZ, EDA_HZ, TEMP_HZ = 32, 64, 4, 4


@dataclass(frozen=True)
class Phase:
    """A stretch of the session, in seconds after the chest start."""

    name: str  # an ORDER name (Base, TSST, Fun, Medi 1) or "transition"
    start: float
    end: float
    heart_rate: float  # bpm
    scr_per_min: float  # skin conductance responses per minute
    tonic_us: float  # skin conductance level at the end of the phase
    movement: float  # 0 still .. 1 walking about
    temp_drift: float  # degC over the phase


#: The protocol (seconds after the chest start), with transitions (questionnaires, walking
#: between rooms) between the conditions.
PHASES: tuple[Phase, ...] = (
    Phase("transition", -CHEST_START_S, 20.0, 76, 2.0, 1.6, 0.5, 0.0),
    Phase("Base", 20.0, 100.0, 68, 1.0, 1.5, 0.08, 0.05),
    Phase("transition", 100.0, 125.0, 78, 2.0, 1.8, 0.8, 0.0),
    Phase("TSST", 125.0, 195.0, 96, 8.0, 3.4, 0.3, -0.35),
    Phase("transition", 195.0, 220.0, 88, 4.0, 3.0, 0.8, 0.0),
    Phase("Fun", 220.0, 270.0, 79, 3.0, 2.5, 0.12, 0.1),
    Phase("transition", 270.0, 290.0, 74, 2.0, 2.3, 0.7, 0.0),
    Phase("Medi 1", 290.0, 340.0, 61, 0.5, 1.7, 0.02, 0.15),
    Phase("transition", 340.0, 340.0 + TAIL_S, 66, 1.0, 1.7, 0.5, 0.0),
)

#: Made-up but plausible self-reports (1-5) after each condition, in the WESAD item order:
#: Active, Distressed, Interested, Inspired, Annoyed, Strong, Guilty, Scared, Hostile, Excited,
#: Proud, Irritable, Enthusiastic, Ashamed, Alert, Nervous, Determined, Attentive, Jittery,
#: Afraid, Stressed, Frustrated, Happy, (Angry, Irritated: after TSST only), Sad.
PANAS: dict[str, list[int]] = {
    "Base": [2, 1, 3, 2, 1, 2, 1, 1, 1, 2, 2, 1, 2, 1, 3, 1, 2, 3, 1, 1, 1, 1, 3, 1],
    "TSST": [4, 4, 3, 2, 3, 2, 1, 3, 2, 2, 1, 3, 2, 2, 5, 4, 3, 4, 4, 3, 4, 3, 1, 2, 3, 1],
    "Fun": [3, 1, 4, 3, 1, 3, 1, 1, 1, 4, 2, 1, 4, 1, 4, 1, 2, 3, 1, 1, 1, 1, 5, 1],
    "Medi 1": [1, 1, 2, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 2, 1, 1, 1, 1, 3, 1],
}


def _crossfade_concat(pieces: list[np.ndarray], fade: int) -> np.ndarray:
    """Join pieces that overlap by ``fade`` samples with a linear crossfade (no steps)."""
    out = pieces[0]
    ramp = np.linspace(0.0, 1.0, fade)
    for piece in pieces[1:]:
        joint = out[-fade:] * (1 - ramp) + piece[:fade] * ramp
        out = np.concatenate([out[:-fade], joint, piece[fade:]])
    return out


def _phase_samples(rate: int) -> list[int]:
    return [round((p.end - p.start) * rate) for p in PHASES]


def simulate_bvp(rng: np.random.Generator) -> np.ndarray:
    """PPG at 64 Hz, heart rate per phase, scaled to the E4's BVP range (about +-100)."""
    fade = BVP_HZ
    pieces = []
    for phase, n in zip(PHASES, _phase_samples(BVP_HZ), strict=True):
        ppg = nk.ppg_simulate(
            duration=int(np.ceil((n + fade) / BVP_HZ)) + 1,
            sampling_rate=BVP_HZ,
            heart_rate=phase.heart_rate,
            motion_amplitude=0.05 + 0.3 * phase.movement,
            random_state=int(rng.integers(2**31)),
        )[: n + fade]
        pieces.append(ppg)
    ppg = _crossfade_concat(pieces, fade)[: sum(_phase_samples(BVP_HZ))]
    return (ppg - np.median(ppg)) * 80.0


def simulate_eda(rng: np.random.Generator) -> np.ndarray:
    """EDA in uS at 4 Hz: a tonic level moving between phases plus simulated SCRs."""
    sim_hz = 16
    fade = 4 * sim_hz  # SCR tails differ between pieces: blend them over 4 s
    pieces = []
    for phase, n in zip(PHASES, _phase_samples(sim_hz), strict=True):
        minutes = (phase.end - phase.start) / 60
        eda = nk.eda_simulate(
            length=n + fade,
            sampling_rate=sim_hz,
            scr_number=max(0, round(phase.scr_per_min * minutes)),
            noise=0.002,
            drift=0.0,
            random_state=int(rng.integers(2**31)),
        )[: n + fade]
        pieces.append((eda - eda.min()) * 0.6)
    phasic = _crossfade_concat(pieces, fade)[: sum(_phase_samples(sim_hz))]
    ends = np.cumsum(_phase_samples(sim_hz))
    tonic = np.interp(
        np.arange(len(phasic)),
        np.concatenate([[0], ends - 1]),
        [PHASES[0].tonic_us] + [p.tonic_us for p in PHASES],
    )
    eda = tonic + phasic
    step = sim_hz // EDA_HZ
    return eda[: len(eda) // step * step].reshape(-1, step).mean(axis=1)


def simulate_temp(rng: np.random.Generator) -> np.ndarray:
    """Wrist skin temperature (degC, 4 Hz): a slow random walk plus each phase's drift."""
    pieces = []
    for phase, n in zip(PHASES, _phase_samples(TEMP_HZ), strict=True):
        pieces.append(np.full(n, phase.temp_drift / max(n, 1)))
    drift = np.cumsum(np.concatenate(pieces))
    walk = np.cumsum(rng.normal(0.0, 0.004, len(drift)))
    kernel = np.ones(8) / 8
    return 33.1 + drift + np.convolve(walk, kernel, mode="same")


def simulate_acc(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """ACC in 1/64 g at 32 Hz and the time (s after the E4 start) of the sync double tap.

    Gravity (64 counts) seen through a wrist orientation that wanders more the more the
    subject moves, occasional movement bursts, sensor noise, and the double tap: two one-sample
    impacts 0.4 s apart on a wrist held still for three seconds either side.
    """
    sizes = _phase_samples(ACC_HZ)
    n = sum(sizes)
    movement = np.concatenate([np.full(k, p.movement) for p, k in zip(PHASES, sizes, strict=True)])
    smooth = np.ones(ACC_HZ) / ACC_HZ
    movement = np.convolve(movement, smooth, mode="same")
    tap_i = round(CHEST_START_S * ACC_HZ)
    quiet = slice(tap_i - 3 * ACC_HZ, tap_i + 4 * ACC_HZ)
    movement[quiet] = 0.0
    # orientation: slowly varying angles whose speed follows the movement level
    steps = rng.normal(0.0, 1.0, (n, 2)) * (0.002 + 0.05 * movement[:, None])
    angles = np.cumsum(steps, axis=0)
    angles = np.stack([np.convolve(a, np.ones(16) / 16, mode="same") for a in angles.T], axis=1)
    pitch, roll = 0.6 + angles[:, 0], -0.4 + angles[:, 1]
    gravity = 64.0 * np.stack(
        [np.sin(pitch), -np.sin(roll) * np.cos(pitch), np.cos(roll) * np.cos(pitch)], axis=1
    )
    # movement bursts: short band-limited shakes, more frequent when moving
    bursts = np.zeros((n, 3))
    rate_per_s = 0.02 + 0.5 * movement
    starts = np.flatnonzero(rng.random(n) < rate_per_s / ACC_HZ)
    for s in starts:
        length = int(rng.integers(ACC_HZ // 2, 2 * ACC_HZ))
        seg = slice(s, min(n, s + length))
        k = seg.stop - seg.start
        envelope = np.hanning(k)[:, None]
        shake = np.cumsum(rng.normal(0.0, 6.0, (k, 3)), axis=0)
        bursts[seg] += (shake - shake.mean(axis=0)) * envelope * movement[s]
    bursts[quiet] = 0.0
    acc = gravity + bursts + rng.normal(0.0, 0.45, (n, 3))
    # the double tap: an impact (+ rebound) on the chest, twice, 0.4 s apart
    for t in (tap_i, tap_i + round(0.4 * ACC_HZ)):
        acc[t] += [-30.0, 18.0, 70.0]
        acc[t + 1] += [12.0, -8.0, -28.0]
    return np.round(acc), tap_i / ACC_HZ


def _minsec(seconds: float) -> str:
    """Seconds -> WESAD's minutes.seconds, trailing zeros dropped like the real files."""
    minutes, secs = divmod(round(seconds), 60)
    text = f"{minutes}.{secs:02d}".rstrip("0").rstrip(".")
    return text


def _write_e4(path: Path, values: np.ndarray, rate: int, fmt: str, header_fmt: str) -> None:
    """An E4 export file: start time and rate per column, then one sample per line."""
    body = values.reshape(len(values), -1)
    columns = body.shape[1]
    with path.open("w", encoding="ascii", newline="\n") as fh:
        fh.write(", ".join([header_fmt % E4_START_UNIX] * columns) + "\n")
        fh.write(", ".join([f"{rate:.6f}"] * columns) + "\n")
        np.savetxt(fh, body, fmt=fmt, delimiter=",")


def _quest_text() -> str:
    conditions = [p for p in PHASES if p.name != "transition"]
    width = 27

    def row(*fields: str) -> str:
        cells = list(fields) + [""] * (width - len(fields))
        return ";".join(cells)

    lines = [
        row("# Subj", SUBJECT),
        row("# ORDER", *[p.name for p in conditions]),
        row("# START", *[_minsec(p.start) for p in conditions]),
        row("# END", *[_minsec(p.end) for p in conditions]),
        row(),
    ]
    lines += [row("# PANAS", *map(str, PANAS[p.name])) for p in conditions]
    return "\n".join(lines) + "\n"


README = f"""### Simulated subject ###
This folder is NOT a real recording. It was generated by scripts/make_demo_recording.py
(seed {SEED}) with NeuroKit2's simulators so that helo-stream can be tried without WESAD.

Layout and formats follow WESAD's SX_E4_Data (Empatica E4 export) and SX_quest.csv.
E4 start: unix {E4_START_UNIX}; chest-strap start (double tap): {CHEST_START_S:.0f} s later.
Protocol (minutes.seconds from the chest start): see S0_quest.csv; the PANAS answers are
made up.
"""


def generate(out_dir: Path) -> dict[str, Path]:
    """Write the demo subject folder ``out_dir/S0`` and return the files written."""
    rng = np.random.default_rng(SEED)
    folder = out_dir / SUBJECT
    data_dir = folder / f"{SUBJECT}_E4_Data"
    data_dir.mkdir(parents=True, exist_ok=True)
    acc, _tap = simulate_acc(rng)
    files = {
        "ACC": data_dir / "ACC.csv",
        "BVP": data_dir / "BVP.csv",
        "EDA": data_dir / "EDA.csv",
        "TEMP": data_dir / "TEMP.csv",
        "quest": folder / f"{SUBJECT}_quest.csv",
        "readme": folder / f"{SUBJECT}_readme.txt",
    }
    _write_e4(files["ACC"], acc.astype(int), ACC_HZ, "%d", "%.6f")
    _write_e4(files["BVP"], simulate_bvp(rng), BVP_HZ, "%.2f", "%.2f")
    _write_e4(files["EDA"], simulate_eda(rng), EDA_HZ, "%.6f", "%.6f")
    _write_e4(files["TEMP"], simulate_temp(rng), TEMP_HZ, "%.2f", "%.6f")
    files["quest"].write_text(_quest_text(), encoding="ascii")
    files["readme"].write_text(README, encoding="ascii")
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(__file__).resolve().parents[1] / "recordings" / "demo"
    parser.add_argument("--out", type=Path, default=default, help=f"default: {default}")
    args = parser.parse_args()
    files = generate(args.out)
    total = sum(p.stat().st_size for p in files.values())
    for p in files.values():
        print(f"{p.stat().st_size:>9,d}  {p}")
    print(f"{total:>9,d}  bytes in all")


if __name__ == "__main__":
    main()
