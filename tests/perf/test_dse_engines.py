"""Block engine count as a design variable: 1 (reused) .. L (spatial) with its resource and
latency consequences in the model, and the exploration choosing among them."""

from __future__ import annotations

from dataclasses import replace

from llm2hls.dse import engine_counts, explore
from llm2hls.perf import Operating, Scheme, stages_from_shape
from llm2hls.perf.model import evaluate, kv_cache_bytes, resources
from llm2hls.perf.workload import ModelShape
from llm2hls.targets import get_target

SMALL = ModelShape("small-gpt2", "gpt2", 256, 6, 4, 4, 1024, 4096, True, 256)


def test_engine_counts_are_the_divisors():
    assert engine_counts(6) == [1, 2, 3, 6] and engine_counts(1) == [1]


def test_engines_cost_resources_and_pipeline_batches():
    scheme, target, op = Scheme.parse("w4a8"), get_target("U280"), Operating(32, 32)
    stages = stages_from_shape(SMALL, scheme)
    ex = explore(stages, scheme, target, op)
    assert sorted(ex.by_engines) == [1, 2, 3, 6]  # all weights fit on chip: every count explored
    base = ex.by_engines[1].design
    kv = kv_cache_bytes(stages, scheme, op.max_context)
    block_dsp = resources(stages, replace(base, replicate=True, engines=2), scheme, target, 32, 64, kv)["dsp"] \
        - resources(stages, base, scheme, target, 32, 64, kv)["dsp"]
    assert block_dsp > 0
    step1 = None
    for e in (1, 2, 3, 6):
        d = replace(base, replicate=e > 1, engines=e)
        res = resources(stages, d, scheme, target, 32, 64, kv)
        assert res["dsp"] == resources(stages, base, scheme, target, 32, 64, kv)["dsp"] + (e - 1) * block_dsp
        perf = evaluate(stages, d, scheme, target, op)
        b8 = next(c for c in perf.batch_curve if c["batch"] == 8)["tokens_per_s"]
        step1 = step1 or perf.decode_step_s
        assert perf.decode_step_s == step1  # one token still visits every layer in turn
        if e > 1:
            assert b8 > prev_b8  # more engines keep more sequences in flight
        prev_b8 = b8
    assert ex.best.engines in ex.by_engines and ex.best.summary()["engines"] == ex.best.engines
