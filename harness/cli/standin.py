"""`harness standin --out DIR`: (re)build the stand-in pretrained checkpoint.

The build itself is harness.run.standin.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.run.standin import DEFAULTS

HELP = "build the stand-in pretrained checkpoint the offline default suite fine-tunes from"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `harness standin`."""
    parser.add_argument("--out", type=_out_directory, required=True,
                        help="checkpoint directory to write; standin:tiny rebuilds the copy that "
                             "ships with harness (what suites naming standin:tiny load)")
    parser.add_argument("--hours", type=float, default=DEFAULTS["hours"],
                        help=f"synthetic training audio, hours (default {DEFAULTS['hours']})")
    parser.add_argument("--steps", type=int, default=DEFAULTS["steps"],
                        help=f"CTC training updates (default {DEFAULTS['steps']})")
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="seed (default 0)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="prepared-data cache (default: $HARNESS_CACHE or .harness-cache/)")


def _out_directory(value: str) -> Path:
    from harness.standins import resolve_model_name

    return Path(resolve_model_name(value))


def run_standin(args: argparse.Namespace) -> int:
    """Build, then print where it went and how good it is on its own held-out sentences."""
    from harness.data.cache import default_cache_root
    from harness.errors import UserError
    from harness.run.standin import build_standin

    if args.hours <= 0 or args.steps < 1:
        raise UserError("--hours must be > 0 and --steps >= 1")
    result = build_standin(args.out, args.cache_dir or default_cache_root(), hours=args.hours,
                           steps=args.steps, seed=args.seed)
    print(f"wrote {args.out}: {result['steps']} updates in {result['wall_seconds'] / 60:.1f} min;"
          f" its held-out test CER {result['test']['cer']:.3f}, WER {result['test']['wer']:.3f}")
    return 0
