"""The `harness` command: parse arguments, call the library, print. No logic lives here.

One module per subcommand, each with HELP, add_arguments(parser) and a handler; handlers import
the library lazily, so that `harness plan` never pays for importing torch.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from harness.cli import export, plan, prepare, report, run, score, standin, status, synth
from harness.errors import UserError

# name -> (help, add_arguments, handler)
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]

COMMANDS: dict[str, Command] = {
    "plan": (plan.HELP, plan.add_arguments, plan.run_plan),
    "synth": (synth.HELP, synth.add_arguments, synth.run_synth),
    "prepare": (prepare.HELP, prepare.add_arguments, prepare.run_prepare),
    "run": (run.HELP, run.add_arguments, run.run_run),
    "status": (status.HELP, status.add_arguments, status.run_status),
    "score": (score.HELP, score.add_arguments, score.run_score),
    "report": (report.HELP, report.add_arguments, report.run_report),
    "standin": (standin.HELP, standin.add_arguments, standin.run_standin),
    "export": (export.HELP, export.add_arguments, export.run_export),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Ablation harness for CTC fine-tuning of wav2vec2-family speech encoders.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, handler) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        add_arguments(sub)
        sub.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; user mistakes exit with code 2 and no traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.handler(args)
    except UserError as error:
        print(f"error: {error}" if "\n" not in str(error) else f"error:\n{error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `harness plan FILE | head`: the reader has gone; stop quietly as other CLI tools do
        # (stdout is pointed at devnull so the interpreter's final flush cannot fail again).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by it


if __name__ == "__main__":
    sys.exit(main())
