"""``helo-stream dashboard``: a live web page of every pipeline and subject publishing.

Subscribes to one or more ZeroMQ publishers and serves a page on ``--host:--port`` that the
browser keeps updated over a WebSocket (and reconnects by itself when the server comes back).
"""

from __future__ import annotations

import click


@click.command("dashboard")
@click.option(
    "--connect",
    "addresses",
    multiple=True,
    default=("tcp://127.0.0.1:5556",),
    show_default=True,
    help="ZeroMQ publisher to subscribe to; repeat it for several pipelines.",
)
@click.option(
    "--topic", default="helo/emotion", show_default=True, help="Topic (prefix) to subscribe to."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to serve on.")
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=8050,
    show_default=True,
    help="HTTP port (0 picks a free one and prints it).",
)
@click.option(
    "--offline-after",
    "offline_after_s",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Show a subject offline (its modalities missing) after this many silent seconds.",
)
@click.option(
    "--history",
    "history_s",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    help="Seconds of history in the stacked-area chart.",
)
@click.option(
    "--max-rate",
    "flush_hz",
    type=click.FloatRange(min=0.5, max=60),
    default=10.0,
    show_default=True,
    help="At most this many browser updates per second (per subject).",
)
def dashboard_command(
    addresses: tuple[str, ...],
    topic: str,
    host: str,
    port: int,
    offline_after_s: float,
    history_s: float,
    flush_hz: float,
) -> None:
    """Serve a live dashboard of the emotion messages published on --connect."""
    from helo_stream.dashboard.hub import Hub
    from helo_stream.dashboard.server import DashboardError, bind_socket, create_app, serve

    try:
        sock = bind_socket(host=host, port=port)
    except DashboardError as err:
        raise click.ClickException(str(err)) from err
    hub = Hub(offline_after_s=offline_after_s, history_s=history_s)
    unique = list(dict.fromkeys(addresses))
    app = create_app(hub=hub, addresses=unique, topic=topic, flush_hz=flush_hz)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    click.echo(
        f"helo-stream dashboard: http://{shown}:{bound_port}/ "
        f"(subscribed to {', '.join(addresses)}, topic {topic!r}); Ctrl-C to stop",
        err=True,
    )
    try:
        serve(app=app, sock=sock)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
