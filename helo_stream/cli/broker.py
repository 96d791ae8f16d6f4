"""``helo-stream broker``: one address for dashboards, however many pipelines publish.

Pipelines publish to the broker's frontend (``publisher: {address: tcp://127.0.0.1:5559,
bind: false}``); dashboards and ``listen`` subscribe to its backend and get the latest message
of every pipeline and subject at once (:mod:`helo_stream.sinks.broker`).
"""

from __future__ import annotations

import signal

import click

from helo_stream.sinks.broker import DEFAULT_BACKEND, DEFAULT_FRONTEND, Broker, BrokerStats

__all__ = ["broker_command"]


def _counts(stats: BrokerStats) -> str:
    """One line of the broker's counters, for the periodic and the final report."""
    return (
        f"received {stats.received}, forwarded {stats.forwarded}, "
        f"re-sent from cache {stats.resent}, subscriptions {stats.subscriptions}, "
        f"dropped {stats.dropped}"
    )


@click.command("broker")
@click.option(
    "--frontend",
    default=DEFAULT_FRONTEND,
    show_default=True,
    help="XSUB address pipelines publish to (their publisher: address, with bind: false).",
)
@click.option(
    "--backend",
    default=DEFAULT_BACKEND,
    show_default=True,
    help="XPUB address dashboards and 'listen' subscribe to.",
)
@click.option(
    "--send-hwm",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Messages queued per subscriber before ZeroMQ drops for that subscriber.",
)
@click.option(
    "--stats-every",
    "stats_every_s",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Print the counters every this many seconds (0: only at exit).",
)
def broker_command(frontend: str, backend: str, send_hwm: int, stats_every_s: float) -> None:
    """Forward every pipeline's messages to every subscriber, with a last-value cache."""
    broker = Broker(frontend=frontend, backend=backend, send_hwm=send_hwm)
    click.echo(
        f"helo-stream broker: pipelines -> {broker.frontend_endpoint} (publisher bind: false), "
        f"subscribers -> {broker.backend_endpoint}",
        err=True,
    )

    def report(stats: BrokerStats) -> None:
        n_cached = len(broker.cached_keys())
        click.echo(f"helo-stream broker: {_counts(stats)}; {n_cached} subject(s) cached", err=True)

    # SIGTERM takes the same way out as Ctrl-C: the loop stops, the sockets close.
    previous_sigterm = signal.signal(signal.SIGTERM, signal.default_int_handler)
    interrupted = False
    try:
        broker.run(on_tick=report if stats_every_s > 0 else None, tick_s=stats_every_s or 1.0)
    except KeyboardInterrupt:
        interrupted = True
        broker.stop()
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
    click.echo(
        f"helo-stream broker: {'interrupted; ' if interrupted else ''}{_counts(broker.stats)}",
        err=True,
    )
