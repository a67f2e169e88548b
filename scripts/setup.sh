#!/usr/bin/env bash
# Install llm2hls and everything it needs (CPU torch pinned: an unpinned torch pulls CUDA builds).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python3 -m pip"
$PIP install --quiet --disable-pip-version-check "torch==2.13.0"
$PIP install --quiet --disable-pip-version-check -e ".[dev]"
