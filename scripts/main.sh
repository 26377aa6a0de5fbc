#!/usr/bin/env bash
# The main job: set up (scripts/setup.sh), then the offline default suite end to end:
# synthetic corpus -> prepared datasets -> 8 fine-tuning runs from the stand-in checkpoint ->
# decoding -> scores -> reports/default.md (+ figures in reports/default/).
# Finished runs are skipped when it is run again. Extra arguments go to `harness run`
# (e.g. --only 'lr=*').
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
SUITE=${SUITE:-ablations/default.yaml}
.venv/bin/harness plan "$SUITE"
exec env OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}" .venv/bin/harness run "$SUITE" "$@"
