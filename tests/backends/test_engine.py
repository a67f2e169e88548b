"""One block engine reused across layers (--engine): bit-exact in csim, one stage function per block stage.

Oracles: the reference interpreter on the full (unmodified) graph gives the testbench's golden
outputs, and for decode the independent greedy loop of test_decode.py gives the tokens.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

import models
from llm2hls.backends.hls.engine import plan_engine
from llm2hls.cli import main
from llm2hls.frontend import import_model
from llm2hls.passes.quantize import QuantConfig
from llm2hls.pipeline import compile_graph, random_inputs
from test_decode import PROMPT, NEW, T, greedy

LAYERS = 3


def _compile(model, out, seq_len, **options):
    imported = import_model(model, seq_len=seq_len)
    g = imported.graph
    calib = [random_inputs(g, seed) for seed in (1, 2)] + [imported.example_inputs]
    return compile_graph(g, out, QuantConfig.from_scheme("w8a16"), calib, imported.example_inputs,
                         engine=True, **options)


def _stage_functions(src: str) -> list[str]:
    return re.findall(r"^void (\w+)\(", src, re.M)


def test_gpt2_engine_is_bit_exact_with_one_function_per_block_stage(tmp_path):
    res = _compile(models.tiny_gpt2(layers=LAYERS), tmp_path / "gpt2", seq_len=8)
    assert res.csim["passed"] and res.csim["mismatches"] == 0, res.csim
    plan = plan_engine(res.graph)
    assert plan.num_layers == LAYERS
    src = (res.out_dir / "src" / f"{res.report['top']}.cpp").read_text()
    functions = _stage_functions(src)
    # layer 0's stages serve every layer: no stage function of layers 1.. is emitted
    assert not [f for f in functions if re.match(r"transformer_h_[12]_", f)]
    assert len(functions) == len(plan.prologue) + len(plan.block) + len(plan.epilogue) + 1  # + top
    assert f"for (int layer = 0; layer < {LAYERS}; ++layer)" in src
    # per-layer weights are stacked [L, ...] and passed as array[layer]
    header = (res.out_dir / "weights" / "transformer_h_0_mlp_c_fc_linear.h").read_text()
    assert re.search(rf"q_weight\[{LAYERS}\]\[\d+\]\[\d+\] = ", header)
    assert "transformer_h_0_mlp_c_fc_linear_q_weight[layer]" in src


def test_llama_engine_decodes_the_reference_tokens_with_offchip_weights(tmp_path):
    res = _compile(models.tiny_llama(layers=LAYERS), tmp_path / "llama", seq_len=T,
                   decode=(PROMPT, NEW), offchip_min_elements=1024)
    assert res.csim["passed"] and res.csim["mismatches"] == 0, res.csim
    assert res.csim["tokens"] == greedy(res.graph, PROMPT, NEW)
    src = (res.out_dir / "src" / f"{res.report['top']}.cpp").read_text()
    # one cache per layer ([L][T][row], m_axi) and stacked off-chip weights with per-layer offsets
    assert re.search(rf"_kcache\[{LAYERS}\]\[{T}\]\[\d+\]", src)
    assert re.search(rf"const int8_t \w+_q_weight\[{LAYERS}\]\[\d+\]\[\d+\]", src)
    bins = sorted(p.name for p in (res.out_dir / "weights").glob("*.bin"))
    assert bins and all("layers_0_" in b or "layers_" not in b for b in bins)
    size = np.fromfile(res.out_dir / "weights" / bins[0], dtype=np.int8).size
    node = bins[0].removesuffix("_q_weight.bin")
    per_layer = res.graph.nodes[node].param("q_weight").size
    assert size in (per_layer * LAYERS, per_layer)  # block weights stacked; prologue/epilogue not


@pytest.mark.parametrize("args, message", [
    (["--quant", "float"], "integer scheme"),
])
def test_engine_user_errors(tmp_path, args, message):
    import torch

    path = tmp_path / "m.pt"
    torch.save(models.tiny_gpt2(layers=2), path)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["compile", str(path), "--trust-pickle", "--seq-len", "6", "--engine",
                                  "--no-csim", "--out", str(out), *args])
    assert r.exit_code == 2, r.output
    assert message in r.output and not out.exists()


def test_single_layer_model_is_refused():
    from llm2hls.errors import UserError
    from llm2hls.passes.forks import insert_forks

    g = import_model(models.tiny_gpt2(layers=1), seq_len=6).graph
    with pytest.raises(UserError, match="at least 2"):
        plan_engine(insert_forks(g)[0])
