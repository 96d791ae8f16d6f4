"""The ``helo-stream`` command line: a small click group whose commands load lazily.

Commands import their module only when invoked, so ``helo-stream listen`` does not pay for
importing torch. Expected failures (a bad pipeline, a missing stream, an unreadable recording)
print one clear message and exit with code 2 instead of a traceback.
"""

from __future__ import annotations

import importlib
import logging

import click

from helo_stream import __version__

#: command name -> "module:attribute"
COMMANDS: dict[str, str] = {
    "run": "helo_stream.cli.run:run_command",
    "replay": "helo_stream.cli.replay:replay_command",
    "listen": "helo_stream.cli.listen:listen_command",
    "devices": "helo_stream.cli.devices:devices_command",
    "validate": "helo_stream.cli.validate:validate_command",
    "camera": "helo_stream.cli.camera:camera_command",
    "train": "helo_stream.cli.train:train_command",
    "evaluate": "helo_stream.cli.evaluate:evaluate_command",
    "keys": "helo_stream.cli.keys:keys_command",
    "dashboard": "helo_stream.cli.dashboard:dashboard_command",
    "plot": "helo_stream.cli.plot:plot_command",
    "broker": "helo_stream.cli.broker:broker_command",
    "process": "helo_stream.cli.process:process_command",
}

#: Exceptions that describe a user's input or environment, never a bug.
EXPECTED_ERRORS: tuple[str, ...] = (
    "helo_stream.config.errors:ConfigError",
    "helo_stream.recordings.base:RecordingError",
    "helo_stream.models.checkpoint:CheckpointError",
    "helo_stream.sources.resolve:StreamResolutionError",
    "helo_stream.sinks.zmq_publisher:PublisherError",
    "helo_stream.drivers.camera:CameraError",
)


def _load(target: str) -> object:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _is_expected(err: BaseException) -> bool:
    """Whether ``err`` is (a subclass of) an expected error, judged by class name so that a
    failing command does not import torch just to find out."""
    names = {f"{cls.__module__}:{cls.__qualname__}" for cls in type(err).__mro__}
    return not names.isdisjoint(EXPECTED_ERRORS)


class LazyGroup(click.Group):
    """A click group that imports each command on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        return None if target is None else _load(target)  # type: ignore[return-value]

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except Exception as err:
            if _is_expected(err):
                click.secho(f"error: {err}", fg="red", err=True)
                ctx.exit(2)
            raise


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="helo-stream")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """Real-time emotion distributions from wearable sensors: LSL in, HeLo, ZeroMQ out."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
