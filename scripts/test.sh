#!/usr/bin/env bash
# Set up everything and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 -m pytest -q -n 2 "$@"
