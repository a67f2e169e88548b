"""``llm2hls dataset``: generate and verify the executable HLS debugging dataset."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError


@click.group("dataset")
def dataset_group() -> None:
    """Build and check the executable HLS debugging dataset."""


@dataset_group.command("generate")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="dataset folder (resumed if it exists)")
@click.option("--count", default=100, show_default=True, help="number of mutation tasks")
@click.option("--jobs", default=2, show_default=True, help="parallel workers")
@click.option("--seed", default=0, show_default=True)
@click.option("--classes", default="", help="comma-separated bug classes (default: all)")
@click.option("--models", default=0, show_default=True,
              help="also use this many base designs compiled by llm2hls from tiny transformer models")
def generate_cmd(out: str, count: int, jobs: int, seed: int, classes: str, models: int) -> None:
    """Inject bugs into base designs, verify each mutant by execution, write records."""
    from ..dataset.generate import generate

    if count < 1 or jobs < 1:
        raise UserError("--count and --jobs must be >= 1")
    cls = [c.strip().upper() for c in classes.split(",") if c.strip()] or None
    table = generate(Path(out), count, jobs, seed, cls, echo=click.echo, models=models)
    click.echo(f"\n{'class':8} {'tried':>6} {'buggy':>6} {'equiv':>6} {'rejected':>8}")
    for c, r in table.items():
        click.echo(f"{c:8} {r['tried']:6} {r['buggy']:6} {r['equivalent']:6} {r['rejected']:8}")


@dataset_group.command("verify")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--jobs", default=2, show_default=True)
def verify_cmd(out: str, jobs: int) -> None:
    """Re-run every record's harness and confirm its verdict (exit 1 if any differs)."""
    from ..dataset.generate import verify_dataset

    if not Path(out).is_dir():
        raise UserError(f"dataset folder {out} does not exist; create one with 'llm2hls dataset generate --out {out}'")
    n, fails = verify_dataset(Path(out), jobs, echo=click.echo)
    click.echo(f"{n - len(fails)}/{n} verdicts confirmed")
    if fails:
        raise SystemExit(1)
