"""`affectrl data list | check | download`."""

from __future__ import annotations

import argparse

from ..data.download import RAVDESS_ORIGIN, download_all
from ..data.registry import DATASETS, load_dataset
from ..data.root import candidate_roots, data_root


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="list, validate and download datasets")
    data_sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = data_sub.add_parser("list", help="datasets known by name, and the data root in use")
    p.set_defaults(func=cmd_list)
    p = data_sub.add_parser("check", help="validate every file and print counts per split")
    p.add_argument("names", nargs="*", help="datasets to check (default: all; byo:PATH allowed)")
    p.set_defaults(func=cmd_check)
    p = data_sub.add_parser("download", help="fetch the public originals (needs internet)")
    p.add_argument("--no-verify", action="store_true", help="skip the SHA-256 checks")
    p.set_defaults(func=cmd_download)


def cmd_list(args: argparse.Namespace) -> int:
    print("data roots searched: " + ", ".join(str(r) for r in candidate_roots()))
    try:
        print(f"data root in use:    {data_root()}")
    except FileNotFoundError as exc:
        print(f"data root in use:    none ({exc})")
    for name in DATASETS:
        print(f"  {name:10s} {DATASETS.describe(name)}")
    print("  byo:PATH   your own dataset folder (docs/DATASETS.md)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    names = args.names or list(DATASETS)
    print(f"data root: {data_root()}")
    print(f"{'dataset':10s} {'dialogues':>9s} {'utterances':>10s}   train / dev / test utterances")
    failed = 0
    for name in names:
        try:
            ds = load_dataset(name)
        except (OSError, ValueError, KeyError) as exc:
            print(f"{name:10s} FAILED: {exc}")
            failed += 1
            continue
        c = ds.counts()
        total_d = sum(v["dialogues"] for v in c.values())
        total_u = sum(v["utterances"] for v in c.values())
        per = " / ".join(str(c[s]["utterances"]) for s in ("train", "dev", "test"))
        mods = ",".join(f"{m}:{d}" for m, d in ds.feature_dims().items()) or "raw only"
        print(f"{name:10s} {total_d:9d} {total_u:10d}   {per}   [{ds.num_classes} classes; {mods}]")
        if ds.coverage:
            print("    clips per source: " + ", ".join(f"{k} {v}" for k, v in ds.coverage.items()))
        for source, ids in ds.one_source.items():
            if ids:
                shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
                print(f"    only in {source} (not used): {len(ids)}: {shown}")
    return 1 if failed else 0


def cmd_download(args: argparse.Namespace) -> int:
    root = candidate_roots()[0]
    root.mkdir(parents=True, exist_ok=True)
    fetched = download_all(root, verify=not args.no_verify)
    print(f"downloaded {len(fetched)} files into {root}")
    print(f"RAVDESS: download {RAVDESS_ORIGIN} by hand and see docs/DATASETS.md")
    return 0
