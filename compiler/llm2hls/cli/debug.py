"""``llm2hls debug``: the LLM-assisted debugging loop (docs/debug.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import UserError


def _backend(endpoint: str | None, api_model: str | None, model: str | None, max_tokens: int, threads: int):
    from ..debug.backends import LocalCausalLM, OpenAIChat

    if bool(endpoint) == bool(model):
        raise UserError("give exactly one model: --endpoint URL --api-model NAME, or --model PATH|smollm2")
    if endpoint:
        return OpenAIChat(endpoint, api_model or "default", max_tokens=max_tokens)
    from ..debug.harness import default_cache

    return LocalCausalLM(model, max_new_tokens=max_tokens, cache_dir=default_cache().parent, threads=threads)


@click.command("debug")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--harness", type=click.Path(), help="base design JSON (DATASET/bases/<id>.json) or 'llm2hls compile' project")
@click.option("--endpoint", default=None, help="OpenAI-compatible API base URL, e.g. http://127.0.0.1:8000/v1")
@click.option("--api-model", default=None, help="model name sent to --endpoint")
@click.option("--model", default=None, help="local transformers model: HF folder, .gguf file, or 'smollm2'")
@click.option("--max-tries", default=3, show_default=True, type=click.IntRange(1, 20))
@click.option("--max-tokens", default=256, show_default=True, type=click.IntRange(16, 8192),
              help="bound on the tokens of each model reply")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 256), help="torch threads (--model)")
@click.option("--write", is_flag=True, help="overwrite FILE with the fix once the harness passes")
@click.option("--out", "out_file", default=None, type=click.Path(dir_okay=False), help="write the fixed kernel here")
@click.option("--json", "as_json", is_flag=True, help="print the transcript as JSON")
@click.option("--dataset", default=None, type=click.Path(file_okay=False),
              help="instead of FILE: debug every item of this dataset and write --predictions")
@click.option("--predictions", default=None, type=click.Path(dir_okay=False),
              help="with --dataset: PREDICTIONS.jsonl for 'llm2hls dataset evaluate' (appended, resumable)")
@click.option("--split", default=None, type=click.Choice(["train", "val", "test"]), help="with --dataset")
@click.option("--limit", default=None, type=click.IntRange(1), help="with --dataset: first N items")
def debug_cmd(file: str | None, harness: str | None, endpoint: str | None, api_model: str | None,
              model: str | None, max_tries: int, max_tokens: int, threads: int, write: bool, out_file: str | None,
              as_json: bool, dataset: str | None, predictions: str | None, split: str | None,
              limit: int | None) -> None:
    """Localize, classify and fix the bug in FILE by asking a model and re-running its harness.

    Exit code 0 when the harness passes (after a fix, or already), 1 when no try fixed it.
    """
    if dataset:
        return _dataset_mode(dataset, predictions, endpoint, api_model, model, max_tries, max_tokens, threads,
                             split, limit)
    if not file or not harness:
        raise UserError("usage: llm2hls debug FILE.cpp --harness DIR (or --dataset DIR --predictions P.jsonl)")
    from ..dataset.mutate.core import unified_diff
    from ..dataset.toolchain import Builder
    from ..debug.harness import default_cache, load_harness, target_file
    from ..debug.loop import debug_kernel

    src = Path(file)
    if not src.is_file():
        raise UserError(f"kernel file {src} not found")
    design = load_harness(harness)
    path = target_file(design, src)
    backend = _backend(endpoint, api_model, model, max_tokens, threads)
    text = src.read_text()
    echo = (lambda s: None) if as_json else click.echo
    tr = debug_kernel(design, path, text, backend, Builder(default_cache()), max_tries, echo)
    fixed = tr.fixed_try.parsed.fixed if tr.fixed_try else None
    if as_json:
        click.echo(json.dumps({**tr.to_json(), "diff": unified_diff(path, text, fixed) if fixed else ""}, indent=1))
    elif fixed:
        click.echo(f"fixed on try {tr.fixed_try.n}:\n{unified_diff(path, text, fixed)}")
    elif not tr.initial.passed:
        click.echo(f"not fixed after {len(tr.tries)} tries")
    if fixed and out_file:
        Path(out_file).write_text(fixed)
    if fixed and write:
        src.write_text(fixed)
    if not (tr.initial.passed or fixed):
        raise SystemExit(1)


def _dataset_mode(dataset: str, predictions: str | None, endpoint, api_model, model, max_tries, max_tokens,
                  threads, split, limit) -> None:
    from ..debug.predict import predict_dataset

    root = Path(dataset)
    if not (root / "records.jsonl").exists():
        raise UserError(f"{root} is not a dataset (no records.jsonl); create one with 'llm2hls dataset generate'")
    if not predictions:
        raise UserError("--dataset needs --predictions P.jsonl (where the predictions go)")
    backend = _backend(endpoint, api_model, model, max_tokens, threads)
    n = predict_dataset(root, backend, Path(predictions), max_tries, split, limit, echo=click.echo)
    click.echo(f"{n} predictions appended to {predictions}; score them with "
               f"'llm2hls dataset evaluate {dataset} {predictions}'")
