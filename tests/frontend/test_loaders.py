"""Every way to hand a model to the frontend gives a graph that matches PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from models import HandWrittenSDPADecoder, tiny_gpt2

from llm2hls.errors import UserError
from llm2hls.frontend import import_model
from llm2hls.reference import run_graph


def _max_err(imp) -> float:
    ref = imp.torch_outputs(imp.example_inputs)
    got = run_graph(imp.graph, imp.example_inputs, "float")
    (out,) = imp.graph.outputs
    return float(np.abs(got[out] - ref[out]).max())


def _export(model, seq_len, dynamic=False):
    ids = torch.zeros(1, seq_len, dtype=torch.int64)
    shapes = {"input_ids": {1: torch.export.Dim("seq", min=2, max=32)}} if dynamic else None
    with torch.no_grad():
        return torch.export.export(model, (ids,), dynamic_shapes=shapes, strict=False)


@pytest.fixture(scope="module")
def small():
    return HandWrittenSDPADecoder(hidden=40, heads=5, layers=1)


def test_pt2_takes_its_exported_length(tmp_path, small):
    path = tmp_path / "small.pt2"
    torch.export.save(_export(small, 9), str(path))
    imp = import_model(path)
    assert imp.seq_len == 9 and imp.name == "small"
    assert _max_err(imp) <= 1e-4
    # The oracle of a .pt2 is the saved program: compare it with the original module too.
    ids = imp.example_inputs["input_ids"]
    direct = small(torch.as_tensor(ids)[None]).detach().numpy()[0]
    assert np.abs(imp.torch_outputs(imp.example_inputs)["logits"] - direct).max() <= 1e-5
    with pytest.raises(UserError, match="exported for seq_len=9"):
        import_model(path, seq_len=12)


def test_pt2_with_dynamic_length_specializes(tmp_path, small):
    path = tmp_path / "dyn.pt2"
    torch.export.save(_export(small, 8, dynamic=True), str(path))
    imp = import_model(path, seq_len=11)
    assert imp.seq_len == 11 and imp.graph.tensors["input_ids"].type.shape == (11,)
    assert _max_err(imp) <= 1e-4


def test_trusted_pickle(tmp_path, small):
    path = tmp_path / "small.pt"
    torch.save(small, str(path))
    imp = import_model(path, seq_len=6, trust_pickle=True)
    assert _max_err(imp) <= 1e-4


def test_hf_folder(tmp_path):
    model = tiny_gpt2(hidden=40, heads=5, layers=1)
    folder = tmp_path / "gpt2_tiny"
    model.save_pretrained(str(folder))
    imp = import_model(folder, seq_len=7)
    assert imp.name == "gpt2_tiny" and imp.graph.outputs == ["logits"]
    assert _max_err(imp) <= 1e-4
    # The folder's weights were really loaded: same logits as the in-memory model.
    ids = torch.as_tensor(imp.example_inputs["input_ids"])[None]
    with torch.no_grad():
        direct = model(ids, use_cache=False).logits[0].numpy()
    assert np.abs(imp.torch_outputs(imp.example_inputs)["logits"] - direct).max() <= 1e-5


def test_float_input_module():
    """A model taking float embeddings gets a float [S, C] input."""

    class Mlp(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = torch.nn.LayerNorm(24)
            self.up = torch.nn.Linear(24, 40)

        def forward(self, x):
            return torch.nn.functional.gelu(self.up(self.norm(x)), approximate="tanh")

    torch.manual_seed(0)
    imp = import_model(Mlp(), seq_len=5, example_input=torch.randn(1, 5, 24))
    (x,) = imp.graph.inputs
    assert imp.graph.tensors[x].type.shape == (5, 24) and not imp.graph.tensors[x].type.dtype.is_fixed
    assert imp.graph.outputs == ["output"]
    assert _max_err(imp) <= 1e-5


@pytest.mark.parametrize(
    "zoo_name",
    ["small_sdpa", pytest.param("gpt_neox", marks=pytest.mark.slow), pytest.param("llama_gqa", marks=pytest.mark.slow)],
)
def test_core_aten_pt2_gives_the_same_graph(tmp_path, zoo_name):
    """A .pt2 saved after run_decompositions() (core ATen: bmm, _softmax, decomposed SDPA with
    safe-softmax masking ...) lowers to the same stages as the high-level export."""
    from collections import Counter

    from models import extended_model_zoo

    if zoo_name == "small_sdpa":
        model, seq_len, kwargs = HandWrittenSDPADecoder(hidden=40, heads=5, layers=1), 5, {}
    else:
        _, factory, seq_len = next(z for z in extended_model_zoo() if z[0] == zoo_name)
        model, kwargs = factory(), {"use_cache": False}
    high = import_model(model, seq_len=seq_len)
    with torch.no_grad():
        ids = torch.zeros(1, seq_len, dtype=torch.int64)
        ep = torch.export.export(model, (ids,), kwargs=kwargs, strict=False).run_decompositions()
    path = tmp_path / "core.pt2"
    torch.export.save(ep, str(path))
    core = import_model(path)
    # Same stages, attributed to the same PyTorch modules and blocks (module paths survive .pt2).
    def stages(g):
        return Counter((n.op, n.source, n.layer) for n in g.nodes.values())

    assert stages(core.graph) == stages(high.graph)
    assert _max_err(core) <= 1e-4
