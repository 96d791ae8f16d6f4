"""`list_streams` and the `helo-stream devices` command against a real outlet."""

from __future__ import annotations

import json

from click.testing import CliRunner

from helo_stream.cli.devices import devices_command
from helo_stream.sources.discovery import list_streams


def test_list_streams_describes_a_visible_outlet(uid, make_outlet) -> None:
    outlet = make_outlet(
        name=f"D{uid[:6]}",
        type="EDA",
        n_channels=2,
        srate=4.0,
        fmt="double64",
        source_id=f"disc-{uid}",
    )
    found = [d for d in list_streams(timeout=1.0) if d.source_id == f"disc-{uid}"]
    assert len(found) == 1
    d = found[0]
    assert (d.name, d.type, d.channel_count, d.nominal_srate, d.channel_format) == (
        f"D{uid[:6]}",
        "EDA",
        2,
        4.0,
        "double64",
    )
    assert d.uid == outlet.get_info().uid()
    assert d.hostname
    assert set(d.to_dict()) == {
        "name",
        "type",
        "source_id",
        "channel_count",
        "nominal_srate",
        "channel_format",
        "hostname",
        "uid",
    }


def test_devices_command_json_and_table(uid, make_outlet) -> None:
    make_outlet(name=f"D{uid[:6]}", type="PPG", srate=64.0, source_id=f"dev-{uid[:6]}")
    runner = CliRunner()
    result = runner.invoke(devices_command, ["--json", "--timeout", "1.0"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    mine = [r for r in rows if r["source_id"] == f"dev-{uid[:6]}"]
    assert len(mine) == 1 and mine[0]["nominal_srate"] == 64.0 and mine[0]["type"] == "PPG"

    result = runner.invoke(devices_command, ["--timeout", "1.0"])
    assert result.exit_code == 0, result.output
    assert "LSL stream(s)" in result.output
    assert f"D{uid[:6]}" in result.output and "64 Hz" in result.output
