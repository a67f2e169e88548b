"""``llm2hls compile``."""

from __future__ import annotations

import click


@click.command("compile")
@click.argument("model")
def compile_cmd(model: str) -> None:
    """Compile MODEL (.pt2, .pt, HF folder) into a Vitis HLS project."""
    raise click.ClickException("not implemented yet")
