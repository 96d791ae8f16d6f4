"""What LSL streams are visible on the network, for ``helo-stream devices`` and error messages."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pylsl

__all__ = ["StreamDescription", "describe_stream", "list_streams"]

_FORMATS: dict[int, str] = {
    pylsl.cf_float32: "float32",
    pylsl.cf_double64: "double64",
    pylsl.cf_string: "string",
    pylsl.cf_int8: "int8",
    pylsl.cf_int16: "int16",
    pylsl.cf_int32: "int32",
    pylsl.cf_int64: "int64",
}


@dataclass(frozen=True)
class StreamDescription:
    """The identifying fields of one visible LSL stream (plain values, JSON friendly)."""

    name: str
    type: str
    source_id: str
    channel_count: int
    nominal_srate: float
    channel_format: str
    hostname: str
    uid: str

    def to_dict(self) -> dict[str, str | int | float]:
        return asdict(self)

    def __str__(self) -> str:
        rate = f"{self.nominal_srate:g} Hz" if self.nominal_srate > 0 else "irregular"
        return (
            f"name={self.name!r} type={self.type!r} source_id={self.source_id!r} "
            f"({self.channel_count} ch, {rate}, {self.channel_format}) on {self.hostname}"
        )


def describe_stream(info: pylsl.StreamInfo) -> StreamDescription:
    """A :class:`StreamDescription` of a resolved ``pylsl.StreamInfo``."""
    return StreamDescription(
        name=info.name(),
        type=info.type(),
        source_id=info.source_id(),
        channel_count=int(info.channel_count()),
        nominal_srate=float(info.nominal_srate()),
        channel_format=_FORMATS.get(info.channel_format(), "undefined"),
        hostname=info.hostname(),
        uid=info.uid(),
    )


def list_streams(*, timeout: float = 2.0) -> list[StreamDescription]:
    """Every stream visible within ``timeout`` seconds, sorted by name, source_id and host.

    LSL discovery answers are collected for the whole ``timeout``. Keep it above ~1 s: liblsl
    sends the unicast query that reaches every outlet of a host about 0.5 s into the call, and
    before that only one outlet per host (the owner of the multicast port) may have answered.
    """
    infos = pylsl.resolve_streams(wait_time=timeout)
    unique = {info.uid(): describe_stream(info) for info in infos}
    return sorted(unique.values(), key=lambda d: (d.name, d.source_id, d.hostname, d.uid))
