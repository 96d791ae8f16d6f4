"""Recorded sessions in memory: the common shape every reader produces and replay consumes.

Every reader (WESAD E4 folder, WESAD ``.pkl``, XDF) returns a :class:`Recording` whose streams
carry their samples with timestamps on one recording clock, so the replay engine and the
training datasets never need to know which file format a session came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from helo_stream.config import DEVICES_DIR, DeviceProfile, load_device_profile

if TYPE_CHECKING:
    from helo_stream.recordings.e4_sync import E4Alignment

#: The 24 self-report items of WESAD (20 PANAS items plus the four the WESAD authors added), in
#: the order they are stored in ``SX_quest.csv`` once Angry/Irritated (stress only) are dropped.
LABELS_WESAD: tuple[str, ...] = (
    "active",
    "distressed",
    "interested",
    "inspired",
    "annoyed",
    "strong",
    "guilty",
    "scared",
    "hostile",
    "excited",
    "proud",
    "irritable",
    "enthusiastic",
    "ashamed",
    "alert",
    "nervous",
    "determined",
    "attentive",
    "jittery",
    "afraid",
    "stressed",
    "frustrated",
    "happy",
    "sad",
)

#: Protocol conditions a recording can be labelled with (WESAD label ids 1-4).
CONDITIONS: tuple[str, ...] = ("baseline", "stress", "amusement", "meditation")

RecordingFormat = Literal["wesad_e4", "wesad_pkl", "xdf", "dmer"]


class RecordingError(ValueError):
    """A recording cannot be read: missing, truncated or inconsistent.

    Raised for every *expected* problem with a file so that callers (the CLI above all) can
    report one clear line instead of a numpy or pickle traceback.

    Parameters
    ----------
    message : str
        What is wrong, in words a user can act on.
    path : str or Path, optional
        The offending file or folder; prefixed to the message when given.
    """

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.problem = message
        super().__init__(f"{path}: {message}" if path is not None else message)


class RecordingWarning(UserWarning):
    """Something in a recording was skipped or is suspicious, but the rest is usable."""


@dataclass
class RecordedStream:
    """One recorded stream, with what is needed to publish it again on LSL.

    ``data`` is ``(n, n_channels)`` float64 for numeric streams and an object array of ``str``
    for marker streams; ``timestamps`` are float64 seconds on the recording clock.
    """

    key: str
    device: str | None
    name: str
    type: str
    source_id: str
    nominal_srate: float
    channel_format: str
    channel_labels: tuple[str, ...]
    units: tuple[str, ...]
    data: np.ndarray
    timestamps: np.ndarray
    #: Metadata a reader found beyond the fields above (e.g. an XDF stream's manufacturer).
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.data.ndim != 2:
            raise ValueError(f"stream {self.key!r}: data must be 2-D, got shape {self.data.shape}")
        if self.timestamps.ndim != 1 or len(self.timestamps) != len(self.data):
            raise ValueError(
                f"stream {self.key!r}: {len(self.data)} samples but timestamps of shape "
                f"{self.timestamps.shape}"
            )
        if len(self.channel_labels) != self.data.shape[1] or len(self.units) != self.data.shape[1]:
            raise ValueError(
                f"stream {self.key!r}: {self.data.shape[1]} channels but "
                f"{len(self.channel_labels)} labels and {len(self.units)} units"
            )

    @property
    def n_samples(self) -> int:
        return len(self.timestamps)

    @property
    def n_channels(self) -> int:
        return int(self.data.shape[1])

    @property
    def is_marker(self) -> bool:
        return self.channel_format == "string"

    @property
    def start(self) -> float:
        """Timestamp of the first sample (NaN for an empty stream)."""
        return float(self.timestamps[0]) if self.n_samples else float("nan")

    @property
    def end(self) -> float:
        """End of the stream: the last timestamp plus one sample period for regular streams."""
        if not self.n_samples:
            return float("nan")
        period = 1.0 / self.nominal_srate if self.nominal_srate > 0 else 0.0
        return float(self.timestamps[-1]) + period

    @property
    def duration_s(self) -> float:
        """Covered time: ``n / rate`` for regular streams, first to last sample otherwise."""
        if not self.n_samples:
            return 0.0
        if self.nominal_srate > 0:
            return self.n_samples / self.nominal_srate
        return float(self.timestamps[-1] - self.timestamps[0])


@dataclass
class ConditionInterval:
    """One protocol condition on the recording clock, with the self-report given after it."""

    condition: str
    start: float
    end: float
    ratings: dict[str, int] | None = None

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass
class Recording:
    """A recorded session: its streams, protocol conditions and (for E4 folders) alignment."""

    subject: str
    path: Path
    format: RecordingFormat
    streams: dict[str, RecordedStream]
    conditions: list[ConditionInterval] = field(default_factory=list)
    alignment: E4Alignment | None = None

    @property
    def start(self) -> float:
        """Earliest sample of any stream (recording clock)."""
        starts = [s.start for s in self.streams.values() if s.n_samples]
        return min(starts) if starts else 0.0

    @property
    def end(self) -> float:
        """End of the latest stream (recording clock)."""
        ends = [s.end for s in self.streams.values() if s.n_samples]
        return max(ends) if ends else 0.0

    @property
    def duration_s(self) -> float:
        return self.end - self.start

    def stream(self, device: str, key: str) -> RecordedStream:
        """The stream ``<device>.<key>`` (e.g. ``("empatica_e4", "bvp")``)."""
        name = f"{device}.{key}"
        try:
            return self.streams[name]
        except KeyError:
            raise KeyError(
                f"{self.path}: no stream {name!r}; it has {sorted(self.streams)}"
            ) from None


@cache
def device_profile(name: str) -> DeviceProfile:
    """The device profile ``devices/<name>.yaml``, loaded once per process."""
    return load_device_profile(DEVICES_DIR / f"{name}.yaml")


def profile_stream(
    device: str,
    key: str,
    *,
    subject: str,
    data: np.ndarray,
    timestamps: np.ndarray,
    path: Path,
) -> RecordedStream:
    """A :class:`RecordedStream` described by the device profile, checked against it.

    Raises :class:`RecordingError` when the recorded channel count does not match the profile,
    because replaying it would then publish something the profile does not describe.
    """
    profile = device_profile(device)
    spec = profile.streams[key]
    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[1] != spec.n_channels:
        raise RecordingError(
            f"{device}.{key}: expected {spec.n_channels} channel(s) as in the {device} profile, "
            f"got data of shape {data.shape}",
            path=path,
        )
    return RecordedStream(
        key=key,
        device=device,
        name=spec.name,
        type=spec.type,
        source_id=profile.source_id(key, subject=subject),
        nominal_srate=float(spec.nominal_srate),
        channel_format=spec.channel_format,
        channel_labels=spec.channel_labels,
        units=spec.units,
        data=data,
        timestamps=np.asarray(timestamps, dtype=np.float64),
    )


def regular_timestamps(n: int, rate: float, start: float = 0.0) -> np.ndarray:
    """``start + i / rate``: computed from the index, so no rounding error accumulates."""
    return start + np.arange(n, dtype=np.float64) / float(rate)
