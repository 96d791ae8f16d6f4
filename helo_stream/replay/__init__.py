"""Replay recorded sessions as fake LSL devices, so everything can be developed offline."""

from helo_stream.replay.player import PROTOCOL_STREAM, PushLog, RecordingPlayer

__all__ = ["PROTOCOL_STREAM", "PushLog", "RecordingPlayer"]
