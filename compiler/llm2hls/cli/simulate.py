"""``llm2hls simulate``: run the generated RTL bench in Verilator (or Icarus) via cocotb."""

from __future__ import annotations

import json

import click

from ..errors import UserError
from ..sim.rtl import SIMULATORS, simulate


@click.command("simulate")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@click.option("--simulator", type=click.Choice(SIMULATORS), default="verilator", show_default=True)
@click.option("--waves", is_flag=True, help="Record a waveform (VCD) in the build folder.")
@click.option("--seed", type=int, default=None, help="Seed of the random valid gaps / backpressure.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def simulate_cmd(project: str, simulator: str, waves: bool, seed: int | None, as_json: bool) -> None:
    """Build and simulate PROJECT's RTL (PROJECT/rtl), check it bit-exact, report cycles.

    Exit code 0 when every output matches the reference interpreter, 1 otherwise.
    """
    try:
        r = simulate(project, simulator, waves, seed)
    except RuntimeError as e:
        raise UserError(str(e).splitlines()[0] + f" (see the logs in {project})") from None
    if as_json:
        click.echo(json.dumps(r, indent=1))
    else:
        click.echo(_summary(r))
    raise SystemExit(0 if r.get("passed") else 1)


def _summary(r: dict) -> str:
    status = "PASS" if r.get("passed") else "FAIL"
    lines = [f"{status}: {r.get('top', '?')} in {r['simulator']}"
             f" ({'built' if r.get('built') else 'cached build'}), "
             f"{r.get('mismatches', '?')} mismatches of {r.get('checked', '?')} outputs"]
    if r.get("error"):
        lines.append(f"  error: {r['error']} (log: {r.get('log')})")
    if r.get("first_mismatch"):
        lines.append(f"  first mismatch: {r['first_mismatch']}")
    if r.get("timeout"):
        lines.append("  timed out")
    if r.get("total_cycles") is not None:
        lines.append(f"  first-output latency {r['latency_cycles']} cycles, total {r['total_cycles']} "
                     f"cycles per inference, II {r['ii_cycles']} cycles "
                     f"({r['runs']} inferences, gap/backpressure probability {r['gap_probability']})")
    if r.get("stall_cycles"):
        stalls = ", ".join(f"{k} {v}" for k, v in r["stall_cycles"].items())
        lines.append(f"  output stall cycles per stage: {stalls}")
    return "\n".join(lines)
