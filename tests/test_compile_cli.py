"""``llm2hls compile``: --json summary with the C simulation result, and user errors (exit 2)."""

from __future__ import annotations

import json

import torch
from click.testing import CliRunner
from models import HandWrittenDecoder

from llm2hls.cli import main

SEQ = 12


def test_compile_pt2_json(tmp_path):
    model = HandWrittenDecoder().eval()
    ids = torch.zeros(1, SEQ, dtype=torch.long)
    with torch.no_grad():
        torch.export.save(torch.export.export(model, (ids,)), tmp_path / "hw.pt2")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["compile", str(tmp_path / "hw.pt2"), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["csim"]["mismatches"] == 0 and summary["csim"]["passed"]
    assert summary["stages"] >= 5 and summary["parameters"] > 0
    assert summary["quant"]["scheme"] == "w8a16"
    assert (out / "README.md").exists() and (out / "report.md").exists()
    assert "C simulation: PASS" in res.stderr


def test_user_error_exit_2(tmp_path):
    bad = tmp_path / "nope.pt2"
    bad.write_text("not a zip")
    res = CliRunner().invoke(main, ["compile", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "llm2hls: error:" in res.stderr and not (tmp_path / "o").exists()


def test_bad_scheme_exit_2(tmp_path):
    res = CliRunner().invoke(main, ["compile", "x.pt2", "--quant", "int3"])
    assert res.exit_code == 2 and "unknown quantization scheme" in res.stderr
