"""Jinja templates and C++/Verilog sources, installed as the package ``llm2hls.templates``."""
