"""Find the LSL streams a pipeline needs, and explain precisely when they are not there.

A stream matches a modality when its LSL ``name`` and ``type`` equal the device profile's; when
the pipeline names a ``subject``, its ``source_id`` must also equal the profile's template
filled in for that subject. Without a subject, more than one candidate is an error: silently
picking one person's wristband out of several is worse than asking.
"""

from __future__ import annotations

import math
import re
import string
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import pylsl

from helo_stream.config import DeviceProfile, Pipeline
from helo_stream.config.loader import ResolvedModality
from helo_stream.sources.discovery import StreamDescription, describe_stream, list_streams

__all__ = [
    "AmbiguousStreamsError",
    "ExpectedStream",
    "StreamMismatchError",
    "StreamResolutionError",
    "StreamsNotFoundError",
    "expected_streams",
    "resolve_pipeline_streams",
    "select_modality_inputs",
    "subject_from_source_id",
    "visible_modality_inputs",
]

#: Longest single resolver call; the loop re-checks what it has between calls. liblsl sends its
#: unicast query wave (the one that reaches every outlet on a host, not only the one that owns
#: the shared multicast port) about 0.5 s into a call, so a round must be clearly longer.
_ROUND_S = 1.0
#: Shortest round, so that a round that returns at once cannot make the loop spin.
_MIN_ROUND_S = 0.05
#: A ``minimum`` no resolver call reaches, so the call lasts its whole timeout.
_NO_EARLY_RETURN = 1_000_000
#: How long the error path listens for *every* stream to show what was visible.
_VISIBLE_WAIT_S = 1.0


@dataclass(frozen=True)
class ExpectedStream:
    """What one modality expects to find on the network."""

    modality: str
    device: str
    stream_key: str
    name: str
    type: str
    source_id: str | None
    """Exact source_id when the pipeline names a subject, else None (any subject)."""
    source_id_template: str
    """The profile's template with device and stream filled in, e.g. ``{subject}-e4-bvp``."""
    n_channels: int
    nominal_srate: float
    channel_format: str
    required: bool

    def matches(self, info: pylsl.StreamInfo) -> bool:
        if info.name() != self.name or info.type() != self.type:
            return False
        return self.source_id is None or info.source_id() == self.source_id

    def describe(self) -> str:
        sid = (
            repr(self.source_id)
            if self.source_id is not None
            else f"any subject, template {self.source_id_template!r}"
        )
        return (
            f"modality {self.modality!r} (device {self.device!r}, stream {self.stream_key!r}): "
            f"name={self.name!r} type={self.type!r} source_id={sid}"
        )


class StreamResolutionError(RuntimeError):
    """The pipeline's streams could not be matched unambiguously."""


class StreamsNotFoundError(StreamResolutionError):
    """Required streams did not appear within the timeout.

    Attributes
    ----------
    missing : list of ExpectedStream
    visible : list of StreamDescription
        Every stream seen on the network when giving up.
    """

    def __init__(
        self,
        missing: list[ExpectedStream],
        visible: list[StreamDescription],
        *,
        timeout: float,
    ) -> None:
        self.missing = list(missing)
        self.visible = list(visible)
        self.timeout = timeout
        lines = [f"{len(self.missing)} required LSL stream(s) not found within {timeout:g} s:"]
        lines += [f"  - {exp.describe()}" for exp in self.missing]
        if self.visible:
            lines.append(f"visible LSL streams ({len(self.visible)}):")
            lines += [f"  - {d}" for d in self.visible]
        else:
            lines.append("no LSL streams are visible at all.")
        lines.append(
            "Start the device or `helo-stream replay`, check that it publishes these names and "
            "source_ids (a different subject? set `subject` in the pipeline), and that LSL can "
            "reach it (same network, lsl_api.cfg)."
        )
        super().__init__("\n".join(lines))


class StreamMismatchError(StreamResolutionError):
    """A matched stream's structure (channels, rate, format) differs from its device profile."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        body = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"LSL stream(s) do not match their device profile:\n{body}\n"
            "Fix the profile in devices/ or the publishing application."
        )


class AmbiguousStreamsError(StreamResolutionError):
    """Several streams match a modality, or the matches belong to different subjects."""


def select_modality_inputs(pipeline: Pipeline, *, available: Iterable[str]) -> Pipeline:
    """``pipeline`` with each modality fed by the stream that ``available`` offers.

    A modality may be fed by its device's raw stream (features computed here) or by its
    ``features_stream`` (the same features computed elsewhere, one row per second: a replayed
    DMER file). Which one must be known before the pipeline's stages are built, because the
    stream's rate and channels decide the filter and the extractor; so the choice is made from
    what a recording holds (``--replay``, the dataset readers) rather than while resolving.

    Parameters
    ----------
    pipeline
        The loaded pipeline; returned unchanged when every raw stream is available.
    available
        Stream keys ``"<profile>.<stream>"`` present (the keys of ``Recording.streams``).

    Returns
    -------
    Pipeline
        A copy whose modalities lacking their raw stream but having their ``features_stream``
        read that stream instead, without the raw stream's filter (the features are computed).
    """
    present = set(available)
    modalities: dict[str, ResolvedModality] = {}
    for name, mod in pipeline.modalities.items():
        alt_key = mod.config.features_stream
        raw = f"{mod.profile.name}.{mod.stream_key}"
        if alt_key is None or raw in present or f"{mod.profile.name}.{alt_key}" not in present:
            modalities[name] = mod
            continue
        config = mod.config.model_copy(update={"stream": alt_key, "filter": None})
        modalities[name] = replace(
            mod, stream_key=alt_key, stream=mod.profile.streams[alt_key], config=config
        )
    if all(modalities[n] is m for n, m in pipeline.modalities.items()):
        return pipeline
    return replace(pipeline, modalities=modalities)


def visible_modality_inputs(
    pipeline: Pipeline, *, subjects: Sequence[str | None], timeout: float
) -> set[str]:
    """Which raw and features streams of ``pipeline``'s modalities are on the network now.

    A live run has no recording to tell it whether a modality's device publishes signals or
    someone replays its features (``helo-stream replay SUBJECT.mat`` in another terminal), so
    it looks. Listening stops as soon as every modality with a ``features_stream`` has one of
    its two streams visible, or after ``timeout`` seconds (a run started before its devices).

    Parameters
    ----------
    pipeline
        The loaded pipeline.
    subjects
        Subject filters of the run; ``None`` accepts any subject's streams.
    timeout
        Longest wait in seconds.

    Returns
    -------
    set of str
        ``"<profile>.<stream>"`` keys (as :func:`select_modality_inputs` takes) of the visible
        raw and features streams of the modalities that declare a ``features_stream``.
    """
    wanted: list[tuple[str, ...]] = []  # per modality: its candidate keys
    specs: dict[str, tuple[DeviceProfile, str]] = {}
    for mod in pipeline.modalities.values():
        alt_key = mod.config.features_stream
        if alt_key is None:
            continue
        keys = tuple(f"{mod.profile.name}.{k}" for k in dict.fromkeys((mod.config.stream, alt_key)))
        wanted.append(keys)
        for key, stream_key in zip(keys, dict.fromkeys((mod.config.stream, alt_key)), strict=True):
            specs[key] = (mod.profile, stream_key)
    if not wanted:
        return set()

    def matches(info: pylsl.StreamInfo, key: str) -> bool:
        profile, stream_key = specs[key]
        spec = profile.streams[stream_key]
        if info.name() != spec.name or info.type() != spec.type:
            return False
        return any(
            subject is None or info.source_id() == profile.source_id(stream_key, subject=subject)
            for subject in subjects
        )

    deadline = time.monotonic() + timeout
    visible: set[str] = set()
    while True:
        # One full round each time: liblsl's unicast wave reaches every outlet of a host only
        # about 0.5 s into a call (see list_streams).
        wait = min(max(deadline - time.monotonic(), _MIN_ROUND_S), _ROUND_S)
        for info in pylsl.resolve_streams(wait_time=wait):
            visible.update(key for key in specs if matches(info, key))
        if all(visible.intersection(keys) for keys in wanted) or time.monotonic() >= deadline:
            return visible


def _partial_template(profile: DeviceProfile, stream_key: str) -> str:
    spec = profile.streams[stream_key]
    return spec.source_id.format(subject="{subject}", device=profile.name, stream=stream_key)


def expected_streams(pipeline: Pipeline) -> list[ExpectedStream]:
    """One :class:`ExpectedStream` per modality of ``pipeline``, in pipeline order."""
    subject = pipeline.config.subject
    out: list[ExpectedStream] = []
    for name, mod in pipeline.modalities.items():
        spec = mod.stream
        out.append(
            ExpectedStream(
                modality=name,
                device=mod.device,
                stream_key=mod.stream_key,
                name=spec.name,
                type=spec.type,
                source_id=(
                    None
                    if subject is None
                    else mod.profile.source_id(mod.stream_key, subject=subject)
                ),
                source_id_template=_partial_template(mod.profile, mod.stream_key),
                n_channels=spec.n_channels,
                nominal_srate=spec.nominal_srate,
                channel_format=spec.channel_format,
                required=not pipeline.config.devices[mod.device].optional,
            )
        )
    return out


def subject_from_source_id(
    source_id: str, *, profile: DeviceProfile, stream_key: str, device: str | None = None
) -> str | None:
    """The subject a ``source_id`` was made for, read back through the profile's template.

    Returns None when the template has no ``{subject}`` field or ``source_id`` does not fit it.
    ``device`` defaults to the profile name, as in :meth:`DeviceProfile.source_id`.
    """
    template = profile.streams[stream_key].source_id
    pattern = ""
    has_subject = False
    for literal, field, _spec, _conv in string.Formatter().parse(template):
        pattern += re.escape(literal)
        if field is None:
            continue
        if field == "subject":
            pattern += "(?P=subject)" if has_subject else "(?P<subject>.+?)"
            has_subject = True
        elif field == "device":
            pattern += re.escape(device or profile.name)
        elif field == "stream":
            pattern += re.escape(stream_key)
    if not has_subject:
        return None
    match = re.fullmatch(pattern, source_id)
    return match.group("subject") if match else None


def _xpath_literal(value: str) -> str:
    """``value`` as an XPath 1.0 string literal (which has no escapes)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    parts = value.split("'")
    return "concat(" + ', "\'", '.join(f"'{p}'" for p in parts) + ")"


def _predicate(expected: Iterable[ExpectedStream]) -> str:
    terms = []
    for exp in expected:
        term = f"name={_xpath_literal(exp.name)} and type={_xpath_literal(exp.type)}"
        if exp.source_id is not None:
            term += f" and source_id={_xpath_literal(exp.source_id)}"
        terms.append(f"({term})")
    return " or ".join(dict.fromkeys(terms))


def _candidates(
    expected: list[ExpectedStream], seen: dict[str, pylsl.StreamInfo]
) -> dict[str, list[pylsl.StreamInfo]]:
    return {exp.modality: [i for i in seen.values() if exp.matches(i)] for exp in expected}


def _check_unambiguous(
    pipeline: Pipeline,
    expected: list[ExpectedStream],
    candidates: dict[str, list[pylsl.StreamInfo]],
) -> None:
    for exp in expected:
        found = candidates[exp.modality]
        if len(found) < 2:
            continue
        listed = "\n".join(f"  - {describe_stream(i)} uid={i.uid()}" for i in found)
        if exp.source_id is not None:
            raise AmbiguousStreamsError(
                f"{len(found)} LSL streams share the source_id {exp.source_id!r} expected for "
                f"modality {exp.modality!r}; stop the duplicate publisher:\n{listed}"
            )
        raise AmbiguousStreamsError(
            f"{len(found)} LSL streams match modality {exp.modality!r} "
            f"(name={exp.name!r} type={exp.type!r}), probably several subjects; set `subject` "
            f"in the pipeline (or pass --subject) to choose one:\n{listed}"
        )
    if pipeline.config.subject is None:
        subjects: dict[str, str] = {}
        for name, found in candidates.items():
            if not found:
                continue
            mod = pipeline.modalities[name]
            sub = subject_from_source_id(
                found[0].source_id(), profile=mod.profile, stream_key=mod.stream_key
            )
            if sub is not None:
                subjects[name] = sub
        if len(set(subjects.values())) > 1:
            raise AmbiguousStreamsError(
                "the streams found belong to different subjects "
                f"({', '.join(f'{m}: {s!r}' for m, s in subjects.items())}); set `subject` in "
                "the pipeline (or pass --subject) to choose one"
            )


def _check_structure(
    expected: list[ExpectedStream], chosen: dict[str, pylsl.StreamInfo]
) -> list[str]:
    problems: list[str] = []
    for exp in expected:
        info = chosen.get(exp.modality)
        if info is None:
            continue
        where = f"modality {exp.modality!r}: stream {info.name()!r} ({info.source_id()!r})"
        if info.channel_count() != exp.n_channels:
            problems.append(
                f"{where} has {info.channel_count()} channel(s), the profile of device "
                f"{exp.device!r} declares {exp.n_channels}"
            )
        rate = info.nominal_srate()
        if not math.isclose(rate, exp.nominal_srate, rel_tol=1e-6, abs_tol=1e-9):
            problems.append(
                f"{where} has a nominal rate of {rate:g} Hz, the profile of device "
                f"{exp.device!r} declares {exp.nominal_srate:g} Hz"
            )
        fmt = describe_stream(info).channel_format
        if (fmt == "string") != (exp.channel_format == "string"):
            problems.append(
                f"{where} has channel format {fmt!r}, the profile declares {exp.channel_format!r}"
            )
    return problems


def resolve_pipeline_streams(
    pipeline: Pipeline, *, timeout: float | None = None
) -> dict[str, pylsl.StreamInfo]:
    """Resolve the stream of every modality of ``pipeline``.

    Waits until every required stream (of a device not marked ``optional``) is visible or
    ``timeout`` seconds (default: the pipeline's ``resolve_timeout_s``) have passed, asking the
    network in rounds of at most 1 s. With a ``subject`` a round ends as soon as every expected
    stream answered, so with all streams present this returns after a fraction of a second; an
    absent optional device costs one full round. Without a subject every round is listened to
    in full (about 1 s) so that all subjects' candidates are seen before choosing. Optional
    streams seen by then are included.

    Returns
    -------
    dict
        Modality name -> ``pylsl.StreamInfo``, in pipeline order.

    Raises
    ------
    StreamsNotFoundError
        A required stream did not appear; the message lists what was expected and visible.
    AmbiguousStreamsError
        Several streams match one modality, or matches come from different subjects.
    StreamMismatchError
        A matched stream's channel count, nominal rate or format differs from the profile.
    """
    timeout = pipeline.config.resolve_timeout_s if timeout is None else float(timeout)
    expected = expected_streams(pipeline)
    predicate = _predicate(expected)
    # With a subject, source_ids are exact and a round may end as soon as every stream answered.
    # Without one, other subjects' streams would satisfy any count early, so every round listens
    # its full length to see all candidates before judging ambiguity.
    minimum = len(expected) if pipeline.config.subject is not None else _NO_EARLY_RETURN
    deadline = time.monotonic() + timeout
    seen: dict[str, pylsl.StreamInfo] = {}
    while True:
        round_start = time.monotonic()
        wait = min(max(deadline - round_start, 0.0), _ROUND_S)
        for info in pylsl.resolve_bypred(predicate, minimum=minimum, timeout=wait):
            seen.setdefault(info.uid(), info)
        candidates = _candidates(expected, seen)
        _check_unambiguous(pipeline, expected, candidates)
        if all(candidates[e.modality] for e in expected if e.required):
            break
        now = time.monotonic()
        if now >= deadline:
            break
        if now - round_start < _MIN_ROUND_S:
            time.sleep(min(_MIN_ROUND_S - (now - round_start), deadline - now))

    chosen = {e.modality: candidates[e.modality][0] for e in expected if candidates[e.modality]}
    missing = [e for e in expected if e.required and e.modality not in chosen]
    if missing:
        raise StreamsNotFoundError(missing, list_streams(timeout=_VISIBLE_WAIT_S), timeout=timeout)
    problems = _check_structure(expected, chosen)
    if problems:
        raise StreamMismatchError(problems)
    return chosen
