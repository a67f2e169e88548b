#!/usr/bin/env bash
# Set everything up, then run the main job on the bundled example: build a tiny GPT-2
# (random weights, Hugging Face folder), compile it to a Vitis HLS project proven bit-exact by
# C simulation, then simulate the same design as RTL in Verilator (cocotb) with cycle counts, and
# write its report (report.md + report.html: roofline, per-stage latency, resources on a U280).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 examples/make_tiny_gpt2.py examples/tiny-gpt2
llm2hls compile examples/tiny-gpt2 --seq-len 12 --out hls_out/tiny-gpt2
llm2hls simulate hls_out/tiny-gpt2 --simulator verilator
llm2hls report hls_out/tiny-gpt2 --target U280
