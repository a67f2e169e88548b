"""A tiny Llama (GQA, SwiGLU) with every fusion on, through g++ C simulation: bit-exact against the
reference interpreter, with the fused Q/K/V and gate/up stages in the emitted project and the report.
(GPT-NeoX's residual+norm stages go through C simulation in tests/test_pipeline.py.)"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llm2hls.cli import main


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    from models import tiny_llama

    from llm2hls.pipeline import compile_model

    out = tmp_path_factory.mktemp("fuse") / "llama"
    return compile_model(tiny_llama(layers=1), out, seq_len=5, name="llama")


def test_fused_llama_is_bit_exact_in_csim(llama):
    cs = llama.csim
    assert cs["passed"] and cs["bit_exact"] and cs["mismatches"] == 0
    assert cs["elements"] == llama.graph.tensors[llama.graph.outputs[0]].type.numel
    fused = {n.name: n for n in llama.graph.nodes.values() if "segments" in n.attrs}
    assert sorted(n.attrs.get("glu", False) for n in fused.values()) == [False, True]
    src = (llama.out_dir / "src" / "llama.cpp").read_text()
    for name, node in fused.items():  # one stage function per fused stage, with one port per output
        head = src[src.index(f"void {name}("):]
        assert head[:head.index(") {")].count("hls::stream") == 1 + len(node.outputs)
    meta = json.loads((llama.out_dir / "ir.json").read_text())["meta"]["fusion"]
    assert meta["stages_after"] == meta["stages_before"] - sum(meta["removed"].values())
    assert meta["removed"]["siblings"] == 2 and meta["removed"]["glu"] == 2


def test_bad_fusion_name_is_a_user_error(tmp_path):
    out = tmp_path / "x"
    res = CliRunner().invoke(main, ["compile", "nonexistent.pt2", "--fuse", "qkv", "--out", str(out)])
    assert res.exit_code == 2 and "unknown fusion 'qkv'" in res.output and not out.exists()
