"""Accuracy evaluation: float vs fake-quant vs the bit-exact integer pipeline (docs/quantization.md)."""
