"""``llm2hls generate PROJECT``: greedy generation with a ``--decode`` project in C simulation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..errors import UserError


@click.command("generate")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@click.option("--prompt", required=True, help="Prompt token ids, e.g. 1,2,3.")
@click.option("--new-tokens", type=click.IntRange(1, 1 << 16), default=8, show_default=True,
              help="Tokens to generate.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def generate_cmd(project: str, prompt: str, new_tokens: int, as_json: bool) -> None:
    """Generate NEW_TOKENS greedily from PROMPT with PROJECT's accelerator in C simulation (prefill,
    then one decode call per token) and check every token and logits row against the integer reference.

    Exit code 0 when the tokens and logits equal the reference's bit for bit, 1 otherwise.
    """
    from ..backends.hls.decode import greedy_reference, parse_prompt
    from ..backends.hls.emit import write_decode_bench
    from ..ir.serialize import load_graph
    from ..pipeline import read_tokens
    from ..sim.csim import run_csim

    root = Path(project)
    report = _decode_report(root)
    start = time.perf_counter()

    def say(msg: str) -> None:
        click.echo(f"[{time.perf_counter() - start:6.1f}s] {msg}", err=True)

    graph = load_graph(root / "ir.json")
    bench = greedy_reference(graph, parse_prompt(prompt), new_tokens, progress=say)
    write_decode_bench(root / "tb", graph.outputs[0], bench)
    say("C simulation: building with g++ (cached when unchanged) ...")
    res = run_csim(root, report["top"], timeout=24 * 3600.0, on_line=lambda line: say(f"csim: {line}"))
    tokens = read_tokens(root)
    result = {"prompt": bench.prompt, "tokens": tokens, "reference_tokens": bench.tokens,
              "passed": res.passed and tokens == bench.tokens, "mismatches": res.mismatches,
              "elements": res.elements, "build_s": res.build_s, "run_s": res.run_s}
    if as_json:
        click.echo(json.dumps(result, indent=1))
    else:
        click.echo(f"{'PASS' if result['passed'] else 'FAIL'}: generated {tokens} from {bench.prompt} "
                   f"(reference {bench.tokens}); {res.mismatches} mismatches in {res.elements} elements")
    raise SystemExit(0 if result["passed"] else 1)


def _decode_report(root: Path) -> dict:
    """``report.json`` of a project compiled with --decode (a UserError for anything else)."""
    path = root / "report.json"
    if not (root / "ir.json").is_file() or not path.is_file():
        raise UserError(f"{root} is not an llm2hls project (no ir.json/report.json); compile one with "
                        "llm2hls compile MODEL --decode")
    report = json.loads(path.read_text())
    if "decode" not in report:
        raise UserError(f"{root} was compiled without --decode; recompile with llm2hls compile MODEL --decode")
    return report
