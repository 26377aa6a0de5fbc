#!/usr/bin/env bash
# The test command: set up (scripts/setup.sh), then the default test suite (slow tests excluded;
# includes a real tiny training + scoring run). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
