"""`affectrl noise list | show NAME`: the corruptions and the named protocols."""

from __future__ import annotations

import argparse
import dataclasses


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "noise",
        help="corruptions and noise protocols (evaluation grids, training curricula)",
        description="Corruptions are chosen by spec, e.g. {name: gaussian, modality: text, "
        "snr_db: -10}; protocols by name (evaluate a model on a grid with "
        "`affectrl eval ... --noise-grid NAME`). See docs/NOISE.md.",
    )
    noise_sub = parser.add_subparsers(dest="noise_command", metavar="ACTION", required=True)
    p = noise_sub.add_parser("list", help="the corruptions by level and the named protocols")
    p.set_defaults(func=cmd_list)
    p = noise_sub.add_parser("show", help="print a protocol's cells (or curriculum) as YAML")
    p.add_argument("name", help="protocol name, e.g. mosi-standard")
    p.set_defaults(func=cmd_show)


def _first_line(cls: type) -> str:
    """The docstring's first sentence, on one line."""
    paragraph = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
    return paragraph.split(". ")[0].rstrip(".") + "."


def cmd_list(args: argparse.Namespace) -> int:
    from ..noise.protocols import PROTOCOLS, EvalGrid
    from ..noise.spec import CORRUPTIONS, LEVELS, known_names

    for level in LEVELS:
        print(f"{level}-level corruptions:")
        for name in known_names(level):
            cls = CORRUPTIONS[level][name]
            params = [
                f.name
                for f in dataclasses.fields(cls)
                if f.init and f.metadata.get("spec", True) and f.name != "modality"
            ]
            modality = getattr(cls, "MODALITY", "any")
            print(f"  {name:15s} [{modality}] ({', '.join(params)}) {_first_line(cls)}")
    print("protocols:")
    for name, protocol in PROTOCOLS.items():
        size = f"{len(protocol.cells)} cells" if isinstance(protocol, EvalGrid) else "sampler"
        print(f"  {name:20s} {protocol.kind:10s} {size:9s} {protocol.description}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    import yaml

    from ..noise.protocols import EvalGrid, get_protocol

    protocol = get_protocol(args.name)
    if isinstance(protocol, EvalGrid):
        cells = [
            {"cell": c.name, "severity": round(c.severity, 4), "specs": list(c.specs)}
            for c in protocol.cells
        ]
        data = {"name": protocol.name, "kind": "grid", "level": protocol.level, "cells": cells}
    else:
        data = dataclasses.asdict(protocol)
    print(yaml.safe_dump(data, sort_keys=False, default_flow_style=None), end="")
    return 0
