"""The workload from a config agrees with the workload read off a compiled IR graph."""

from __future__ import annotations

import pytest

from llm2hls.perf import Scheme, shape_from_config, stages_from_graph, stages_from_shape, totals
from tests.models import tiny_gpt2, tiny_llama


@pytest.mark.parametrize("factory", [tiny_gpt2, tiny_llama], ids=["gpt2", "llama"])
def test_config_and_graph_agree(factory):
    from llm2hls.frontend import import_model

    module = factory()
    graph = import_model(module, seq_len=8).graph
    shape = shape_from_config(module.config.to_dict())
    scheme = Scheme.parse("w4a8g16")
    from_graph = totals(stages_from_graph(graph), scheme, tokens=8)
    from_cfg = totals(stages_from_shape(shape, scheme), scheme, tokens=8)
    for key in ("linear_macs", "attention_macs", "linear_weight_elems", "linear_weight_bytes", "weight_bytes"):
        assert from_graph[key] == from_cfg[key], key
    # MACs also agree with the op kinds' own cost() on the graph
    from llm2hls.ops.base import op_kind

    cost = sum(op_kind(n.op).cost(n, graph).macs for n in graph.nodes.values() if n.op in ("linear", "attention"))
    assert cost == from_cfg["linear_macs"] + from_cfg["attention_macs"]
    # identical blocks merge: every layered stage appears once with count == layers
    layered = [s for s in stages_from_graph(graph) if s.layered]
    assert layered and all(s.count == shape.layers for s in layered)
