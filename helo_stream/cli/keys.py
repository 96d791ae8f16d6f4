"""``helo-stream keys``: create ZeroMQ CURVE key pairs for the publisher and its subscribers."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("keys")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--name",
    "names",
    multiple=True,
    default=("server", "client"),
    show_default=True,
    help="Key pair to create (repeat the option for several); NAME.key is public, "
    "NAME.key_secret secret.",
)
def keys_command(directory: Path, names: tuple[str, ...]) -> None:
    """Create CURVE key pairs in DIRECTORY (existing pairs are never overwritten).

    Give the publisher ``server.key_secret`` (publisher.curve_secret_key) and the public
    ``*.key`` of every allowed client (publisher.curve_allowed_clients); give each client its
    own ``*.key_secret`` and the server's public ``server.key``.
    """
    import zmq.auth

    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        if not name or "/" in name or name.startswith("."):
            raise click.BadParameter(f"invalid key name {name!r}", param_hint="--name")
        public = directory / f"{name}.key"
        if public.exists() or (directory / f"{name}.key_secret").exists():
            raise click.ClickException(f"{public} already exists; not overwriting a key")
        public_file, secret_file = zmq.auth.create_certificates(directory, name)
        Path(secret_file).chmod(0o600)
        click.echo(f"{name}: public {public_file}, secret {secret_file}")
