"""Where the RespiBAN chest-strap recording starts on the Empatica E4 clock.

WESAD counts its protocol (``SX_quest.csv``) from the chest-strap start, while the E4 wrist
files carry their own unix start time. The dataset authors synchronised the two by a double tap
of the E4 hand on the chest; only the wrist side of that gesture is public here, so the chest
start must be found in the E4 accelerometer alone. Two kinds of evidence are used:

* **Double taps** (:func:`find_double_taps`): two sharp spikes of the acceleration's jerk,
  0.2-1 s apart, on a quiet background and without a change of wrist orientation (a tap hits
  and rebounds; a movement turns the wrist). Precise to one sample, but on the real data the
  most distinct double tap is often *not* at the chest start: most subjects tapped once more,
  firmly, 0.5-3 min after the strap was started (S2, whose chest start is known, has a faint
  double tap 1.1 s after the start and a firm one 130 s later). Without the chest
  accelerometer the delay of such a later tap cannot be known, so a tap alone is not trusted.
* **The protocol schedule** (:func:`protocol_fit`): during the conditions subjects sit or stand
  still (meditation above all) and they move between them, so the wrist's movement intensity,
  compared with the schedule shifted by a candidate offset, peaks at the true offset. This is
  coarse (a few seconds) but cannot pick a wrong tap.

:func:`align_e4_to_protocol` combines them: the protocol fit gives the offset, and a distinct
double tap within a few seconds of it refines the offset to the tap (assumed to be at the chest
start, delay 0: S2 shows 1.1 s). Every result says which evidence it rests on and how sure it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: E4 accelerometer counts per g (the files are in 1/64 g).
E4_COUNTS_PER_G = 64.0
#: Chest starts are searched at most this long after the E4 start (the E4 is put on first,
#: typically minutes before the strap is started).
MAX_OFFSET_S = 3600.0
#: A refining tap must lie this close to the protocol-fit offset. The fit's peaks on the twelve
#: WESAD subjects are 4-15 s wide, and its two component measures disagree by up to ~10 s.
TAP_WINDOW_S = 20.0
#: A spike pair counts as a double tap when its weaker spike is this many times the local quiet
#: background (after the orientation penalty).
MIN_TAP_SCORE = 5.0
#: The protocol fit is trusted alone when its peak beats every offset more than a minute away by
#: this fraction of the peak's height above the median.
MIN_PROTOCOL_CONFIDENCE = 0.2


@dataclass(frozen=True)
class TapCandidate:
    """A pair of jerk spikes that may be a double tap (times in seconds after the E4 start)."""

    time_s: float
    gap_s: float
    score: float
    peak_gps: float
    background_gps: float
    turn_g: float


@dataclass(frozen=True)
class ProtocolFit:
    """The offset at which the wrist's movement best matches the protocol schedule."""

    offset_s: float
    confidence: float
    low_s: float
    high_s: float
    offsets_s: np.ndarray = field(repr=False)
    score: np.ndarray = field(repr=False)


@dataclass
class E4Alignment:
    """The chest-strap start on the E4 clock, and how it was found.

    ``offset_s`` is chest start minus E4 start in seconds; ``tap_time_s`` the double tap used
    (seconds after the E4 start), if any; ``confidence`` in 0-1 how distinct the deciding
    evidence is from its runner-up; ``ok`` whether the offset is good enough to place the
    protocol conditions. ``method`` is ``"tap"`` (protocol fit refined by a tap), ``"protocol"``
    (fit alone, ``uncertainty_s`` wide), ``"tap_only"`` (a tap without a schedule) or ``"none"``.
    """

    chest_start_unix: float | None
    offset_s: float | None
    tap_time_s: float | None
    confidence: float
    ok: bool
    reason: str
    method: str = "none"
    uncertainty_s: float | None = None
    e4_start_unix: float | None = None
    protocol_offset_s: float | None = None
    protocol_confidence: float | None = None
    #: The most distinct double tap anywhere in the search range (often a later, firmer tap).
    strongest_tap_s: float | None = None
    candidates: tuple[TapCandidate, ...] = field(default=(), repr=False)


def jerk_gps(acc: np.ndarray, srate: float) -> np.ndarray:
    """Magnitude of the acceleration's first difference, in g/s, aligned to ``acc`` (0 first).

    The first difference removes gravity and slow posture changes and keeps the impacts.
    """
    acc = np.asarray(acc, dtype=np.float64)
    if acc.ndim != 2 or acc.shape[1] != 3:
        raise ValueError(f"acc must be (n, 3) in 1/64 g, got shape {acc.shape}")
    step = np.linalg.norm(np.diff(acc, axis=0), axis=1) * (srate / E4_COUNTS_PER_G)
    return np.concatenate([[0.0], step])


def _window_stat(
    values: np.ndarray, starts: np.ndarray, width: int, q: float, *, batch: int = 16384
) -> np.ndarray:
    """``q``-quantile of ``values[s:s+width]`` for each start (clipped into range).

    Computed in batches of windows so memory stays bounded on hour-long recordings.
    """
    if len(values) < width:
        return np.full(len(starts), np.nan)
    windows = sliding_window_view(values, width)
    idx = np.clip(starts, 0, len(windows) - 1)
    out = np.empty(len(idx))
    for lo in range(0, len(idx), batch):
        out[lo:lo + batch] = np.quantile(windows[idx[lo:lo + batch]], q, axis=1)
    return out


def find_double_taps(
    acc: np.ndarray,
    srate: float,
    *,
    search_s: tuple[float, float] | None = None,
    min_gap_s: float = 0.2,
    max_gap_s: float = 1.0,
    quiet_s: float = 3.0,
    guard_s: float = 0.4,
    min_peak_gps: float = 4.0,
    separation_s: float = 3.0,
) -> list[TapCandidate]:
    """Double-tap candidates in ``acc`` (1/64 g), best first, at most one per ``separation_s``.

    A candidate is a pair of local jerk maxima ``gap`` apart. Its score is the weaker spike over
    the louder of the two quiet stretches before and after it (75th percentile of the jerk over
    ``quiet_s`` outside a ``guard_s`` margin, plus 1 g/s of sensor noise), divided by
    ``1 + turn / 0.25 g`` where ``turn`` is how much the wrist's mean orientation differs before
    and after: a tap leaves the wrist where it was, a gesture does not.
    """
    jerk = jerk_gps(acc, srate)
    n = len(jerk)
    lo_i, hi_i = 0, n
    if search_s is not None:
        lo_i = max(0, int(np.floor(search_s[0] * srate)))
        hi_i = min(n, int(np.ceil(search_s[1] * srate)) + 1)
    inner = jerk[1:-1]
    peaks = np.flatnonzero((inner >= jerk[:-2]) & (inner > jerk[2:]) & (inner >= min_peak_gps)) + 1
    peaks = peaks[(peaks >= lo_i) & (peaks < hi_i)]
    if len(peaks) < 2:
        return []
    min_gap, max_gap = round(min_gap_s * srate), round(max_gap_s * srate)
    max_k = max(1, max_gap)  # peaks are at least one sample apart
    first, second = [], []
    for k in range(1, min(max_k, len(peaks) - 1) + 1):
        a, b = peaks[:-k], peaks[k:]
        keep = ((b - a) >= min_gap) & ((b - a) <= max_gap)
        if not keep.any() and np.all((b - a) > max_gap):
            break
        first.append(a[keep])
        second.append(b[keep])
    a = np.concatenate(first) if first else np.empty(0, int)
    b = np.concatenate(second) if second else np.empty(0, int)
    quiet, guard = round(quiet_s * srate), round(guard_s * srate)
    width = quiet - guard
    valid = (a - quiet >= 0) & (b + quiet < n)
    a, b = a[valid], b[valid]
    if not len(a):
        return []
    pre = _window_stat(jerk, a - quiet, width, 0.75)
    post = _window_stat(jerk, b + guard + 1, width, 0.75)
    background = np.maximum(pre, post)
    peak = np.minimum(jerk[a], jerk[b])
    csum = np.concatenate([np.zeros((1, 3)), np.cumsum(np.asarray(acc, np.float64), axis=0)])
    span = round(1.5 * srate)
    before = (csum[a - guard] - csum[a - span]) / (span - guard)
    after = (csum[b + span] - csum[b + guard]) / (span - guard)
    turn = np.linalg.norm(after - before, axis=1) / E4_COUNTS_PER_G
    score = peak / (background + 1.0) / (1.0 + turn / 0.25)
    order = np.argsort(score)[::-1]
    kept: list[TapCandidate] = []
    sep = separation_s * srate
    for i in order[:2000]:
        if any(abs(a[i] - c.time_s * srate) < sep for c in kept):
            continue
        kept.append(
            TapCandidate(
                time_s=float(a[i] / srate),
                gap_s=float((b[i] - a[i]) / srate),
                score=float(score[i]),
                peak_gps=float(peak[i]),
                background_gps=float(background[i]),
                turn_g=float(turn[i]),
            )
        )
        if len(kept) >= 50:
            break
    return kept


def _distinctness(best: float, runner_up: float | None) -> float:
    if best <= 0:
        return 0.0
    return float(np.clip(1.0 - (runner_up or 0.0) / best, 0.0, 1.0))


def e4_detect_sync_tap(
    acc: np.ndarray,
    srate: float,
    *,
    search_s: tuple[float, float] | None = None,
    e4_start_unix: float | None = None,
) -> E4Alignment:
    """The most distinct double tap in ``search_s``, taken as the chest start (delay 0).

    Use this when no protocol schedule is known. On WESAD the most distinct tap is often a
    later, firmer one (see the module notes), so prefer :func:`align_e4_to_protocol`.
    """
    if search_s is None:
        search_s = (0.0, min(MAX_OFFSET_S, len(acc) / srate))
    cands = find_double_taps(acc, srate, search_s=search_s)
    if not cands or cands[0].score < MIN_TAP_SCORE:
        best = f" (best score {cands[0].score:.1f})" if cands else ""
        return E4Alignment(
            None, None, None, 0.0, False,
            f"no double tap with score >= {MIN_TAP_SCORE} in {search_s[0]:.0f}-{search_s[1]:.0f} "
            f"s after the E4 start{best}",
            e4_start_unix=e4_start_unix, candidates=tuple(cands[:10]),
        )
    best = cands[0]
    conf = _distinctness(best.score, cands[1].score if len(cands) > 1 else None)
    ok = conf >= 0.5
    return E4Alignment(
        chest_start_unix=None if e4_start_unix is None else e4_start_unix + best.time_s,
        offset_s=best.time_s,
        tap_time_s=best.time_s,
        confidence=conf,
        ok=ok,
        reason=(
            f"double tap at {best.time_s:.2f} s (score {best.score:.1f}, gap {best.gap_s:.2f} s)"
            + ("" if ok else "; runner-up too close to trust it")
        ),
        method="tap_only",
        uncertainty_s=1.0 / srate,
        e4_start_unix=e4_start_unix,
        strongest_tap_s=best.time_s,
        candidates=tuple(cands[:10]),
    )


def _movement_intensity(acc: np.ndarray, srate: float, bins_per_s: int) -> np.ndarray:
    """Log mean jerk per ``1/bins_per_s`` s: a robust movement level, quiet ~0, moving > 1."""
    jerk = jerk_gps(acc, srate)
    per = max(1, round(srate / bins_per_s))
    nb = len(jerk) // per
    return np.log(jerk[: nb * per].reshape(nb, per).mean(axis=1) + 0.25)


def protocol_fit(
    acc: np.ndarray,
    srate: float,
    schedule: Sequence[tuple[float, float]],
    *,
    search_s: tuple[float, float],
    bins_per_s: int = 4,
) -> ProtocolFit:
    """Offset of the chest start that best explains the wrist's movement by the schedule.

    ``schedule`` holds ``(start, end)`` of each condition in seconds after the chest start. The
    score of an offset sums four z-normalised contrasts: the mean movement outside minus inside
    the conditions over the whole protocol, and the step of movement across every condition
    boundary (quiet inside, moving outside) seen through 30, 60 and 120 s windows. Several
    scales keep one coincidental burst from deciding. Vectorised with cumulative sums.
    """
    act = _movement_intensity(acc, srate, bins_per_s)
    nb = len(act)
    r = bins_per_s
    starts = np.array([round(s * r) for s, _ in schedule], dtype=np.int64)
    ends = np.array([round(e * r) for _, e in schedule], dtype=np.int64)
    span = int(ends.max())
    lo = max(0, int(np.floor(search_s[0] * r)))
    hi = min(int(np.ceil(search_s[1] * r)), nb - span - 1)
    if hi - lo < 2:
        raise ValueError(
            f"the E4 recording ({nb / r:.0f} s) is too short for a {span / r:.0f} s protocol "
            f"starting {search_s[0]:.0f}-{search_s[1]:.0f} s after the E4 start"
        )
    taus = np.arange(lo, hi + 1)
    csum = np.concatenate([[0.0], np.cumsum(act)])
    inside = np.zeros(len(taus))
    length_in = int((ends - starts).sum())
    for s, e in zip(starts, ends, strict=True):
        inside += csum[taus + e] - csum[taus + s]
    total = csum[taus + span] - csum[taus]
    level = (total - inside) / max(span - length_in, 1) - inside / max(length_in, 1)

    def znorm(x: np.ndarray) -> np.ndarray:
        sd = x.std()
        return (x - np.median(x)) / sd if sd > 0 else np.zeros_like(x)

    score = znorm(level)
    for w_s in (30, 60, 120):
        w = w_s * r
        edge = np.zeros(len(taus))
        for s, e in zip(starts, ends, strict=True):
            for boundary, sign in ((s, 1.0), (e, -1.0)):
                t = np.clip(taus + boundary, w, nb - w)
                edge += sign * ((csum[t] - csum[t - w]) - (csum[t + w] - csum[t])) / w
        score += znorm(edge)
    best = int(np.argmax(score))
    offsets = taus / r
    median = float(np.median(score))
    height = float(score[best]) - median
    far = np.abs(offsets - offsets[best]) > 60.0
    runner = float(score[far].max()) if far.any() else median
    confidence = float(np.clip((score[best] - runner) / height, 0.0, 1.0)) if height > 0 else 0.0
    # Width of the peak: the contiguous stretch within 10 % of its height.
    above = score >= score[best] - 0.1 * height
    below_left = np.flatnonzero(~above[:best])
    left = int(below_left[-1]) + 1 if len(below_left) else 0
    below_right = np.flatnonzero(~above[best:])
    right = best + int(below_right[0]) - 1 if len(below_right) else len(score) - 1
    return ProtocolFit(
        offset_s=float(offsets[best]),
        confidence=confidence,
        low_s=float(offsets[left]),
        high_s=float(offsets[right]),
        offsets_s=offsets,
        score=score,
    )


def align_e4_to_protocol(
    acc: np.ndarray,
    srate: float,
    schedule: Sequence[tuple[float, float]],
    *,
    e4_start_unix: float | None = None,
    search_s: tuple[float, float] | None = None,
    tap_window_s: float = TAP_WINDOW_S,
) -> E4Alignment:
    """Chest-strap start on the E4 clock from the protocol fit, refined by a nearby double tap.

    The search range defaults to what the protocol allows: the chest start is after the E4
    start, at most :data:`MAX_OFFSET_S` later, and early enough for the E4 recording to cover
    the whole schedule.
    """
    duration = len(acc) / srate
    end = max(e for _, e in schedule)
    if search_s is None:
        search_s = (0.0, min(MAX_OFFSET_S, duration - end))
    failed = {"e4_start_unix": e4_start_unix}
    if search_s[1] <= search_s[0]:
        return E4Alignment(
            None, None, None, 0.0, False,
            f"the E4 recording ({duration:.0f} s) does not cover the {end:.0f} s protocol",
            **failed,
        )
    try:
        fit = protocol_fit(acc, srate, schedule, search_s=search_s)
    except ValueError as err:
        return E4Alignment(None, None, None, 0.0, False, str(err), **failed)
    all_taps = find_double_taps(acc, srate, search_s=search_s)
    strongest = all_taps[0].time_s if all_taps and all_taps[0].score >= MIN_TAP_SCORE else None
    near = [
        c for c in all_taps
        if abs(c.time_s - fit.offset_s) <= tap_window_s and c.score >= MIN_TAP_SCORE
    ]
    common = {
        "e4_start_unix": e4_start_unix,
        "protocol_offset_s": fit.offset_s,
        "protocol_confidence": fit.confidence,
        "strongest_tap_s": strongest,
        "candidates": tuple(all_taps[:10]),
    }
    later = ""
    if strongest is not None and strongest - fit.offset_s > tap_window_s:
        later = (
            f"; the most distinct double tap is {strongest - fit.offset_s:.0f} s later "
            f"(a later sync tap whose delay after the chest start is unknown)"
        )
    if near:
        tap = near[0]
        runner_up = max(
            (c.score for c in all_taps if c is not tap and abs(c.time_s - fit.offset_s)
             <= tap_window_s),
            default=None,
        )
        conf = _distinctness(tap.score, runner_up)
        return E4Alignment(
            chest_start_unix=None if e4_start_unix is None else e4_start_unix + tap.time_s,
            offset_s=tap.time_s,
            tap_time_s=tap.time_s,
            confidence=conf,
            ok=True,
            reason=(
                f"double tap at {tap.time_s:.2f} s (score {tap.score:.1f}) "
                f"{tap.time_s - fit.offset_s:+.1f} s from the protocol fit's "
                f"{fit.offset_s:.1f} s; the tap is taken as the chest start" + later
            ),
            method="tap",
            uncertainty_s=1.0,
            **common,
        )
    ok = fit.confidence >= MIN_PROTOCOL_CONFIDENCE
    width = max(fit.offset_s - fit.low_s, fit.high_s - fit.offset_s, 5.0)
    return E4Alignment(
        chest_start_unix=None if e4_start_unix is None else e4_start_unix + fit.offset_s,
        offset_s=fit.offset_s,
        tap_time_s=None,
        confidence=fit.confidence,
        ok=ok,
        reason=(
            f"no distinct double tap within {tap_window_s:.0f} s of the protocol fit; offset from "
            f"the fit alone (peak {fit.low_s:.0f}-{fit.high_s:.0f} s, confidence "
            f"{fit.confidence:.2f}"
            + (")" if ok else f" below {MIN_PROTOCOL_CONFIDENCE}: ambiguous, not used)")
            + later
        ),
        method="protocol",
        uncertainty_s=width,
        **common,
    )
