"""`harness export RUN_DIR OUT`: a finished run's model as a directory transformers' pipeline
loads, with a model card (harness.run.export)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "export a finished run's model for transformers.pipeline, with a model card"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `harness export`."""
    parser.add_argument("run_dir", type=Path, help="the run's directory (runs/<suite>/<run id>)")
    parser.add_argument("out", type=Path, help="a new directory to write the model into")


def run_export(args: argparse.Namespace) -> int:
    """Export, then print where it went and how to load it."""
    from harness.cli.run import command_line
    from harness.run.export import export_run

    out = export_run(args.run_dir, args.out, command=command_line(args.argv))
    print(f"wrote {out}: pipeline(\"automatic-speech-recognition\", model={str(out)!r})")
    return 0
