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
@click.option("--stop-after", "stop_after", type=float, default=None,
              help="minutes after which no new task starts (running ones finish; rerun to resume)")
def generate_cmd(out: str, count: int, jobs: int, seed: int, classes: str, models: int,
                 stop_after: float | None) -> None:
    """Inject bugs into base designs, verify each mutant by execution, write records."""
    from ..dataset.generate import generate

    if count < 1 or jobs < 1:
        raise UserError("--count and --jobs must be >= 1")
    if stop_after is not None and stop_after <= 0:
        raise UserError(f"--stop-after {stop_after:g}: give a positive number of minutes")
    cls = [c.strip().upper() for c in classes.split(",") if c.strip()] or None
    table = generate(Path(out), count, jobs, seed, cls, echo=click.echo, models=models,
                     stop_after=None if stop_after is None else stop_after * 60)
    click.echo(f"\n{'class':8} {'tried':>6} {'buggy':>6} {'equiv':>6} {'rejected':>8}")
    for c, r in table.items():
        click.echo(f"{c:8} {r['tried']:6} {r['buggy']:6} {r['equivalent']:6} {r['rejected']:8}")


@dataset_group.command("verify")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--jobs", default=2, show_default=True)
@click.option("--no-cache", is_flag=True,
              help="rebuild every object and RTL simulator from scratch instead of reusing generate's builds")
def verify_cmd(out: str, jobs: int, no_cache: bool) -> None:
    """Re-run every record's harness and confirm its verdict (exit 1 if any differs).

    Every binary is re-linked and re-run (twice) on every vector; objects of identical sources come
    from the dataset's content-addressed build cache unless --no-cache is given. The outcome is
    written to OUT/verify.json (what 'dataset release' needs); an unpacked release is first checked
    against its manifest."""
    from ..dataset.generate import verify_dataset

    if not Path(out).is_dir():
        raise UserError(f"dataset folder {out} does not exist; create one with 'llm2hls dataset generate --out {out}'")
    n, fails = verify_dataset(Path(out), jobs, echo=click.echo, cache=not no_cache)
    click.echo(f"{n - len(fails)}/{n} verdicts confirmed")
    if fails:
        raise SystemExit(1)


@dataset_group.command("release")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--version", "version", required=True, help="MAJOR.MINOR.PATCH of this snapshot")
@click.option("--to", "dest", type=click.Path(dir_okay=False), default=None,
              help="tarball path (default: next to OUT, llm2hls-hls-debug-VERSION.tar.gz)")
def release_cmd(out: str, version: str, dest: str | None) -> None:
    """Freeze a verified dataset: pack the records, bases and card with a manifest (release.json:
    counts, tools, SHA-256 of every shipped file) into a tarball. Needs a clean 'dataset verify' of
    the current records; OUT itself is not changed."""
    from ..dataset.release import manifest_copy, release

    if not Path(out).is_dir():
        raise UserError(f"dataset folder {out} does not exist; create one with 'llm2hls dataset generate --out {out}'")
    tar = release(Path(out), version, Path(dest) if dest else None)
    click.echo(f"released {version}: {tar} (manifest inside, copy at {manifest_copy(tar)})")


@dataset_group.command("evaluate")
@click.argument("out", type=click.Path(file_okay=False))
@click.argument("predictions", type=click.Path(dir_okay=False))
@click.option("--jobs", default=2, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the full metrics as JSON")
def evaluate_cmd(out: str, predictions: str, jobs: int, as_json: bool) -> None:
    """Score a debugger's PREDICTIONS.jsonl on the dataset OUT (repairs are re-run on the harness)."""
    import json

    from ..dataset.evaluate import evaluate

    if not Path(predictions).is_file():
        raise UserError(f"predictions file {predictions} not found; produce one with 'llm2hls dataset baseline'")
    m = evaluate(Path(out), Path(predictions), jobs)
    if as_json:
        click.echo(json.dumps(m, indent=1))
        return
    d = m["detection"]
    click.echo(f"items {m['items']} (buggy {m['buggy']})")
    click.echo(f"detection: precision {d['precision']:.3f} recall {d['recall']:.3f} "
               f"FPR clean {d['fpr_clean']:.3f} FPR equivalent {d['fpr_equivalent']:.3f}")
    click.echo(f"localization: top-1 {m['localization']['top1']:.3f} top-3 {m['localization']['top3']:.3f}")
    click.echo(f"class macro-F1 {m['class_macro_f1']:.3f}; repair " +
               " ".join(f"{k} {v:.3f}" for k, v in m["repair"].items()))
    click.echo(f"\n{'class':8} {'n':>5} {'det':>6} {'top1':>6} {'top3':>6} {'F1':>6} {'pass@1':>7}")
    for c, r in m["per_class"].items():
        click.echo(f"{c:8} {r['n']:5} {r['detection_recall']:6.3f} {r['top1']:6.3f} {r['top3']:6.3f} "
                   f"{r['f1']:6.3f} {r.get('pass@1', 0):7.3f}")


@dataset_group.command("export")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["chat"]), default="chat", show_default=True)
@click.option("--to", "dest", type=click.Path(file_okay=False), default=None, help="default: OUT/export-chat")
def export_cmd(out: str, fmt: str, dest: str | None) -> None:
    """Write prompt/target pairs per split (train/val/test JSONL)."""
    from ..dataset.export import export_chat

    counts = export_chat(Path(out), Path(dest) if dest else Path(out) / f"export-{fmt}")
    click.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


@dataset_group.command("baseline")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--predictions", default=None, type=click.Path(dir_okay=False), help="default: OUT/baseline.jsonl")
def baseline_cmd(out: str, predictions: str | None) -> None:
    """Run the trivial baseline debugger over every item; writes PREDICTIONS.jsonl."""
    from ..dataset.baseline import run_baseline

    dest = Path(predictions) if predictions else Path(out) / "baseline.jsonl"
    n = run_baseline(Path(out), dest)
    click.echo(f"{n} predictions written to {dest}")
