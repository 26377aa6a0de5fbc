#!/usr/bin/env bash
# The main job: set up (scripts/setup.sh), then the offline default suite end to end.
# Extra arguments go to `harness run` (e.g. --only lr=3e-4).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
SUITE=${SUITE:-ablations/default.yaml}
.venv/bin/harness plan "$SUITE"
