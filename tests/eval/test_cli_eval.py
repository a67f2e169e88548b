"""CLI: ``llm2hls eval`` / ``compile`` with the scheme options (errors are one line, exit 2)."""

from __future__ import annotations

import json

from click.testing import CliRunner
from models import tiny_llama

from llm2hls.cli import main


def _folder(tmp_path):
    d = tmp_path / "tiny_llama"
    tiny_llama().save_pretrained(d)
    return d


def test_compile_with_scheme_options(tmp_path):
    d = _folder(tmp_path)
    r = CliRunner().invoke(main, ["compile", str(d), "--out", str(tmp_path / "o"), "--seq-len", "8", "--quant",
                                  "w4a8-asym", "--group-size", "32", "--keep-8bit", "lm_head,first", "--no-csim", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["quant"]["scheme"] == "w4a8-asym-g32" and doc["quant"]["in_bits"] == 8
    assert "lm_head_linear" in doc["quant"]["overrides"]
    ir = json.loads((tmp_path / "o" / "ir.json").read_text())
    assert ir


def test_eval_and_compile_user_errors(tmp_path):
    d = _folder(tmp_path)
    r = CliRunner().invoke(main, ["eval", str(d), "--seq-len", "8"])
    assert r.exit_code == 2 and "no tokenizer" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["compile", str(d), "--quant", "w4a8-sym", "--no-csim"])
    assert r.exit_code == 2 and "unknown quantization scheme" in r.output
    r = CliRunner().invoke(main, ["compile", str(d), "--keep-8bit", "nope", "--no-csim", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "matches no linear" in r.output
