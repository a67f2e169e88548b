"""``llm2hls doctor``: which toolchain parts are there, their versions, how to get the rest."""

from __future__ import annotations

import json

import click

from ..sim.toolchain import all_tools


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor_cmd(as_json: bool) -> None:
    """List g++, HLS headers, Verilator, Icarus, Yosys, cocotb (+ ccache) with version and status."""
    tools = all_tools()
    if as_json:
        click.echo(json.dumps([t.to_json() for t in tools], indent=1))
        return
    for t in tools:
        status = "ok" if t.ok else "MISSING" if not t.version else "UNUSABLE"
        line = f"{t.name:18} {status:9} {t.version or '-':14} {t.note}"
        if t.path:
            line += f"  [{t.path}]"
        click.echo(line.rstrip())
        if t.fix:
            click.echo(f"{'':18} -> {t.fix}")
    click.echo("Setup: bash scripts/setup.sh (pip packages, and apt packages iverilog yosys ccache)")
