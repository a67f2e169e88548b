"""The ``llm2hls`` command line. Each sub-command lives in its own module of this package."""

from __future__ import annotations

import sys

import click

from .. import __version__
from ..errors import UserError


class _Main(click.Group):
    """Turns :class:`UserError` into one line on stderr and exit code 2 (no traceback)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as e:
            click.echo(f"llm2hls: error: {e}", err=True)
            sys.exit(e.exit_code)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="llm2hls")
def main() -> None:
    """Compile PyTorch transformers into Vitis HLS dataflow accelerators, proven bit-exact."""


def _register() -> None:
    from .compile import compile_cmd
    from .dataset import dataset_group
    from .debug import debug_cmd
    from .doctor import doctor_cmd
    from .eval import eval_cmd
    from .explore import explore_cmd
    from .generate import generate_cmd
    from .report import report_cmd
    from .simulate import simulate_cmd

    main.add_command(compile_cmd)
    main.add_command(dataset_group)
    main.add_command(debug_cmd)
    main.add_command(simulate_cmd)
    main.add_command(doctor_cmd)
    main.add_command(eval_cmd)
    main.add_command(report_cmd)
    main.add_command(explore_cmd)
    main.add_command(generate_cmd)


_register()
