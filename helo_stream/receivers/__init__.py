"""Receivers: the subscribing side, what dashboards and experiment software run.

A pipeline publishes ``helo-stream/emotion/1`` messages through :mod:`helo_stream.sinks`; the
code here consumes them: :class:`ZmqSubscriber` decodes the ZeroMQ messages (and counts missed
ones), :mod:`~helo_stream.receivers.terminal_view` draws them as bars for ``helo-stream listen
--pretty``, and :mod:`~helo_stream.receivers.markers_inlet` reads the LSL protocol markers
recorded beside them.
"""

from helo_stream.receivers.zmq_subscriber import ZmqSubscriber

__all__ = ["ZmqSubscriber"]
