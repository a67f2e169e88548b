"""llm2hls: compile PyTorch transformers into Vitis HLS dataflow accelerators."""

__version__ = "0.1.0"
