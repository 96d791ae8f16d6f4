"""XDF files (LabRecorder): every stream with its recorded metadata, on the recorder's clock.

Read with :func:`pyxdf.load_xdf` without dejittering, so replay reproduces the recorded
timestamps (irregular arrival included), with pyxdf's clock synchronisation and clock-reset
handling left at their defaults so that streams from several hosts share one clock. A stream
whose name and type match a device profile stream (e.g. ``E4_BVP``/``PPG``) is keyed
``"<device>.<key>"`` like the WESAD readers; others are keyed by their XDF name. A
``HeLo_Protocol`` marker stream (as :mod:`helo_stream.replay` publishes) is turned back into
condition intervals.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from helo_stream.config import DEVICES_DIR
from helo_stream.recordings.base import (
    CONDITIONS,
    ConditionInterval,
    RecordedStream,
    Recording,
    RecordingError,
    RecordingWarning,
    device_profile,
)

PROTOCOL_STREAM = "HeLo_Protocol"


def _first(info: dict[str, Any], key: str, default: str = "") -> str:
    value = info.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    return default if value is None else str(value)


def _channels(info: dict[str, Any], n: int) -> tuple[tuple[str, ...], tuple[str, ...], dict]:
    """Channel labels and units from ``desc/channels``; ``ch0..`` and ``""`` when absent."""
    desc = info.get("desc")
    desc = desc[0] if isinstance(desc, list) and desc else None
    extra: dict[str, Any] = {}
    labels = [f"ch{i}" for i in range(n)]
    units = [""] * n
    if isinstance(desc, dict):
        for key in ("manufacturer", "model"):
            if desc.get(key):
                extra[key] = str(desc[key][0])
        try:
            channels = desc["channels"][0]["channel"]
        except (KeyError, IndexError, TypeError):
            channels = []
        if len(channels) == n:
            for i, ch in enumerate(channels):
                labels[i] = str((ch.get("label") or [labels[i]])[0] or labels[i])
                units[i] = str((ch.get("unit") or [""])[0] or "")
    return tuple(labels), tuple(units), extra


def _profile_match(name: str, stream_type: str) -> tuple[str, str] | None:
    """``(device, key)`` of the profile stream with this LSL name and type, if any."""
    for yaml_file in sorted(DEVICES_DIR.glob("*.yaml")):
        profile = device_profile(yaml_file.stem)
        for key, spec in profile.streams.items():
            if spec.name == name and spec.type == stream_type:
                return profile.name, key
    return None


def _conditions(marker: RecordedStream) -> list[ConditionInterval]:
    """Pairs of ``<condition>`` / ``end:<condition>`` markers as intervals."""
    open_at: dict[str, float] = {}
    intervals = []
    for value, t in zip(marker.data[:, 0], marker.timestamps, strict=True):
        text = str(value)
        if text in CONDITIONS:
            open_at[text] = float(t)
        elif text.startswith("end:") and text[4:] in open_at:
            intervals.append(ConditionInterval(text[4:], open_at.pop(text[4:]), float(t)))
    return sorted(intervals, key=lambda c: c.start)


def load_xdf(path: str | Path, *, subject: str | None = None) -> Recording:
    """Read an XDF file; empty streams are skipped with a :class:`RecordingWarning`.

    Raises
    ------
    RecordingError
        The file cannot be parsed, or it holds no stream with samples.
    """
    import pyxdf  # imported here: only XDF users pay for it

    path = Path(path)
    if not path.is_file():
        raise RecordingError("file not found", path=path)
    pyxdf_log = logging.getLogger("pyxdf.pyxdf")
    previous = pyxdf_log.level
    pyxdf_log.setLevel(logging.ERROR)  # per-segment chatter is not the user's concern
    try:
        raw_streams, _header = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    except Exception as err:  # pyxdf raises bare Exception/struct/XML errors on bad files
        raise RecordingError(
            f"not a readable XDF file: {type(err).__name__}: {err}", path=path
        ) from None
    finally:
        pyxdf_log.setLevel(previous)
    streams: dict[str, RecordedStream] = {}
    for raw in raw_streams:
        info = raw["info"]
        name = _first(info, "name", "unnamed")
        stream_type = _first(info, "type")
        fmt = _first(info, "channel_format", "float32")
        n_channels = int(_first(info, "channel_count", "1"))
        timestamps = np.asarray(raw["time_stamps"], dtype=np.float64)
        if not len(timestamps):
            warnings.warn(
                f"{path}: stream {name!r} has no samples; skipped", RecordingWarning, stacklevel=2
            )
            continue
        series = raw["time_series"]
        if fmt == "string":
            data = np.empty((len(series), n_channels), dtype=object)
            data[:] = [[str(v) for v in sample] for sample in series]
        else:
            data = np.asarray(series, dtype=np.float64).reshape(len(timestamps), n_channels)
        if np.any(np.diff(timestamps) < 0):
            warnings.warn(
                f"{path}: stream {name!r} has timestamps that go back in time (an unhandled "
                "clock reset?); replay will refuse it",
                RecordingWarning,
                stacklevel=2,
            )
        labels, units, extra = _channels(info, n_channels)
        extra["stream_id"] = raw["info"].get("stream_id")
        extra["clock_offsets"] = len(raw.get("clock_times") or [])
        match = _profile_match(name, stream_type)
        device, key = match if match else (None, name)
        stream = RecordedStream(
            key=key,
            device=device,
            name=name,
            type=stream_type,
            source_id=_first(info, "source_id"),
            nominal_srate=float(_first(info, "nominal_srate", "0")),
            channel_format=fmt,
            channel_labels=labels,
            units=units,
            data=data,
            timestamps=timestamps,
            extra=extra,
        )
        dict_key = f"{device}.{key}" if device else name
        if dict_key in streams:
            dict_key = f"{dict_key}#{extra['stream_id']}"
        streams[dict_key] = stream
    if not streams:
        raise RecordingError("no stream with samples in this XDF file", path=path)
    conditions: list[ConditionInterval] = []
    protocol = streams.get(PROTOCOL_STREAM)
    if protocol is not None and protocol.is_marker:
        conditions = _conditions(protocol)
    return Recording(
        subject=subject or path.stem,
        path=path,
        format="xdf",
        streams=streams,
        conditions=conditions,
    )
