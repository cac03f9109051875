"""`affectrl config --config CONFIG.yaml [key=value ...]` (the config checked and resolved) or
`affectrl config --reference` (the reference of every setting)."""

from __future__ import annotations

import argparse

HELP = (
    "check a config and print it resolved (every default filled in), or print the reference of "
    "every setting (docs/CONFIG.md)"
)
DESCRIPTION = (
    "With --config: load it (with its `base:` files and the key=value overrides), check every "
    "setting as `affectrl train` would before training, and print the resolved config as YAML. "
    "With --reference: print the reference of every setting, part and part option, with types, "
    "defaults and meanings (the text of docs/CONFIG.md)."
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("config", help=HELP, description=DESCRIPTION)
    parser.add_argument("--config", help="YAML config to check (see configs/)")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.epochs=5"
    )
    parser.add_argument("--seed", type=int, default=1, help="the seed to resolve for (default 1)")
    parser.add_argument(
        "--reference", action="store_true", help="print the settings reference (docs/CONFIG.md)"
    )
    parser.set_defaults(func=cmd_config)


def cmd_config(args: argparse.Namespace) -> int:
    if args.reference:
        from ..train.settings import config_reference

        print(config_reference(), end="")
        return 0
    if not args.config:
        raise ValueError("give --config CONFIG to check, or --reference")
    import yaml

    from ..config import load_config
    from ..train import resolve_config

    resolved = resolve_config(load_config(args.config, args.overrides), args.seed)
    print(yaml.safe_dump(resolved, sort_keys=False), end="")
    return 0
