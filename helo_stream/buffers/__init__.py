"""Buffers: fixed-size sample storage between the LSL sources and the windows."""

from helo_stream.buffers.ring_buffer import RingBuffer

__all__ = ["RingBuffer"]
