"""Device profiles: what a wearable publishes on LSL, so sources and replay agree on it."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Role = Literal["physiological", "behavioral"]
ChannelFormat = Literal["float32", "double64", "int16", "int32", "int8", "string"]
#: The numpy type of each numeric LSL channel format (what a device's samples are on the wire).
CHANNEL_DTYPES: dict[str, type[np.generic]] = {
    "float32": np.float32,
    "double64": np.float64,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelSpec(_Strict):
    """One channel of a stream, as written into the LSL ``desc/channels`` element."""

    label: str = Field(min_length=1)
    unit: str = Field(min_length=1, description="Physical unit, e.g. 'uS', 'degC', '1/64 g'.")
    type: str | None = Field(default=None, description="Channel type; the stream type if unset.")
    valid_range: tuple[float, float] | None = Field(
        default=None,
        description="Plausible [low, high] in the channel's unit; overrides the stream's. Values "
        "outside are flagged 'out_of_range' and ignored, values pinned at a bound 'saturated'.",
    )

    @field_validator("valid_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError(f"valid_range must be [low, high] with low < high, got {value}")
        return value


class StreamSpec(_Strict):
    """One LSL stream of a device.

    The ``source_id`` template may use ``{subject}`` and ``{device}``; it is how one person's
    streams are told apart from another's when several devices of one kind are on the network.
    """

    name: str = Field(min_length=1, description="LSL stream name.")
    type: str = Field(min_length=1, description="LSL content type.")
    source_id: str = Field(
        default="{subject}-{device}-{stream}",
        description="Template for the LSL source_id; fields {subject}, {device}, {stream}.",
    )
    modality: Literal[
        "bvp", "ecg", "eda", "gsr", "resp", "temp", "acc", "emg", "eeg", "ppg", "face", "features"
    ] = Field(
        description="Kind of signal; selects the feature extractor. 'features': the channels "
        "are already features (one row per second, e.g. replayed DMER files), averaged per window."
    )
    role: Role
    nominal_srate: float = Field(gt=0, description="Nominal sampling rate in Hz.")
    channel_format: ChannelFormat = "float32"
    channels: tuple[ChannelSpec, ...] = Field(min_length=1)
    valid_range: tuple[float, float] | None = Field(
        default=None,
        description="Plausible [low, high] of every channel (see ChannelSpec.valid_range).",
    )

    @field_validator("valid_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError(f"valid_range must be [low, high] with low < high, got {value}")
        return value

    @property
    def channel_ranges(self) -> tuple[tuple[float, float] | None, ...]:
        """Each channel's plausible range (its own, else the stream's, else None)."""
        return tuple(ch.valid_range or self.valid_range for ch in self.channels)

    @field_validator("source_id")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        try:
            value.format(subject="s", device="d", stream="x")
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(
                f"template may only use {{subject}}, {{device}} and {{stream}}, got {value!r}"
            ) from err
        return value

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def channel_labels(self) -> tuple[str, ...]:
        return tuple(ch.label for ch in self.channels)

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(ch.unit for ch in self.channels)


class DeviceProfile(_Strict):
    """A device and the LSL streams it publishes, keyed by a short stream key (``bvp``)."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    manufacturer: str
    model: str
    description: str = ""
    streams: dict[str, StreamSpec] = Field(min_length=1)

    @field_validator("streams")
    @classmethod
    def _keys_are_identifiers(cls, value: dict[str, StreamSpec]) -> dict[str, StreamSpec]:
        for key in value:
            if not key.isidentifier() or key.lower() != key:
                raise ValueError(f"stream key {key!r} must be a lower-case identifier")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> DeviceProfile:
        names = [s.name for s in self.streams.values()]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"LSL stream names must be unique within a device, repeated: {dupes}")
        return self

    def source_id(self, stream_key: str, *, subject: str, device: str | None = None) -> str:
        """The LSL source_id of ``stream_key`` for ``subject`` (``device`` defaults to the name)."""
        spec = self.streams[stream_key]
        return spec.source_id.format(subject=subject, device=device or self.name, stream=stream_key)
