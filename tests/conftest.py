"""Shared pytest configuration."""

import os

# A fixed thread count keeps results reproducible, and 2 intra-op threads per test process match
# the 2-core CI machine (as the benchmarks use); an OMP_NUM_THREADS already set wins.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
