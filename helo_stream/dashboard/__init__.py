"""A live web dashboard for ``helo-stream`` messages (``helo-stream dashboard``).

ZeroMQ subscribers feed a :class:`~helo_stream.dashboard.hub.Hub` that keeps, per pipeline and
subject, the newest message, a short history, the message rate and the latency; a Starlette app
pushes throttled updates to every browser over a WebSocket. The page and its charts are plain
files in ``static/`` (no CDN), so the dashboard works offline.
"""

from helo_stream.dashboard.hub import Hub

__all__ = ["Hub"]
