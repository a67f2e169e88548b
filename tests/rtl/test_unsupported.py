"""Linear variants the RTL library does not implement are refused, never emitted wrongly."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from models import tiny_llama

from llm2hls.cli import main
from llm2hls.pipeline import compile_model


@pytest.mark.parametrize("scheme", ["w4a16", "w8a8"])
def test_simulate_refuses_scheme_without_rtl_operator(tmp_path: Path, scheme: str) -> None:
    out = tmp_path / scheme
    compile_model(tiny_llama(), out_dir=out, seq_len=5, quant=scheme, csim=False, name="llama")
    res = CliRunner().invoke(main, ["simulate", str(out), "--simulator", "icarus"])
    assert res.exit_code == 2, res.output
    assert "RTL backend does not implement" in res.stderr
    assert not (out / "rtl").exists()
