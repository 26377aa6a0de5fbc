#!/usr/bin/env bash
# Prepare a fresh machine: espeak-ng (system), a virtual environment in .venv with the CPU
# torch wheel first (a plain `torch` requirement would pull a multi-GB CUDA build), then the
# harness with its test extras. Idempotent: a second call only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v espeak-ng >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing espeak-ng (apt-get)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null
  else
    echo "setup: espeak-ng is missing; install it (Debian/Ubuntu: sudo apt-get install espeak-ng)" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  echo "setup: installing torch 2.13.0 (CPU)" >&2
  .venv/bin/pip install -q --disable-pip-version-check "torch==2.13.0"
fi
if ! .venv/bin/python -c "import harness, pytest, hypothesis, ray, kenlm, kaldingram, pyctcdecode" \
     >/dev/null 2>&1 || [ pyproject.toml -nt .venv/.harness-installed ]; then
  # ray (tests/test_ray.py: a local cluster with fake GPUs) installs in ~12 s from its wheel;
  # lm: the n-gram decoder's KenLM and Kneser-Ney training (the default suite decodes with one)
  echo "setup: installing the harness, its test dependencies, ray, tensorboard and the LM decoder" >&2
  .venv/bin/pip install -q --disable-pip-version-check -e ".[test,lint,ray,tensorboard,lm]"
  # without its dependencies: pyctcdecode 0.5.0 pins numpy<2 (it runs on numpy 2); see pyproject
  .venv/bin/pip install -q --disable-pip-version-check --no-deps "pyctcdecode==0.5.0"
  touch .venv/.harness-installed
fi
