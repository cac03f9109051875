"""The `affectrl` command line. Each stage registers its own subcommands from its module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .commands import data_cmd, eval_cmd, train_cmd

# Each entry adds its subcommand(s) to the parser; the handler is stored as args.func.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    data_cmd.register,
    train_cmd.register,
    eval_cmd.register,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="affectrl",
        description="Multimodal emotion recognition in conversation with RL fusion and graph "
        "agents. Data is found via $AFFECTRL_DATA, then ./data, then ../shared/data.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, KeyError, ValueError, RuntimeError) as exc:
        print(f"affectrl: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
