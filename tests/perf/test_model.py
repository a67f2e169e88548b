"""Performance model: roofline arithmetic, workload counts, placement boundary, DSE front, CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from click.testing import CliRunner

from llm2hls.cli import main
from llm2hls.dse import explore, pareto_front
from llm2hls.errors import UserError
from llm2hls.perf import Design, MemoryModel, Operating, Scheme, evaluate, preset, stages_from_shape
from llm2hls.perf.model import kv_cache_bytes, place, predict_stage_cycles, resources, stored_bytes
from llm2hls.perf.workload import Stage, shape_from_config
from llm2hls.targets import get_target


def test_hf_parameter_counts_from_shape_alone():
    # parameter counts published with the models (PyTorch's count, tied embeddings once)
    assert preset("gpt2").params() == 124_439_808
    assert preset("gpt2-medium").params() == 354_823_168
    assert preset("smollm2-135m").params() == 134_515_008


def test_weight_bytes_hand_computed():
    s = Scheme.parse("w4a8")
    # [1024 x 4096] int4 + one 16-bit scale per output row + 32-bit bias per row
    assert s.linear_weight_bytes(1024, 4096, bias=True) == (1024 * 4096 * 4 + 1024 * 16 + 1024 * 32) // 8
    g = Scheme.parse("w4a8g128")  # 32 groups of 128 inputs per row
    assert g.linear_weight_bytes(1024, 4096, bias=False) == (1024 * 4096 * 4 + 1024 * 32 * 16) // 8


def test_roofline_matches_hand_computation():
    t = get_target("U280")
    shape, scheme = preset("gpt2-medium"), Scheme.parse("w4a8")
    stages = stages_from_shape(shape, scheme)
    op = Operating(prompt=128, generate=128)
    perf = evaluate(stages, Design(lanes={s.name: 1024 for s in stages}, channels=32), scheme, t, op)
    # by hand: 24 blocks of 4 linears (+ tied LM head) at 4 bits, scales, biases, KV at context 192
    h, f, v, L, ctx = 1024, 4096, 50257, 24, 192
    lin = L * (Scheme.parse("w4a8").linear_weight_bytes(3 * h, h, True) + scheme.linear_weight_bytes(h, h, True)
               + scheme.linear_weight_bytes(f, h, True) + scheme.linear_weight_bytes(h, f, True))
    lin += scheme.linear_weight_bytes(v, h, False)
    norms = (2 * L + 1) * 2 * h * 2  # gain + bias, 16-bit
    rows = 2 * h  # one token embedding row + one position row, 8-bit
    kv = L * (2 * h * ctx + 2 * h)  # read the cache, write the new K/V (8-bit)
    assert perf.offchip_bytes_per_token == lin + norms + rows + kv
    assert perf.roofline_tps == pytest.approx(460e9 / (lin + norms + rows + kv))
    assert perf.decode_tps <= 0.85 * perf.roofline_tps  # never above eta x bandwidth


def test_stage_cycles_memory_and_compute():
    t = get_target("U280")
    mem = MemoryModel.of(t, channels=4, eta=0.5)
    # a channel gives min(14.375 GB/s / 300 MHz, 64 B) = 47.9 B/cycle peak, 24 B/cycle at eta 0.5
    assert mem.bytes_per_cycle == pytest.approx(4 * 460e9 / 32 / 300e6 * 0.5)
    st = Stage("fc", "linear", n=256, k=512)
    # one element per beat, 64 lanes: 4 lane groups of k + 3 cycles, the last group's 64 outputs
    c = predict_stage_cycles(st, 64, Scheme.parse("w8a8"), mem, tokens=1)
    assert c.compute == 4 * (512 + 3) + 64 + 2 and c.latency == c.compute
    nbytes = 256 * 512  # the matrix streams; the 256 per-channel scales stay on chip
    assert c.memory == math.ceil(nbytes / mem.bytes_per_cycle)
    assert c.total == max(c.compute, c.memory)
    # 4-element beats, 1024 lanes: 256 outputs x 4 inputs per cycle, one group of 512/4 + 3 cycles;
    # loading 512 inputs takes 128 beats, writing 256 outputs 64
    w4 = predict_stage_cycles(st, 1024, Scheme.parse("w8a8"), mem, tokens=2, width=4)
    assert w4.compute == 2 * (512 // 4 + 3) + 64 + 2
    # at width 1 the extra lanes idle: the same schedule as 256 lanes
    assert predict_stage_cycles(st, 1024, Scheme.parse("w8a8"), mem, 1).compute == 512 + 3 + 256 + 2


def test_stream_width_is_explored_with_its_cost():
    scheme, target, op = Scheme.parse("w4a8"), get_target("U280"), Operating(64, 64)
    stages = stages_from_shape(preset("gpt2"), scheme)
    ex = explore(stages, scheme, target, op)
    assert sorted(ex.by_width) == [1, 4, 8, 16, 32, 64]
    one = ex.by_width[1]
    assert one.design.stream_width == 1 and one.summary()["generated_by_backends"]
    assert ex.best.perf.decode_tps == max(p.perf.decode_tps for p in ex.by_width.values())
    wide = replace(one.design, stream_width=16)
    kv = kv_cache_bytes(stages, scheme, op.max_context)
    r1, r16 = (resources(stages, d, scheme, target, one.design.prefill_tile, op.max_context, kv)
               for d in (one.design, wide))
    assert r16["ff"] > r1["ff"] and r16["lut"] > r1["lut"] and r16["dsp"] == r1["dsp"]
    # same lanes, wider beats: a token's stages load and write faster
    assert evaluate(stages, wide, scheme, target, op).decode_tps > one.perf.decode_tps


def test_placement_at_the_budget_boundary():
    scheme = Scheme.parse("w8a8")
    stages = [Stage("a", "linear", n=64, k=64, count=3, layered=True), Stage("b", "linear", n=32, k=64)]
    size_a, size_b = (stored_bytes(s, scheme, 16) for s in stages)
    exact = 3 * size_a + size_b
    onchip, kv_on, _ = place(stages, scheme, exact, 16, kv_bytes=10**9, kv_saving=0.5)
    assert onchip == {"a": 3, "b": 1} and not kv_on
    onchip, _, reasons = place(stages, scheme, exact - 1, 16, kv_bytes=10**9, kv_saving=0.5)
    assert sum(onchip.values()) == 3  # one byte short: one copy of something stays off-chip
    assert any("off-chip" in r or "copies on chip" in r for r in reasons)


def test_dse_respects_budget_and_front_is_non_dominated():
    t = get_target("KV260")
    scheme = Scheme.parse("w4a8")
    stages = stages_from_shape(preset("smollm2-135m"), scheme)
    ex = explore(stages, scheme, t, Operating(64, 64))
    budget = t.budget()
    for p in ex.front + [ex.best]:
        assert all(p.perf.resources[k] <= budget[k] for k in budget)
    objs = [(p.perf.decode_tps, -p.resource_share, -p.perf.power_w) for p in ex.front]
    for i, a in enumerate(objs):
        for j, b in enumerate(objs):
            assert i == j or not (all(x >= y for x, y in zip(b, a)) and b != a)
    assert ex.best.perf.decode_tps == max(p.perf.decode_tps for p in ex.front)
    assert pareto_front(ex.front) == ex.front


def test_dse_finds_a_fitting_design_for_1b_config():
    # its speed (seconds for a 1B config) is measured in benchmarks/llm_scale.py, not asserted here
    scheme = Scheme.parse("w4a8")
    ex = explore(stages_from_shape(preset("llama-1b"), scheme), scheme, get_target("U280"))
    assert ex.best.perf.fits and ex.best.perf.decode_tps > 0


def test_gpt2_medium_u280_half_the_roofline_needs_wide_streams():
    # what the model shows: one element per beat keeps the best design well under half of the HBM
    # roofline; wide beats get there only when the logits travel wide too. A stream carries
    # gcd(W, row) elements per beat (passes/beats.py), so GPT-2's odd vocabulary (50,257) leaves
    # the LM head writing one logit per cycle (~50k cycles per token): 47 % with one lane count for
    # every linear; per-stage lanes (dse.refine_lanes: full Q/K/V lane groups, more attention
    # lanes) win the cycles back: 53 %. A vocabulary padded to a multiple of 64 (50,304) gives the
    # 64-wide logit stream.
    import dataclasses

    scheme = Scheme.parse("w4a8")
    ex = explore(stages_from_shape(preset("gpt2-medium"), scheme), scheme, get_target("U280"))
    scalar = ex.by_width[1].perf
    assert scalar.fits and scalar.fraction_of_all_offchip_roofline < 0.5
    assert ex.best.perf.fits and ex.best.design.stream_width > 1
    assert 0.5 <= ex.best.perf.fraction_of_all_offchip_roofline < 0.6
    assert len(set(ex.best.design.lanes[s] for s in ("qkv", "o", "fc1", "fc2"))) > 1  # per-stage lanes
    padded = dataclasses.replace(preset("gpt2-medium"), vocab=50304)
    best = explore(stages_from_shape(padded, scheme), scheme, get_target("U280")).best
    assert best.perf.fits and best.design.stream_width == 64
    assert best.perf.fraction_of_all_offchip_roofline >= 0.5


def test_config_parsing_and_errors(tmp_path):
    cfg = {"model_type": "llama", "hidden_size": 576, "num_hidden_layers": 30, "num_attention_heads": 9,
           "num_key_value_heads": 3, "intermediate_size": 1536, "vocab_size": 49152, "tie_word_embeddings": True}
    assert shape_from_config(cfg).params() == preset("smollm2-135m").params()
    with pytest.raises(UserError, match="lacks field"):
        shape_from_config({"model_type": "gpt2"})
    with pytest.raises(UserError, match="known targets"):
        get_target("U999")
    with pytest.raises(UserError, match="scheme"):
        Scheme.parse("int4")


def test_cli(tmp_path):
    r = CliRunner().invoke(main, ["explore", "--preset", "smollm2-135m", "--target", "kv260", "--json",
                                  "--prompt", "32", "--generate", "32", "--plots", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["target"] == "KV260" and doc["best"]["decode_tps"] > 0 and doc["pareto_front"]
    assert all((tmp_path / "p" / f"{n}.png").stat().st_size > 1000 for n in ("roofline", "stage_breakdown", "resources"))
    cfg = tmp_path / "config.json"
    cfg.write_text("{not json")
    for args in (["explore"], ["explore", str(cfg)], ["explore", "--preset", "gpt2", "--target", "x"],
                 ["explore", "--preset", "gpt2", "--quant", "q4"], ["explore", str(tmp_path / "missing")]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2 and "error" in r.output and "Traceback" not in r.output, (args, r.output)
