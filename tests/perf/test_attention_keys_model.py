"""The model of attention with P keys per cycle and of per-stage memory streams (issue 6).

Oracles: the per-token schedule summed token by token (for the closed-form pass sum), the
validated P = 1 schedule (``2 keys`` cycles per head), the HLS backend's own packing plan for the
ports a weight stream takes, and the design space's own rule (attention in whole keys).
"""

from __future__ import annotations

import math
from dataclasses import replace

from llm2hls.backends.hls.offchip import plan_packing
from llm2hls.dse import explore
from llm2hls.perf import Design, MemoryModel, Operating, Scheme, preset, stages_from_shape
from llm2hls.perf.model import (
    HEAD_STEPS,
    _stream_compute,
    effective_lanes,
    packed_stream,
    stage_stream,
    token_cycles,
)
from llm2hls.perf.workload import Stage
from llm2hls.targets import get_target

D = 16
ATTN = Stage("attn", "attention", n=4 * D, heads=4, kv_heads=2, head_dim=D, count=2, layered=True)


def test_p1_keeps_the_validated_schedule_and_p_keys_divide_it():
    for keys in (1, 7, 64):
        busy = token_cycles(ATTN, D, keys)[1]  # head_dim MACs = one key per cycle
        assert busy == ATTN.heads * (2 * keys + D + HEAD_STEPS)
        for p in (2, 3, 5):
            assert token_cycles(ATTN, p * D, keys)[1] == ATTN.heads * (2 * math.ceil(keys / p) + D + HEAD_STEPS)
    # MACs that are not whole keys are not built: 100 MACs of 16-wide dot products = 6 keys
    assert effective_lanes(ATTN, 100) == 96 and token_cycles(ATTN, 100, 30) == token_cycles(ATTN, 96, 30)


def test_pass_of_tokens_is_the_sum_of_their_intervals():
    # a prefill pass: token i sees context + i + 1 keys; the closed form must equal the loop
    for p, context, tokens in ((1, 0, 9), (3, 5, 7), (4, 0, 128), (7, 130, 33)):
        lanes = p * D
        loop = sum(token_cycles(ATTN, lanes, context + i + 1)[0] for i in range(tokens))
        assert _stream_compute(ATTN, lanes, tokens, context, 1) == loop


def test_streams_use_their_own_channels():
    scheme = Scheme.parse("w4a8")
    mem = MemoryModel(32, 48.0, 0.85, 100)
    qkv = Stage("qkv", "linear", n=3072, k=1024, bias=True, count=24, layered=True)
    fc1 = Stage("fc1", "linear", n=4096, k=1024, bias=True, count=24, layered=True)
    head = Stage("lm_head", "linear", n=50257, k=1024, count=1)
    d = Design({"qkv": 3072, "fc1": 4096, "lm_head": 2048, "attn": 4 * D}, channels=32, stream_width=64)
    # 3,072 lanes of 4 bits over 32 ports would need 96-field words: 24 ports of 128 fields
    spec = plan_packing(3072, 4, 32)
    assert packed_stream(qkv, 3072, 64, 4, 32) == (spec.ports, 1.0) == (24, 1.0)
    assert stage_stream(d, qkv, scheme, mem)[0].channels == 24
    assert stage_stream(d, fc1, scheme, mem)[0].channels == 32
    # the LM head builds 1,733 lanes (a divisor of 50,257): its last port's word is padded
    ports, scale = packed_stream(head, 2048, 64, 4, 32)
    spec = plan_packing(1733, 4, 32)
    assert ports == spec.ports and scale == spec.ports * spec.lanes_per_port / 1733 > 1
    # an off-chip KV cache of P keys per cycle: P ports; on chip it streams nothing
    assert stage_stream(d, ATTN, scheme, mem)[0].channels == 4
    assert stage_stream(replace(d, kv_onchip=True), ATTN, scheme, mem)[0].channels == 32
    # a compiled project's ports and stored bytes win (report/modeled.py)
    mine = replace(d, stage_channels={"qkv": 7}, weight_scale={"qkv": 1.5})
    sub, scale = stage_stream(mine, qkv, scheme, mem)
    assert (sub.channels, scale) == (7, 1.5)


def test_explorer_offers_whole_keys_only():
    # head_dim 48: a power-of-two MAC count would not be whole keys
    shape = replace(preset("gpt2"), name="gpt2-d48", hidden=384, heads=8, kv_heads=8, layers=2)
    scheme = Scheme.parse("w4a8")
    stages = stages_from_shape(shape, scheme)
    ex = explore(stages, scheme, get_target("U280"), Operating(16, 16), widths=(8,))
    points = ex.front + [ex.best, *ex.by_width.values()]
    assert all(p.design.lanes["attn"] % 48 == 0 and p.design.lanes["attn"] >= 48 for p in points)
