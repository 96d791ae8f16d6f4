"""Aligned multi-stream windows on the LSL clock."""

from helo_stream.windows.scheduler import SupportsWindowing, WindowScheduler
from helo_stream.windows.window import Window

__all__ = ["SupportsWindowing", "Window", "WindowScheduler"]
