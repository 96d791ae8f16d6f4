"""The LSL description of a device-profile stream, as a real device would publish it."""

from __future__ import annotations

import pylsl

from helo_stream.config.device import DeviceProfile


def profile_stream_info(
    profile: DeviceProfile, stream_key: str, *, subject: str, device: str | None = None
) -> pylsl.StreamInfo:
    """``pylsl.StreamInfo`` for ``profile.streams[stream_key]``: name, type, rate, format,
    source_id for ``subject``, and ``desc`` with manufacturer, model and channels (label, unit,
    type), so inlets and resolution see exactly what the profile promises."""
    spec = profile.streams[stream_key]
    info = pylsl.StreamInfo(
        spec.name,
        spec.type,
        spec.n_channels,
        float(spec.nominal_srate),
        spec.channel_format,
        profile.source_id(stream_key, subject=subject, device=device),
    )
    desc = info.desc()
    desc.append_child_value("manufacturer", profile.manufacturer)
    desc.append_child_value("model", profile.model)
    channels = desc.append_child("channels")
    for ch in spec.channels:
        node = channels.append_child("channel")
        node.append_child_value("label", ch.label)
        node.append_child_value("unit", ch.unit)
        node.append_child_value("type", ch.type or spec.type)
    return info
