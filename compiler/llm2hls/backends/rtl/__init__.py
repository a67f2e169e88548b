"""RTL backend: a quantized IR graph -> Verilog top + memory files + a cocotb bench.

``write_rtl(graph, dir)`` writes ``dir/`` (normally ``<project>/rtl/``):

* ``<top>.v`` — the top module, one instance per stage, FIFOs/forks on every stream;
* ``lib/*.v`` — the operator library used (copied so the folder stands alone);
* ``routes.v`` — modules generated per route stage from their channel maps;
* ``*.mem`` — ``$readmemh`` files of every ROM (weights, scales, biases, constants);
* ``test_<top>.py`` + ``tb_data.json`` — the cocotb bench with inputs and golden outputs;
* ``rtl.json`` — what ``llm2hls simulate`` needs (top name, sources).
"""

from .backend import write_rtl

__all__ = ["write_rtl"]
