"""The `affectrl` command line. Each stage registers its own subcommands from its module.

Every module `affectrl/commands/<name>_cmd.py` defines `register(subparsers)`; the command
registry (`affectrl.commands.COMMANDS`) finds them by name, so adding a stage's commands touches
no shared list.
"""

from __future__ import annotations

import argparse
import re
import sys

import affectrl

from .commands import COMMANDS

# The order subcommands appear in `affectrl --help`; modules not listed follow alphabetically.
ORDER = ("demo", "data", "extract", "train", "eval", "predict", "noise", "sweep", "report", "llm")


def _command_modules(only: str | None = None) -> list:
    """The command modules, in help order; `only` imports just that one when it exists
    (so `affectrl extract ...` does not pay for importing the training stack)."""
    names = [only] if only in COMMANDS else list(COMMANDS)
    rank = {n: i for i, n in enumerate(ORDER)}
    names.sort(key=lambda n: (rank.get(n, len(ORDER)), n))
    return [COMMANDS[n] for n in names]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or with `only` set just that command's (when a module of that name
    registers it)."""
    parser = argparse.ArgumentParser(
        prog="affectrl",
        description="Multimodal emotion recognition in conversation with RL fusion and graph "
        "agents. Data is found via $AFFECTRL_DATA, then ./data, then ../shared/data.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {affectrl.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules(only):
        module.register(sub)
    if only and only not in sub.choices:
        return build_parser()
    return parser


OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")  # key.sub=value


def _overrides_first(parser: argparse.ArgumentParser, command: str | None, argv: list[str]):
    """argv with a command's key=value overrides moved right after the command name, where
    argparse takes them whatever the order typed: after the options they would be refused, or
    read as the values of an option such as `--seeds 1 2`."""
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    chosen = sub.choices.get(command) if sub and command else None
    if chosen is None or not any(a.dest == "overrides" for a in chosen._actions):
        return argv
    i = argv.index(command) + 1
    pairs = [a for a in argv[i:] if OVERRIDE.match(a)]
    return [*argv[:i], *pairs, *(a for a in argv[i:] if not OVERRIDE.match(a))]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(_overrides_first(parser, command, argv))
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
