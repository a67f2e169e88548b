"""End-to-end: tiny zoo models -> HLS project -> g++ C simulation, bit-exact (0 mismatches)."""

from __future__ import annotations

import json

import pytest
from models import tiny_model_zoo

from llm2hls.errors import UserError
from llm2hls.pipeline import compile_model

ZOO = {name: (factory, seq) for name, factory, seq in tiny_model_zoo()}
FAST = ["gpt2", "gpt_neox"]  # odd sizes: hidden 48/40, 3/5 heads, seq 12/13
SLOW = [n for n in ZOO if n not in FAST and n != "handwritten"]  # handwritten: tests/test_compile_cli.py


def _compile(name, tmp_path):
    factory, seq = ZOO[name]
    return compile_model(factory(), out_dir=tmp_path / name, seq_len=seq, name=name)


def _check(res):
    cs = res.csim
    assert cs["passed"] and cs["mismatches"] == 0 and cs["bit_exact"]
    out = res.graph.tensors[res.graph.outputs[0]].type
    assert cs["elements"] == out.numel
    acc = res.report["accuracy"]
    assert acc["vs_torch"]["relative"] < 0.05  # 8-bit weights, 16-bit activations
    assert acc["vs_torch"]["max_abs"] > 0  # really quantized
    report = json.loads((res.out_dir / "report.json").read_text())
    assert report["totals"]["macs"] > 0 and report["stages"]
    assert not any(p.name.startswith(f".{res.out_dir.name}.tmp") for p in res.out_dir.parent.iterdir())


@pytest.mark.parametrize("name", FAST)
def test_zoo_bit_exact(name, tmp_path):
    _check(_compile(name, tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_zoo_bit_exact_slow(name, tmp_path):
    _check(_compile(name, tmp_path))


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    factory, seq = ZOO["handwritten"]
    with pytest.raises(UserError, match="not an llm2hls project"):
        compile_model(factory(), out_dir=target, seq_len=seq, csim=False)
    assert (target / "notes.txt").read_text() == "keep me"
