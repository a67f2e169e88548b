"""Reference interpreter over the IR (float mode and bit-exact integer mode)."""

from .interpreter import dequantize_outputs, quantize_inputs, run_graph

__all__ = ["dequantize_outputs", "quantize_inputs", "run_graph"]
