"""Base designs from projects that ``llm2hls.pipeline`` generates (tiny transformer models).

The project's kernel (``src/<top>.cpp``) is the mutable file; its testbench, weights and data
files come along unchanged. Extra vectors are random model inputs run through the reference
interpreter in integer mode (the compiler's golden model), written with the backend's own writer.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from .base import BaseDesign
from .rtl_check import rtl_facts


def design_from_project(project: Path, graph, provenance: dict, n_vectors: int = 3, seed: int = 0) -> BaseDesign:
    """Wrap the generated HLS project at ``project`` (with its quantized ``graph``) as a base design."""
    from ..backends.hls.emit import write_data
    from ..pipeline import random_inputs
    from ..reference import quantize_inputs, run_graph

    project = Path(project)
    top = json.loads((project / "report.json").read_text()).get("top") or graph.name
    files = {}
    for sub in ("src", "weights"):
        for f in sorted((project / sub).glob("*")):
            files[f"{sub}/{f.name}"] = f.read_text()
    files[f"tb/tb_{top}.cpp"] = (project / "tb" / f"tb_{top}.cpp").read_text()
    vectors = [{f"tb/{f.name}": f.read_text() for f in sorted((project / "tb").glob("*.txt"))}]
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(1, n_vectors):
            x = quantize_inputs(graph, random_inputs(graph, seed * 1000 + k))
            y = run_graph(graph, x, mode="int")
            vec = {}
            for name, values in [*x.items(), *((f"{n}.golden", v) for n, v in y.items())]:
                p = Path(tmp) / f"{name}.txt"
                write_data(p, values, True)
                vec[f"tb/{p.name}"] = p.read_text()
            vectors.append(vec)
    from .. import __version__

    return BaseDesign(
        id=f"gen-{provenance.get('model', top)}-{provenance.get('scheme', '')}-l{provenance.get('lanes', '')}",
        family=f"gen-{provenance.get('family', provenance.get('model', top))}",
        provenance={"source": "generated", "top": top, "compiler_version": __version__, **provenance},
        files=files, mutable=[f"src/{top}.cpp"], sources=[f"tb/tb_{top}.cpp", f"src/{top}.cpp"],
        vectors=vectors, run_args=[], run_cwd="tb", include_dirs=["src", "weights"],
        facts=rtl_facts(project, top) if (project / "ir_params.npz").exists() else {})


def compile_base(model: Any, name: str, seq_len: int, scheme: str, lanes: int, family: str,
                 n_vectors: int = 3) -> BaseDesign:
    """Compile ``model`` with the llm2hls pipeline and wrap the project as a base design."""
    from ..pipeline import compile_model

    with tempfile.TemporaryDirectory() as tmp:
        res = compile_model(model, Path(tmp) / "proj", seq_len=seq_len, quant=scheme, lanes=lanes,
                            csim=False, name=name)
        return design_from_project(res.out_dir, res.graph, {"model": name, "family": family, "scheme": scheme,
                                                            "lanes": lanes, "seq_len": seq_len}, n_vectors)


def _tiny(arch: str, hidden: int, heads: int, seed: int, layers: int = 1):
    """A tiny randomly initialised transformer of family ``arch`` (``layers`` layers, small vocab)."""
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    if arch == "gpt2":
        cfg = tf.GPT2Config(n_embd=hidden, n_head=heads, n_layer=layers, vocab_size=61, n_positions=32,
                            bos_token_id=None, eos_token_id=None)
        return tf.GPT2LMHeadModel(cfg).eval()
    if arch == "gpt_neox":
        cfg = tf.GPTNeoXConfig(hidden_size=hidden, num_attention_heads=heads, num_hidden_layers=layers,
                               intermediate_size=2 * hidden, vocab_size=61, max_position_embeddings=32)
        return tf.GPTNeoXForCausalLM(cfg).eval()
    cfg = tf.LlamaConfig(hidden_size=hidden, num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
                         num_hidden_layers=layers, intermediate_size=2 * hidden, vocab_size=61, max_position_embeddings=32)
    return tf.LlamaForCausalLM(cfg).eval()


# (arch, hidden, heads, seq_len, scheme, lanes[, layers]): each entry is one generated base design.
# The near-duplicate key ignores numbers, so only structure makes designs distinct: the entries
# after the first six add layers (more stage functions) for larger datasets (docs/dataset.md).
GENERATED_CATALOG = [
    ("gpt2", 16, 2, 5, "w8a16", 1), ("llama", 16, 2, 5, "w8a16", 2), ("gpt_neox", 16, 2, 4, "w4a16", 1),
    ("gpt2", 24, 3, 4, "w4a16", 2), ("llama", 24, 2, 4, "w4a16", 1), ("gpt_neox", 24, 3, 5, "w8a16", 2),
    *[(arch, 16, 2, 4, scheme, 1, layers) for layers in (2, 3, 4, 5, 6, 7, 8) for arch, scheme in
      (("gpt2", "w8a16"), ("llama", "w4a16"), ("gpt_neox", "w8a16"))],
]  # append only: a dataset made with --models M must find its first M entries unchanged


def catalog_base(i: int) -> BaseDesign:
    """Compile entry ``i`` of :data:`GENERATED_CATALOG` into a base design."""
    arch, hidden, heads, seq, scheme, lanes, *rest = GENERATED_CATALOG[i]
    layers = rest[0] if rest else 1
    name = f"{arch}_h{hidden}_s{seq}" + (f"_l{layers}" if layers > 1 else "")
    return compile_base(_tiny(arch, hidden, heads, seed=i, layers=layers), name, seq, scheme, lanes,
                        family=arch)
