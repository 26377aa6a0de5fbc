"""The `harness` command: parse arguments, call the library, print. No logic lives here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.errors import UserError

# Each subcommand: name -> (help, add_arguments, handler). Handlers import their modules lazily
# so that `harness plan` never pays for importing torch.
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


def _plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite_file", type=Path, help="the suite YAML file")


def _plan(args: argparse.Namespace) -> int:
    from harness.plan import render_plan
    from harness.spec import load_suite

    print(render_plan(load_suite(args.suite_file)))
    return 0


COMMANDS: dict[str, Command] = {
    "plan": ("show the runs a suite expands to and the datasets it needs", _plan_arguments, _plan),
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
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except UserError as error:
        print(f"error: {error}" if "\n" not in str(error) else f"error:\n{error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
