"""Where the RespiBAN chest-strap recording starts on the E4 clock, and whether to trust it.

WESAD counts its protocol (``SX_quest.csv``) from the chest-strap start, while the E4 wrist
files carry their own unix start time. The dataset authors synchronised the two by a double tap
of the E4 hand on the chest; only the wrist side of that gesture is public here, so the chest
start must be found in the E4 data alone. Two estimates come from the accelerometer:

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
  coarse (a few seconds) but cannot pick a wrong tap. Its ``confidence`` is how far the peak
  stands above the best placement more than :data:`PEAK_SEPARATION_S` away, as a fraction of
  the peak's height above the median.

:func:`align_e4_to_protocol` scores every placement of the schedule, including impossible ones,
and then judges the fit by the following criteria. Each alignment lists the outcome of every
criterion in ``evidence`` and names what decided in ``decided_by`` and ``reason``.

Consistency of a placement (chest start ``o`` s after the E4 start; the E4 recording lasts
``D`` s; the schedule's first START is ``s1`` and its last END ``e`` s after the chest start;
every criterion is applied with the fit's resolution, :data:`FIT_RESOLUTION_S`, as tolerance):

1. *The E4 was started first*: ``o >= 0``. WESAD's subjects put the wristband on and it was
   recording before the chest strap was started and the sync gesture made; a placement whose
   chest start precedes the E4 start contradicts that procedure. (Placements down to
   ``o = -s1`` are scored, so a fit that prefers one is seen, not hidden by the search range.)
2. *The E4 still records at the protocol's last END*: the E4 end after the last END,
   ``t = D - o - e``, is ``>= 0``. A placement that puts a condition past the E4 end is
   impossible: the wrist data of the conditions would not exist. (Placements whose last
   condition runs past the E4 end are scored with the missing movement as no evidence.)
3. *The E4 did not run implausibly long after the protocol*: ``t`` is at most the larger of
   (a) the longest break between two consecutive conditions of this schedule and (b) the time
   the E4 recorded before the first condition (``o + s1``). After every condition WESAD's
   subjects filled in a self-report (readme §III.2); after the last one the session ends and
   the sensors are taken off (protocol: Schmidt et al. 2018 §3.3). A break between two
   conditions holds a self-report *and* the preparation of the next condition (instructions, a
   change of room, the reading tasks), and the time before the first condition holds putting
   the devices on and starting them; taking them off after one self-report takes no longer than
   either. Both bounds come from the subject's own schedule and E4 file, not from a constant.

A placement that fails 1 or 2 is *impossible*, one that fails 3 *implausible*; the others are
*consistent*. The fit's overall maximum decides what happens next:

* *Impossible*: the alignment is rejected. The movement puts the protocol where this recording
  cannot hold it (the E4 stopped early, the strap was started first, or the schedule is not
  this recording's), and whatever is left inside the possible range is only the remainder of a
  misplaced peak: on generated sessions whose E4 stops two minutes before the last END, the
  best possible placement is a wrong one that looks distinct.
* *Implausible*: it is stated as rejected, and the best consistent placement that is a peak of
  its own (the highest score within :data:`PEAK_SEPARATION_S` either side) is taken instead.
  Its confidence is still measured against every possible placement, the implausible maximum
  included: criterion 3 is a plausibility bound, not a certainty, so it may choose between
  peaks but not turn an ambiguous fit into a distinct one. Such a fit therefore needs the
  corroboration of criterion 8 (S11 is the WESAD example).
* *Consistent*: it is the placement, with its confidence against every possible placement
  (impossible ones are no competitors: they cannot be true).

Acceptance of the consistent placement:

4. *Distinct fit*: confidence ``>= MIN_PROTOCOL_CONFIDENCE`` accepts it (refined by a nearby
   tap when there is one, criterion 5). Physiology (7) is reported but cannot overturn it, so
   that a subject whose EDA does not respond is never rejected on EDA alone.
5. *Refining tap* (independent estimate agreeing): a double tap (score
   ``>= MIN_TAP_SCORE``) within :data:`TAP_WINDOW_S` of the fit is taken as the chest start
   (delay 0: S2 shows 1.1 s), uncertainty 1 s.
6. *Sync tap* (independent estimate agreeing): the session's most distinct double tap lies
   between the chest start and the first condition's START. The readme's sync gesture needs
   the chest strap recording, and during the conditions subjects do not tap their chest, so
   the firm sync tap comes after the chest start and before the baseline (on the ten WESAD
   subjects whose alignment does not rest on it, it is 37-172 s after the chest start). It does
   not say where in that window the start is, so it corroborates a placement but does not
   refine it; it is allowed to precede the start by the fit's uncertainty.
7. *Physiology* (optional, needs the EDA or BVP and a schedule with a baseline and a stress
   condition): the median EDA and the heart rate (from the BVP's median beat interval) during
   the stress condition (TSST) exceed those during the baseline. The TSST (Kirschbaum et al.
   1993) is built to provoke an acute stress response, with a rise of heart rate, and of skin
   conductance driven by sympathetic sudomotor activity, relative to the seated, reading
   baseline; WESAD's own analysis separates stress from baseline with the wrist EDA and BVP
   among its features. Both rising agrees, both falling contradicts, a split or a missing
   signal is uninformative; EDA is unusable when both medians are below the E4's EDA range
   (:data:`E4_EDA_FLOOR_US`). Non-responders, poor electrode contact and motion artefacts
   exist, so physiology is never the only evidence: it can only veto an ambiguous fit (8).
8. *Ambiguous fit*: confidence below ``MIN_PROTOCOL_CONFIDENCE`` is accepted only when a tap
   agrees (5 or 6) and physiology does not contradict (7); its uncertainty is then the
   half-width of the stretch of placements scoring within ``MIN_PROTOCOL_CONFIDENCE`` of the
   peak's height (the placements the fit itself cannot tell apart from the peak at the
   acceptance level), wider than a distinct fit's 10 % half-width. (Refined by a tap, it keeps
   the tap's 1 s: the offset is then the tap's, and the tap's agreement is what resolved the
   ambiguity.) Otherwise it is rejected and the subject gets no conditions. Labelling leaves
   windows within ``uncertainty_s`` of a condition boundary unlabelled
   (:func:`helo_stream.datasets.session.label_windows`), so a wider uncertainty costs windows
   whose condition is in doubt rather than mislabelling them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import butter, find_peaks, sosfiltfilt

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
#: The protocol fit is trusted alone when its peak beats every consistent offset more than
#: :data:`PEAK_SEPARATION_S` away by this fraction of the peak's height above the median.
MIN_PROTOCOL_CONFIDENCE = 0.2
#: Placements closer than this to the best belong to its peak, not to a competing one.
PEAK_SEPARATION_S = 60.0
#: The protocol fit does not resolve the offset more finely than this (the floor of its
#: uncertainty); the consistency criteria are applied with it as tolerance.
FIT_RESOLUTION_S = 5.0
#: Lower end of the E4's EDA range (Empatica E4 specification, 0.01-100 µS): below it there is
#: no usable skin contact.
E4_EDA_FLOOR_US = 0.01


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
    """The offset at which the wrist's movement best matches the protocol schedule.

    ``possible`` marks the placements with the chest start at or after the E4 start and the whole
    schedule inside the recording; the scores are normalised over those, and ``confidence``,
    ``low_s`` and ``high_s`` describe the overall maximum ``offset_s`` whether possible or not.
    """

    offset_s: float
    confidence: float
    low_s: float
    high_s: float
    offsets_s: np.ndarray = field(repr=False)
    score: np.ndarray = field(repr=False)
    possible: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True)
class WristSignal:
    """One E4 physiological signal for the physiology check of :func:`align_e4_to_protocol`.

    ``delay_s`` is its first sample's time after the accelerometer's first sample.
    """

    values: np.ndarray = field(repr=False)
    srate: float
    delay_s: float = 0.0


@dataclass
class E4Alignment:
    """The chest-strap start on the E4 clock, how it was found and why it is (not) trusted.

    ``offset_s`` is chest start minus E4 start in seconds; ``tap_time_s`` the double tap used
    (seconds after the E4 start), if any; ``confidence`` in 0-1 how distinct the deciding
    evidence is from its runner-up; ``ok`` whether the offset is good enough to place the
    protocol conditions. ``method`` is ``"tap"`` (protocol fit refined by a tap), ``"protocol"``
    (fit alone, ``uncertainty_s`` wide), ``"tap_only"`` (a tap without a schedule) or ``"none"``.
    ``evidence`` states the outcome of every criterion of the module notes, one line each, and
    ``decided_by`` which of them decided; ``e4_end_after_protocol_s`` is how long the E4 kept
    recording after the protocol's last END at the chosen offset.
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
    evidence: tuple[str, ...] = ()
    decided_by: str = ""
    e4_end_after_protocol_s: float | None = None


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
        out[lo : lo + batch] = np.quantile(windows[idx[lo : lo + batch]], q, axis=1)
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
        return _failed(
            f"no double tap with score >= {MIN_TAP_SCORE} in {search_s[0]:.0f}-{search_s[1]:.0f} "
            f"s after the E4 start{best}",
            ["tap: no distinct double tap"],
            "no double tap",
            e4_start_unix=e4_start_unix,
            candidates=tuple(cands[:10]),
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
        evidence=(
            f"tap: double tap at {best.time_s:.2f} s, distinctness {conf:.2f} against the next",
            f"decision: {'accepted' if ok else 'rejected'}: double tap alone (no schedule)",
        ),
        decided_by="double tap alone" + ("" if ok else ", runner-up too close"),
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
    past_end_s: float = 0.0,
) -> ProtocolFit:
    """Offset of the chest start that best explains the wrist's movement by the schedule.

    ``schedule`` holds ``(start, end)`` of each condition in seconds after the chest start. The
    score of an offset sums four z-normalised contrasts: the mean movement outside minus inside
    the conditions over the whole protocol, and the step of movement across every condition
    boundary (quiet inside, moving outside) seen through 30, 60 and 120 s windows. Several
    scales keep one coincidental burst from deciding. Vectorised with cumulative sums.

    Offsets are scored over ``search_s``, which may reach below 0 (down to the chest start at
    which the first condition starts with the E4 recording) and, by ``past_end_s``, beyond the
    latest offset at which the schedule ends inside the recording; movement after the end counts
    as the recording's median level and boundaries there as no step, i.e. as no evidence. The
    contrasts are normalised over the *possible* offsets only (chest start at or after the E4
    start, schedule inside the recording), so impossible ones are judged on the same scale
    without shifting it; with ``search_s`` inside that range the fit is what it always was.

    Raises
    ------
    ValueError
        The recording is too short for fewer than two possible offsets in ``search_s``.
    """
    act = _movement_intensity(acc, srate, bins_per_s)
    nb = len(act)
    r = bins_per_s
    starts = np.array([round(s * r) for s, _ in schedule], dtype=np.int64)
    ends = np.array([round(e * r) for _, e in schedule], dtype=np.int64)
    span = int(ends.max())
    covered_hi = nb - span - 1  # the latest offset whose schedule ends inside the recording
    lo = max(-int(starts.min()), int(np.floor(search_s[0] * r)))
    hi = min(int(np.ceil(search_s[1] * r)), covered_hi + max(0, round(past_end_s * r)))
    if min(hi, covered_hi) - max(lo, 0) < 2:
        raise ValueError(
            f"the E4 recording ({nb / r:.0f} s) is too short for a {span / r:.0f} s protocol "
            f"starting {search_s[0]:.0f}-{search_s[1]:.0f} s after the E4 start"
        )
    if hi > covered_hi:  # placements past the end: the missing movement is no evidence
        act = np.concatenate([act, np.full(hi - covered_hi, np.median(act))])
    taus = np.arange(lo, hi + 1)
    possible = (taus >= 0) & (taus <= covered_hi)
    csum = np.concatenate([[0.0], np.cumsum(act)])
    inside = np.zeros(len(taus))
    length_in = int((ends - starts).sum())
    for s, e in zip(starts, ends, strict=True):
        inside += csum[taus + e] - csum[taus + s]
    first = np.maximum(taus, 0)  # before the E4 start there is nothing to count
    total = csum[taus + span] - csum[first]
    outside_len = np.maximum(span - length_in - (first - taus), 1)
    level = (total - inside) / outside_len - inside / max(length_in, 1)

    def znorm(x: np.ndarray) -> np.ndarray:
        ref = x[possible]
        sd = ref.std()
        return (x - np.median(ref)) / sd if sd > 0 else np.zeros_like(x)

    score = znorm(level)
    for w_s in (30, 60, 120):
        w = w_s * r
        edge = np.zeros(len(taus))
        for s, e in zip(starts, ends, strict=True):
            for boundary, sign in ((s, 1.0), (e, -1.0)):
                recorded = taus + boundary < nb
                t = np.clip(taus + boundary, w, nb - w)
                step = ((csum[t] - csum[t - w]) - (csum[t + w] - csum[t])) / w
                edge += sign * np.where(recorded, step, 0.0)
        score += znorm(edge)
    offsets = taus / r
    best = int(np.argmax(score))
    median = float(np.median(score[possible]))
    confidence, _ = _confidence(offsets, score, best, median, np.ones(len(score), bool))
    left, right = _peak_extent(score, best, median, 0.1)
    return ProtocolFit(
        offset_s=float(offsets[best]),
        confidence=confidence,
        low_s=float(offsets[left]),
        high_s=float(offsets[right]),
        offsets_s=offsets,
        score=score,
        possible=possible,
    )


def _confidence(
    offsets: np.ndarray, score: np.ndarray, best: int, median: float, allowed: np.ndarray
) -> tuple[float, int | None]:
    """How far ``best`` beats the best ``allowed`` offset more than a peak away (0-1), and it."""
    height = float(score[best]) - median
    far = allowed & (np.abs(offsets - offsets[best]) > PEAK_SEPARATION_S)
    runner = int(np.flatnonzero(far)[np.argmax(score[far])]) if far.any() else None
    runner_score = float(score[runner]) if runner is not None else median
    if height <= 0:
        return 0.0, runner
    return float(np.clip((score[best] - runner_score) / height, 0.0, 1.0)), runner


def _peak_extent(score: np.ndarray, best: int, median: float, fraction: float) -> tuple[int, int]:
    """The contiguous stretch around ``best`` within ``fraction`` of its height (indices)."""
    height = float(score[best]) - median
    above = score >= score[best] - fraction * max(height, 0.0)
    below_left = np.flatnonzero(~above[:best])
    left = int(below_left[-1]) + 1 if len(below_left) else 0
    below_right = np.flatnonzero(~above[best:])
    right = best + int(below_right[0]) - 1 if len(below_right) else len(score) - 1
    return left, right


def _local_maxima(score: np.ndarray, half: int) -> np.ndarray:
    """True where ``score`` is the highest within ``half`` samples either side."""
    pad = np.full(half, -np.inf)
    windows = sliding_window_view(np.concatenate([pad, score, pad]), 2 * half + 1)
    return score >= windows.max(axis=1)


def _longest_break_s(schedule: Sequence[tuple[float, float]]) -> float:
    """The longest time between one condition's END and the next condition's START."""
    gaps = [b[0] - a[1] for a, b in itertools.pairwise(sorted(schedule))]
    return max([0.0, *gaps])


def _segment(
    signal: WristSignal,
    offset_s: float,
    schedule: Sequence[tuple[float, float]],
    conditions: Sequence[str],
    name: str,
) -> list[np.ndarray] | None:
    """The samples of every ``name`` condition placed at ``offset_s``; None if any is missing."""
    parts = []
    values = np.asarray(signal.values, dtype=np.float64).reshape(-1)
    for (start, end), cond in zip(schedule, conditions, strict=True):
        if cond != name:
            continue
        i0 = int(np.ceil((offset_s + start - signal.delay_s) * signal.srate))
        i1 = int(np.floor((offset_s + end - signal.delay_s) * signal.srate))
        if i0 < 0 or i1 > len(values) or i1 <= i0:
            return None
        parts.append(values[i0:i1])
    return parts or None


def _median_eda(parts: list[np.ndarray]) -> float | None:
    values = np.concatenate(parts)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else None


def _median_hr_bpm(parts: list[np.ndarray], srate: float) -> float | None:
    """Heart rate from the BVP: 60 / the median beat interval of the 0.7-3 Hz pulse wave.

    Beats are the pulse wave's maxima at least 1/3 s apart; intervals outside 1/3-1.5 s
    (40-180 bpm) are dropped. The median keeps motion artefacts from deciding.
    """
    if srate <= 6.0:
        return None
    sos = butter(3, (0.7, 3.0), btype="bandpass", fs=srate, output="sos")
    intervals = []
    for part in parts:
        part = part[np.isfinite(part)]
        if len(part) < 10 * srate:
            continue
        wave = sosfiltfilt(sos, part)
        beats, _ = find_peaks(wave, distance=max(1, int(srate / 3)))
        ibi = np.diff(beats) / srate
        intervals.append(ibi[(ibi >= 1 / 3) & (ibi <= 1.5)])
    ibi = np.concatenate(intervals) if intervals else np.empty(0)
    return float(60.0 / np.median(ibi)) if len(ibi) >= 10 else None


def _physiology_check(
    offset_s: float,
    schedule: Sequence[tuple[float, float]],
    conditions: Sequence[str] | None,
    eda: WristSignal | None,
    bvp: WristSignal | None,
) -> tuple[str, str]:
    """Criterion 7: ``("agrees" | "contradicts" | "unavailable", evidence line)``."""
    if conditions is None or (eda is None and bvp is None):
        return "unavailable", "physiology: not checked (no EDA/BVP or no condition names given)"
    if "baseline" not in conditions or "stress" not in conditions:
        return "unavailable", "physiology: not checked (no baseline and stress condition)"
    verdicts, texts = [], []
    for kind, signal in (("EDA", eda), ("HR", bvp)):
        if signal is None:
            continue
        base = _segment(signal, offset_s, schedule, conditions, "baseline")
        stress = _segment(signal, offset_s, schedule, conditions, "stress")
        if base is None or stress is None:
            texts.append(f"{kind} does not cover the conditions")
            continue
        if kind == "EDA":
            b, t = _median_eda(base), _median_eda(stress)
            unit = "µS"
            usable = b is not None and t is not None and max(b, t) >= E4_EDA_FLOOR_US
        else:
            b, t = _median_hr_bpm(base, signal.srate), _median_hr_bpm(stress, signal.srate)
            unit = "bpm"
            usable = b is not None and t is not None
        if not usable or b is None or t is None:
            texts.append(f"{kind} unusable")
            continue
        fmt = ".2f" if kind == "EDA" else ".0f"
        word = "rises" if t > b else "falls" if t < b else "is unchanged"
        texts.append(f"{kind} {word} ({b:{fmt}} {unit} at baseline, {t:{fmt}} {unit} in stress)")
        if t != b:
            verdicts.append(t > b)
    summary = "; ".join(texts)
    if verdicts and all(verdicts):
        return "agrees", f"physiology: {summary}: the rise the TSST provokes, consistent"
    if verdicts and not any(verdicts):
        return "contradicts", f"physiology: {summary}: no rise during the TSST, inconsistent"
    if verdicts:
        return "unavailable", f"physiology: {summary}: the markers disagree, uninformative"
    return "unavailable", f"physiology: {summary}: uninformative"


def _failed(reason: str, evidence: list[str], decided_by: str, **common: Any) -> E4Alignment:
    """A rejected alignment: no offset, the evidence closed by the decision."""
    return E4Alignment(
        None,
        None,
        None,
        0.0,
        False,
        reason,
        evidence=(*evidence, f"decision: rejected: {reason}"),
        decided_by=decided_by,
        **common,
    )


def align_e4_to_protocol(
    acc: np.ndarray,
    srate: float,
    schedule: Sequence[tuple[float, float]],
    *,
    e4_start_unix: float | None = None,
    search_s: tuple[float, float] | None = None,
    tap_window_s: float = TAP_WINDOW_S,
    conditions: Sequence[str] | None = None,
    eda: WristSignal | None = None,
    bvp: WristSignal | None = None,
) -> E4Alignment:
    """Chest-strap start on the E4 clock, judged by the criteria of the module notes.

    Parameters
    ----------
    acc, srate
        The E4 accelerometer (1/64 g) and its rate.
    schedule
        ``(start, end)`` of each condition in seconds after the chest start.
    e4_start_unix
        The E4 start, to report ``chest_start_unix``.
    search_s
        Offsets scored; by default every placement from the chest start at which the first
        condition starts with the E4 recording to the one whose last condition ends a
        condition's length past its end (at most :data:`MAX_OFFSET_S`), so that the fit may
        prefer an impossible placement and be seen to.
    tap_window_s
        How close a refining tap must be to the fit.
    conditions
        Condition name of each schedule entry (``"baseline"``, ``"stress"``, ...), for the
        physiology check.
    eda, bvp
        The E4 EDA (µS) and blood volume pulse, for the physiology check (EDA and heart rate
        during the stress condition against the baseline); without both that check is not made.
    """
    duration = len(acc) / srate
    schedule = [(float(s), float(e)) for s, e in schedule]
    first_start = min(s for s, _ in schedule)
    end = max(e for _, e in schedule)
    last_length = max((e - s for s, e in schedule if e == end), default=0.0)
    tol = FIT_RESOLUTION_S
    longest_break = _longest_break_s(schedule)
    failed = {"e4_start_unix": e4_start_unix}
    evidence: list[str] = []
    if duration < end:
        evidence.append(
            f"E4 end: the E4 recording ({duration:.0f} s) is shorter than the protocol's last "
            f"END ({end:.0f} s after the chest start), so with the chest start after the E4 "
            "start no placement keeps the E4 recording through the protocol: impossible"
        )
        return _failed(
            f"the E4 recording ({duration:.0f} s) does not cover the {end:.0f} s protocol",
            evidence,
            "E4 end (recording shorter than the protocol)",
            **failed,
        )
    if search_s is None:
        search_s = (-first_start, min(MAX_OFFSET_S, duration - end + last_length))
    try:
        past_end = max(0.0, search_s[1] - (duration - end))
        fit = protocol_fit(acc, srate, schedule, search_s=search_s, past_end_s=past_end)
    except ValueError as err:
        evidence.append(f"movement fit: not possible ({err})")
        return _failed(str(err), evidence, "E4 end (recording too short)", **failed)
    offsets, score = fit.offsets_s, fit.score
    possible_fit = fit.possible if fit.possible is not None else np.ones(len(score), bool)
    median = float(np.median(score[possible_fit]))
    tail = duration - end - offsets
    head = offsets + first_start
    max_tail = np.maximum(longest_break, head)
    e4_first = offsets >= -tol
    records_end = tail >= -tol
    plausible_tail = tail <= max_tail + tol
    possible = e4_first & records_end
    consistent = possible & plausible_tail

    def placement(i: int) -> str:
        return f"{offsets[i]:.1f} s (E4 end {tail[i]:.0f} s after the last END)"

    def why_inconsistent(i: int) -> str:
        reasons = []
        if not e4_first[i]:
            reasons.append(
                f"the chest start would be {-offsets[i]:.0f} s before the E4 start, but the E4 "
                "is started first: impossible"
            )
        if not records_end[i]:
            reasons.append(
                f"the protocol's last END would be {-tail[i]:.0f} s after the E4 stopped: "
                "impossible"
            )
        if not plausible_tail[i]:
            reasons.append(
                f"the E4 would run {tail[i]:.0f} s after the protocol's last END, longer than "
                f"the longest break between conditions ({longest_break:.0f} s) and than it "
                f"recorded before the first condition ({head[i]:.0f} s): implausible"
            )
        return "; ".join(reasons)

    top = int(np.argmax(score))
    common: dict[str, Any] = {
        "e4_start_unix": e4_start_unix,
        "protocol_offset_s": fit.offset_s,
        "protocol_confidence": fit.confidence,
    }
    if not consistent[top]:
        evidence.append(
            f"movement fit: its best placement {placement(top)} is rejected: "
            f"{why_inconsistent(top)}"
        )
    if not possible[top]:
        # The movement puts the protocol where this recording cannot hold it (E4 stopped early,
        # chest strap started first, or a schedule that is not this recording's): what is left
        # inside the possible range is not supported by the data, so nothing is placed.
        which = "E4 start" if not e4_first[top] else "E4 end"
        common["e4_end_after_protocol_s"] = float(tail[top])
        return _failed(
            f"the movement fit places the protocol where the E4 recording cannot hold it "
            f"({why_inconsistent(top)})",
            evidence,
            f"{which} (the fit's best placement is impossible)",
            **common,
        )
    step = float(offsets[1] - offsets[0])
    peaks = consistent & _local_maxima(score, round(PEAK_SEPARATION_S / step))
    if not peaks.any():
        return _failed(
            "no placement of the protocol consistent with the E4 recording is a peak of the "
            "movement fit",
            evidence,
            "consistency (no consistent placement)",
            **common,
        )
    best = int(np.flatnonzero(peaks)[np.argmax(score[peaks])])
    confidence, runner = _confidence(offsets, score, best, median, possible)
    common["protocol_offset_s"] = float(offsets[best])
    common["protocol_confidence"] = confidence
    left, right = _peak_extent(score, best, median, 0.1)
    width = max(offsets[best] - offsets[left], offsets[right] - offsets[best], tol)
    if runner is None:
        runner_text = "no runner-up"
    else:
        runner_text = f"runner-up {placement(runner)}" + (
            ", plausible" if consistent[runner] else ", implausible"
        )
    evidence.append(
        f"movement fit: {'best' if best == top else 'best consistent'} placement "
        f"{placement(best)}, peak {offsets[left]:.0f}-{offsets[right]:.0f} s, confidence "
        f"{confidence:.2f} against all possible placements ({runner_text}): "
        + (
            "distinct"
            if confidence >= MIN_PROTOCOL_CONFIDENCE
            else f"ambiguous (below {MIN_PROTOCOL_CONFIDENCE})"
        )
    )
    evidence.append(
        f"E4 start: chest start {offsets[best]:.1f} s after the E4 start: consistent "
        "(the E4 is started first"
        + (f"; within the fit's {tol:.0f} s resolution)" if offsets[best] < 0 else ")")
    )
    evidence.append(
        f"E4 end: the E4 records {tail[best]:.0f} s past the protocol's last END, within "
        f"0-{max_tail[best]:.0f} s (the longer of the longest break, {longest_break:.0f} s, "
        f"and the E4's {head[best]:.0f} s before the first condition): consistent"
    )

    tap_hi = min(duration, offsets[-1] + first_start + tol)
    all_taps = find_double_taps(acc, srate, search_s=(max(0.0, offsets[0]), tap_hi))
    strongest = all_taps[0] if all_taps and all_taps[0].score >= MIN_TAP_SCORE else None
    common.update(
        strongest_tap_s=strongest.time_s if strongest is not None else None,
        candidates=tuple(all_taps[:10]),
        e4_end_after_protocol_s=float(tail[best]),
    )
    fit_offset = float(offsets[best])
    near = [
        c
        for c in all_taps
        if abs(c.time_s - fit_offset) <= tap_window_s and c.score >= MIN_TAP_SCORE
    ]
    if near:
        evidence.append(
            f"refining tap: double tap at {near[0].time_s:.2f} s (score {near[0].score:.1f}), "
            f"{near[0].time_s - fit_offset:+.1f} s from the fit: agrees"
        )
    else:
        evidence.append(f"refining tap: no double tap within {tap_window_s:.0f} s of the fit")
    sync_ok = False
    if strongest is None:
        evidence.append(f"sync tap: no double tap with score >= {MIN_TAP_SCORE}")
    else:
        delay = strongest.time_s - fit_offset
        sync_ok = -width <= delay <= first_start
        evidence.append(
            f"sync tap: the most distinct double tap ({strongest.time_s:.1f} s, score "
            f"{strongest.score:.1f}) is {delay:+.0f} s from the chest start; the first "
            f"condition starts at {first_start:.0f} s: "
            + ("between them, agrees" if sync_ok else "not between them, no support")
        )
    physiology, line = _physiology_check(fit_offset, schedule, conditions, eda, bvp)
    evidence.append(line)

    later = ""
    if strongest is not None and strongest.time_s - fit_offset > tap_window_s:
        later = (
            f"; the most distinct double tap is {strongest.time_s - fit_offset:.0f} s later "
            f"(a later sync tap whose delay after the chest start is unknown)"
        )
    distinct = confidence >= MIN_PROTOCOL_CONFIDENCE
    corroborated = bool(near) or sync_ok
    supports = [
        name for name, ok in (("sync tap", sync_ok), ("physiology", physiology == "agrees")) if ok
    ]
    also = f"; also consistent: {', '.join(supports)}" if supports and distinct else ""
    if distinct and physiology == "contradicts":
        also += "; physiology disagrees, which alone cannot reject a distinct fit"
    if not distinct and not (corroborated and physiology != "contradicts"):
        missing = "physiology contradicts it" if corroborated else "no tap agrees with it"
        reason = (
            f"no distinct double tap within {tap_window_s:.0f} s of the protocol fit; the fit "
            f"(peak {offsets[left]:.0f}-{offsets[right]:.0f} s, confidence {confidence:.2f} "
            f"below {MIN_PROTOCOL_CONFIDENCE}) is ambiguous and {missing}: not used" + later
        )
        return E4Alignment(
            chest_start_unix=None if e4_start_unix is None else e4_start_unix + fit_offset,
            offset_s=fit_offset,
            tap_time_s=None,
            confidence=confidence,
            ok=False,
            reason=reason,
            method="protocol",
            uncertainty_s=width,
            evidence=(*evidence, f"decision: rejected: ambiguous movement fit, {missing}"),
            decided_by=f"ambiguous movement fit, {missing}",
            **common,
        )
    if distinct:
        decided = "distinct movement fit" + (" refined by a tap" if near else "")
    else:
        decided = (
            "ambiguous movement fit corroborated by the "
            + " and ".join(
                n for n, ok in (("refining tap", bool(near)), ("sync tap", sync_ok)) if ok
            )
            + (", physiology " + ("agreeing" if physiology == "agrees" else "not informative"))
        )
    if near:
        tap = near[0]
        runner_up = max(
            (
                c.score
                for c in all_taps
                if c is not tap and abs(c.time_s - fit_offset) <= tap_window_s
            ),
            default=None,
        )
        conf = _distinctness(tap.score, runner_up)
        common["e4_end_after_protocol_s"] = float(duration - end - tap.time_s)
        return E4Alignment(
            chest_start_unix=None if e4_start_unix is None else e4_start_unix + tap.time_s,
            offset_s=tap.time_s,
            tap_time_s=tap.time_s,
            confidence=conf,
            ok=True,
            reason=(
                f"double tap at {tap.time_s:.2f} s (score {tap.score:.1f}) "
                f"{tap.time_s - fit_offset:+.1f} s from the protocol fit's "
                f"{fit_offset:.1f} s; the tap is taken as the chest start ({decided})" + later
            ),
            method="tap",
            uncertainty_s=1.0,
            evidence=(*evidence, f"decision: accepted: {decided}{also}; uncertainty 1 s"),
            decided_by=decided,
            **common,
        )
    widened = ""
    if not distinct:
        # The peak cannot be told apart from its surroundings at the acceptance level.
        low, high = _peak_extent(score, best, median, MIN_PROTOCOL_CONFIDENCE)
        distinct_width = width
        width = max(width, offsets[best] - offsets[low], offsets[high] - offsets[best])
        widened = f" (widened from a distinct fit's {distinct_width:.1f} s)"
    return E4Alignment(
        chest_start_unix=None if e4_start_unix is None else e4_start_unix + fit_offset,
        offset_s=fit_offset,
        tap_time_s=None,
        confidence=confidence,
        ok=True,
        reason=(
            f"no distinct double tap within {tap_window_s:.0f} s of the protocol fit; offset from "
            f"the fit (peak {offsets[left]:.0f}-{offsets[right]:.0f} s, confidence "
            f"{confidence:.2f}, uncertainty {width:.1f} s; {decided})" + later
        ),
        method="protocol",
        uncertainty_s=float(width),
        evidence=(
            *evidence,
            f"decision: accepted: {decided}{also}; uncertainty {width:.1f} s{widened}",
        ),
        decided_by=decided,
        **common,
    )
